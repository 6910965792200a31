//! `touch FILE...`: makes each file that does not exist, empty. One that exists (a file
//! or a directory) is left as it is: the protocol has no request to set a time, and a
//! write that changes nothing is not made to move it.
//!
//! Rights: read (to see whether it exists), write and create (to make it).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use fsutil::{FsError, OpenFlags};
use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, options};

/// `touch`.
pub const TOUCH: Tool = Tool {
    name: "touch",
    usage: "usage: touch FILE...",
    about: "make empty files where there are none",
    rights: Rights::READ.union(Rights::WRITE).union(Rights::CREATE),
    parse,
};

struct Touch {
    paths: Vec<String>,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let options = options(arguments, "")?;
    if options.operands.is_empty() {
        return Err(Usage::wrong("missing file operand"));
    }
    Ok(Box::new(Touch { paths: options.operands.iter().map(ToString::to_string).collect() }))
}

impl Command for Touch {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        let mut status = SUCCESS;
        for typed in &self.paths {
            let touched = session.resolve(typed).is_some_and(|path| touch(session, &path));
            if !touched {
                status = FAILURE;
            }
        }
        status
    }
}

fn touch(session: &mut Session<'_>, path: &str) -> bool {
    match session.fs.stat(path) {
        Ok(_) => return true,
        Err(FsError::NotFound) => {}
        Err(error) => {
            session.fail(path, &error);
            return false;
        }
    }
    let flags = OpenFlags::WRITE.union(OpenFlags::CREATE).union(OpenFlags::EXCLUSIVE);
    match session.fs.open(path, flags) {
        Ok((handle, _)) => match session.fs.close(handle) {
            Ok(()) => true,
            Err(error) => {
                session.fail(path, &error);
                false
            }
        },
        // Made meanwhile: there it is.
        Err(FsError::Exists) => true,
        Err(error) => {
            session.fail(path, &error);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::{Denial, MemoryFs};

    #[test]
    fn makes_missing_files_and_leaves_others() {
        let mut fs =
            MemoryFs::new().with_file("/home/user/kept", b"contents").with_directory("/home/user/dir");
        let ran = run_tool(
            &TOUCH,
            &["new file with a long name", "kept", "dir", "/home/user/x"],
            "/home/user",
            &mut fs,
        );
        assert_eq!(ran.status, 0, "{:?}", ran.errors);
        assert_eq!(fs.file("/home/user/new file with a long name"), Some(&b""[..]));
        assert_eq!(fs.file("/home/user/x"), Some(&b""[..]));
        assert_eq!(fs.file("/home/user/kept"), Some(&b"contents"[..]));
    }

    #[test]
    fn failures_name_the_path() {
        let mut fs = MemoryFs::new().with_file("/etc/motd", b"").with_file("/home/f", b"");
        fs.deny("/etc", Denial::Changes);
        let ran =
            run_tool(&TOUCH, &["/etc/new", "/etc/motd", "/home/f/x", "/nowhere/x", "/home/a?"], "/", &mut fs);
        assert_eq!(
            ran.errors,
            [
                "touch: /etc/new: denied: the fake's scope gives no changes at /etc",
                "touch: /home/f/x: not a directory",
                "touch: /nowhere/x: no such file or directory",
                "touch: /home/a?: invalid name: \"a?\"",
            ]
        );
        assert_eq!(ran.status, 1);
        fs.set_read_only(true);
        let ran = run_tool(&TOUCH, &["/home/g"], "/", &mut fs);
        assert_eq!(ran.errors, ["touch: /home/g: read-only volume"]);
    }
}
