//! `cp SOURCE TARGET`, `cp SOURCE... DIRECTORY`: copies files. A target that is a
//! directory receives each source under its own name; otherwise the one source is copied
//! to the target, which is made or cut to nothing first. Bytes go in chunks of
//! [`crate::cat::CHUNK_BYTES`]. A source and a target that are one file (the same path,
//! or one FAT takes for it: `a` and `A`) are refused before anything is opened, since
//! opening the target cuts it. A failure while writing leaves the target with what was
//! written.
//!
//! Rights: read (the sources, and to see what the target is), write and create (the
//! target).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use fsutil::OpenFlags;
use fsutil::path::same_file;
use grant::Rights;

use crate::cat::CHUNK_BYTES;
use crate::tool::{Command, Session, Tool, Usage, each_to_target, sources_and_target};

/// `cp`.
pub const CP: Tool = Tool {
    name: "cp",
    usage: "usage: cp SOURCE TARGET | cp SOURCE... DIRECTORY",
    about: "copy files (into a directory, under their own names)",
    rights: Rights::READ.union(Rights::WRITE).union(Rights::CREATE),
    parse,
};

struct Copy {
    sources: Vec<String>,
    target: String,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let (_, sources, target) = sources_and_target(arguments, "")?;
    Ok(Box::new(Copy { sources, target }))
}

impl Command for Copy {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        each_to_target(session, &self.sources, &self.target, copy_file)
    }
}

/// Copies the file `source` to `destination`; reports a failure and returns `false`.
fn copy_file(session: &mut Session<'_>, source: &str, destination: &str) -> bool {
    if same_file(source, destination) {
        session.complain(&format!("{source} and {destination} are the same file"));
        return false;
    }
    let input = match session.fs.open(source, OpenFlags::READ) {
        Ok((handle, _)) => handle,
        Err(error) => {
            session.fail(source, &error);
            return false;
        }
    };
    let flags = OpenFlags::WRITE.union(OpenFlags::CREATE).union(OpenFlags::TRUNCATE);
    let output = match session.fs.open(destination, flags) {
        Ok((handle, _)) => handle,
        Err(error) => {
            session.fail(destination, &error);
            let _ = session.fs.close(input);
            return false;
        }
    };
    let mut buffer = vec![0; CHUNK_BYTES];
    let mut fine = true;
    loop {
        let count = match session.fs.read(input, &mut buffer) {
            Ok(count) => count,
            Err(error) => {
                session.fail(source, &error);
                fine = false;
                break;
            }
        };
        if count > 0
            && let Err(error) = session.fs.write(output, buffer.get(..count).unwrap_or_default())
        {
            session.fail(destination, &error);
            fine = false;
            break;
        }
        if count < buffer.len() {
            break;
        }
    }
    // Closing a written file is when its changes go to the device: its failure counts.
    if let Err(error) = session.fs.close(output) {
        session.fail(destination, &error);
        fine = false;
    }
    if let Err(error) = session.fs.close(input) {
        session.fail(source, &error);
        fine = false;
    }
    fine
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::{Denial, MemoryFs};

    fn home() -> MemoryFs {
        MemoryFs::new()
            .with_file("/home/user/a report with a long name.txt", b"the report")
            .with_file("/home/user/b", b"bee")
            .with_directory("/home/user/backup")
            .with_file("/www/index.html", b"<h1>hi</h1>")
    }

    #[test]
    fn file_to_file_makes_or_replaces_the_target() {
        let mut fs = home();
        let ran = run_tool(&CP, &["a report with a long name.txt", "copy.txt"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(fs.file("/home/user/copy.txt"), Some(&b"the report"[..]));
        let ran = run_tool(&CP, &["/www/index.html", "b"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(fs.file("/home/user/b"), Some(&b"<h1>hi</h1>"[..]));
        assert_eq!(fs.file("/www/index.html"), Some(&b"<h1>hi</h1>"[..]));
    }

    #[test]
    fn into_a_directory_under_their_own_names() {
        let mut fs = home();
        let ran = run_tool(&CP, &["b", "a report with a long name.txt", "backup/"], "/home/user", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(fs.names("/home/user/backup"), ["b", "a report with a long name.txt"]);
        let ran = run_tool(&CP, &["/www/index.html", "."], "/home/user/backup", &mut fs);
        assert_eq!(ran.status, 0);
        assert_eq!(fs.file("/home/user/backup/index.html"), Some(&b"<h1>hi</h1>"[..]));
    }

    #[test]
    fn large_files_whole() {
        let contents: Vec<u8> =
            (0..5 * CHUNK_BYTES + 3).map(|index| u8::try_from(index % 253).unwrap()).collect();
        let mut fs = MemoryFs::new().with_file("/tmp/big", &contents).with_directory("/home");
        let ran = run_tool(&CP, &["/tmp/big", "/home/big"], "/", &mut fs);
        assert_eq!(ran.status, 0);
        assert!(fs.file("/home/big") == Some(&contents[..]));
    }

    #[test]
    fn one_file_under_two_names_is_refused_untouched() {
        let mut fs = home();
        for (source, target) in [("b", "b"), ("b", "B"), ("b", "../user/b"), ("b", ".")] {
            let ran = run_tool(&CP, &[source, target], "/home/user", &mut fs);
            assert_eq!(ran.status, 1, "{source} {target}");
            assert!(ran.errors[0].ends_with("are the same file"), "{:?}", ran.errors);
            assert_eq!(fs.file("/home/user/b"), Some(&b"bee"[..]), "cp {source} {target} changed it");
        }
    }

    #[test]
    fn failures_name_the_path() {
        let mut fs = home();
        fs.deny("/www", Denial::Changes);
        let cases: &[(&[&str], &[&str])] = &[
            (&["missing", "x"], &["cp: /home/user/missing: no such file or directory"]),
            (&["backup", "x"], &["cp: /home/user/backup: is a directory"]),
            (&["b", "/www/b"], &["cp: /www/b: denied: the fake's scope gives no changes at /www"]),
            (&["b", "nowhere/x"], &["cp: /home/user/nowhere/x: no such file or directory"]),
            (&["b", "b", "nowhere"], &["cp: /home/user/nowhere: no such file or directory"]),
            (&["b", "b", "/www/index.html"], &["cp: /www/index.html: not a directory"]),
            (&["b", "newdir/"], &["cp: /home/user/newdir: no such file or directory"]),
            (&["b", "bad:name"], &["cp: /home/user/bad:name: invalid name: \"bad:name\""]),
            (&["missing", "b", "backup"], &["cp: /home/user/missing: no such file or directory"]),
        ];
        for (arguments, errors) in cases {
            let ran = run_tool(&CP, arguments, "/home/user", &mut fs);
            assert_eq!(ran.errors, *errors, "cp {arguments:?}");
            assert_eq!(ran.status, 1);
        }
        // The good source of the last case was copied all the same.
        assert_eq!(fs.file("/home/user/backup/b"), Some(&b"bee"[..]));
    }

    #[test]
    fn a_full_volume_and_a_failing_read_are_reported() {
        let mut fs = MemoryFs::new().with_file("/big", &[1; 3 * CHUNK_BYTES]).with_directory("/home");
        fs.set_capacity((4 * CHUNK_BYTES) as u64);
        let ran = run_tool(&CP, &["/big", "/home/big"], "/", &mut fs);
        assert_eq!(ran.errors, ["cp: /home/big: no space left on the volume"]);
        assert_eq!(fs.file("/home/big").map(<[u8]>::len), Some(CHUNK_BYTES));
        let mut fs = MemoryFs::new().with_file("/big", &[1; 3 * CHUNK_BYTES]).with_directory("/home");
        fs.fail_reads("/big", CHUNK_BYTES as u64 * 2);
        let ran = run_tool(&CP, &["/big", "/home/big"], "/", &mut fs);
        assert_eq!(ran.errors, ["cp: /big: device error"]);
    }

    #[test]
    fn usage() {
        for arguments in [&[][..], &["only"][..], &["-r", "a", "b"][..]] {
            let ran = run_tool(&CP, arguments, "/", &mut home());
            assert_eq!(ran.status, 2, "{arguments:?}");
            assert_eq!(ran.errors.last().map(String::as_str), Some(CP.usage));
        }
    }
}
