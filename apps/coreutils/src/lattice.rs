//! The file tools on Lattice: the arguments and `PWD` from the start info, the connection
//! to `fs` through the security server (the one capability a spawned program starts with),
//! and the kernel debug console for what they print (as every spawned program prints).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use fsutil::Remote;
use grant::Rights;
use security_api::SecurityClient;
use userlib::rpc::CapabilitySlot;

use crate::{FAILURE, Output, Tool, run};

/// Where the fs session goes: a free slot of the program's CNode (CNode 0 is the thread's
/// own CSpace root; a spawned program holds no capability to its CNode, and the slots from
/// 32 are free).
const FS_SESSION: CapabilitySlot = CapabilitySlot { cnode: 0, index: 32 };
/// Where the shared buffer's frames go (one slot per page of the server's 64 KiB).
const BUFFER_SLOTS: core::ops::Range<usize> = 33..49;

/// Output bytes gathered before they are written (one system call each time).
const OUTPUT_BUFFER: usize = 4096;

/// Runs `tool` as the program: returns its exit status.
pub fn main(tool: &Tool) -> i32 {
    let Some(info) = userlib::start::info() else {
        userlib::println!("{}: started without a start info page", tool.name);
        return FAILURE;
    };
    let arguments: Vec<&str> = info.arguments().collect();
    let pwd = info.environment().find(|(key, _)| *key == "PWD").map(|(_, value)| value);
    let mut console = Console { pending: Vec::new() };
    let status = run(tool, &arguments, pwd, connect, &mut console);
    console.flush();
    status
}

/// The fs session with `rights`, or why there is none.
fn connect(rights: Rights) -> Result<Remote, String> {
    let security = SecurityClient::from_start_info()
        .ok_or_else(|| String::from("started without a session with the security server"))?;
    security.connect("fs", rights, FS_SESSION).map_err(|error| error.to_string())?;
    Ok(Remote::new(FS_SESSION.index).buffer_slots(BUFFER_SLOTS))
}

/// The console, with output gathered in pieces of [`OUTPUT_BUFFER`] and complaints written
/// after the output before them.
struct Console {
    pending: Vec<u8>,
}

impl Console {
    fn flush(&mut self) {
        for piece in self.pending.chunks(OUTPUT_BUFFER) {
            let _ = userlib::syscall::debug_write(piece);
        }
        self.pending.clear();
    }
}

impl Output for Console {
    fn write(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= OUTPUT_BUFFER {
            self.flush();
        }
    }

    fn error(&mut self, line: &str) {
        self.flush();
        userlib::println!("{line}");
    }
}
