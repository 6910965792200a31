//! What every file tool shares: the [`Tool`] record, the driver [`run`] (usage, the fs
//! connection, the working directory), the [`Session`] a tool works in, where its text
//! goes ([`Output`]), and option parsing.
//!
//! The order [`run`] keeps: the arguments are parsed first (a bad command line costs no
//! connection, and says the usage with status 2), then the tool connects to `fs` with the
//! rights it declares (and no others), then it runs. Every failure is one line naming the
//! tool, the path (absolute, as the filesystem judged it) and the typed error, and makes
//! the status 1; the tool goes on with its other operands.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use fsutil::path::{self, PathError};
use fsutil::{FileSystem, FsError};
use grant::Rights;

use crate::USAGE_STATUS;

/// Exit status when everything worked.
pub const SUCCESS: i32 = 0;
/// Exit status when something failed (each failure was reported).
pub const FAILURE: i32 = 1;

/// Where a tool's text goes. On Lattice both go to the console, in order; the host tests
/// keep them apart.
pub trait Output {
    /// Bytes of the tool's output: listings, file contents.
    fn write(&mut self, bytes: &[u8]);
    /// One line saying what went wrong (without its newline).
    fn error(&mut self, line: &str);
}

/// A command line the tool cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Usage {
    /// `--help`: the usage is asked for.
    Help,
    /// What is wrong with it, in words.
    Wrong(String),
}

impl Usage {
    /// A wrong command line, saying why.
    pub(crate) fn wrong(why: impl Into<String>) -> Usage {
        Usage::Wrong(why.into())
    }
}

/// A parsed command line, ready to run.
pub(crate) trait Command {
    /// Runs it; returns the exit status.
    fn run(&self, session: &mut Session<'_>) -> i32;
}

/// A tool's parser: the command line (without the program's name) to a command.
pub(crate) type Parser = fn(&[&str]) -> Result<Box<dyn Command>, Usage>;

/// One file tool: what the shell runs by `name`.
pub struct Tool {
    /// The program's name (the binary, `/bin/NAME` to the policy).
    pub name: &'static str,
    /// Its usage line, `usage: ls [-la] [PATH...]`.
    pub usage: &'static str,
    /// What it does, in one line.
    pub about: &'static str,
    /// The rights it asks `fs` for: exactly what its operations need (see `fs_api`).
    pub rights: Rights,
    /// Its parser.
    pub(crate) parse: Parser,
}

impl core::fmt::Debug for Tool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tool").field("name", &self.name).field("rights", &self.rights).finish()
    }
}

/// Runs `tool` with `arguments` (without its name) in working directory `pwd` (its `PWD`,
/// the root without one): parses them, connects with `connect(tool.rights)` (a reason in
/// words if it cannot), runs, and returns the exit status: 0, 1 after a failure, 2 for a
/// bad command line.
pub fn run<F: FileSystem>(
    tool: &Tool,
    arguments: &[&str],
    pwd: Option<&str>,
    connect: impl FnOnce(Rights) -> Result<F, String>,
    output: &mut dyn Output,
) -> i32 {
    let command = match (tool.parse)(arguments) {
        Ok(command) => command,
        Err(Usage::Help) => {
            output.write(format!("{}\n{}\n", tool.usage, tool.about).as_bytes());
            return SUCCESS;
        }
        Err(Usage::Wrong(why)) => {
            output.error(&format!("{}: {why}", tool.name));
            output.error(tool.usage);
            return USAGE_STATUS;
        }
    };
    let mut filesystem = match connect(tool.rights) {
        Ok(filesystem) => filesystem,
        Err(why) => {
            output.error(&format!("{}: no filesystem: {why}", tool.name));
            return FAILURE;
        }
    };
    let mut session =
        Session { tool: tool.name, fs: &mut filesystem, output, directory: path::working_directory(pwd) };
    command.run(&mut session)
}

/// What a running tool works with: the filesystem, its output, its working directory.
pub struct Session<'a> {
    tool: &'static str,
    /// The filesystem, through the tool's connection.
    pub(crate) fs: &'a mut dyn FileSystem,
    output: &'a mut dyn Output,
    /// The working directory, or why `PWD` is not one.
    directory: Result<String, PathError>,
}

impl Session<'_> {
    /// `typed` resolved against the working directory; reports why not (and returns
    /// `None`) if it names nothing.
    pub(crate) fn resolve(&mut self, typed: &str) -> Option<String> {
        let directory = match &self.directory {
            Ok(directory) => directory.as_str(),
            // An absolute path needs no working directory.
            Err(_) if typed.is_empty() || typed.starts_with('/') => "/",
            Err(error) => {
                let error = error.clone();
                self.complain(&format!("{typed}: {error}"));
                return None;
            }
        };
        match path::resolve(directory, typed) {
            Ok(resolved) => Some(resolved),
            Err(error) => {
                self.complain(&format!("{typed:?}: {error}"));
                None
            }
        }
    }

    /// Reports that the operation at `path` failed with `error`.
    pub(crate) fn fail(&mut self, path: &str, error: &FsError) {
        self.output.error(&format!("{}: {path}: {error}", self.tool));
    }

    /// Reports a failure in words.
    pub(crate) fn complain(&mut self, text: &str) {
        self.output.error(&format!("{}: {text}", self.tool));
    }

    /// Writes text to the output.
    pub(crate) fn print(&mut self, text: &str) {
        self.output.write(text.as_bytes());
    }

    /// Writes bytes to the output.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        self.output.write(bytes);
    }
}

/// Where `cp` and `mv` put what they are given: whether `target` (typed as `typed`) is a
/// directory to put the sources in (`true`) or the new name of the one source (`false`).
/// With `several` sources it must be a directory, and so must a target typed as one
/// (`dir/`); otherwise this reports why and returns `None`.
pub(crate) fn into_directory(
    session: &mut Session<'_>,
    typed: &str,
    target: &str,
    several: bool,
) -> Option<bool> {
    let must_be_directory = several || path::names_directory(typed);
    match session.fs.stat(target) {
        Ok(metadata) if metadata.kind == fsutil::FileKind::Directory => Some(true),
        Ok(_) if must_be_directory => {
            session.fail(target, &FsError::NotADirectory);
            None
        }
        Err(FsError::NotFound) if must_be_directory => {
            session.fail(target, &FsError::NotFound);
            None
        }
        Ok(_) | Err(FsError::NotFound) => Some(false),
        Err(error) => {
            session.fail(target, &error);
            None
        }
    }
}

/// Where `source` goes: into `target` under its own name, or to `target` itself. Reports
/// (and returns `None`) a source that has no name (the root) or a name too long there.
pub(crate) fn destination(
    session: &mut Session<'_>,
    source: &str,
    target: &str,
    into: bool,
) -> Option<String> {
    if !into {
        return Some(target.into());
    }
    let Some(name) = path::file_name(source) else {
        session.complain(&format!("{source}: the root cannot go into a directory"));
        return None;
    };
    match path::join(target, name) {
        Ok(destination) => Some(destination),
        Err(error) => {
            session.complain(&format!("{target}/{name}: {error}"));
            None
        }
    }
}

/// The run of `cp` and `mv`: each of `sources` to its destination under `typed_target`
/// (into it when it is a directory, else to it), by `one(session, source, destination)`,
/// which reports its own failure; the status is a failure if any was.
pub(crate) fn each_to_target(
    session: &mut Session<'_>,
    sources: &[String],
    typed_target: &str,
    one: fn(&mut Session<'_>, &str, &str) -> bool,
) -> i32 {
    let Some(target) = session.resolve(typed_target) else { return FAILURE };
    let Some(into) = into_directory(session, typed_target, &target, sources.len() > 1) else {
        return FAILURE;
    };
    let mut status = SUCCESS;
    for typed in sources {
        let done = session
            .resolve(typed)
            .and_then(|source| Some((destination(session, &source, &target, into)?, source)))
            .is_some_and(|(destination, source)| one(session, &source, &destination));
        if !done {
            status = FAILURE;
        }
    }
    status
}

/// Splits the operands of `cp` and `mv`: the sources and the target (at least one each).
pub(crate) fn sources_and_target(
    arguments: &[&str],
    allowed: &str,
) -> Result<(Options<'static>, Vec<String>, String), Usage> {
    let parsed = options(arguments, allowed)?;
    let flags = Options { flags: parsed.flags.clone(), operands: Vec::new() };
    match parsed.operands.split_last() {
        None => Err(Usage::wrong("missing file operand")),
        Some((only, [])) => Err(Usage::wrong(format!("missing destination operand after {only:?}"))),
        Some((target, sources)) => {
            Ok((flags, sources.iter().map(|source| String::from(*source)).collect(), String::from(*target)))
        }
    }
}

/// A command line split into option letters and operands.
#[derive(Debug, Default)]
pub(crate) struct Options<'a> {
    flags: Vec<char>,
    /// The operands, in order.
    pub(crate) operands: Vec<&'a str>,
}

impl Options<'_> {
    /// Whether option `flag` was given.
    pub(crate) fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }
}

/// Splits `arguments`: `-x` clusters of the letters in `allowed` (anywhere before `--`),
/// `--help`, and operands (`-` alone is one; everything after `--` is).
pub(crate) fn options<'a>(arguments: &[&'a str], allowed: &str) -> Result<Options<'a>, Usage> {
    let mut options = Options::default();
    let mut only_operands = false;
    for &argument in arguments {
        if only_operands {
            options.operands.push(argument);
        } else if argument == "--" {
            only_operands = true;
        } else if argument == "--help" {
            return Err(Usage::Help);
        } else if argument.starts_with("--") {
            return Err(Usage::wrong(format!("unknown option {argument}")));
        } else if let Some(cluster) = argument.strip_prefix('-').filter(|cluster| !cluster.is_empty()) {
            for flag in cluster.chars() {
                if !allowed.contains(flag) {
                    return Err(Usage::wrong(format!("unknown option -{flag}")));
                }
                options.flags.push(flag);
            }
        } else {
            options.operands.push(argument);
        }
    }
    Ok(options)
}

/// Refuses operands for a tool that takes none.
pub(crate) fn no_operands(arguments: &[&str]) -> Result<(), Usage> {
    let options = options(arguments, "")?;
    match options.operands.first() {
        None => Ok(()),
        Some(extra) => Err(Usage::wrong(format!("takes no operands (got {extra:?})"))),
    }
}

/// `bytes` in binary units with one decimal: `512 B`, `1.5 KiB`, `64.0 MiB` (as the
/// shell's `free` writes them).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let bytes = u128::from(bytes);
    let mut unit_bytes: u128 = 1024;
    for unit in UNITS {
        let tenths = (bytes * 10 + unit_bytes / 2) / unit_bytes;
        if tenths < 10240 || unit == "EiB" {
            return format!("{}.{} {unit}", tenths / 10, tenths % 10);
        }
        unit_bytes *= 1024;
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_operands() {
        let parsed = options(&["-l", "a", "-a", "--", "-x", "-"], "la").unwrap();
        assert!(parsed.has('l') && parsed.has('a') && !parsed.has('x'));
        assert_eq!(parsed.operands, ["a", "-x", "-"]);
        let parsed = options(&["-la", "-"], "la").unwrap();
        assert!(parsed.has('l') && parsed.has('a'));
        assert_eq!(parsed.operands, ["-"]);
        assert_eq!(options(&["-lz"], "la").unwrap_err(), Usage::wrong("unknown option -z"));
        assert_eq!(options(&["--all"], "la").unwrap_err(), Usage::wrong("unknown option --all"));
        assert_eq!(options(&["x", "--help"], "").unwrap_err(), Usage::Help);
        assert_eq!(options(&["--", "--help"], "").unwrap().operands, ["--help"]);
        assert!(no_operands(&[]).is_ok());
        assert_eq!(no_operands(&["x"]).unwrap_err(), Usage::wrong("takes no operands (got \"x\")"));
    }

    #[test]
    fn sizes() {
        for (bytes, text) in
            [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (64 << 20, "64.0 MiB"), (u64::MAX, "16.0 EiB")]
        {
            assert_eq!(human_size(bytes), text);
        }
    }
}
