//! `rmdir DIRECTORY...`: removes empty directories.
//!
//! Rights: delete.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, options};

/// `rmdir`.
pub const RMDIR: Tool = Tool {
    name: "rmdir",
    usage: "usage: rmdir DIRECTORY...",
    about: "remove empty directories",
    rights: Rights::DELETE,
    parse,
};

struct RemoveDirectory {
    paths: Vec<String>,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let options = options(arguments, "")?;
    if options.operands.is_empty() {
        return Err(Usage::wrong("missing operand"));
    }
    Ok(Box::new(RemoveDirectory { paths: options.operands.iter().map(ToString::to_string).collect() }))
}

impl Command for RemoveDirectory {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        let mut status = SUCCESS;
        for typed in &self.paths {
            let Some(path) = session.resolve(typed) else {
                status = FAILURE;
                continue;
            };
            if let Err(error) = session.fs.remove_directory(&path) {
                session.fail(&path, &error);
                status = FAILURE;
            }
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::FileKind;
    use fsutil::memory::MemoryFs;

    #[test]
    fn removes_empty_directories_only() {
        let mut fs = MemoryFs::new()
            .with_directory("/home/user/empty one")
            .with_file("/home/user/full/x", b"")
            .with_file("/home/user/file", b"");
        let ran = run_tool(&RMDIR, &["empty one", "full", "file", "missing"], "/home/user", &mut fs);
        assert_eq!(
            ran.errors,
            [
                "rmdir: /home/user/full: directory not empty",
                "rmdir: /home/user/file: not a directory",
                "rmdir: /home/user/missing: no such file or directory",
            ]
        );
        assert_eq!(ran.status, 1);
        assert_eq!(fs.kind("/home/user/empty one"), None);
        assert_eq!(fs.kind("/home/user/full"), Some(FileKind::Directory));
        assert_eq!(run_tool(&RMDIR, &[], "/", &mut fs).status, 2);
    }
}
