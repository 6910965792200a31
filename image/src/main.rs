//! `cargo xtask`: the one entry point for building, running, testing and measuring Lattice.
//!
//! ```text
//! cargo xtask build                 build the kernel, the boot archive and every program
//! cargo xtask run [--boot a,b]      build, then boot QEMU virt into the root task
//! cargo xtask test [FILTER]         lints, host tests, then system tests in QEMU
//! cargo xtask clippy                lints only
//! cargo xtask bench                 benchmarks (instruction counts), target/bench/results.json
//! cargo xtask policy check FILE     check a policy script
//! cargo xtask policy diff OLD NEW [CONNECTIONS]
//! cargo xtask policy sample OLD
//! ```

mod bench;
mod build;
mod check_lines;
mod disk;
mod flat;
mod host;
mod manifest;
mod net;
mod policy_cmd;
mod qemu;
mod setup;
mod systest;
mod tests;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  build [--system NAME]          build the kernel, the boot archive and every program for the
                                 system image/systems/NAME.toml (default: virt)
  run [--system NAME] [--boot a,b,...] [-- QEMU ARGS]
                                 build, then boot QEMU virt into the root task
                                 (--boot picks the boot programs; the first is the root task)
  test [FILTER]                  lints, host tests, then system tests in QEMU; FILTER keeps
                                 only system tests whose name contains it
  clippy                         lints only (clippy with the workspace lints, -D warnings)
  bench                          kernel benchmarks under QEMU -icount (exact instruction
                                 counts); writes target/bench/results.json
  policy check FILE              check a policy script and summarise it
  policy diff OLD NEW [CONNS]    what replacing policy OLD with NEW does to live connections
  policy sample OLD              the connection list `diff` assumes when CONNS is omitted";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Targets and components first: without them nothing builds (`can't find crate for core`).
    let needs_toolchain =
        matches!(args.first().map(String::as_str), Some("build" | "run" | "test" | "clippy" | "bench"));
    if needs_toolchain && let Err(message) = setup::ensure_toolchain(&build::workspace_root()) {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    let result = match args.first().map(String::as_str) {
        Some("build") => {
            system_option(&args[1..]).and_then(|system| build::build_system(&system)).map(|output| {
                println!("kernel image: {}", output.kernel_image.display());
                println!("boot archive: {} ({} programs)", output.archive.display(), output.programs.len());
            })
        }
        Some("run") => run(&args[1..]),
        Some("test") => tests::run_all(args.get(1).map(String::as_str)),
        Some("clippy") => tests::lint().map(|_| ()),
        Some("bench") => bench::run(),
        Some("policy") => policy_cmd::run(&args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--system NAME` (a manifest in image/systems), or the default system.
fn system_option(args: &[String]) -> Result<String, String> {
    match args {
        [] => Ok(build::DEFAULT_SYSTEM.to_string()),
        [flag, name] if flag == "--system" => Ok(name.clone()),
        _ => Err(format!("usage: cargo xtask build [--system NAME]\n\n{USAGE}")),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut boot = None;
    let mut system = build::DEFAULT_SYSTEM.to_string();
    let mut extra = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--boot" => {
                boot = Some(rest.next().ok_or("--boot needs a comma-separated program list")?.clone())
            }
            "--system" => {
                system =
                    rest.next().ok_or("--system needs a manifest name (image/systems/NAME.toml)")?.clone()
            }
            "--" => extra.extend(rest.by_ref().cloned()),
            other => return Err(format!("unknown option `{other}` for run\n\n{USAGE}")),
        }
    }
    let qemu = qemu::ensure_installed()?;
    let output = build::build_system(&system)?;
    let mut command = qemu::Boot::new(&output.kernel_image)
        .bootargs(boot.map(|list| format!("lattice.boot={list}")))
        .command(&qemu, qemu::Console::Interactive);
    command.args(&extra);
    println!("booting: {}", qemu::describe(&command));
    println!("(quit QEMU with Ctrl-A then X)");
    let status = command.status().map_err(|error| format!("cannot start QEMU: {error}"))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => {
            Err(format!("the machine powered off with status {code} ({})", qemu::explain_status(code)))
        }
        None => Err("QEMU was killed".into()),
    }
}
