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
//! Access discipline: [`ObjectRef::get`] hands out a `&mut` to the object through the direct
//! map. The kernel runs on one hart, is never preempted and never re-entered, and no
//! function holds the reference to an object across a call that may touch the same object;
//! that is what keeps these references unique.

pub mod cnode;
pub mod endpoint;
pub mod irq;
pub mod notification;
pub mod reply;
pub mod sched_context;
pub mod thread;
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

    /// The object, through the direct map (see the module's access discipline).
    #[allow(clippy::mut_from_ref, reason = "kernel objects live in retyped memory, not in Rust-owned data")]
    pub fn get(self) -> &'static mut T {
        // SAFETY: `address` holds a live, initialised `T` (constructor contract) inside the
        // direct map, aligned to the object's size; uniqueness of the reference is kept by the
        // module's access discipline (single hart, no re-entry, no overlapping borrows).
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

/// The header of the counted object `capability` refers to, if it is one.
fn header_of(capability: &Capability) -> Option<&'static mut Header> {
    match *capability {
        Capability::CNode { object, .. } => Some(ObjectRef::<Header>::new(object).get()),
        Capability::Thread { object } => Some(&mut ObjectRef::<thread::Thread>::new(object).get().header),
        Capability::Endpoint { object, .. } => {
            Some(&mut ObjectRef::<endpoint::Endpoint>::new(object).get().header)
        }
        Capability::Notification { object, .. } => {
            Some(&mut ObjectRef::<notification::Notification>::new(object).get().header)
        }
        Capability::Reply { object } => Some(&mut ObjectRef::<reply::Reply>::new(object).get().header),
        Capability::SchedContext { object } => {
            Some(&mut ObjectRef::<sched_context::SchedContext>::new(object).get().header)
        }
        _ => None,
    }
}

/// Records that a new capability to the object of `capability` exists.
pub fn retain(kernel: &mut Kernel, capability: &Capability) {
    if let Some(header) = header_of(capability) {
        header.references += 1;
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
    header.references = header.references.saturating_sub(1);
    if header.references > 0 {
        return;
    }
    match capability {
        Capability::Endpoint { object, .. } => endpoint::destroy(kernel, ObjectRef::new(object)),
        Capability::Notification { object, .. } => notification::destroy(kernel, ObjectRef::new(object)),
        Capability::Reply { object } => reply::destroy(kernel, ObjectRef::new(object)),
        Capability::SchedContext { object } => sched_context::destroy(kernel, ObjectRef::new(object)),
        Capability::CNode { object, .. } => {
            let header = ObjectRef::<Header>::new(object).get();
            header.zombie_kind = ZOMBIE_CNODE;
            header.next_zombie = kernel.zombies;
            kernel.zombies = object;
        }
        Capability::Thread { object } => {
            let thread = ObjectRef::<thread::Thread>::new(object);
            // Stop it at once so it never runs again; its slots are emptied when drained.
            thread::stop(kernel, thread);
            let header = &mut thread.get().header;
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
        let header = ObjectRef::<Header>::new(object).get();
        kernel.zombies = header.next_zombie;
        let kind = header.zombie_kind;
        header.next_zombie = 0;
        match kind {
            ZOMBIE_CNODE => cnode::empty_all_slots(kernel, object),
            ZOMBIE_THREAD => thread::empty_slots(kernel, ObjectRef::new(object)),
            _ => {}
        }
    }
}
