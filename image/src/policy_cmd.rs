//! `cargo xtask policy ...`: check policy scripts and dry-run a policy change on the host.
//!
//! The work is in the `policy` crate (`policy::host`); this file only reads arguments.

use std::path::Path;

const USAGE: &str = "usage:
  cargo xtask policy check FILE...
      compile each policy script and print a summary (levels, labels, services, grants),
      or its errors with line and column
  cargo xtask policy diff OLD NEW [CONNECTIONS]
      what replacing policy OLD with NEW does to live connections: kept, narrowed or
      revoked, and why. CONNECTIONS is a file with one connection per line,
      `ID PROGRAM LABEL SERVICE RIGHTS` (`-` as LABEL: the program's own label; `#` starts
      a comment); without it, one connection per grant of OLD is assumed.
  cargo xtask policy sample OLD
      print that assumed connection list, as a starting point for a CONNECTIONS file

see policy/README.md for the language";

/// Runs `cargo xtask policy <args>`.
pub fn run(args: &[String]) -> Result<(), String> {
    let arguments: Vec<&str> = args.iter().map(String::as_str).collect();
    match arguments.as_slice() {
        ["check", files @ ..] if !files.is_empty() => {
            let mut failed = Vec::new();
            for (index, file) in files.iter().enumerate() {
                if index > 0 {
                    println!();
                }
                match policy::host::check_file(Path::new(file)) {
                    Ok(summary) => print!("{summary}"),
                    Err(errors) => {
                        eprintln!("{errors}");
                        failed.push(*file);
                    }
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(format!("policy check failed: {}", failed.join(", ")))
            }
        }
        ["diff", old, new] => diff(old, new, None),
        ["diff", old, new, connections] => diff(old, new, Some(connections)),
        ["sample", old] => {
            let (_, compiled) = policy::host::compile_file(Path::new(old)).map_err(report)?;
            let connections = policy::diff::sample_connections(&compiled.policy);
            print!("{}", policy::diff::format_connections(&compiled.policy, &connections));
            Ok(())
        }
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    }
}

fn diff(old: &str, new: &str, connections: Option<&str>) -> Result<(), String> {
    let report_text = policy::host::diff_files(Path::new(old), Path::new(new), connections.map(Path::new))
        .map_err(report)?;
    print!("{report_text}");
    Ok(())
}

/// Prints a multi-line failure (compile errors with their source lines) and returns the
/// one-line summary for `main` to print last.
fn report(text: String) -> String {
    match text.rsplit_once('\n') {
        Some((details, last)) => {
            eprintln!("{details}");
            last.to_string()
        }
        None => text,
    }
}
