//! CNode: a table of capability slots.
//!
//! A CNode of radix `r` is `2^r` slots of 64 bytes. Slot 0 is never a capability: it holds
//! the object's header (reference count and slot count), which is also why capability
//! address 0 always means "none".

use kernel_abi::invocation::CNodeOp;
use kernel_abi::{Error, Rights};
use kernel_core::capability::{self, Capability, SLOT_SIZE, Slot, SlotId, SlotStore};

use super::{Header, ObjectRef, drain_zombies, release, retain};
use crate::Kernel;
use crate::memory::direct_map;

/// What slot 0 of every CNode holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CNodeHeader {
    /// Reference count and zombie link.
    pub header: Header,
    /// Number of slots, `2^radix`.
    pub slots: usize,
}

const _: () = assert!(core::mem::size_of::<CNodeHeader>() <= SLOT_SIZE, "the header fits in slot 0");

/// Slots in CNode and thread memory, through the direct map.
pub struct KernelSlots;

impl SlotStore for KernelSlots {
    fn load(&self, id: SlotId) -> Slot {
        debug_assert!(id != 0 && id.is_multiple_of(SLOT_SIZE));
        // SAFETY: slot ids are made only by `slot_id` and `thread::slot_id` from live CNodes
        // and threads (or read from links the kernel wrote), so `id` is a 64-byte aligned
        // slot in the direct map holding a valid `Slot` (zeroed memory is the empty slot).
        unsafe { core::ptr::read(direct_map(id) as *const Slot) }
    }

    fn store(&mut self, id: SlotId, slot: Slot) {
        debug_assert!(id != 0 && id.is_multiple_of(SLOT_SIZE));
        // SAFETY: as in `load`.
        unsafe { core::ptr::write(direct_map(id) as *mut Slot, slot) }
    }
}

/// Makes a CNode of `2^radix` slots in the zeroed memory at `object`.
pub fn initialise(object: usize, radix: u8) {
    // SAFETY: live: retype (or boot) just zeroed this memory for a CNode; exclusive:
    // nothing else knows it yet.
    let header = unsafe { ObjectRef::<CNodeHeader>::new(object).get() };
    *header = CNodeHeader { header: Header::default(), slots: 1 << radix };
}

/// The slot `index` of the CNode `capability`, which must be a CNode capability.
pub fn slot_id(capability: &Capability, index: usize) -> Result<SlotId, Error> {
    match *capability {
        Capability::CNode { object, radix } => {
            if index == 0 || index >= 1 << radix {
                Err(Error::InvalidCapability)
            } else {
                Ok(object + index * SLOT_SIZE)
            }
        }
        Capability::Null => Err(Error::InvalidCapability),
        _ => Err(Error::IllegalOperation),
    }
}

/// The capability in slot `id`.
pub fn load(id: SlotId) -> Capability {
    KernelSlots.load(id).capability
}

/// Puts a new `capability` derived from `parent` (0: none) into the empty slot `slot`.
pub fn insert(kernel: &mut Kernel, parent: SlotId, slot: SlotId, capability: Capability) {
    retain(kernel, &capability);
    capability::insert(&mut KernelSlots, parent, slot, capability);
}

/// Deletes the capability in `slot` (destroying its object if it was the last).
pub fn delete(kernel: &mut Kernel, slot: SlotId) {
    if load(slot).is_null() {
        return;
    }
    let capability = capability::remove(&mut KernelSlots, slot);
    release(kernel, capability);
    drain_zombies(kernel);
}

/// Deletes every capability derived from the one in `slot`, wherever it is. Returns how
/// many were deleted.
pub fn revoke(kernel: &mut Kernel, slot: SlotId) -> usize {
    let mut deleted = 0;
    while let Some(leaf) = capability::next_to_revoke(&KernelSlots, slot) {
        let capability = capability::remove(&mut KernelSlots, leaf);
        release(kernel, capability);
        deleted += 1;
    }
    drain_zombies(kernel);
    if let Capability::Untyped { base, size_bits, is_device, .. } = load(slot) {
        // Every object made from it is gone: its memory can be retyped from the start.
        capability::update(
            &mut KernelSlots,
            slot,
            Capability::Untyped { base, size_bits, is_device, used: 0 },
        );
    }
    deleted
}

/// Empties every slot of a dead CNode (called while draining zombies).
pub fn empty_all_slots(kernel: &mut Kernel, object: usize) {
    // SAFETY: live: a zombie CNode, dead but intact until a later retype; exclusive: one
    // read.
    let slots = unsafe { ObjectRef::<CNodeHeader>::new(object).get() }.slots;
    for index in 1..slots {
        let slot = object + index * SLOT_SIZE;
        if !load(slot).is_null() {
            let capability = capability::remove(&mut KernelSlots, slot);
            release(kernel, capability);
        }
    }
}

/// A decoded CNode invocation.
pub enum Invocation {
    /// Copy or mint `source` into `destination`.
    Derive { destination: SlotId, source: SlotId, rights: Rights, badge: Option<usize> },
    /// Move `source` to `destination`.
    Move { destination: SlotId, source: SlotId },
    /// Delete the capability in the slot.
    Delete(SlotId),
    /// Revoke the capability in the slot.
    Revoke(SlotId),
}

/// Turns a `call` on the CNode capability `target` into an invocation, checking every slot.
/// `resolve` looks a capability address up in the caller's CSpace.
pub fn decode(
    target: &Capability,
    label: usize,
    words: &[usize],
    resolve: impl Fn(usize) -> Result<SlotId, Error>,
) -> Result<Invocation, Error> {
    let word = |index: usize| words.get(index).copied().ok_or(Error::InvalidArgument);
    let occupied = |slot: SlotId| if load(slot).is_null() { Err(Error::InvalidCapability) } else { Ok(slot) };
    let empty = |slot: SlotId| if load(slot).is_null() { Ok(slot) } else { Err(Error::DeleteFirst) };
    let source_slot = |cnode_cptr: usize, index: usize| -> Result<SlotId, Error> {
        let cnode = load(resolve(cnode_cptr)?);
        occupied(slot_id(&cnode, index)?)
    };
    let operation = match label {
        1 => CNodeOp::Copy,
        2 => CNodeOp::Mint,
        3 => CNodeOp::Move,
        4 => CNodeOp::Delete,
        5 => CNodeOp::Revoke,
        _ => return Err(Error::IllegalOperation),
    };
    Ok(match operation {
        CNodeOp::Copy | CNodeOp::Mint => {
            let destination = empty(slot_id(target, word(0)?)?)?;
            let source = source_slot(word(1)?, word(2)?)?;
            let rights = Rights::from_word(word(3)?);
            let badge = if operation == CNodeOp::Mint { Some(word(4)?) } else { None };
            Invocation::Derive { destination, source, rights, badge }
        }
        CNodeOp::Move => {
            let destination = empty(slot_id(target, word(0)?)?)?;
            let source = source_slot(word(1)?, word(2)?)?;
            Invocation::Move { destination, source }
        }
        CNodeOp::Delete => Invocation::Delete(slot_id(target, word(0)?)?),
        CNodeOp::Revoke => Invocation::Revoke(occupied(slot_id(target, word(0)?)?)?),
    })
}

/// Performs a decoded CNode invocation. Returns the words of the reply.
pub fn invoke(kernel: &mut Kernel, invocation: Invocation) -> Result<usize, Error> {
    match invocation {
        Invocation::Derive { destination, source, rights, badge } => {
            let original = load(source);
            if matches!(original, Capability::Untyped { .. }) {
                // Two capabilities to the same free memory would hand it out twice.
                return Err(Error::IllegalOperation);
            }
            let copy = original.derive(rights, badge).ok_or(Error::IllegalOperation)?;
            insert(kernel, source, destination, copy);
            Ok(0)
        }
        Invocation::Move { destination, source } => {
            if destination != source {
                capability::relocate(&mut KernelSlots, source, destination);
            }
            Ok(0)
        }
        Invocation::Delete(slot) => {
            delete(kernel, slot);
            Ok(0)
        }
        Invocation::Revoke(slot) => Ok(revoke(kernel, slot)),
    }
}
