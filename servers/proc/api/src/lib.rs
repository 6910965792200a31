//! The process manager's interface: spawn programs, wait for them, kill them, list them.
//!
//! Protocol [`Proc`] (label `PROC`), carried by `userlib::rpc` (postcard in one message).
//!
//! | request | answer | blocks | idempotent |
//! | --- | --- | --- | --- |
//! | `Spawn` | `Spawned` | while the manager reads the program (from the filesystem or the boot archive) and builds it; not until it ends | no: each call starts a process |
//! | `Wait` | `Exited` | until the process ends (answered at once if it has) | no: the first `Wait` collects the status, later ones are `NoSuchProcess` |
//! | `Kill` | `Killed` | no | yes, but the second is `NoSuchProcess` once the status is collected |
//! | `List` | `Processes` (a page; `more` says whether to ask again after the last pid) | no | yes |
//! | `Memory` | `Memory` (the programs' memory: total and free) | no | yes |
//!
//! Only the parent of a process (or a program the policy lets manage processes) may wait
//! for or kill it; others get `NotPermitted`.
//!
//! **Where programs come from.** An absolute path names a file, read from the filesystem
//! only (the manager's own read-only session). A bare name `NAME` is the file `/bin/NAME`;
//! the boot archive's entry `NAME` stands in only when the filesystem cannot give the file
//! (no filesystem in the system, or the policy gives the manager none; no volume; no such
//! file), never for a file that is there but is not a program. `Spawn` fails with:
//! `NotPermitted` (the caller's scope does not name the program's path, or the
//! filesystem's scope refuses the manager the file), `NoSuchProgram` (no file and no
//! archive entry; a relative path), `BadElf` (the file is not a RISC-V executable, or a
//! directory), `TooLarge` (its loadable part exceeds what the manager reads),
//! `Unreadable` (the filesystem has no volume, with its reason, or failed reading the
//! file), `OutOfMemory`, `ArgumentsTooLong`.
//!
//! What a spawned program starts with, in its own CNode: [`start_slots`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use userlib::rpc::{Protocol, RpcError, label};

/// The process manager's protocol.
#[derive(Debug)]
pub enum Proc {}

impl Protocol for Proc {
    const NAME: &'static str = "proc";
    const LABEL: usize = label(*b"PROC");
    type Request = Request;
    type Response = Response;
    type Error = ProcError;
}

/// The capabilities every program the process manager spawns finds in its CNode. All are
/// made for the process (the timer and its notification from its own quota) and go when it
/// ends.
pub mod start_slots {
    /// Its session with the security server (write and grant): how it connects to anything.
    pub const SECURITY: usize = 16;
    /// A timer of its own (`userlib::time::Timer`), already set to signal
    /// [`TIMER_NOTIFICATION`], disarmed.
    pub const TIMER: usize = 17;
    /// The notification its timer signals (badge 1), which it may wait on, poll and signal.
    pub const TIMER_NOTIFICATION: usize = 18;
}

/// A process id. 0 is never a process (it means "none", as a parent).
pub type Pid = u32;

/// What programs ask the process manager.
///
/// Variants are only ever added at the end (postcard numbers them by position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Starts `program` with `args` (not including the name) and `env`; `foreground` gives
    /// it the console's input and Ctrl-C. `program` is an absolute path (`/home/user/tool`:
    /// the file, from the filesystem only) or a bare name (`ls`: `/bin/ls` from the
    /// filesystem, or the boot archive's entry `ls` when the filesystem cannot give it);
    /// a relative path is refused (`NoSuchProgram`: the caller resolves it against its own
    /// directory). The process is labelled by the path (`/bin/NAME` for a bare name).
    Spawn {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its environment, `(key, value)`.
        env: Vec<(String, String)>,
        /// Whether it takes the console's foreground.
        foreground: bool,
    },
    /// Waits until process `pid` ends and collects its status.
    Wait {
        /// The process.
        pid: Pid,
    },
    /// Ends process `pid` (its status becomes [`ExitStatus::Killed`]).
    Kill {
        /// The process.
        pid: Pid,
    },
    /// Lists processes with ids above `after` (0 for the first page).
    List {
        /// The last pid of the previous page, or 0.
        after: Pid,
    },
    /// The memory the manager holds for programs: how much, and how much no process has.
    Memory,
}

/// What the process manager answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The process was started.
    Spawned {
        /// Its id.
        pid: Pid,
        /// Its security client id (what the console's `SetForeground` names).
        client: u64,
    },
    /// The process ended.
    Exited {
        /// Its id.
        pid: Pid,
        /// How.
        status: ExitStatus,
    },
    /// The process was ended.
    Killed,
    /// A page of processes, in pid order.
    Processes {
        /// The processes.
        processes: Vec<ProcessInfo>,
        /// Whether there are more after the last one.
        more: bool,
    },
    /// The programs' memory.
    Memory {
        /// All the manager holds for programs, in bytes.
        total_bytes: u64,
        /// What no process has, in bytes.
        free_bytes: u64,
    },
}

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// It returned from `main` or called `exit` with this status (101: it panicked).
    Code(i64),
    /// The kernel stopped it for a fault.
    Faulted {
        /// What fault (`"store page fault"`, as `kernel_abi::FaultKind::describe` says).
        kind: String,
        /// Where it was.
        pc: u64,
        /// The address it touched (or the instruction bits, for illegal instructions).
        address: u64,
    },
    /// It was killed.
    Killed,
}

/// What a process is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessState {
    /// It runs (or waits, inside the kernel, for IPC).
    Running,
    /// It ended; its status waits for its parent's `Wait`.
    Exited,
}

/// One process, as `ps` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Its id.
    pub pid: Pid,
    /// Its program.
    pub name: String,
    /// What it is doing.
    pub state: ProcessState,
    /// Its security label.
    pub label: String,
    /// Bytes of memory it may use.
    pub quota_bytes: u64,
    /// Bytes it uses.
    pub used_bytes: u64,
    /// Its parent (0: started by the system).
    pub parent: Pid,
}

/// Why the process manager refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcError {
    /// No program of that name.
    NoSuchProgram,
    /// The program is not a valid RISC-V ELF executable (what is wrong).
    BadElf(String),
    /// No process with that id (or its status was collected already).
    NoSuchProcess,
    /// Not enough memory (the caller's quota, or the system's) for the process.
    OutOfMemory,
    /// The caller may not do this to that process.
    NotPermitted,
    /// The arguments and environment do not fit the new process's start page.
    ArgumentsTooLong,
    /// Another `Wait` for that process is already pending.
    AlreadyWaiting,
    /// The request or reply could not be carried (malformed, too large, IPC failure).
    Rpc(RpcError),
    /// The program file's loadable part (its headers and segments) is larger than the
    /// process manager reads (`limit` bytes).
    TooLarge {
        /// Bytes the program needs read.
        bytes: u64,
        /// The most the manager reads.
        limit: u64,
    },
    /// The filesystem could not give the program's file: it has no volume, or reading
    /// failed (what it said).
    Unreadable(String),
}

impl From<RpcError> for ProcError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

impl core::fmt::Display for ProcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSuchProgram => f.write_str("no such program"),
            Self::BadElf(why) => write!(f, "not a valid executable: {why}"),
            Self::NoSuchProcess => f.write_str("no such process"),
            Self::OutOfMemory => f.write_str("out of memory"),
            Self::NotPermitted => f.write_str("not permitted"),
            Self::ArgumentsTooLong => f.write_str("arguments too long"),
            Self::AlreadyWaiting => f.write_str("already waited for"),
            Self::Rpc(error) => write!(f, "{error}"),
            Self::TooLarge { bytes, limit } => {
                write!(f, "program too large: {bytes} bytes to load, at most {limit}")
            }
            Self::Unreadable(why) => write!(f, "cannot read the program: {why}"),
        }
    }
}

impl core::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exited with status {code}"),
            Self::Faulted { kind, pc, address } => write!(f, "{kind} at {address:#x}, pc {pc:#x}"),
            Self::Killed => f.write_str("killed"),
        }
    }
}

#[cfg(target_arch = "riscv64")]
mod client;
#[cfg(target_arch = "riscv64")]
pub use client::{ProcClient, Spawned};

#[cfg(test)]
mod tests;
