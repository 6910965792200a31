//! Test support: an output that keeps what a tool writes and complains apart, and a
//! runner over the fake filesystem that checks what every tool must keep to.

use alloc::string::String;
use alloc::vec::Vec;

use fsutil::memory::MemoryFs;

use crate::{Output, Tool, run};

/// What a tool wrote, its complaints, and its exit status.
#[derive(Debug, Default)]
pub struct Ran {
    /// The output, as text (lossy for bytes that are not UTF-8).
    pub output: String,
    /// The output's bytes.
    pub bytes: Vec<u8>,
    /// The complaint lines.
    pub errors: Vec<String>,
    /// The exit status.
    pub status: i32,
    /// The rights it connected with (`None`: it did not connect).
    pub rights: Option<grant::Rights>,
}

impl Output for Ran {
    fn write(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.output = String::from_utf8_lossy(&self.bytes).into_owned();
    }
    fn error(&mut self, line: &str) {
        assert!(!line.contains('\n'), "one complaint, one line: {line:?}");
        self.errors.push(line.into());
    }
}

/// Runs `tool` with `arguments` in `pwd` over `fs`, and checks what every run must keep
/// to: every path it sent was absolute and normal, it left no file open, it connected
/// with the tool's declared rights and only after a valid command line.
pub fn run_tool(tool: &Tool, arguments: &[&str], pwd: &str, fs: &mut MemoryFs) -> Ran {
    let mut ran = Ran::default();
    let mut rights = None;
    ran.status = run(
        tool,
        arguments,
        Some(pwd),
        |asked| {
            rights = Some(asked);
            Ok(&mut *fs)
        },
        &mut ran,
    );
    ran.rights = rights;
    assert_eq!(fs.abnormal_paths(), &[] as &[String], "{} sent paths that are not normal", tool.name);
    assert_eq!(fs.open_handles(), 0, "{} left files open", tool.name);
    match ran.rights {
        Some(asked) => assert_eq!(asked, tool.rights),
        // Only a bad command line or `--help` ends before connecting.
        None => assert!(
            ran.status == crate::USAGE_STATUS || ran.output.starts_with("usage: "),
            "{} ended without connecting: {ran:?}",
            tool.name
        ),
    }
    // The status says what the complaints say.
    if ran.status == 0 {
        assert!(ran.errors.is_empty(), "{} complained and exited 0: {:?}", tool.name, ran.errors);
    } else {
        assert!(!ran.errors.is_empty(), "{} exited {} without saying why", tool.name, ran.status);
    }
    ran
}
