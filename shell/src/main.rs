//! `shell`: the interactive shell program.
//!
//! The program connects the interpreter (`shell::Shell`, tested on the host) to the system:
//! the terminal is the console server's, programs are spawned and waited for through the
//! process manager, `free` asks the resource donor, `conns`, `revoke` and `audit` the security
//! server. The shell starts with one capability, its session with the security server
//! (`uses = ["security"]` in the manifest, found by its name in the start info), and
//! connects to the console, the process manager, the donor and the filesystem (read, for
//! `cd`) through it at start: each connection is decided by the policy, costs part of the
//! shell's allowance, and shows in `conns`. Without a filesystem (no `fs` service, or the
//! policy refuses it) the shell runs all the same, and `cd` says why it cannot.
//!
//! The shell starts in its own `PWD` if its start info has an absolute one, else in `/`.
//!
//! **Ctrl-C.** While a foreground program runs, the shell gives it the console's foreground
//! with a notification of its own attached, and blocks in the process manager's `Wait`. A
//! second thread, the watcher, waits on that notification; on Ctrl-C it kills the
//! foreground program and notes the interrupt, so `Wait` returns and the shell reports
//! `^C` (status 130). Afterwards the shell takes the foreground back (`SetForeground` of
//! client 0). While the program is being spawned (its pid not known yet) the shell holds
//! the foreground itself with the notification attached, so a Ctrl-C typed then is noted
//! and the program killed as soon as its pid is known.
//!
//! On the host this binary only says where it runs: the library is what the host tests use.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
userlib::entry!(lattice::main);

#[cfg(target_os = "none")]
mod lattice {
    use alloc::collections::{BTreeMap, BTreeSet};
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use console_api::ConsoleClient;
    use donor_api::DonorClient;
    use fs_api::FsClient;
    use kernel_abi::{FaultKind, ObjectType, Rights};
    use loader::server_slots as at;
    use proc_api::{ProcClient, ProcError};
    use security_api::SecurityClient;
    use shell::Shell;
    use shell::system::{
        AuditEntry, ConnectionId, ConnectionInfo, ExitStatus, FilesystemError, MemoryInfo, Metadata, Mode,
        Pid, ProcessInfo, ProcessMemory, ProcessState, System, SystemError,
    };
    use userlib::rpc::CapabilitySlot;
    use userlib::{ipc, object, thread};

    /// Slots of the connections the shell opens at start.
    const CONSOLE: usize = at::FIRST_FREE + 3;
    const PROC: usize = at::FIRST_FREE + 4;
    const DONOR: usize = at::FIRST_FREE + 5;
    const FS: usize = at::FIRST_FREE + 6;
    /// Slots of the watcher's notification, thread and IPC buffer frame.
    const INTERRUPT: usize = at::FIRST_FREE;
    const WATCHER: usize = at::FIRST_FREE + 1;
    const WATCHER_IPC_BUFFER: usize = at::FIRST_FREE + 2;
    /// Where the watcher's IPC buffer goes: the page after the main thread's, whose page
    /// table the process builder made.
    const WATCHER_IPC_ADDRESS: usize = userlib::start::IPC_BUFFER_ADDRESS + 0x1000;
    /// Above the programs the process manager starts (100), so Ctrl-C preempts a program
    /// that never yields; not above the shell's priority in `virt.toml` (120).
    const WATCHER_PRIORITY: usize = 110;

    /// The pid of the foreground program (0: none), for the watcher.
    static FOREGROUND: AtomicU32 = AtomicU32::new(0);
    /// `FOREGROUND` while a foreground program is being spawned (its pid not known yet).
    const STARTING: u32 = u32::MAX;
    /// Whether the watcher killed the foreground program on Ctrl-C.
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);

    /// Runs the shell; returns its exit status.
    pub fn main() -> i32 {
        let Some(info) = userlib::start::info() else {
            userlib::println!("shell: started without a start info page; nothing to run on");
            return 70;
        };
        let _ = userlib::trace::init("shell", tracing::Level::INFO);
        let Some(security) = SecurityClient::from_start_info() else {
            userlib::println!("shell: started without a session with the security server");
            return 70;
        };
        use grant::Rights;
        for (service, rights, slot) in [
            ("console", Rights::READ.union(Rights::WRITE), CONSOLE),
            ("proc", Rights::SPAWN, PROC),
            ("donor", Rights::MEMORY, DONOR),
        ] {
            let into = CapabilitySlot { cnode: at::CNODE, index: slot };
            if let Err(error) = security.connect(service, rights, into) {
                userlib::println!("shell: cannot connect to {service}: {error}");
            }
        }
        // The filesystem may be missing (a system without a disk): `cd` says so when asked.
        let into = CapabilitySlot { cnode: at::CNODE, index: FS };
        let filesystem = security
            .connect("fs", Rights::READ, into)
            .map(|_| FsClient::new(FS))
            .map_err(|error| error.to_string());
        // What the shell's end (which powers the machine off) syncs first.
        let sync_at_exit = filesystem.as_ref().ok().copied();
        let interrupt = match start_watcher() {
            Ok(()) => Some(INTERRUPT),
            Err(error) => {
                userlib::println!("shell: no Ctrl-C for programs (cannot start the watcher: {error:?})");
                None
            }
        };
        let system = Lattice {
            console: ConsoleClient::new(CONSOLE),
            proc: ProcClient::new(PROC),
            donor: DonorClient::new(DONOR),
            security,
            background: BTreeSet::new(),
            clients: BTreeMap::new(),
            interrupt,
            filesystem,
        };
        let mut shell = Shell::new(system);
        for (name, value) in info.environment() {
            let variables = shell.variables_mut();
            if variables.set(name, value) {
                variables.export(name);
            }
        }
        let start = info.environment().find(|(name, _)| *name == "PWD").map_or("/", |(_, value)| value);
        if shell.set_directory(start).is_err() {
            userlib::println!("shell: PWD={start:?} is not an absolute path; starting in /");
            let _ = shell.set_directory("/");
        }
        // Reset to here is `boot.to_prompt` in `cargo xtask bench` (exact under `-icount`;
        // without it QEMU's counter follows host cycles).
        tracing::info!(instret = userlib::syscall::instructions_retired(), "ready");
        let status = shell.run();
        // The machine powers off when the shell ends: what programs changed in the last
        // seconds (the fs server syncs a few seconds after the last change) reaches the disk
        // first, so a clean shutdown leaves a clean volume.
        if let Some(filesystem) = sync_at_exit
            && let Err(error) = filesystem.sync()
        {
            userlib::println!("shell: sync at exit: {error}");
        }
        i32::try_from(status).unwrap_or(1)
    }

    /// Makes the watcher's notification, thread and IPC buffer from the shell's memory, and
    /// starts it.
    fn start_watcher() -> Result<(), userlib::Error> {
        for (slot, object_type) in [
            (INTERRUPT, ObjectType::Notification),
            (WATCHER, ObjectType::Thread),
            (WATCHER_IPC_BUFFER, ObjectType::Frame),
        ] {
            object::retype(at::MEMORY, object_type, 0, at::CNODE, slot, 1)?;
        }
        object::map_frame(
            WATCHER_IPC_BUFFER,
            at::ADDRESS_SPACE,
            WATCHER_IPC_ADDRESS,
            Rights::READ | Rights::WRITE,
        )?;
        let stack = thread::claim_stack().ok_or(userlib::Error::NotEnoughMemory)?;
        let spawn = thread::Spawn {
            thread: WATCHER,
            cspace: at::CNODE,
            address_space: at::ADDRESS_SPACE,
            ipc_buffer: (WATCHER_IPC_BUFFER, WATCHER_IPC_ADDRESS),
            fault_endpoint: 0,
            priority: WATCHER_PRIORITY,
        };
        thread::start(&spawn, watch, 0, stack)
    }

    /// The watcher thread: on each Ctrl-C, kills the foreground program, if there is one.
    /// A Ctrl-C while the program is being spawned is noted, and the shell kills it once
    /// its pid is known. Both sides write their flag before reading the other's
    /// (sequentially consistent), so at least one of them sees the other and the program is
    /// killed (maybe twice, which is harmless).
    fn watch(_: usize) -> usize {
        let proc = ProcClient::new(PROC);
        while ipc::wait(INTERRUPT).is_ok() {
            if FOREGROUND.load(Ordering::SeqCst) == 0 {
                continue;
            }
            INTERRUPTED.store(true, Ordering::SeqCst);
            let pid = FOREGROUND.load(Ordering::SeqCst);
            if pid != 0 && pid != STARTING {
                kill_interrupted(&proc, pid);
            }
        }
        1
    }

    fn kill_interrupted(proc: &ProcClient, pid: u32) {
        if let Err(error) = proc.kill(pid) {
            tracing::warn!(pid, %error, "Ctrl-C: cannot kill the foreground program");
        }
    }

    /// The shell's view of Lattice: the console and the process manager.
    struct Lattice {
        console: ConsoleClient,
        proc: ProcClient,
        donor: DonorClient,
        security: SecurityClient,
        /// Background programs not yet reported.
        background: BTreeSet<u32>,
        /// Foreground programs' security client ids, by pid, until waited for.
        clients: BTreeMap<u32, u64>,
        /// The notification the console signals on Ctrl-C (`None`: the watcher did not start).
        interrupt: Option<usize>,
        /// The fs session (read), or why there is none.
        filesystem: Result<FsClient, String>,
    }

    fn proc_error(error: ProcError) -> SystemError {
        match error {
            ProcError::NoSuchProgram => SystemError::NotFound,
            ProcError::NoSuchProcess => SystemError::NoSuchProcess,
            ProcError::OutOfMemory => SystemError::OutOfMemory,
            ProcError::NotPermitted => SystemError::PermissionDenied,
            other => SystemError::Other(other.to_string()),
        }
    }

    fn security_error(error: security_api::SecurityError) -> SystemError {
        match error {
            security_api::SecurityError::NotPermitted => SystemError::PermissionDenied,
            security_api::SecurityError::NoSuchConnection => SystemError::NoSuchConnection,
            other => SystemError::Other(other.to_string()),
        }
    }

    fn fault_kind(name: &str) -> FaultKind {
        (1..=8)
            .filter_map(FaultKind::from_word)
            .find(|kind| kind.describe() == name)
            .unwrap_or(FaultKind::IllegalInstruction)
    }

    fn status(status: proc_api::ExitStatus) -> ExitStatus {
        match status {
            proc_api::ExitStatus::Code(code) => ExitStatus::Code(code),
            proc_api::ExitStatus::Faulted { kind, pc, address } => {
                ExitStatus::Faulted { kind: fault_kind(&kind), pc, address }
            }
            proc_api::ExitStatus::Killed => ExitStatus::Killed,
        }
    }

    impl System for Lattice {
        fn read(&mut self, buffer: &mut [u8]) -> Result<usize, SystemError> {
            let max = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
            let bytes = self.console.read(max).map_err(|error| SystemError::Other(error.to_string()))?;
            let count = bytes.len().min(buffer.len());
            buffer[..count].copy_from_slice(&bytes[..count]);
            Ok(count)
        }

        fn write(&mut self, bytes: &[u8]) {
            if self.console.write(bytes).is_err() {
                // Without the console, the kernel's debug console is the last resort.
                let _ = userlib::syscall::debug_write(bytes);
            }
        }

        fn spawn(
            &mut self,
            program: &str,
            arguments: &[String],
            environment: &[(String, String)],
            mode: Mode,
        ) -> Result<Pid, SystemError> {
            let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
            let environment: Vec<(&str, &str)> =
                environment.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
            let foreground = matches!(mode, Mode::Foreground);
            if foreground && self.interrupt.is_some() {
                // Ctrl-C from now on reaches the watcher, even before the program's pid is
                // known: the shell holds the foreground with the notification meanwhile.
                INTERRUPTED.store(false, Ordering::SeqCst);
                FOREGROUND.store(STARTING, Ordering::SeqCst);
                if let Err(error) = self.console.set_foreground(0, self.interrupt) {
                    tracing::warn!(%error, "cannot take Ctrl-C for the program");
                }
            }
            let spawned = self.proc.spawn_process(program, &arguments, &environment, foreground);
            let spawned = match spawned {
                Ok(spawned) => spawned,
                Err(error) => {
                    if foreground && self.interrupt.is_some() {
                        FOREGROUND.store(0, Ordering::SeqCst);
                        let _ = self.console.set_foreground(0, None);
                    }
                    return Err(proc_error(error));
                }
            };
            if foreground {
                self.clients.insert(spawned.pid, spawned.client);
            } else {
                self.background.insert(spawned.pid);
            }
            Ok(Pid(spawned.pid))
        }

        fn wait(&mut self, pid: Pid) -> Result<ExitStatus, SystemError> {
            let background = self.background.remove(&pid.0);
            let client = self.clients.remove(&pid.0);
            let foreground = !background && self.interrupt.is_some();
            if foreground {
                FOREGROUND.store(pid.0, Ordering::SeqCst);
                if INTERRUPTED.load(Ordering::SeqCst) {
                    // Ctrl-C came while it was being spawned.
                    kill_interrupted(&self.proc, pid.0);
                }
                // The terminal goes to the process (its security client id: every console
                // session it opens may read).
                let client = client.unwrap_or(u64::MAX);
                if let Err(error) = self.console.set_foreground(client, self.interrupt) {
                    tracing::warn!(pid = pid.0, %error, "cannot give the program the terminal");
                }
            }
            let result = self.proc.wait(pid.0).map(status).map_err(proc_error);
            if foreground {
                FOREGROUND.store(0, Ordering::SeqCst);
                if let Err(error) = self.console.set_foreground(0, None) {
                    tracing::warn!(%error, "cannot take the terminal back");
                }
                if INTERRUPTED.swap(false, Ordering::SeqCst) && result == Ok(ExitStatus::Killed) {
                    return Err(SystemError::Interrupted);
                }
            }
            result
        }

        fn poll_finished(&mut self) -> Vec<(Pid, ExitStatus)> {
            let Ok(processes) = self.proc.list() else { return Vec::new() };
            let ended: Vec<u32> = processes
                .iter()
                .filter(|process| {
                    process.state == proc_api::ProcessState::Exited && self.background.contains(&process.pid)
                })
                .map(|process| process.pid)
                .collect();
            let mut finished = Vec::new();
            for pid in ended {
                self.background.remove(&pid);
                if let Ok(exit) = self.proc.wait(pid) {
                    finished.push((Pid(pid), status(exit)));
                }
            }
            finished
        }

        fn kill(&mut self, pid: Pid) -> Result<(), SystemError> {
            self.proc.kill(pid.0).map_err(proc_error)
        }

        fn processes(&mut self) -> Result<Vec<ProcessInfo>, SystemError> {
            let processes = self.proc.list().map_err(proc_error)?;
            Ok(processes
                .into_iter()
                .map(|process| ProcessInfo {
                    pid: Pid(process.pid),
                    name: process.name,
                    state: match process.state {
                        proc_api::ProcessState::Running => ProcessState::Running,
                        proc_api::ProcessState::Exited => ProcessState::Exited,
                    },
                    label: process.label,
                    quota_bytes: process.quota_bytes,
                    used_bytes: process.used_bytes,
                    parent: (process.parent != 0).then_some(Pid(process.parent)),
                })
                .collect())
        }

        /// The memory the resource donor owns, with each process's quota and donations.
        fn memory(&mut self) -> Result<MemoryInfo, SystemError> {
            let memory = self.donor.free().map_err(|error| SystemError::Other(error.to_string()))?;
            let processes = memory
                .per_process
                .into_iter()
                .map(|process| ProcessMemory {
                    pid: (process.pid != 0).then_some(Pid(process.pid)),
                    name: process.program,
                    quota_bytes: process.quota.granted,
                    used_bytes: process.quota.used,
                    donated_bytes: process.donated,
                })
                .collect();
            Ok(MemoryInfo { total_bytes: memory.total, free_bytes: memory.free, processes })
        }

        fn connections(&mut self) -> Result<Vec<ConnectionInfo>, SystemError> {
            let connections = self.security.list_connections().map_err(security_error)?;
            Ok(connections
                .into_iter()
                .map(|connection| ConnectionInfo {
                    id: ConnectionId(connection.id),
                    client_name: connection.client,
                    client_label: connection.client_label,
                    service: connection.service,
                    rights: connection.rights.to_string(),
                    scope: connection.scope.to_string(),
                    donation_bytes: connection.donation_bytes,
                })
                .collect())
        }

        fn revoke(&mut self, connection: ConnectionId) -> Result<(), SystemError> {
            self.security.revoke(connection.0).map_err(security_error)
        }

        fn stat(&mut self, path: &str) -> Result<Metadata, FilesystemError> {
            match &self.filesystem {
                Ok(client) => client.stat(path).map_err(FilesystemError::Fs),
                Err(why) => Err(FilesystemError::NoFilesystem(why.clone())),
            }
        }

        fn uptime(&mut self) -> Result<core::time::Duration, SystemError> {
            userlib::time::since_boot().ok_or(SystemError::Unavailable)
        }

        fn audit(&mut self) -> Result<Vec<AuditEntry>, SystemError> {
            use security_api::Audit;
            let records = self.security.read_audit().map_err(security_error)?;
            Ok(records
                .into_iter()
                .map(|record| {
                    let (event, details) = match record.event {
                        Audit::Grant { connection, client, label, service, rule } => (
                            "grant",
                            alloc::format!(
                                "connection {connection}: {client} ({label}) to {service}, by {rule}"
                            ),
                        ),
                        Audit::Deny { client, label, service, rule } => {
                            ("deny", alloc::format!("{client} ({label}) to {service}: {rule}"))
                        }
                        Audit::Revoke { connection, why } => {
                            ("revoke", alloc::format!("connection {connection}: {why}"))
                        }
                        Audit::End { connection, client } => {
                            ("end", alloc::format!("connection {connection}: its client {client} ended"))
                        }
                        Audit::PolicyLoad { hash, kept, revoked } => (
                            "policy load",
                            alloc::format!(
                                "policy {}: {kept} kept, {revoked} revoked",
                                hash.get(..16).unwrap_or(&hash)
                            ),
                        ),
                    };
                    AuditEntry { seq: record.seq, event: event.to_string(), details }
                })
                .collect())
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the shell program runs on Lattice (cargo xtask run); `cargo test -p shell` tests it here");
    std::process::exit(1);
}
