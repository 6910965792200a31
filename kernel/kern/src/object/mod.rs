//! Kernel objects: each lives in memory retyped from Untyped, and is named by the physical
//! address capabilities and queue links store.
//!
//! One file per object type, each in the same order: the object and its invariants, its
//! constructor, decode (turn message words into a typed invocation, changing nothing), and
//! invoke (perform it).
//!
//! Lifetime: objects that hold kernel state (CNodes, threads, endpoints, notifications,
//! replies, address spaces) count the capabilities that refer to them. When the last one is
//! deleted the object is destroyed: waiters are woken with `Cancelled`, a thread leaves every
//! queue, a CNode deletes the capabilities it holds. CNodes and threads hold capabilities
//! themselves, so destroying one can destroy others; instead of recursing, dead CNodes and
//! threads are put on a list ("zombies") that the outermost delete drains, so a chain of
//! any length never overflows the kernel stack.
//!
//! Access discipline: an [`ObjectRef`] is only a typed physical address, like a raw pointer,
//! and making one is safe; turning it into a reference is not. [`ObjectRef::get`] is the one
//! place in the kernel that makes a `&mut` to an object, and it is an `unsafe fn` whose
//! caller says (`// SAFETY:`) why both halves of its contract hold:
//!
//! - **live**: the address names an initialised object of the type. A capability keeps its
//!   object alive (the last capability's deletion destroys it, and its memory is retyped
//!   only after every capability derived from the Untyped is gone); the kernel clears every
//!   link (queue, binding, reply) to an object when it destroys the object; the current
//!   thread is live while it runs.
//! - **exclusive**: while the reference is used, nothing else reads or writes the object.
//!   The kernel runs on one hart, is never preempted and never re-entered, so this is a
//!   property of the code between taking the reference and its last use: no second
//!   reference to the same object, and no call that touches the object. Most references
//!   therefore live for one statement, or for a function that calls nothing which could
//!   reach the object.

pub mod cnode;
pub mod endpoint;
pub mod irq;
pub mod notification;
pub mod reply;
pub mod sched_context;
pub mod thread;
pub mod timer;
pub mod untyped;
pub mod vspace;

use core::marker::PhantomData;

use kernel_core::capability::Capability;

use crate::Kernel;
use crate::memory::direct_map;

/// A physical address that holds a live `T`.
pub struct ObjectRef<T> {
    address: usize,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for ObjectRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ObjectRef<T> {}
impl<T> PartialEq for ObjectRef<T> {
    fn eq(&self, other: &Self) -> bool {
        self.address == other.address
    }
}
impl<T> Eq for ObjectRef<T> {}
impl<T> core::fmt::Debug for ObjectRef<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.address)
    }
}

impl<T> ObjectRef<T> {
    /// Names the `T` at physical `address`. The address must come from a capability or a
    /// kernel link to a live object of type `T` (that is what every caller passes).
    pub const fn new(address: usize) -> Self {
        Self { address, _type: PhantomData }
    }

    /// `None` for the null address 0 (used by links), the object otherwise.
    pub const fn from_link(address: usize) -> Option<Self> {
        if address == 0 { None } else { Some(Self::new(address)) }
    }

    /// The object's physical address.
    pub const fn address(self) -> usize {
        self.address
    }

    /// The object, through the direct map.
    ///
    /// # Safety
    ///
    /// The caller chooses the lifetime `'a` and must make sure that, for all of it:
    ///
    /// - `self` names a live, initialised `T` (its address came from a capability in a
    ///   slot, from a link the kernel keeps, or is the current thread; see the module doc);
    /// - nothing else reads or writes the object: no other reference to it is used, and no
    ///   function called while the reference is live touches the object.
    #[inline(always)]
    pub unsafe fn get<'a>(self) -> &'a mut T {
        // SAFETY: the caller guarantees a live `T` at `address`; objects are retyped from RAM
        // below 128 GiB (inside the direct map) and aligned to their size, which is at least
        // the type's alignment; exclusivity for `'a` is the caller's promise.
        unsafe { &mut *(direct_map(self.address) as *mut T) }
    }
}

/// The reference count and zombie link at the start of every counted object.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Header {
    /// Capabilities that refer to the object.
    pub references: usize,
    /// Next dead object on the zombie list (CNodes and threads only).
    pub next_zombie: usize,
    /// The zombie's kind: 1 CNode, 2 thread.
    pub zombie_kind: usize,
}

const ZOMBIE_CNODE: usize = 1;
const ZOMBIE_THREAD: usize = 2;

/// The header of the counted object `capability` refers to, if it is one. Every counted
/// object starts with its [`Header`] (`repr(C)`, first field; a CNode's is the start of its
/// slot 0), so the header's address is the object's.
fn header_of(capability: &Capability) -> Option<ObjectRef<Header>> {
    match *capability {
        Capability::CNode { object, .. }
        | Capability::Thread { object }
        | Capability::Endpoint { object, .. }
        | Capability::Notification { object, .. }
        | Capability::Reply { object }
        | Capability::SchedContext { object }
        | Capability::Timer { object } => Some(ObjectRef::new(object)),
        _ => None,
    }
}

const _: () = {
    assert!(core::mem::offset_of!(thread::Thread, header) == 0);
    assert!(core::mem::offset_of!(endpoint::Endpoint, header) == 0);
    assert!(core::mem::offset_of!(notification::Notification, header) == 0);
    assert!(core::mem::offset_of!(reply::Reply, header) == 0);
    assert!(core::mem::offset_of!(sched_context::SchedContext, header) == 0);
    assert!(core::mem::offset_of!(timer::Timer, header) == 0);
    assert!(core::mem::offset_of!(cnode::CNodeHeader, header) == 0);
};

/// Records that a new capability to the object of `capability` exists.
pub fn retain(kernel: &mut Kernel, capability: &Capability) {
    if let Some(header) = header_of(capability) {
        // SAFETY: live: `capability` names its object (it is being copied from a live one,
        // or was just made with it); exclusive: a statement that calls nothing.
        unsafe { header.get() }.references += 1;
    } else if let Capability::AddressSpace { asid, .. } = *capability {
        kernel.asids.retain(asid);
    } else if let Capability::IrqHandler { irq } = *capability {
        kernel.interrupts.retain(irq);
    }
}

/// Records that a capability is gone: unmaps what it mapped, and destroys its object when
/// it was the last reference (or queues it for destruction; see [`drain_zombies`]).
pub fn release(kernel: &mut Kernel, capability: Capability) {
    match capability {
        Capability::Frame { .. } | Capability::PageTable { .. } => {
            vspace::unmap_capability(kernel, &capability)
        }
        Capability::AddressSpace { asid, .. } => kernel.asids.release(asid),
        Capability::IrqHandler { irq } => kernel.interrupts.release(irq),
        _ => {}
    }
    let Some(header) = header_of(&capability) else { return };
    // SAFETY: live: the capability being released still named the object, so it has not
    // been destroyed; exclusive: the reference ends with this block, which calls nothing.
    let remaining = unsafe {
        let header = header.get();
        header.references = header.references.saturating_sub(1);
        header.references
    };
    if remaining > 0 {
        return;
    }
    match capability {
        Capability::Endpoint { object, .. } => endpoint::destroy(kernel, ObjectRef::new(object)),
        Capability::Notification { object, .. } => notification::destroy(kernel, ObjectRef::new(object)),
        Capability::Reply { object } => reply::destroy(kernel, ObjectRef::new(object)),
        Capability::SchedContext { object } => sched_context::destroy(kernel, ObjectRef::new(object)),
        Capability::Timer { object } => timer::destroy(kernel, ObjectRef::new(object)),
        Capability::CNode { object, .. } => {
            // SAFETY: live: its last capability just went, which does not free its memory;
            // exclusive: nothing else runs until the block ends.
            let header = unsafe { ObjectRef::<Header>::new(object).get() };
            header.zombie_kind = ZOMBIE_CNODE;
            header.next_zombie = kernel.zombies;
            kernel.zombies = object;
        }
        Capability::Thread { object } => {
            let thread = ObjectRef::<thread::Thread>::new(object);
            // Stop it at once so it never runs again; its slots are emptied when drained.
            thread::stop(kernel, thread);
            kernel.scheduler.forget(thread);
            // SAFETY: live as the CNode above; exclusive: `stop` has returned and nothing
            // else is called while the reference is used.
            let header = &mut unsafe { thread.get() }.header;
            header.zombie_kind = ZOMBIE_THREAD;
            header.next_zombie = kernel.zombies;
            kernel.zombies = object;
        }
        _ => {}
    }
}

/// Destroys every queued dead CNode and thread: empties their slots, which may queue more.
pub fn drain_zombies(kernel: &mut Kernel) {
    while kernel.zombies != 0 {
        let object = kernel.zombies;
        // Both kinds start with a Header (a CNode's lives in its slot 0).
        // SAFETY: live: a zombie is dead but its memory is intact (memory is reused only by
        // a retype, a later syscall, after this drain); exclusive: the reference ends with
        // this block, which calls nothing.
        let (next, kind) = unsafe {
            let header = ObjectRef::<Header>::new(object).get();
            let next = (header.next_zombie, header.zombie_kind);
            header.next_zombie = 0;
            next
        };
        kernel.zombies = next;
        match kind {
            ZOMBIE_CNODE => cnode::empty_all_slots(kernel, object),
            ZOMBIE_THREAD => thread::empty_slots(kernel, ObjectRef::new(object)),
            _ => {}
        }
    }
}
