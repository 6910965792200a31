//! `shell`: the interactive shell program.
//!
//! The program connects the interpreter (`shell::Shell`, tested on the host) to the system:
//! the terminal is the console server's, programs are spawned and waited for through the
//! process manager. The manifest gives the shell those two services (`uses = ["console",
//! "proc"]`), in that order, at `loader::server_slots::FIRST_CLIENT` and the slot after.
//! `free`, `conns` and `revoke` need the resource donor and the security server, which are
//! not there yet: they say so.
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
    use alloc::collections::BTreeSet;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    use console_api::ConsoleClient;
    use kernel_abi::FaultKind;
    use proc_api::{ProcClient, ProcError};
    use shell::Shell;
    use shell::system::{
        ConnectionId, ConnectionInfo, ExitStatus, MemoryInfo, Mode, Pid, ProcessInfo, ProcessState, System,
        SystemError,
    };

    /// Slot of the console endpoint, then of the process manager's.
    const CONSOLE: usize = 16;
    const PROC: usize = 17;

    /// Runs the shell; returns its exit status.
    pub fn main() -> i32 {
        let Some(info) = userlib::start::info() else {
            userlib::println!("shell: started without a start info page; nothing to run on");
            return 70;
        };
        let system = Lattice {
            console: ConsoleClient::new(CONSOLE),
            proc: ProcClient::new(PROC),
            background: BTreeSet::new(),
        };
        let mut shell = Shell::new(system);
        for (name, value) in info.environment() {
            let variables = shell.variables_mut();
            if variables.set(name, value) {
                variables.export(name);
            }
        }
        let status = shell.run();
        i32::try_from(status).unwrap_or(1)
    }

    /// The shell's view of Lattice: the console and the process manager.
    struct Lattice {
        console: ConsoleClient,
        proc: ProcClient,
        /// Background programs not yet reported.
        background: BTreeSet<u32>,
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
            let pid = self.proc.spawn(program, &arguments, &environment, foreground).map_err(proc_error)?;
            if !foreground {
                self.background.insert(pid);
            }
            Ok(Pid(pid))
        }

        fn wait(&mut self, pid: Pid) -> Result<ExitStatus, SystemError> {
            self.background.remove(&pid.0);
            self.proc.wait(pid.0).map(status).map_err(proc_error)
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

        fn memory(&mut self) -> Result<MemoryInfo, SystemError> {
            Err(SystemError::Other(String::from("no resource donor yet")))
        }

        fn connections(&mut self) -> Result<Vec<ConnectionInfo>, SystemError> {
            Err(SystemError::Other(String::from("no security server yet")))
        }

        fn revoke(&mut self, _connection: ConnectionId) -> Result<(), SystemError> {
            Err(SystemError::Other(String::from("no security server yet")))
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the shell program runs on Lattice (cargo xtask run); `cargo test -p shell` tests it here");
    std::process::exit(1);
}
