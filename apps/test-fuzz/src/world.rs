//! The fuzzer's world: everything it may touch, made from one Untyped so that a revoke
//! destroys it all and it can be made again.
//!
//! The fuzzer's CNode (radix 6) holds, at fixed indices, a small Untyped, endpoints with
//! different rights and badges, a notification, reply objects, frames, page tables, an
//! address space of its own to map them in, a thread (the victim) that runs in that
//! address space, a second CNode, a scheduling context and a timer (signalling the
//! notification); the rest of its slots are empty.
//! The root task keeps the originals (and the fuzzer's thread and CNode capabilities) in
//! its own CNode, which is what makes the whole world reachable for `debug_check`.

use kernel_abi::bootinfo::slot;
use kernel_abi::{Error, ObjectType, Rights};
use userlib::ipc::Cptr;
use userlib::object;
use userlib::thread::Spawn;

/// Slots in the fuzzer's CNode.
pub const FUZZER_SLOTS: usize = 1 << FUZZER_RADIX;
const FUZZER_RADIX: usize = 6;
/// The fuzzer's CNode slots the world fills at first (1..=FILLED_SLOTS).
pub const FILLED_SLOTS: usize = 19;
/// log2 bytes of the memory the world is made from.
const WORLD_BITS: usize = 20;
/// log2 bytes of the Untyped the fuzzer may retype.
const FUZZER_UNTYPED_BITS: usize = 16;
/// Where the fuzzer's IPC buffer is mapped in the root task's address space (in the 2 MiB
/// region around the boot info page, whose page table the kernel made).
pub const FUZZER_IPC_BUFFER: usize = kernel_abi::bootinfo::BOOT_INFO_ADDRESS + 0x8000;
/// Priority of the fuzzer (the victim and anything it makes can be at most this).
pub const FUZZER_PRIORITY: usize = 100;

/// The root task's slots for the world (consecutive, from `first`).
#[derive(Clone, Copy)]
pub struct World {
    /// The Untyped everything is made from.
    pub memory: Cptr,
    /// The fuzzer's CNode.
    pub cnode: Cptr,
    /// The fuzzer's thread.
    pub thread: Cptr,
    /// The frame of the fuzzer's IPC buffer (mapped in the root task).
    pub ipc_buffer: Cptr,
    /// Originals of what the fuzzer gets copies of.
    endpoint: Cptr,
    other_endpoint: Cptr,
    notification: Cptr,
    frame: Cptr,
    address_space: Cptr,
    victim: Cptr,
    small_cnode: Cptr,
    sched_context: Cptr,
    timer: Cptr,
}

/// Root slots a world takes.
pub const WORLD_ROOT_SLOTS: usize = 13;

impl World {
    /// Names the root slots `first..first + WORLD_ROOT_SLOTS`.
    pub const fn at(first: Cptr) -> Self {
        Self {
            memory: first,
            cnode: first + 1,
            thread: first + 2,
            ipc_buffer: first + 3,
            endpoint: first + 4,
            other_endpoint: first + 5,
            notification: first + 6,
            frame: first + 7,
            address_space: first + 8,
            victim: first + 9,
            small_cnode: first + 10,
            sched_context: first + 11,
            timer: first + 12,
        }
    }

    /// Takes the world's memory from `pool` (once; destroying the world keeps it).
    pub fn reserve_memory(&self, pool: Cptr) -> Result<(), Error> {
        object::retype(pool, ObjectType::Untyped, WORLD_BITS, CNODE, self.memory, 1)
    }

    /// Makes the world in its memory: every object, the fuzzer's CNode filled, the IPC
    /// buffer mapped and the victim configured. The fuzzer thread is made but not started.
    pub fn create(&self) -> Result<(), Error> {
        let make = |object_type: ObjectType, size_bits: usize, slot: Cptr| {
            object::retype(self.memory, object_type, size_bits, CNODE, slot, 1)
        };
        make(ObjectType::CNode, FUZZER_RADIX, self.cnode)?;
        make(ObjectType::Thread, 0, self.thread)?;
        make(ObjectType::Frame, 0, self.ipc_buffer)?;
        make(ObjectType::Endpoint, 0, self.endpoint)?;
        make(ObjectType::Endpoint, 0, self.other_endpoint)?;
        make(ObjectType::Notification, 0, self.notification)?;
        make(ObjectType::Frame, 0, self.frame)?;
        make(ObjectType::AddressSpace, 0, self.address_space)?;
        make(ObjectType::Thread, 0, self.victim)?;
        make(ObjectType::CNode, 2, self.small_cnode)?;
        make(ObjectType::SchedContext, 0, self.sched_context)?;
        make(ObjectType::Timer, 0, self.timer)?;
        object::timer_set_notification(self.timer, self.notification)?;
        object::map_frame(
            self.ipc_buffer,
            slot::ADDRESS_SPACE,
            FUZZER_IPC_BUFFER,
            Rights::READ | Rights::WRITE,
        )?;

        // The fuzzer's CNode, index by index. Objects that cannot be copied are retyped
        // straight into it.
        let cnode = self.cnode;
        let copy =
            |index: usize, source: Cptr, rights: Rights| object::copy(cnode, index, CNODE, source, rights);
        let mint = |index: usize, source: Cptr, rights: Rights, badge: usize| {
            object::mint(cnode, index, CNODE, source, rights, badge)
        };
        let into = |object_type: ObjectType, size_bits: usize, index: usize| {
            object::retype(self.memory, object_type, size_bits, cnode, index, 1)
        };
        copy(1, self.cnode, Rights::ALL)?;
        into(ObjectType::Untyped, FUZZER_UNTYPED_BITS, 2)?;
        copy(3, self.endpoint, Rights::ALL)?;
        mint(4, self.endpoint, Rights::WRITE | Rights::GRANT, 0x11)?;
        copy(5, self.endpoint, Rights::READ)?;
        copy(6, self.other_endpoint, Rights::ALL)?;
        copy(7, self.notification, Rights::ALL)?;
        mint(8, self.notification, Rights::WRITE, 0x22)?;
        into(ObjectType::Reply, 0, 9)?;
        copy(10, self.frame, Rights::ALL)?;
        into(ObjectType::PageTable, 0, 11)?;
        into(ObjectType::PageTable, 0, 12)?;
        copy(13, self.address_space, Rights::ALL)?;
        copy(14, self.victim, Rights::ALL)?;
        into(ObjectType::Reply, 0, 15)?;
        copy(16, self.small_cnode, Rights::ALL)?;
        copy(17, self.frame, Rights::READ)?;
        copy(18, self.sched_context, Rights::ALL)?;
        copy(19, self.timer, Rights::ALL)?;
        // The victim: its own address space, the fuzzer's CNode, not started.
        object::configure_thread(self.victim, self.cnode, self.address_space, 0, 0, 0)?;
        Ok(())
    }

    /// Destroys the world (and with it the fuzzer thread, wherever it was); its memory is
    /// whole again for the next [`Self::create`].
    pub fn destroy(&self) -> Result<usize, Error> {
        object::revoke(CNODE, self.memory)
    }

    /// Starts (or restarts) the fuzzer thread at its entry, on `stack_top`, with fault
    /// endpoint `faults` (a root-task capability).
    pub fn start_fuzzer(&self, faults: Cptr, stack_top: usize) -> Result<(), Error> {
        object::suspend(self.thread)?;
        let spawn = Spawn {
            thread: self.thread,
            cspace: self.cnode,
            address_space: slot::ADDRESS_SPACE,
            ipc_buffer: (self.ipc_buffer, FUZZER_IPC_BUFFER),
            fault_endpoint: faults,
            priority: FUZZER_PRIORITY,
        };
        userlib::thread::start(&spawn, crate::fuzzer::run, 0, stack_top)
    }
}

/// The root task's CNode.
const CNODE: Cptr = slot::CNODE;
