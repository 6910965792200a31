//! What the root task receives: its initial capabilities at fixed slots, and a boot info
//! page describing the rest.

/// Slots of the root task's initial capabilities.
pub mod slot {
    /// Always empty.
    pub const NULL: usize = 0;
    /// The root task's own thread.
    pub const THREAD: usize = 1;
    /// The root task's CNode (its CSpace root).
    pub const CNODE: usize = 2;
    /// The root task's address space.
    pub const ADDRESS_SPACE: usize = 3;
    /// Authority to create IRQ handlers.
    pub const IRQ_CONTROL: usize = 4;
    /// Authority to configure scheduling contexts.
    pub const SCHED_CONTROL: usize = 5;
    /// The frame holding the root task's IPC buffer.
    pub const IPC_BUFFER: usize = 6;
    /// The frame holding the boot info page.
    pub const BOOT_INFO: usize = 7;
    /// The root task's scheduling context.
    pub const SCHED_CONTEXT: usize = 8;
    /// First slot of the untyped capabilities (see [`super::BootInfo`]).
    pub const FIRST_UNTYPED: usize = 16;
}

/// log2 of the root task's CNode slots.
pub const ROOT_CNODE_RADIX: usize = 14;
/// Where the boot info page is mapped in the root task (read-only).
pub const BOOT_INFO_ADDRESS: usize = 0x3f_fff0_0000;
/// Where the root task's IPC buffer is mapped.
pub const ROOT_IPC_BUFFER_ADDRESS: usize = 0x3f_fff0_1000;
/// Where the boot archive is mapped (read-only) in the root task.
pub const BOOT_ARCHIVE_ADDRESS: usize = 0x3e_0000_0000;
/// Most untyped capabilities described.
pub const MAX_UNTYPED: usize = 64;

/// One untyped capability given to the root task.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntypedDescriptor {
    /// Physical address of the memory.
    pub physical_address: usize,
    /// log2 of its size in bytes.
    pub size_bits: usize,
    /// Whether it is device memory (registers; only frames can be made from it).
    pub is_device: usize,
}

/// The boot info page, at [`BOOT_INFO_ADDRESS`] in the root task.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: usize,
    /// Untyped capabilities occupy slots `FIRST_UNTYPED .. FIRST_UNTYPED + untyped_count`.
    pub untyped_count: usize,
    /// First empty slot after the untyped and archive frame capabilities; slots up to the
    /// CNode's end are empty.
    pub first_free_slot: usize,
    /// Slots in the root CNode.
    pub cnode_slots: usize,
    /// Timer ticks per second of `rdtime`.
    pub timebase_hz: usize,
    /// The boot archive's bytes start here (page aligned, [`BOOT_ARCHIVE_ADDRESS`]).
    pub archive_address: usize,
    /// The boot archive's length in bytes.
    pub archive_size: usize,
    /// Read-only frame capabilities of the boot archive's pages, in order, occupy slots
    /// `first_archive_frame .. first_archive_frame + archive_frames` (after the untyped
    /// ones): the root task maps copies of them to share the archive without copying it.
    pub first_archive_frame: usize,
    /// How many (the archive's pages).
    pub archive_frames: usize,
    /// Descriptions of the untyped capabilities, in slot order.
    pub untyped: [UntypedDescriptor; MAX_UNTYPED],
}

/// The first word of a valid [`BootInfo`].
pub const BOOT_INFO_MAGIC: usize = 0x4c41_5454_4943_4531; // "LATTICE1"
