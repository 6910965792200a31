//! Operations on kernel objects: the label of a `call` on an object capability, and the
//! message words each takes.
//!
//! A capability address ("cptr") is an index into the caller's root CNode; slot 0 is kept
//! empty by convention, so 0 means "none" where an argument is optional.

/// Operations on an Untyped capability.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UntypedOp {
    /// Words: object type, size bits, destination CNode cptr, first destination index,
    /// count. Makes `count` objects in consecutive empty slots.
    Retype = 1,
}

/// Operations on a CNode capability (the destination CNode of copies).
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CNodeOp {
    /// Words: destination index, source CNode cptr, source index, rights mask.
    Copy = 1,
    /// Words: destination index, source CNode cptr, source index, rights mask, badge.
    Mint = 2,
    /// Words: destination index, source CNode cptr, source index.
    Move = 3,
    /// Words: index. Deletes the capability (the object too, if it was the last).
    Delete = 4,
    /// Words: index. Deletes every capability derived from it, wherever it is.
    Revoke = 5,
}

/// Operations on a Thread capability.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadOp {
    /// Words: CSpace root CNode cptr, address space cptr, IPC buffer address, IPC buffer
    /// frame cptr, fault endpoint cptr (0: none).
    Configure = 1,
    /// Words: pc, sp, a0, a1, a2, a3.
    WriteRegisters = 2,
    /// Returns: pc, sp, a0, a1, a2, a3.
    ReadRegisters = 3,
    /// Makes a configured, inactive thread runnable.
    Resume = 4,
    /// Stops the thread (it leaves every queue).
    Suspend = 5,
    /// Words: priority (0..=255, at most the caller's own).
    SetPriority = 6,
    /// Words: notification cptr. Signals to it wake the thread from any `recv`.
    BindNotification = 7,
    /// Unbinds the bound notification.
    UnbindNotification = 8,
    /// Words: scheduling context cptr (0: none, making the thread passive).
    SetSchedContext = 9,
}

/// Operations on a page table capability.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageTableOp {
    /// Words: address space cptr, virtual address. Installs the table at the level that
    /// covers the address.
    Map = 1,
    /// Removes it from its address space.
    Unmap = 2,
}

/// Operations on a frame capability.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameOp {
    /// Words: address space cptr, virtual address, rights (READ, WRITE, EXECUTE).
    Map = 1,
    /// Removes the mapping.
    Unmap = 2,
    /// Returns: the frame's physical address (for device drivers).
    Address = 3,
}

/// Operations on the IRQ control capability.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqControlOp {
    /// Words: interrupt number, destination CNode cptr, destination index.
    Get = 1,
}

/// Operations on an IRQ handler capability.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqHandlerOp {
    /// Words: notification cptr. The interrupt signals it with the capability's badge.
    SetNotification = 1,
    /// Re-enables the interrupt after handling.
    Acknowledge = 2,
    /// Detaches the notification.
    Clear = 3,
}

/// Operations on a timer capability. Deadlines are absolute, in `rdtime` units (the device
/// tree's timebase, `BootInfo::timebase_hz` per second).
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerOp {
    /// Words: notification cptr (WRITE right). The timer signals it, with that
    /// capability's badge, when it fires. Replaces the notification given before.
    SetNotification = 1,
    /// Words: deadline. Arms the timer for it, replacing the deadline it was armed for; a
    /// deadline not after now fires at once. Returns: 1 if it was armed before, else 0.
    Arm = 2,
    /// Disarms it. Returns: 1 if it was armed, else 0.
    Cancel = 3,
}

/// Operations on the scheduling control capability.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedControlOp {
    /// Words: scheduling context cptr, budget (µs), period (µs).
    Configure = 1,
}
