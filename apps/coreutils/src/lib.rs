//! The small programs the shell runs, apart from the machine so the host tests can run
//! them: `sleep`'s argument, and the file tools `ls`, `cat`, `cp`, `mv`, `rm`, `mkdir`,
//! `rmdir`, `touch`, `stat`, `df` and `sync`.
//!
//! A file tool is a [`Tool`] (in [`TOOLS`]): its name, usage, the rights it asks the fs
//! server for, and its parser. [`run`] is the whole program but for the machine: it parses
//! the command line, connects, resolves paths against the working directory (`PWD`, see
//! `fsutil::path`) and does the work through a `fsutil::FileSystem`, writing to an
//! [`Output`]. The host tests run it over `fsutil::memory::MemoryFs`; on Lattice each
//! binary in `src/bin` is `coreutils::lattice::main(&coreutils::LS)`, which reads the
//! start info, connects through the security server and writes to the console.
//!
//! What every tool keeps to (the tests check it of every run): usage and exit status 2 on
//! a bad command line, before any connection; each failure one line, `ls: /etc/x: no such
//! file or directory` (the tool, the path as the filesystem judged it, the typed error),
//! and exit status 1, after doing what it could with the other operands; only absolute,
//! normal paths sent; no file left open; the connection asks for the tool's declared
//! rights, read only for the tools that only read.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod cat;
mod cp;
mod df;
mod ls;
mod mkdir;
mod mv;
mod rm;
mod rmdir;
mod stat;
mod sync;
mod tool;
mod touch;

#[cfg(target_os = "none")]
pub mod lattice;

#[cfg(test)]
mod served;
#[cfg(test)]
mod testing;

use core::time::Duration;

pub use cat::{CAT, CHUNK_BYTES};
pub use cp::CP;
pub use df::DF;
pub use ls::LS;
pub use mkdir::MKDIR;
pub use mv::MV;
pub use rm::RM;
pub use rmdir::RMDIR;
pub use stat::STAT;
pub use sync::SYNC;
pub use tool::{FAILURE, Output, SUCCESS, Tool, Usage, run};
pub use touch::TOUCH;

/// Every file tool, in the order the shell's `help` lists them. Each is a binary of this
/// package (`src/bin/NAME.rs`), a program in the system disk's `/bin`
/// (`image/src/build.rs`; the process manager loads it from there), and declared in the
/// shipped policies' `tools`.
pub const TOOLS: &[&Tool] = &[&LS, &CAT, &CP, &MV, &RM, &MKDIR, &RMDIR, &TOUCH, &STAT, &DF, &SYNC];

/// Longest `sleep` accepted: a day (longer is surely a typo).
pub const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// `sleep`'s argument: seconds, a whole number or with up to nine decimals (`2`, `0.5`,
/// `1.25`), at most [`MAX_SLEEP`]. `None` for anything else (signs, exponents, units,
/// empty parts, more digits than nanoseconds).
pub fn parse_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits(whole) {
        return None;
    }
    let seconds: u64 = whole.parse().ok()?;
    let nanos = match fraction {
        None => 0,
        Some(fraction) if digits(fraction) && fraction.len() <= 9 => {
            let value: u32 = fraction.parse().ok()?;
            value * 10u32.pow(9 - u32::try_from(fraction.len()).ok()?)
        }
        Some(_) => return None,
    };
    let duration = Duration::new(seconds, nanos);
    (duration <= MAX_SLEEP).then_some(duration)
}

/// The usage line of `sleep`.
pub const SLEEP_USAGE: &str = "usage: sleep SECONDS (a number, decimals allowed, at most 86400)";

/// Exit status for a bad command line (as the usual tools use).
pub const USAGE_STATUS: i32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_and_decimal_seconds() {
        assert_eq!(parse_seconds("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("1.25"), Some(Duration::from_millis(1250)));
        assert_eq!(parse_seconds("3.000000001"), Some(Duration::new(3, 1)));
        assert_eq!(parse_seconds("86400"), Some(MAX_SLEEP));
    }

    #[test]
    fn refuses_what_is_not_plain_seconds() {
        for bad in ["", "x", "-1", "+1", "1.", ".5", "1..2", "1e3", "2s", " 2", "1.0000000001", "86401"] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
        assert_eq!(parse_seconds("99999999999999999999999"), None);
    }

    #[test]
    fn every_tool_is_a_binary_with_a_usage_and_rights() {
        let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        let mut names = Vec::new();
        for tool in TOOLS {
            assert!(!names.contains(&tool.name), "{} twice", tool.name);
            names.push(tool.name);
            let source = format!("{}/src/bin/{}.rs", env!("CARGO_MANIFEST_DIR"), tool.name);
            let text = std::fs::read_to_string(&source).unwrap_or_else(|_| panic!("no {source}"));
            assert!(text.contains(&format!("coreutils::{}", tool.name.to_uppercase())), "{source}");
            assert!(
                manifest.contains(&format!("name = \"{}\"\npath = \"src/bin/{}.rs\"", tool.name, tool.name))
            );
            assert!(tool.usage.starts_with(&format!("usage: {}", tool.name)), "{}", tool.usage);
            assert!(
                !tool.rights.is_empty()
                    && grant::Rights::READ
                        .union(grant::Rights::WRITE)
                        .union(grant::Rights::CREATE)
                        .union(grant::Rights::DELETE)
                        .contains(tool.rights)
            );
        }
        // The tools that only look ask only to read.
        for tool in [&LS, &CAT, &STAT, &DF, &SYNC] {
            assert_eq!(tool.rights, grant::Rights::READ, "{}", tool.name);
        }
    }

    #[test]
    fn every_tool_answers_help_and_a_bad_option() {
        for tool in TOOLS {
            let mut fs = fsutil::memory::MemoryFs::new();
            let ran = testing::run_tool(tool, &["--help"], "/", &mut fs);
            assert_eq!(ran.status, 0, "{}", tool.name);
            assert_eq!(ran.output, format!("{}\n{}\n", tool.usage, tool.about));
            let ran = testing::run_tool(tool, &["--bogus"], "/", &mut fs);
            assert_eq!(ran.status, 2, "{}", tool.name);
            assert_eq!(
                ran.errors,
                [format!("{}: unknown option --bogus", tool.name), tool.usage.to_string()]
            );
        }
    }
}
