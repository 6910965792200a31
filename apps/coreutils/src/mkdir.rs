//! `mkdir [-p] DIRECTORY...`: makes directories. Without `-p` the parent must exist and
//! the name must be free. With `-p` the missing parents are made too, and a directory
//! that is already there is fine: it tries the directory itself first and climbs only as
//! far as it finds parents missing, so it asks nothing of the directories above the first
//! one that exists (a scope may not even let it look at them).
//!
//! Rights: read (with `-p`, to see that what exists is a directory) and create.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use fsutil::path;
use fsutil::{FileKind, FsError};
use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, options};

/// `mkdir`.
pub const MKDIR: Tool = Tool {
    name: "mkdir",
    usage: "usage: mkdir [-p] DIRECTORY...",
    about: "make directories (-p: their missing parents too, and no word of existing ones)",
    rights: Rights::READ.union(Rights::CREATE),
    parse,
};

struct MakeDirectory {
    parents: bool,
    paths: Vec<String>,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let options = options(arguments, "p")?;
    if options.operands.is_empty() {
        return Err(Usage::wrong("missing operand"));
    }
    Ok(Box::new(MakeDirectory {
        parents: options.has('p'),
        paths: options.operands.iter().map(ToString::to_string).collect(),
    }))
}

impl Command for MakeDirectory {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        let mut status = SUCCESS;
        for typed in &self.paths {
            let Some(path) = session.resolve(typed) else {
                status = FAILURE;
                continue;
            };
            let made = if self.parents { make_with_parents(session, &path) } else { make(session, &path) };
            if !made {
                status = FAILURE;
            }
        }
        status
    }
}

fn make(session: &mut Session<'_>, path: &str) -> bool {
    match session.fs.make_directory(path) {
        Ok(()) => true,
        Err(error) => {
            session.fail(path, &error);
            false
        }
    }
}

/// `mkdir -p`: `path` and its missing parents.
fn make_with_parents(session: &mut Session<'_>, path: &str) -> bool {
    // Climb while the parent is missing, remembering what to make on the way back down.
    let mut missing: Vec<&str> = Vec::new();
    let mut current = path;
    loop {
        match session.fs.make_directory(current) {
            Ok(()) => break,
            Err(FsError::Exists) => {
                // Already there: fine if it is a directory (the one asked for, or a parent).
                match session.fs.stat(current) {
                    Ok(metadata) if metadata.kind == FileKind::Directory => break,
                    Ok(_) => {
                        let error = if current == path { FsError::Exists } else { FsError::NotADirectory };
                        session.fail(current, &error);
                        return false;
                    }
                    Err(error) => {
                        session.fail(current, &error);
                        return false;
                    }
                }
            }
            Err(FsError::NotFound) if current != "/" => {
                missing.push(current);
                current = path::parent(current);
            }
            Err(error) => {
                session.fail(current, &error);
                return false;
            }
        }
    }
    while let Some(next) = missing.pop() {
        match session.fs.make_directory(next) {
            // Made meanwhile by someone else: as good.
            Ok(()) | Err(FsError::Exists) => {}
            Err(error) => {
                session.fail(next, &error);
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::{Denial, MemoryFs};

    #[test]
    fn makes_directories_and_refuses_existing_ones() {
        let mut fs = MemoryFs::new().with_directory("/home/user").with_file("/home/user/f", b"");
        let ran = run_tool(&MKDIR, &["notes", "/tmp"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(fs.kind("/home/user/notes"), Some(FileKind::Directory));
        assert_eq!(fs.kind("/tmp"), Some(FileKind::Directory));
        let ran = run_tool(&MKDIR, &["notes", "a/b", "f", "bad:name"], "/home/user", &mut fs);
        assert_eq!(
            ran.errors,
            [
                "mkdir: /home/user/notes: already exists",
                "mkdir: /home/user/a/b: no such file or directory",
                "mkdir: /home/user/f: already exists",
                "mkdir: /home/user/bad:name: invalid name: \"bad:name\"",
            ]
        );
        assert_eq!(ran.status, 1);
    }

    #[test]
    fn with_p_makes_parents_and_is_quiet_about_existing_directories() {
        let mut fs = MemoryFs::new().with_directory("/home/user");
        let ran = run_tool(
            &MKDIR,
            &["-p", "/home/user/notes/2025/january", "notes", "/home"],
            "/home/user",
            &mut fs,
        );
        assert_eq!(ran.status, 0, "{:?}", ran.errors);
        assert_eq!(
            fs.tree(),
            [
                "/home/",
                "/home/user/",
                "/home/user/notes/",
                "/home/user/notes/2025/",
                "/home/user/notes/2025/january/"
            ]
        );
        let ran = run_tool(&MKDIR, &["-p", "/"], "/", &mut fs);
        assert_eq!(ran.status, 0);
    }

    #[test]
    fn with_p_a_file_in_the_way_is_reported() {
        let mut fs = MemoryFs::new().with_file("/home/user/f", b"");
        let ran = run_tool(&MKDIR, &["-p", "f/sub/deeper"], "/home/user", &mut fs);
        assert_eq!(ran.errors, ["mkdir: /home/user/f/sub/deeper: not a directory"]);
        let ran = run_tool(&MKDIR, &["-p", "f"], "/home/user", &mut fs);
        assert_eq!(ran.errors, ["mkdir: /home/user/f: already exists"]);
        assert_eq!(fs.tree(), ["/home/", "/home/user/", "/home/user/f"]);
    }

    #[test]
    fn with_p_asks_nothing_above_the_first_existing_directory() {
        let mut fs = MemoryFs::new().with_directory("/home/user");
        let ran = run_tool(&MKDIR, &["-p", "/home/user/a/b"], "/", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(
            fs.requests(),
            ["make_directory /home/user/a/b", "make_directory /home/user/a", "make_directory /home/user/a/b",]
        );
        // A refusal on the way up ends it, naming where.
        let mut fs = MemoryFs::new().with_directory("/home/user");
        fs.deny("/home/user/a", Denial::Changes);
        let ran = run_tool(&MKDIR, &["-p", "/home/user/a/b"], "/", &mut fs);
        assert_eq!(
            ran.errors,
            ["mkdir: /home/user/a/b: denied: the fake's scope gives no changes at /home/user/a"]
        );
    }

    #[test]
    fn needs_an_operand() {
        let ran = run_tool(&MKDIR, &["-p"], "/", &mut MemoryFs::new());
        assert_eq!(ran.status, 2);
    }
}
