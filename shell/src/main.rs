//! `shell`: the interactive shell program.
//!
//! SKELETON, wired later by the lead: [`Unconnected`] stands where the clients of the
//! console, process manager, donor and security server will be. Until then the program sets
//! up its heap and environment, prints the greeting and the prompt, finds no terminal to
//! read, says so and exits with status 1. Everything the shell does is in the library
//! (`shell::Shell`), tested on the host.
//!
//! The interpreter allocates, so it needs the user heap (`userlib::heap`, arriving with the
//! runtime work). Until that is in, the interpreter is behind the `interpreter` feature
//! (off by default) and the default build only says it is a skeleton; the lead makes it
//! unconditional when wiring the servers.
//!
//! On the host this binary only says where it runs: the library is what the host tests use.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(all(target_os = "none", feature = "interpreter"))]
extern crate alloc;

#[cfg(all(target_os = "none", feature = "interpreter"))]
userlib::entry!(lattice::main);

#[cfg(all(target_os = "none", not(feature = "interpreter")))]
userlib::entry!(skeleton);

/// The program without the interpreter: says so and exits with status 1.
#[cfg(all(target_os = "none", not(feature = "interpreter")))]
fn skeleton() -> i32 {
    userlib::println!("shell: skeleton without the interpreter (it needs the user heap); not wired yet");
    1
}

#[cfg(all(target_os = "none", feature = "interpreter"))]
mod lattice {
    use alloc::string::String;
    use alloc::vec::Vec;

    use shell::Shell;
    use shell::system::{
        ConnectionId, ConnectionInfo, ExitStatus, MemoryInfo, Mode, Pid, ProcessInfo, System, SystemError,
    };

    /// The exit status when the program cannot start (no heap).
    const STATUS_NO_HEAP: i32 = 70;

    /// Runs the shell; returns its exit status.
    pub fn main() -> i32 {
        let Some(info) = userlib::start::info() else {
            userlib::println!("shell: started without a start info page; nothing to run on");
            return STATUS_NO_HEAP;
        };
        if let Err(error) = userlib::heap::init(info.heap_address, info.heap_size) {
            userlib::println!("shell: no heap ({error:?})");
            return STATUS_NO_HEAP;
        }
        let mut shell = Shell::new(Unconnected);
        for (name, value) in info.environment() {
            let variables = shell.variables_mut();
            if variables.set(name, value) {
                variables.export(name);
            }
        }
        let status = shell.run();
        i32::try_from(status).unwrap_or(1)
    }

    /// A system with no servers behind it: output goes to the kernel debug console, and
    /// everything else fails with [`SystemError::Unavailable`].
    ///
    /// TODO(lead): replace with the real clients: `read` from the console server's terminal
    /// (raw mode; Ctrl-C while `wait` blocks must make `wait` return `Interrupted`), `spawn`,
    /// `wait`, `poll_finished`, `kill`, `processes` from the process manager, `memory` from
    /// the donor, `connections` and `revoke` from the security server.
    struct Unconnected;

    impl System for Unconnected {
        fn read(&mut self, _buffer: &mut [u8]) -> Result<usize, SystemError> {
            Err(SystemError::Other(String::from("not connected to the console server yet")))
        }

        fn write(&mut self, bytes: &[u8]) {
            // Output that cannot be written has nowhere else to go.
            let _ = userlib::syscall::debug_write(bytes);
        }

        fn spawn(
            &mut self,
            _program: &str,
            _arguments: &[String],
            _environment: &[(String, String)],
            _mode: Mode,
        ) -> Result<Pid, SystemError> {
            Err(SystemError::Unavailable)
        }

        fn wait(&mut self, _pid: Pid) -> Result<ExitStatus, SystemError> {
            Err(SystemError::Unavailable)
        }

        fn poll_finished(&mut self) -> Vec<(Pid, ExitStatus)> {
            Vec::new()
        }

        fn kill(&mut self, _pid: Pid) -> Result<(), SystemError> {
            Err(SystemError::Unavailable)
        }

        fn processes(&mut self) -> Result<Vec<ProcessInfo>, SystemError> {
            Err(SystemError::Unavailable)
        }

        fn memory(&mut self) -> Result<MemoryInfo, SystemError> {
            Err(SystemError::Unavailable)
        }

        fn connections(&mut self) -> Result<Vec<ConnectionInfo>, SystemError> {
            Err(SystemError::Unavailable)
        }

        fn revoke(&mut self, _connection: ConnectionId) -> Result<(), SystemError> {
            Err(SystemError::Unavailable)
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the shell program runs on Lattice (cargo xtask run); `cargo test -p shell` tests it here");
    std::process::exit(1);
}
