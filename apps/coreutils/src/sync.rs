//! `sync`: asks the filesystem to put every change on the device, and returns when it is
//! there (the server answers after its last flush).
//!
//! Rights: read (`Sync` needs none, but a connection asks for something; read is the
//! least).

use alloc::boxed::Box;
use alloc::format;

use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, no_operands};

/// `sync`.
pub const SYNC: Tool = Tool {
    name: "sync",
    usage: "usage: sync",
    about: "put every change on the disk, and wait until it is there",
    rights: Rights::READ,
    parse,
};

struct Sync;

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    no_operands(arguments)?;
    Ok(Box::new(Sync))
}

impl Command for Sync {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        match session.fs.sync() {
            Ok(()) => SUCCESS,
            Err(error) => {
                session.complain(&format!("{error}"));
                FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::MemoryFs;

    #[test]
    fn syncs_once() {
        let mut fs = MemoryFs::new();
        let ran = run_tool(&SYNC, &[], "/", &mut fs);
        assert_eq!((ran.status, fs.syncs()), (0, 1));
        let ran = run_tool(&SYNC, &["now"], "/", &mut fs);
        assert_eq!((ran.status, fs.syncs()), (2, 1));
    }
}
