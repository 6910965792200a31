//! `ls [-la] [PATH...]`: lists directories, one name a line, sorted without case as FAT
//! compares names (long names as they are, spaces and all). A file operand is listed as
//! typed. `-a` also lists names starting with `.`, and `.` and `..` first; `-l` puts the
//! kind (`d` directory, `-` file) and the size in bytes before each name. Several operands:
//! files first, then each directory under a `PATH:` header. No operand: the working
//! directory.
//!
//! Rights: read.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cmp::Ordering;

use fsutil::{DirectoryEntry, FileKind};
use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, options};

/// `ls`.
pub const LS: Tool = Tool {
    name: "ls",
    usage: "usage: ls [-la] [PATH...]",
    about: "list directories (-a: also names starting with `.`; -l: kinds and sizes in bytes)",
    rights: Rights::READ,
    parse,
};

struct List {
    long: bool,
    all: bool,
    paths: Vec<String>,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let options = options(arguments, "la")?;
    Ok(Box::new(List {
        long: options.has('l'),
        all: options.has('a'),
        paths: options.operands.iter().map(ToString::to_string).collect(),
    }))
}

/// One line of a listing.
struct Line {
    name: String,
    kind: FileKind,
    size: u64,
}

impl From<DirectoryEntry> for Line {
    fn from(entry: DirectoryEntry) -> Self {
        Self { name: entry.name, kind: entry.kind, size: entry.size }
    }
}

/// Names in the order `ls` lists them: without case first, then as written.
fn by_name(first: &str, second: &str) -> Ordering {
    let folded = |name: &str| name.chars().flat_map(char::to_lowercase).collect::<String>();
    folded(first).cmp(&folded(second)).then_with(|| first.cmp(second))
}

impl List {
    fn print(&self, session: &mut Session<'_>, lines: &[Line]) {
        let mut text = String::new();
        if self.long {
            let size = |line: &Line| match line.kind {
                FileKind::Directory => String::from("-"),
                FileKind::File => line.size.to_string(),
            };
            let width = lines.iter().map(|line| size(line).len()).max().unwrap_or(1);
            for line in lines {
                let kind = match line.kind {
                    FileKind::Directory => 'd',
                    FileKind::File => '-',
                };
                text.push_str(&format!("{kind}  {:>width$}  {}\n", size(line), line.name));
            }
        } else {
            for line in lines {
                text.push_str(&line.name);
                text.push('\n');
            }
        }
        session.print(&text);
    }

    /// The lines of a directory's listing, in order.
    fn lines(&self, entries: Vec<DirectoryEntry>) -> Vec<Line> {
        let mut lines: Vec<Line> = entries
            .into_iter()
            .filter(|entry| self.all || !entry.name.starts_with('.'))
            .map(Line::from)
            .collect();
        lines.sort_by(|first, second| by_name(&first.name, &second.name));
        if self.all {
            let dot = |name: &str| Line { name: name.into(), kind: FileKind::Directory, size: 0 };
            lines.splice(0..0, [dot("."), dot("..")]);
        }
        lines
    }
}

impl Command for List {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        let typed: Vec<&str> = if self.paths.is_empty() {
            Vec::from(["."])
        } else {
            self.paths.iter().map(String::as_str).collect()
        };
        let mut status = SUCCESS;
        let mut files = Vec::new();
        let mut directories = Vec::new();
        for &operand in &typed {
            let Some(path) = session.resolve(operand) else {
                status = FAILURE;
                continue;
            };
            match session.fs.stat(&path) {
                Ok(metadata) if metadata.kind == FileKind::Directory => directories.push((operand, path)),
                Ok(metadata) => {
                    files.push(Line { name: operand.into(), kind: metadata.kind, size: metadata.size })
                }
                Err(error) => {
                    session.fail(&path, &error);
                    status = FAILURE;
                }
            }
        }
        let headers = typed.len() > 1;
        let mut first = true;
        if !files.is_empty() {
            files.sort_by(|first, second| by_name(&first.name, &second.name));
            self.print(session, &files);
            first = false;
        }
        for (operand, path) in directories {
            match session.fs.read_directory(&path) {
                Ok(entries) => {
                    if !first {
                        session.print("\n");
                    }
                    if headers {
                        session.print(&format!("{operand}:\n"));
                    }
                    let lines = self.lines(entries);
                    self.print(session, &lines);
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
    use fsutil::memory::{Denial, MemoryFs};

    fn home() -> MemoryFs {
        MemoryFs::new()
            .with_file("/home/user/notes about the meeting.txt", b"agenda")
            .with_file("/home/user/B.txt", b"12345")
            .with_file("/home/user/.profile", b"x")
            .with_directory("/home/user/archive")
            .with_file("/home/user/a.txt", &[0; 1234])
            .with_file("/www/index.html", b"<h1>hi</h1>")
    }

    #[test]
    fn lists_the_working_directory_sorted_without_case() {
        let ran = run_tool(&LS, &[], "/home/user", &mut home());
        assert_eq!(ran.output, "a.txt\narchive\nB.txt\nnotes about the meeting.txt\n");
        assert_eq!(ran.status, 0);
    }

    #[test]
    fn long_and_all() {
        let ran = run_tool(&LS, &["-la"], "/home/user", &mut home());
        assert_eq!(
            ran.output,
            "d     -  .\n\
             d     -  ..\n\
             -     1  .profile\n\
             -  1234  a.txt\n\
             d     -  archive\n\
             -     5  B.txt\n\
             -     6  notes about the meeting.txt\n"
        );
        let separate = run_tool(&LS, &["-l", "-a"], "/home/user", &mut home());
        assert_eq!(separate.output, ran.output);
        let after = run_tool(&LS, &[".", "-l"], "/home/user", &mut home());
        assert!(after.output.starts_with("-  1234  a.txt\n"), "{}", after.output);
    }

    #[test]
    fn several_operands_files_first_then_headed_directories() {
        let ran = run_tool(&LS, &["/www", "B.txt", "archive", "../user/a.txt"], "/home/user", &mut home());
        assert_eq!(ran.output, "../user/a.txt\nB.txt\n\n/www:\nindex.html\n\narchive:\n");
        assert_eq!(ran.status, 0);
    }

    #[test]
    fn failures_name_the_path_and_the_rest_is_listed() {
        let mut fs = home();
        fs.deny("/etc", Denial::Everything);
        let ran = run_tool(&LS, &["nothing", "/etc", "/www"], "/home/user", &mut fs);
        assert_eq!(
            ran.errors,
            [
                "ls: /home/user/nothing: no such file or directory",
                "ls: /etc: denied: the fake's scope gives no access at /etc",
            ]
        );
        assert_eq!(ran.output, "/www:\nindex.html\n");
        assert_eq!(ran.status, 1);
        let ran = run_tool(&LS, &["a.txt/x"], "/home/user", &mut home());
        assert_eq!(ran.errors, ["ls: /home/user/a.txt/x: not a directory"]);
    }

    #[test]
    fn usage_and_help() {
        let ran = run_tool(&LS, &["-x"], "/", &mut home());
        assert_eq!(ran.errors, ["ls: unknown option -x", "usage: ls [-la] [PATH...]"]);
        assert_eq!(ran.status, 2);
        let ran = run_tool(&LS, &["--help"], "/", &mut home());
        assert_eq!(ran.status, 0);
        assert!(ran.output.starts_with("usage: ls [-la] [PATH...]\nlist directories"), "{}", ran.output);
    }

    #[test]
    fn a_bad_working_directory_fails_relative_paths_only() {
        let mut fs = home();
        let mut ran = crate::testing::Ran::default();
        let status = crate::run(&LS, &["x", "/www"], Some("home"), |_| Ok(&mut fs), &mut ran);
        assert_eq!(status, 1);
        assert_eq!(
            ran.errors,
            ["ls: x: relative to a working directory that is not absolute (PWD=\"home\")"]
        );
        assert_eq!(ran.output, "/www:\nindex.html\n");
        // No PWD at all: the root.
        let mut ran = crate::testing::Ran::default();
        assert_eq!(crate::run(&LS, &[], None, |_| Ok(&mut fs), &mut ran), 0);
        assert_eq!(ran.output, "home\nwww\n");
    }

    #[test]
    fn no_filesystem_is_said_once() {
        let mut ran = crate::testing::Ran::default();
        let status = crate::run::<MemoryFs>(&LS, &[], None, |_| Err("unknown service".into()), &mut ran);
        assert_eq!(
            (status, ran.errors.as_slice()),
            (1, &["ls: no filesystem: unknown service".to_string()][..])
        );
    }
}
