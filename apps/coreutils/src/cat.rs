//! `cat FILE...`: writes each file's bytes out, in order, as they are (no text
//! conversion). A file is read in chunks of [`CHUNK_BYTES`] and each chunk written before
//! the next is read, so a file of any size needs one chunk of memory. A file that cannot
//! be opened or read is reported and the next one follows; bytes read before a failure
//! have been written.
//!
//! Rights: read.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use fsutil::OpenFlags;
use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, options};

/// `cat`.
pub const CAT: Tool = Tool {
    name: "cat",
    usage: "usage: cat FILE...",
    about: "write files out, one after the other",
    rights: Rights::READ,
    parse,
};

/// Bytes read (and written) at a time.
pub const CHUNK_BYTES: usize = 64 * 1024;

struct Concatenate {
    paths: Vec<String>,
}

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    let options = options(arguments, "")?;
    if options.operands.is_empty() {
        return Err(Usage::wrong("missing file operand (there is no standard input to read)"));
    }
    Ok(Box::new(Concatenate { paths: options.operands.iter().map(ToString::to_string).collect() }))
}

impl Command for Concatenate {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        let mut status = SUCCESS;
        let mut buffer = vec![0; CHUNK_BYTES];
        for typed in &self.paths {
            let Some(path) = session.resolve(typed) else {
                status = FAILURE;
                continue;
            };
            if !write_file(session, &path, &mut buffer) {
                status = FAILURE;
            }
        }
        status
    }
}

/// Writes the file at `path` out; reports a failure and returns `false`.
fn write_file(session: &mut Session<'_>, path: &str, buffer: &mut [u8]) -> bool {
    let handle = match session.fs.open(path, OpenFlags::READ) {
        Ok((handle, _)) => handle,
        Err(error) => {
            session.fail(path, &error);
            return false;
        }
    };
    let mut fine = true;
    loop {
        match session.fs.read(handle, buffer) {
            Ok(count) => {
                session.write(buffer.get(..count).unwrap_or_default());
                // A short read is the end of the file.
                if count < buffer.len() {
                    break;
                }
            }
            Err(error) => {
                session.fail(path, &error);
                fine = false;
                break;
            }
        }
    }
    if let Err(error) = session.fs.close(handle) {
        session.fail(path, &error);
        fine = false;
    }
    fine
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::MemoryFs;

    #[test]
    fn files_in_order_byte_for_byte() {
        let binary: Vec<u8> = (0..=255).collect();
        let mut fs = MemoryFs::new()
            .with_file("/www/index.html", b"<h1>hi</h1>\n")
            .with_file("/home/user/raw.bin", &binary)
            .with_file("/home/user/empty", b"");
        let ran = run_tool(
            &CAT,
            &["/www/index.html", "raw.bin", "empty", "../user/raw.bin"],
            "/home/user",
            &mut fs,
        );
        let mut expected = b"<h1>hi</h1>\n".to_vec();
        expected.extend_from_slice(&binary);
        expected.extend_from_slice(&binary);
        assert_eq!(ran.bytes, expected);
        assert_eq!(ran.status, 0);
    }

    #[test]
    fn large_files_in_chunks() {
        // Not a multiple of the chunk, and exactly a multiple (the last read is empty).
        for size in [3 * CHUNK_BYTES + 17, 2 * CHUNK_BYTES] {
            let contents: Vec<u8> = (0..size).map(|index| u8::try_from(index % 251).unwrap()).collect();
            let mut fs = MemoryFs::new().with_file("/big", &contents);
            let ran = run_tool(&CAT, &["/big"], "/", &mut fs);
            assert_eq!(ran.bytes.len(), size);
            assert!(ran.bytes == contents, "the bytes differ");
        }
    }

    #[test]
    fn failures_are_reported_and_the_rest_follows() {
        let mut fs = MemoryFs::new()
            .with_file("/a", b"first\n")
            .with_directory("/d")
            .with_file("/broken", &[b'x'; 3 * CHUNK_BYTES])
            .with_file("/z", b"last\n");
        fs.fail_reads("/broken", (CHUNK_BYTES + 10) as u64);
        let ran = run_tool(&CAT, &["/a", "/missing", "/d", "/broken", "/z"], "/", &mut fs);
        assert_eq!(
            ran.errors,
            [
                "cat: /missing: no such file or directory",
                "cat: /d: is a directory",
                "cat: /broken: device error",
            ]
        );
        // What was read before the failure was written: one whole chunk.
        let mut expected = b"first\n".to_vec();
        expected.extend_from_slice(&[b'x'; CHUNK_BYTES]);
        expected.extend_from_slice(b"last\n");
        assert!(ran.bytes == expected, "{}", ran.output);
        assert_eq!(ran.status, 1);
    }

    #[test]
    fn needs_a_file() {
        let ran = run_tool(&CAT, &[], "/", &mut MemoryFs::new());
        assert_eq!(ran.status, 2);
        assert_eq!(ran.errors[0], "cat: missing file operand (there is no standard input to read)");
    }
}
