//! Syscall numbers, error codes and the register convention.
//!
//! # Register convention
//!
//! A user program traps with `ecall`. The syscall number is in `a7`; arguments are in
//! `a0`..`a5`. On return `a0` holds `0` for success or an [`Error`] code, and `a1` holds the
//! result value where a call has one. All other registers are preserved.

/// The syscall numbers. Values are part of the ABI and never change meaning.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// `debug_write(ptr, len)`: write bytes to the kernel console. For bring-up and tests;
    /// programs use the console server once it exists.
    DebugWrite = 0,
    /// `exit(code)`: end the calling program. Does not return.
    Exit = 1,
    /// `yield()`: give the processor to the next runnable thread of the same priority.
    Yield = 2,
}

impl TryFrom<usize> for Syscall {
    type Error = Error;

    fn try_from(number: usize) -> Result<Self, Error> {
        match number {
            0 => Ok(Self::DebugWrite),
            1 => Ok(Self::Exit),
            2 => Ok(Self::Yield),
            _ => Err(Error::InvalidSyscall),
        }
    }
}

/// Errors a syscall returns in `a0`. Zero means success and is not an error.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The syscall number in `a7` is not defined.
    InvalidSyscall = 1,
    /// An argument is out of range or malformed.
    InvalidArgument = 2,
    /// A pointer argument does not name memory the caller may access in the way the call
    /// needs (unmapped, kernel memory, or missing the read/write permission).
    InvalidUserPointer = 3,
}

impl Error {
    /// The short, stable name used in reports and test output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvalidSyscall => "invalid syscall",
            Self::InvalidArgument => "invalid argument",
            Self::InvalidUserPointer => "invalid user pointer",
        }
    }
}

impl TryFrom<usize> for Error {
    type Error = usize;

    /// Decodes a non-zero `a0`; an unknown code is returned unchanged as the error.
    fn try_from(code: usize) -> Result<Self, usize> {
        match code {
            1 => Ok(Self::InvalidSyscall),
            2 => Ok(Self::InvalidArgument),
            3 => Ok(Self::InvalidUserPointer),
            other => Err(other),
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a user thread was stopped by the kernel. Reported on the console now; delivered to
/// the thread's fault endpoint once the kernel has IPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A load from an address the thread may not read.
    LoadPageFault,
    /// A store to an address the thread may not write.
    StorePageFault,
    /// An instruction fetch from an address the thread may not execute.
    InstructionPageFault,
    /// An instruction the thread may not execute in user mode.
    IllegalInstruction,
    /// A misaligned load, store or fetch the hardware does not handle.
    Misaligned,
    /// An `ebreak`.
    Breakpoint,
    /// An access fault (physical memory protection).
    AccessFault,
}

impl FaultKind {
    /// Human-readable description used in fault reports.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::LoadPageFault => "load page fault",
            Self::StorePageFault => "store page fault",
            Self::InstructionPageFault => "instruction page fault",
            Self::IllegalInstruction => "illegal instruction",
            Self::Misaligned => "misaligned access",
            Self::Breakpoint => "breakpoint",
            Self::AccessFault => "access fault",
        }
    }

    /// Classifies a RISC-V `scause` exception code; `None` for codes that are not faults
    /// (environment calls) or that the architecture reserves.
    pub const fn from_exception_code(code: usize) -> Option<Self> {
        match code {
            0 | 4 | 6 => Some(Self::Misaligned),
            1 | 5 | 7 => Some(Self::AccessFault),
            2 => Some(Self::IllegalInstruction),
            3 => Some(Self::Breakpoint),
            12 => Some(Self::InstructionPageFault),
            13 => Some(Self::LoadPageFault),
            15 => Some(Self::StorePageFault),
            _ => None,
        }
    }

    /// Whether `stval` holds a faulting address (as opposed to an instruction encoding).
    pub const fn has_address(self) -> bool {
        !matches!(self, Self::IllegalInstruction | Self::Breakpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_round_trip() {
        for call in [Syscall::DebugWrite, Syscall::Exit, Syscall::Yield] {
            assert_eq!(Syscall::try_from(call as usize), Ok(call));
        }
        assert_eq!(Syscall::try_from(3), Err(Error::InvalidSyscall));
        assert_eq!(Syscall::try_from(usize::MAX), Err(Error::InvalidSyscall));
    }

    #[test]
    fn error_codes_round_trip_and_zero_is_not_an_error() {
        for error in [Error::InvalidSyscall, Error::InvalidArgument, Error::InvalidUserPointer] {
            assert_eq!(Error::try_from(error as usize), Ok(error));
        }
        assert_eq!(Error::try_from(0), Err(0));
        assert_eq!(Error::try_from(99), Err(99));
    }

    #[test]
    fn fault_classification_follows_the_privileged_spec() {
        assert_eq!(FaultKind::from_exception_code(15), Some(FaultKind::StorePageFault));
        assert_eq!(FaultKind::from_exception_code(13), Some(FaultKind::LoadPageFault));
        assert_eq!(FaultKind::from_exception_code(2), Some(FaultKind::IllegalInstruction));
        assert_eq!(FaultKind::from_exception_code(8), None, "ecall from U is a syscall");
        assert!(!FaultKind::IllegalInstruction.has_address());
        assert!(FaultKind::StorePageFault.has_address());
    }
}
