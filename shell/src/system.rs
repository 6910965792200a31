//! What the shell needs from the rest of the system, as a trait, and the types it passes.
//!
//! The interpreter ([`crate::Shell`]) only talks to a [`System`]: the shell program
//! implements it over the console, process manager, donor, security server and filesystem
//! clients; the host tests implement it with a fake. The types here mirror what the
//! interface crates (`proc-api`, `console-api`, `security-api`, `donor-api`) carry, reduced
//! to what the shell shows; the filesystem's are `fs-api`'s own.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

pub use fs_api::{FileKind, FsError, Metadata};
pub use kernel_abi::FaultKind;

/// A process id, as the process manager numbers processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// A connection id, as the security server numbers connections (the badge of the client's
/// capability).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this status (or returned it from `main`).
    Code(i64),
    /// The kernel stopped it for a fault.
    Faulted {
        /// What went wrong.
        kind: FaultKind,
        /// The faulting instruction's address.
        pc: u64,
        /// The address it touched, or the instruction bits for faults without an address
        /// ([`FaultKind::has_address`]).
        address: u64,
    },
    /// It was killed (by `kill`, by Ctrl-C, or by whoever else may kill it).
    Killed,
}

/// `$?` after a program killed by `kill` or by anyone but the shell's Ctrl-C.
pub const STATUS_KILLED: i64 = 128 + 9;
/// `$?` after Ctrl-C, at the prompt or stopping a foreground program.
pub const STATUS_INTERRUPTED: i64 = 128 + 2;
/// `$?` after a command that was not found.
pub const STATUS_NOT_FOUND: i64 = 127;
/// `$?` after a program that was found but could not be started.
pub const STATUS_CANNOT_RUN: i64 = 126;
/// `$?` after a syntax error or a builtin used wrongly.
pub const STATUS_USAGE: i64 = 2;

impl ExitStatus {
    /// The value `$?` takes: the exit code, or 128 plus the number of the Unix signal that
    /// stands for the fault, so scripts written for other shells read it the same way.
    pub fn shell_status(self) -> i64 {
        match self {
            Self::Code(code) => code,
            Self::Killed => STATUS_KILLED,
            Self::Faulted { kind, .. } => {
                128 + match kind {
                    FaultKind::IllegalInstruction => 4,
                    FaultKind::Breakpoint => 5,
                    FaultKind::Misaligned => 7,
                    FaultKind::LoadPageFault
                    | FaultKind::StorePageFault
                    | FaultKind::InstructionPageFault
                    | FaultKind::AccessFault
                    | FaultKind::Exited => 11,
                }
            }
        }
    }
}

/// Describes a fault as the kernel's report does: `store page fault at 0x0, pc 0x1042`.
pub struct FaultDescription {
    /// What went wrong.
    pub kind: FaultKind,
    /// The faulting instruction's address.
    pub pc: u64,
    /// The address touched, or the instruction bits.
    pub address: u64,
}

impl fmt::Display for FaultDescription {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { kind, pc, address } = self;
        if kind.has_address() {
            write!(formatter, "{} at {address:#x}, pc {pc:#x}", kind.describe())
        } else {
            write!(formatter, "{} (instruction {address:#x}), pc {pc:#x}", kind.describe())
        }
    }
}

/// What a process is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Running or ready to run.
    Running,
    /// Waiting for a message, a reply or a notification.
    Blocked,
    /// Stopped by a fault, not yet cleaned up.
    Faulted,
    /// Ended, and its status not yet collected.
    Exited,
}

impl ProcessState {
    /// The word `ps` shows.
    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Blocked => "blocked",
            Self::Faulted => "faulted",
            Self::Exited => "exited",
        }
    }
}

/// One process, as `ps` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its id.
    pub pid: Pid,
    /// The program's name.
    pub name: String,
    /// What it is doing.
    pub state: ProcessState,
    /// Its security label, as the policy writes it.
    pub label: String,
    /// The memory it may use, in bytes.
    pub quota_bytes: u64,
    /// The memory it uses, in bytes.
    pub used_bytes: u64,
    /// The process that started it (`None` for the root task).
    pub parent: Option<Pid>,
}

/// One process's memory, as `free` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Its id (`None`: a boot server, whose memory the manifest gave; it has an allowance
    /// for sessions only).
    pub pid: Option<Pid>,
    /// The program's name.
    pub name: String,
    /// The memory it may use, in bytes.
    pub quota_bytes: u64,
    /// The memory it uses, in bytes.
    pub used_bytes: u64,
    /// What it donated to the servers of its sessions, in bytes (part of its quota).
    pub donated_bytes: u64,
}

/// The system's memory, as `free` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryInfo {
    /// All memory programs can have, in bytes (the resource donor's).
    pub total_bytes: u64,
    /// What is not given to any process, in bytes.
    pub free_bytes: u64,
    /// Each process's share.
    pub processes: Vec<ProcessMemory>,
}

/// One live connection, as `conns` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Its id (what `revoke` takes).
    pub id: ConnectionId,
    /// The client program (its path).
    pub client_name: String,
    /// The client's security label.
    pub client_label: String,
    /// The service it is connected to.
    pub service: String,
    /// The rights granted, as the policy writes them.
    pub rights: String,
    /// What the session may reach (empty if the whole service).
    pub scope: String,
    /// What the client donated to the server for the session, in bytes.
    pub donation_bytes: u64,
}

/// One record of the security server's audit trail, as `audit` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its place in the trail (from 1).
    pub seq: u64,
    /// What happened: `grant`, `deny`, `revoke`, `policy load`.
    pub event: String,
    /// The details, in words.
    pub details: String,
}

/// Whether a program is started in the foreground (the shell waits; it owns the terminal's
/// input and Ctrl-C) or in the background (the shell goes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The shell waits for it.
    Foreground,
    /// The shell goes on; it is a job.
    Background,
}

/// Why a system operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SystemError {
    /// No program of that name.
    NotFound,
    /// No process with that id (it may have ended).
    NoSuchProcess,
    /// No live connection with that id.
    NoSuchConnection,
    /// The policy does not allow it.
    PermissionDenied,
    /// Not enough memory (or quota) for it.
    OutOfMemory,
    /// The user typed Ctrl-C while the operation blocked.
    Interrupted,
    /// The server behind the operation is not running or not reachable.
    Unavailable,
    /// Anything else, in words.
    Other(String),
}

impl fmt::Display for SystemError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => write!(formatter, "not found"),
            Self::NoSuchProcess => write!(formatter, "no such process"),
            Self::NoSuchConnection => write!(formatter, "no such connection"),
            Self::PermissionDenied => write!(formatter, "permission denied"),
            Self::OutOfMemory => write!(formatter, "out of memory"),
            Self::Interrupted => write!(formatter, "interrupted"),
            Self::Unavailable => write!(formatter, "service unavailable"),
            Self::Other(text) => write!(formatter, "{text}"),
        }
    }
}

/// Why the shell could not look at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilesystemError {
    /// The shell has no session with the filesystem: no `fs` service, or the policy refused
    /// the connection (why, in words, as the security server said).
    NoFilesystem(String),
    /// The filesystem refused.
    Fs(FsError),
}

impl fmt::Display for FilesystemError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFilesystem(why) => write!(formatter, "no filesystem: {why}"),
            Self::Fs(error) => write!(formatter, "{error}"),
        }
    }
}

/// Everything the shell does to the world. Blocking operations say so.
pub trait System {
    /// Reads terminal input into `buffer`, blocking until at least one byte arrives.
    /// Returns how many bytes were read; 0 means the input is closed for good (the shell
    /// then exits).
    fn read(&mut self, buffer: &mut [u8]) -> Result<usize, SystemError>;

    /// Writes to the terminal. The bytes are ready for a raw terminal: lines end in
    /// `\r\n`, and the editor's cursor movement is included.
    fn write(&mut self, bytes: &[u8]);

    /// Clears the terminal and puts the cursor top left. The default sends VT100
    /// `ESC [ H ESC [ 2 J`.
    fn clear_screen(&mut self) {
        self.write(b"\x1b[H\x1b[2J");
    }

    /// Starts `program` with `arguments` (not including the program name) and
    /// `environment` (name, value pairs). A [`Mode::Foreground`] program gets the
    /// terminal's input until it ends. Returns its pid. [`SystemError::NotFound`] if there
    /// is no such program.
    fn spawn(
        &mut self,
        program: &str,
        arguments: &[String],
        environment: &[(String, String)],
        mode: Mode,
    ) -> Result<Pid, SystemError>;

    /// Blocks until process `pid` (started by this shell) ends, and returns how. If the user
    /// types Ctrl-C meanwhile, returns [`SystemError::Interrupted`] at once without touching
    /// the process; the shell then kills it and waits again.
    fn wait(&mut self, pid: Pid) -> Result<ExitStatus, SystemError>;

    /// Background processes started by this shell that ended since the last call, with
    /// how they ended. Does not block. Each ending is reported once.
    fn poll_finished(&mut self) -> Vec<(Pid, ExitStatus)>;

    /// Kills process `pid`. Its end is then reported as [`ExitStatus::Killed`] by
    /// [`wait`](Self::wait) or [`poll_finished`](Self::poll_finished).
    fn kill(&mut self, pid: Pid) -> Result<(), SystemError>;

    /// Every process.
    fn processes(&mut self) -> Result<Vec<ProcessInfo>, SystemError>;

    /// Memory: total, free, and per process.
    fn memory(&mut self) -> Result<MemoryInfo, SystemError>;

    /// Every live connection.
    fn connections(&mut self) -> Result<Vec<ConnectionInfo>, SystemError>;

    /// Revokes `connection`: the client loses its capability and every copy of it.
    fn revoke(&mut self, connection: ConnectionId) -> Result<(), SystemError>;

    /// The security server's audit trail (what it keeps), oldest first.
    fn audit(&mut self) -> Result<Vec<AuditEntry>, SystemError>;

    /// Time since the machine started (its real-time counter over the timebase).
    /// [`SystemError::Unavailable`] if the shell was not told the timebase.
    fn uptime(&mut self) -> Result<Duration, SystemError>;

    /// The metadata of what is at `path` (absolute and normal), through the shell's fs
    /// session: `cd` asks whether it is a directory. Blocks for the filesystem's answer.
    fn stat(&mut self, path: &str) -> Result<Metadata, FilesystemError>;
}
