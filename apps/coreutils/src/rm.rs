//! `rm [-rf] PATH...`: removes files; `-r` also directories and everything in them;
//! `-f` says nothing of paths that are not there (and allows no operand at all).
//!
//! The walk of `-r` keeps its own stack (a program's stack is 64 KiB; a path may be 1024
//! bytes deep), depth first: a directory's listing is read whole before anything in it
//! is removed (so removing does not disturb the paging of the listing), its files are
//! unlinked, its directories walked, and the directory itself removed once it is empty.
//! A failure inside is reported, the walk goes on with the rest, and the directories
//! above the failure are left (they are not empty). The root, and operands whose last
//! component is `.` or `..`, are refused, as POSIX says; a listed name that could climb
//! out of the directory (`..`, a `/`) is refused, not followed.
//!
//! Rights: read (to see what is a directory, and list it) and delete.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use fsutil::path;
use fsutil::{DirectoryEntry, FileKind, FsError};
use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, options};

/// `rm`.
pub const RM: Tool = Tool {
    name: "rm",
    usage: "usage: rm [-rf] PATH...",
    about: "remove files (-r: directories and all they hold; -f: no word of missing paths)",
    rights: Rights::READ.union(Rights::DELETE),
    parse,
};

struct Remove {
    recursive: bool,
    force: bool,
    paths: Vec<String>,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let options = options(arguments, "rRf")?;
    let force = options.has('f');
    if options.operands.is_empty() && !force {
        return Err(Usage::wrong("missing operand"));
    }
    Ok(Box::new(Remove {
        recursive: options.has('r') || options.has('R'),
        force,
        paths: options.operands.iter().map(ToString::to_string).collect(),
    }))
}

impl Command for Remove {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        let mut status = SUCCESS;
        for typed in &self.paths {
            if !self.remove_operand(session, typed) {
                status = FAILURE;
            }
        }
        status
    }
}

/// A directory being emptied: what is left of its listing.
struct Level {
    path: String,
    entries: Vec<DirectoryEntry>,
    /// Something in it could not be removed.
    failed: bool,
}

impl Remove {
    /// Removes one operand; reports failures and returns `false` after one.
    fn remove_operand(&self, session: &mut Session<'_>, typed: &str) -> bool {
        if path::ends_in_dot(typed) {
            session.complain(&format!("{typed}: refusing to remove `.` or `..`"));
            return false;
        }
        let Some(path) = session.resolve(typed) else { return false };
        if path == "/" {
            session.complain("/: refusing to remove the root");
            return false;
        }
        match session.fs.stat(&path) {
            Err(FsError::NotFound) if self.force => true,
            Err(error) => {
                session.fail(&path, &error);
                false
            }
            Ok(metadata) if metadata.kind == FileKind::File => self.unlink(session, &path),
            Ok(_) if !self.recursive => {
                session.fail(&path, &FsError::IsADirectory);
                false
            }
            Ok(_) => self.remove_tree(session, path),
        }
    }

    fn unlink(&self, session: &mut Session<'_>, path: &str) -> bool {
        match session.fs.unlink(path) {
            Ok(()) => true,
            Err(FsError::NotFound) if self.force => true,
            Err(error) => {
                session.fail(path, &error);
                false
            }
        }
    }

    /// Opens a level for directory `path`: its listing, reversed to pop in order.
    fn level(session: &mut Session<'_>, path: String) -> Result<Level, (String, FsError)> {
        match session.fs.read_directory(&path) {
            Ok(mut entries) => {
                entries.reverse();
                Ok(Level { path, entries, failed: false })
            }
            Err(error) => Err((path, error)),
        }
    }

    /// Removes directory `root` and everything in it (see the module documentation).
    fn remove_tree(&self, session: &mut Session<'_>, root: String) -> bool {
        let mut stack = match Self::level(session, root) {
            Ok(level) => Vec::from([level]),
            Err((path, error)) => {
                session.fail(&path, &error);
                return false;
            }
        };
        loop {
            let Some(top) = stack.last_mut() else { return false };
            let Some(entry) = top.entries.pop() else {
                // Empty now, unless something in it stayed.
                let Some(done) = stack.pop() else { return false };
                let removed = !done.failed && self.remove_directory(session, &done.path);
                match stack.last_mut() {
                    Some(parent) => parent.failed |= !removed,
                    None => return removed,
                }
                continue;
            };
            let directory = top.path.clone();
            let child = match child_path(&directory, &entry.name) {
                Ok(child) => child,
                Err(why) => {
                    session.complain(&format!("{directory}: {why}"));
                    top.failed = true;
                    continue;
                }
            };
            match entry.kind {
                FileKind::File => {
                    if !self.unlink(session, &child) {
                        top.failed = true;
                    }
                }
                FileKind::Directory => match Self::level(session, child) {
                    Ok(level) => stack.push(level),
                    Err((path, error)) => {
                        session.fail(&path, &error);
                        if let Some(top) = stack.last_mut() {
                            top.failed = true;
                        }
                    }
                },
            }
        }
    }

    fn remove_directory(&self, session: &mut Session<'_>, path: &str) -> bool {
        match session.fs.remove_directory(path) {
            Ok(()) => true,
            Err(FsError::NotFound) if self.force => true,
            Err(error) => {
                session.fail(path, &error);
                false
            }
        }
    }
}

/// The path of `name`, listed in `directory`, refusing a name no directory can hold.
fn child_path(directory: &str, name: &str) -> Result<String, String> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.chars().any(char::is_control)
    {
        return Err(format!("the filesystem listed an impossible name {name:?}; not followed"));
    }
    path::join(directory, name).map_err(|error| format!("{name}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::{Denial, MemoryFs};

    fn home() -> MemoryFs {
        MemoryFs::new()
            .with_file("/home/user/a file with a long name.txt", b"x")
            .with_file("/home/user/project/src/main.rs", b"fn main() {}")
            .with_file("/home/user/project/src/lib.rs", b"")
            .with_directory("/home/user/project/empty")
            .with_file("/home/user/project/README", b"read me")
            .with_file("/home/user/keep", b"keep")
    }

    #[test]
    fn files_and_with_r_whole_trees() {
        let mut fs = home();
        let ran = run_tool(&RM, &["a file with a long name.txt"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0);
        let ran = run_tool(&RM, &["-r", "project"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0, "{:?}", ran.errors);
        assert_eq!(fs.tree(), ["/home/", "/home/user/", "/home/user/keep"]);
    }

    #[test]
    fn a_directory_needs_r() {
        let mut fs = home();
        let ran = run_tool(&RM, &["project", "keep"], "/home/user", &mut fs);
        assert_eq!(ran.errors, ["rm: /home/user/project: is a directory"]);
        assert_eq!(ran.status, 1);
        assert_eq!(fs.kind("/home/user/keep"), None, "the other operand was removed");
        assert_eq!(fs.kind("/home/user/project"), Some(FileKind::Directory));
    }

    #[test]
    fn force_says_nothing_of_missing_paths() {
        let mut fs = home();
        let ran = run_tool(&RM, &["-f", "missing", "keep"], "/home/user", &mut fs);
        assert_eq!((ran.status, ran.errors.len()), (0, 0));
        assert_eq!(fs.kind("/home/user/keep"), None);
        let ran = run_tool(&RM, &["-f"], "/", &mut fs);
        assert_eq!(ran.status, 0);
        let ran = run_tool(&RM, &["missing"], "/home/user", &mut fs);
        assert_eq!(ran.errors, ["rm: /home/user/missing: no such file or directory"]);
        let ran = run_tool(&RM, &[], "/", &mut fs);
        assert_eq!(ran.status, 2);
    }

    #[test]
    fn refuses_the_root_and_dots() {
        let mut fs = home();
        let before = fs.tree();
        for (typed, error) in [
            ("/", "rm: /: refusing to remove the root"),
            ("/home/..", "rm: /home/..: refusing to remove `.` or `..`"),
            (".", "rm: .: refusing to remove `.` or `..`"),
            ("project/.", "rm: project/.: refusing to remove `.` or `..`"),
            ("../", "rm: ../: refusing to remove `.` or `..`"),
            ("../../..", "rm: ../../..: refusing to remove `.` or `..`"),
            ("../..//", "rm: ../..//: refusing to remove `.` or `..`"),
        ] {
            let ran = run_tool(&RM, &["-rf", typed], "/home/user", &mut fs);
            assert_eq!(ran.errors, [error], "{typed}");
            assert_eq!(fs.tree(), before);
        }
        // `/..` is the root too.
        let ran = run_tool(&RM, &["-rf", "/../"], "/home/user", &mut fs);
        assert_eq!(ran.status, 1);
        assert_eq!(fs.tree(), before);
    }

    #[test]
    fn a_failure_inside_keeps_what_holds_it_and_removes_the_rest() {
        let mut fs = home();
        fs.deny("/home/user/project/src/main.rs", Denial::Changes);
        let ran = run_tool(&RM, &["-r", "/home/user/project", "/home/user/keep"], "/", &mut fs);
        assert_eq!(
            ran.errors,
            [
                "rm: /home/user/project/src/main.rs: denied: the fake's scope gives no changes at /home/user/project/src/main.rs"
            ]
        );
        assert_eq!(ran.status, 1);
        assert_eq!(
            fs.tree(),
            [
                "/home/",
                "/home/user/",
                "/home/user/a file with a long name.txt",
                "/home/user/project/",
                "/home/user/project/src/",
                "/home/user/project/src/main.rs",
            ]
        );
    }

    #[test]
    fn deep_trees_do_not_need_a_deep_stack() {
        // 300 levels: a path of 900 bytes.
        let deep = "/d".to_string() + &"/ab".repeat(300);
        let mut fs = MemoryFs::new().with_file(&format!("{deep}/leaf"), b"x");
        let ran = run_tool(&RM, &["-r", "/d"], "/", &mut fs);
        assert_eq!(ran.status, 0, "{:?}", ran.errors);
        assert!(fs.tree().is_empty());
    }

    #[test]
    fn impossible_names_are_not_followed() {
        assert!(child_path("/a", "..").is_err());
        assert!(child_path("/a", ".").is_err());
        assert!(child_path("/a", "").is_err());
        assert!(child_path("/a", "b/../../etc").is_err());
        assert!(child_path("/a", "tab\there").is_err());
        assert_eq!(child_path("/a", "b c").as_deref(), Ok("/a/b c"));
        assert_eq!(child_path("/", "b").as_deref(), Ok("/b"));
    }
}
