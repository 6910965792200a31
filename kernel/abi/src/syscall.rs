//! Syscall numbers, error codes, message info and the register convention.
//!
//! # Register convention
//!
//! A user program traps with `ecall`. The syscall number is in `a7`.
//!
//! | register | on entry | on return |
//! | --- | --- | --- |
//! | `a0` | capability address (or first argument) | `0` or an [`Error`] code |
//! | `a1` | [`MessageInfo`] (or second argument) | [`MessageInfo`] of the message received |
//! | `a2`..`a5` | message registers 0..3 | message registers 0..3 received |
//! | `a6` | reply capability address (receives) | badge of the sender (receives) |
//!
//! Message registers beyond the fourth, and capability addresses to transfer, are in the
//! thread's IPC buffer (`crate::ipc_buffer`). All other registers are preserved.

/// The syscall numbers. Values are part of the ABI and never change meaning.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// `debug_write(ptr, len)`: write bytes to the kernel console. For bring-up and tests;
    /// programs use the console server once it exists.
    DebugWrite = 0,
    /// `exit(code)`: end the calling thread. Its fault endpoint, if any, gets an exit
    /// message; the root task's exit powers the machine off. Does not return.
    Exit = 1,
    /// `yield()`: give the processor to the next runnable thread of the same priority.
    Yield = 2,
    /// `call(cap, info, mrs)`: send and wait for the reply; on a kernel object, invoke it.
    Call = 3,
    /// `send(cap, info, mrs)`: send, blocking until received; signals a notification;
    /// replies through a reply capability.
    Send = 4,
    /// `nb_send(cap, info, mrs)`: send only if a receiver waits; never blocks.
    NonBlockingSend = 5,
    /// `recv(cap, reply)`: wait for a message on an endpoint, or for a notification.
    Recv = 6,
    /// `nb_recv(cap, reply)`: receive only if a message or signal is pending (poll).
    NonBlockingRecv = 7,
    /// `reply_recv(cap, info, mrs, reply)`: reply through `reply`, then receive on `cap`.
    ReplyRecv = 8,
    /// `debug_check()`: the kernel checks its invariants over everything reachable from the
    /// caller's CSpace (derivation tree, queues, Untyped watermarks). Returns the number of
    /// slots checked, or `InvalidArgument` with `a1` = the [`Invariant`] that failed.
    DebugCheck = 9,
    /// `idle_instructions()`: the instructions the processor retired while no thread could
    /// run (the kernel waiting for an interrupt, and the timer ticks and interrupts it took
    /// meanwhile), since boot, in `a1`. Benchmarks subtract it to count work and not the
    /// wait for a device (under QEMU `-icount ... sleep=off` the clock races through timer
    /// ticks while a host-side device request completes, so the wait is not repeatable).
    IdleInstructions = 10,
}

/// Invariants `debug_check` verifies; `a1` names the one that failed.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invariant {
    /// Derivation tree links are consistent (parents, siblings, no cycles, empty slots unlinked).
    DerivationTree = 1,
    /// A thread's state matches the queue it is in (run queue, endpoint, notification, reply).
    Queues = 2,
    /// An Untyped's used bytes lie within it and cover every object made from it.
    UntypedWatermark = 3,
    /// Reference counts equal the number of capabilities found.
    ReferenceCounts = 4,
}

impl TryFrom<usize> for Syscall {
    type Error = Error;

    fn try_from(number: usize) -> Result<Self, Error> {
        Ok(match number {
            0 => Self::DebugWrite,
            1 => Self::Exit,
            2 => Self::Yield,
            3 => Self::Call,
            4 => Self::Send,
            5 => Self::NonBlockingSend,
            6 => Self::Recv,
            7 => Self::NonBlockingRecv,
            8 => Self::ReplyRecv,
            9 => Self::DebugCheck,
            10 => Self::IdleInstructions,
            _ => return Err(Error::InvalidSyscall),
        })
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
    /// A capability address names an empty slot, or a slot outside the CNode.
    InvalidCapability = 4,
    /// The capability is of a type that does not support this operation.
    IllegalOperation = 5,
    /// The capability lacks a right the operation needs.
    InsufficientRights = 6,
    /// The destination slot is occupied.
    DeleteFirst = 7,
    /// The object still has derived capabilities (for example an Untyped with children
    /// being retyped at a different size).
    RevokeFirst = 8,
    /// The Untyped has no room left for the requested objects.
    NotEnoughMemory = 9,
    /// An address or size is not aligned as the operation needs.
    AlignmentError = 10,
    /// A value is outside the range the operation accepts (sizes, priorities, indices).
    RangeError = 11,
    /// Something is already mapped there, or the object is already mapped elsewhere.
    AlreadyMapped = 12,
    /// An intermediate page table is missing for the mapping.
    MissingPageTable = 13,
    /// The IPC was aborted: the endpoint or notification was deleted while waiting, or
    /// the partner was destroyed.
    Cancelled = 14,
    /// A non-blocking operation found nobody to talk to.
    WouldBlock = 15,
    /// The reply capability is not waiting for a reply (no caller).
    NoCaller = 16,
    /// The message or its capabilities could not be delivered in full.
    TruncatedMessage = 17,
    /// The operation needs a thread state the target is not in (for example resuming a
    /// thread with no address space).
    BadThreadState = 18,
    /// The object lacks something it must be given first (a timer armed before it has a
    /// notification to signal).
    NotBound = 19,
}

/// Every error, for tables and tests.
pub const ALL_ERRORS: [Error; 19] = [
    Error::InvalidSyscall,
    Error::InvalidArgument,
    Error::InvalidUserPointer,
    Error::InvalidCapability,
    Error::IllegalOperation,
    Error::InsufficientRights,
    Error::DeleteFirst,
    Error::RevokeFirst,
    Error::NotEnoughMemory,
    Error::AlignmentError,
    Error::RangeError,
    Error::AlreadyMapped,
    Error::MissingPageTable,
    Error::Cancelled,
    Error::WouldBlock,
    Error::NoCaller,
    Error::TruncatedMessage,
    Error::BadThreadState,
    Error::NotBound,
];

impl Error {
    /// The short, stable name used in reports and test output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvalidSyscall => "invalid syscall",
            Self::InvalidArgument => "invalid argument",
            Self::InvalidUserPointer => "invalid user pointer",
            Self::InvalidCapability => "invalid capability",
            Self::IllegalOperation => "illegal operation",
            Self::InsufficientRights => "insufficient rights",
            Self::DeleteFirst => "destination slot occupied",
            Self::RevokeFirst => "revoke first",
            Self::NotEnoughMemory => "not enough memory",
            Self::AlignmentError => "alignment error",
            Self::RangeError => "out of range",
            Self::AlreadyMapped => "already mapped",
            Self::MissingPageTable => "missing page table",
            Self::Cancelled => "cancelled",
            Self::WouldBlock => "would block",
            Self::NoCaller => "no caller to reply to",
            Self::TruncatedMessage => "truncated message",
            Self::BadThreadState => "bad thread state",
            Self::NotBound => "nothing bound",
        }
    }
}

impl TryFrom<usize> for Error {
    type Error = usize;

    /// Decodes a non-zero `a0`; an unknown code is returned unchanged as the error.
    fn try_from(code: usize) -> Result<Self, usize> {
        ALL_ERRORS.iter().copied().find(|error| *error as usize == code).ok_or(code)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Message registers passed in CPU registers (`a2`..`a5`).
pub const REGISTER_MESSAGE_WORDS: usize = 4;
/// Longest message, in words (registers plus IPC buffer).
pub const MAX_MESSAGE_WORDS: usize = 120;
/// Most capabilities one message carries.
pub const MAX_TRANSFER_CAPS: usize = 3;

/// The message tag: label, length in words and number of capabilities.
///
/// Bits 0..7 length (0..=120), bits 7..9 capability count (0..=3), bits 12..64 label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessageInfo(pub usize);

impl MessageInfo {
    /// A tag with `label`, `length` words and `caps` capabilities. Out-of-range lengths and
    /// counts are clamped to the maximum (the kernel reports truncation).
    pub const fn new(label: usize, length: usize, caps: usize) -> Self {
        let length = if length > MAX_MESSAGE_WORDS { MAX_MESSAGE_WORDS } else { length };
        let caps = if caps > MAX_TRANSFER_CAPS { MAX_TRANSFER_CAPS } else { caps };
        Self((label << 12) | (caps << 7) | length)
    }

    /// The label (an operation number, or whatever the protocol says).
    pub const fn label(self) -> usize {
        self.0 >> 12
    }

    /// Words in the message, clamped to [`MAX_MESSAGE_WORDS`].
    pub const fn length(self) -> usize {
        let length = self.0 & 0x7f;
        if length > MAX_MESSAGE_WORDS { MAX_MESSAGE_WORDS } else { length }
    }

    /// Capabilities carried.
    pub const fn caps(self) -> usize {
        (self.0 >> 7) & 0b11
    }
}

/// Why a user thread was stopped by the kernel. Delivered to the thread's fault endpoint
/// (label [`FAULT_LABEL`]) or, if it has none, reported on the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A load from an address the thread may not read.
    LoadPageFault = 1,
    /// A store to an address the thread may not write.
    StorePageFault = 2,
    /// An instruction fetch from an address the thread may not execute.
    InstructionPageFault = 3,
    /// An instruction the thread may not execute in user mode.
    IllegalInstruction = 4,
    /// A misaligned load, store or fetch the hardware does not handle.
    Misaligned = 5,
    /// An `ebreak`.
    Breakpoint = 6,
    /// An access fault (physical memory protection).
    AccessFault = 7,
    /// Not a fault: the thread called `exit`; the status is in the message.
    Exited = 8,
}

/// Label of a fault message. Words: kind, pc, address (or instruction bits), `scause`,
/// exit status (for [`FaultKind::Exited`]). The badge is the fault endpoint capability's.
pub const FAULT_LABEL: usize = 0xfa017;
/// Words in a fault message.
pub const FAULT_MESSAGE_WORDS: usize = 5;

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
            Self::Exited => "exited",
        }
    }

    /// Decodes the first word of a fault message.
    pub const fn from_word(word: usize) -> Option<Self> {
        Some(match word {
            1 => Self::LoadPageFault,
            2 => Self::StorePageFault,
            3 => Self::InstructionPageFault,
            4 => Self::IllegalInstruction,
            5 => Self::Misaligned,
            6 => Self::Breakpoint,
            7 => Self::AccessFault,
            8 => Self::Exited,
            _ => return None,
        })
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
        !matches!(self, Self::IllegalInstruction | Self::Breakpoint | Self::Exited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_round_trip() {
        for number in 0..11 {
            assert_eq!(Syscall::try_from(number).map(|call| call as usize), Ok(number));
        }
        assert_eq!(Syscall::try_from(11), Err(Error::InvalidSyscall));
        assert_eq!(Syscall::try_from(usize::MAX), Err(Error::InvalidSyscall));
    }

    #[test]
    fn error_codes_are_distinct_and_round_trip() {
        for (index, error) in ALL_ERRORS.iter().enumerate() {
            assert_eq!(*error as usize, index + 1, "codes are dense from 1");
            assert_eq!(Error::try_from(*error as usize), Ok(*error));
        }
        assert_eq!(Error::try_from(0), Err(0));
        assert_eq!(Error::try_from(99), Err(99));
    }

    #[test]
    fn message_info_packs_and_clamps() {
        let info = MessageInfo::new(0xabcde, 7, 2);
        assert_eq!((info.label(), info.length(), info.caps()), (0xabcde, 7, 2));
        let clamped = MessageInfo::new(1, 500, 9);
        assert_eq!((clamped.length(), clamped.caps()), (MAX_MESSAGE_WORDS, MAX_TRANSFER_CAPS));
        assert_eq!(MessageInfo(0x7f).length(), MAX_MESSAGE_WORDS, "raw lengths past 120 clamp");
    }

    #[test]
    fn fault_classification_follows_the_privileged_spec() {
        assert_eq!(FaultKind::from_exception_code(15), Some(FaultKind::StorePageFault));
        assert_eq!(FaultKind::from_exception_code(13), Some(FaultKind::LoadPageFault));
        assert_eq!(FaultKind::from_exception_code(2), Some(FaultKind::IllegalInstruction));
        assert_eq!(FaultKind::from_exception_code(8), None, "ecall from U is a syscall");
        assert!(!FaultKind::IllegalInstruction.has_address());
        assert!(FaultKind::StorePageFault.has_address());
        for word in 1..=8 {
            assert_eq!(FaultKind::from_word(word).map(|kind| kind as usize), Some(word));
        }
    }
}
