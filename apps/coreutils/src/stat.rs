//! `stat PATH...`: what each path is: its name as the volume keeps it (the case it was
//! made with), its kind, its size in bytes and its last change (FAT's two seconds).
//!
//! Rights: read.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use fsutil::{FileKind, Metadata};
use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, options};

/// `stat`.
pub const STAT: Tool = Tool {
    name: "stat",
    usage: "usage: stat PATH...",
    about: "show what paths are: name as kept, kind, size, last change",
    rights: Rights::READ,
    parse,
};

struct Status {
    paths: Vec<String>,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let options = options(arguments, "")?;
    if options.operands.is_empty() {
        return Err(Usage::wrong("missing operand"));
    }
    Ok(Box::new(Status { paths: options.operands.iter().map(ToString::to_string).collect() }))
}

/// The block `stat` prints for `path`.
fn describe(path: &str, metadata: &Metadata) -> String {
    let kind = match metadata.kind {
        FileKind::File => "file",
        FileKind::Directory => "directory",
    };
    let unit = if metadata.size == 1 { "byte" } else { "bytes" };
    format!(
        "{path}\n  name      {}\n  kind      {kind}\n  size      {} {unit}\n  modified  {}\n",
        metadata.name, metadata.size, metadata.modified
    )
}

impl Command for Status {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        let mut status = SUCCESS;
        let mut first = true;
        for typed in &self.paths {
            let Some(path) = session.resolve(typed) else {
                status = FAILURE;
                continue;
            };
            match session.fs.stat(&path) {
                Ok(metadata) => {
                    if !first {
                        session.print("\n");
                    }
                    session.print(&describe(&path, &metadata));
                    first = false;
                }
                Err(error) => {
                    session.fail(&path, &error);
                    status = FAILURE;
                }
            }
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::MemoryFs;

    #[test]
    fn names_kinds_sizes_and_times() {
        let mut fs = MemoryFs::new();
        fs.set_clock("2025-03-01 12:00:04");
        let mut fs = fs.with_file("/home/user/Read Me.TXT", b"12345").with_file("/home/user/one", b"1");
        let ran = run_tool(&STAT, &["read me.txt", "..", "one", "missing"], "/home/user", &mut fs);
        assert_eq!(
            ran.output,
            "/home/user/read me.txt\n  name      Read Me.TXT\n  kind      file\n  size      5 bytes\n  modified  2025-03-01 12:00:04\n\
             \n\
             /home\n  name      home\n  kind      directory\n  size      0 bytes\n  modified  2025-03-01 12:00:04\n\
             \n\
             /home/user/one\n  name      one\n  kind      file\n  size      1 byte\n  modified  2025-03-01 12:00:04\n"
        );
        assert_eq!(ran.errors, ["stat: /home/user/missing: no such file or directory"]);
        assert_eq!(ran.status, 1);
        assert_eq!(run_tool(&STAT, &[], "/", &mut fs).status, 2);
    }
}
