//! Finding (or installing) QEMU and building its command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::setup;

use kernel_abi::exit_status;

/// Returns the path of `qemu-system-riscv64`, installing it first when it is missing and
/// we can (see [`crate::setup`]).
pub fn ensure_installed() -> Result<PathBuf, String> {
    setup::ensure_host_tools(setup::RUN_TOOLS)?;
    setup::path_of(setup::QEMU)
}

/// How the serial console is connected.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// A person at the terminal (`-nographic`: serial and monitor on stdio).
    Interactive,
    /// The test harness, through pipes (serial only; no monitor to trip over).
    Piped,
}

/// One boot of QEMU `virt`.
pub struct Boot {
    kernel: PathBuf,
    memory: String,
    harts: u32,
    bootargs: Option<String>,
}

impl Boot {
    /// Boots `kernel` with 256 MiB and one hart.
    pub fn new(kernel: &Path) -> Self {
        Self { kernel: kernel.to_path_buf(), memory: "256M".into(), harts: 1, bootargs: None }
    }

    /// Sets the memory size (QEMU `-m`).
    pub fn memory(mut self, memory: &str) -> Self {
        self.memory = memory.into();
        self
    }

    /// Sets the number of harts (QEMU `-smp`).
    pub fn harts(mut self, harts: u32) -> Self {
        self.harts = harts;
        self
    }

    /// Sets the kernel command line (`/chosen/bootargs`).
    pub fn bootargs(mut self, bootargs: Option<String>) -> Self {
        self.bootargs = bootargs;
        self
    }

    /// The QEMU command.
    pub fn command(&self, qemu: &Path, console: Console) -> Command {
        let mut command = Command::new(qemu);
        command.args(["-M", "virt", "-m", &self.memory, "-smp", &self.harts.to_string(), "-bios", "default"]);
        command.arg("-kernel").arg(&self.kernel);
        match console {
            Console::Interactive => {
                command.arg("-nographic");
            }
            Console::Piped => {
                command.args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]);
                command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        if let Some(bootargs) = &self.bootargs {
            command.args(["-append", bootargs]);
        }
        command
    }
}

/// The command as a shell line, for the log.
pub fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        if arg.contains(' ') {
            line.push_str(&format!(" '{arg}'"));
        } else {
            line.push(' ');
            line.push_str(&arg);
        }
    }
    line
}

/// What a machine exit status means (see `kernel_abi::exit_status`).
pub fn explain_status(code: i32) -> &'static str {
    match u16::try_from(code) {
        Ok(exit_status::SUCCESS) => "the root task exited successfully",
        Ok(exit_status::BOOT_FAILURE) => "boot failed",
        Ok(exit_status::ROOT_TASK_FAULTED) => "the root task faulted",
        Ok(exit_status::KERNEL_PANIC) => "kernel panic",
        _ => "the root task's exit status",
    }
}
