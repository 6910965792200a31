//! Untyped memory: the only source of kernel objects.
//!
//! An Untyped capability covers `2^size_bits` bytes at `base`, of which `used` are handed
//! out. Retype carves objects from the first free, suitably aligned address and records
//! each as a child of the Untyped; revoking the Untyped destroys them all and makes the
//! whole range free again. Device Untyped (registers) can only become frames (not zeroed)
//! or smaller device Untyped.

use kernel_abi::ObjectType;
use kernel_abi::object::{MIN_UNTYPED_BITS, PAGE_BITS};
use kernel_abi::{Error, Rights};
use kernel_core::capability::{self, Capability, SLOT_SIZE, SlotId};

use super::{cnode, endpoint, notification, reply, sched_context, thread, timer, vspace};
use crate::Kernel;
use crate::memory::zero_range;

/// Most objects one retype makes.
pub const MAX_RETYPE_COUNT: usize = 256;

/// A decoded retype.
pub struct Retype {
    untyped: SlotId,
    object_type: ObjectType,
    size_bits: usize,
    object_bits: usize,
    first_slot: SlotId,
    count: usize,
    start: usize,
}

/// Checks a retype of the Untyped in `untyped` (words: type, size bits, destination CNode
/// cptr, first index, count) without changing anything.
pub fn decode(
    untyped: SlotId,
    label: usize,
    words: &[usize],
    resolve: impl Fn(usize) -> Result<SlotId, Error>,
) -> Result<Retype, Error> {
    if label != kernel_abi::invocation::UntypedOp::Retype as usize {
        return Err(Error::IllegalOperation);
    }
    let word = |index: usize| words.get(index).copied().ok_or(Error::InvalidArgument);
    let Capability::Untyped { base, size_bits: untyped_bits, is_device, used } = cnode::load(untyped) else {
        return Err(Error::IllegalOperation);
    };
    let object_type = ObjectType::try_from(word(0)?)?;
    let size_bits = word(1)?;
    let object_bits = object_type.size_bits(size_bits).ok_or(Error::RangeError)?;
    if is_device && !matches!(object_type, ObjectType::Frame | ObjectType::LargeFrame | ObjectType::Untyped) {
        return Err(Error::IllegalOperation);
    }
    let count = word(4)?;
    if count == 0 || count > MAX_RETYPE_COUNT {
        return Err(Error::RangeError);
    }
    let destination = cnode::load(resolve(word(2)?)?);
    if destination.is_null() {
        return Err(Error::InvalidCapability);
    }
    let first_index = word(3)?;
    let mut first_slot = 0;
    for offset in 0..count {
        let slot = cnode::slot_id(&destination, first_index.checked_add(offset).ok_or(Error::RangeError)?)
            .map_err(|error| if error == Error::InvalidCapability { Error::RangeError } else { error })?;
        if !cnode::load(slot).is_null() {
            return Err(Error::DeleteFirst);
        }
        if offset == 0 {
            first_slot = slot;
        }
    }
    // Objects come after what is in use, unless nothing derived from it is left.
    let used = if capability::has_children(&cnode::KernelSlots, untyped) { used } else { 0 };
    let alignment = 1usize << object_bits;
    let start = (base + used).checked_next_multiple_of(alignment).ok_or(Error::NotEnoughMemory)?;
    let bytes = count.checked_mul(alignment).ok_or(Error::NotEnoughMemory)?;
    let end = start.checked_add(bytes).ok_or(Error::NotEnoughMemory)?;
    if end > base + (1usize << untyped_bits) {
        return Err(Error::NotEnoughMemory);
    }
    Ok(Retype { untyped, object_type, size_bits, object_bits, first_slot, count, start })
}

/// Makes the objects and their capabilities.
pub fn invoke(kernel: &mut Kernel, retype: Retype) -> Result<usize, Error> {
    let Capability::Untyped { base, size_bits: untyped_bits, is_device, .. } = cnode::load(retype.untyped)
    else {
        return Err(Error::IllegalOperation);
    };
    if retype.object_type == ObjectType::AddressSpace && kernel.asids.free_count() < retype.count {
        return Err(Error::NotEnoughMemory);
    }
    let size = 1usize << retype.object_bits;
    for index in 0..retype.count {
        let object = retype.start + index * size;
        // Objects start zeroed; Untyped is zeroed when its own objects are made, and device
        // memory is registers, never zeroed.
        if !is_device && retype.object_type != ObjectType::Untyped {
            // SAFETY: `decode` placed the objects past the Untyped's watermark (or at its
            // start when nothing derived from it is left), so no live object or mapping
            // uses this memory; it is RAM (not device memory, checked above).
            unsafe { zero_range(object, size) };
        }
        let capability = make_object(kernel, retype.object_type, object, retype.size_bits, is_device);
        cnode::insert(kernel, retype.untyped, retype.first_slot + index * SLOT_SIZE, capability);
    }
    let used = retype.start + retype.count * size - base;
    capability::update(
        &mut cnode::KernelSlots,
        retype.untyped,
        Capability::Untyped { base, size_bits: untyped_bits, is_device, used },
    );
    Ok(0)
}

/// Initialises the object of `object_type` in the zeroed memory at `object` and returns the
/// capability to it. Used by retype and by boot.
pub fn make_object(
    kernel: &mut Kernel,
    object_type: ObjectType,
    object: usize,
    size_bits: usize,
    is_device: bool,
) -> Capability {
    match object_type {
        ObjectType::Untyped => {
            let size_bits = u8::try_from(size_bits.max(MIN_UNTYPED_BITS)).unwrap_or(u8::MAX);
            Capability::Untyped { base: object, size_bits, is_device, used: 0 }
        }
        ObjectType::CNode => {
            let radix = u8::try_from(size_bits).unwrap_or(u8::MAX);
            cnode::initialise(object, radix);
            Capability::CNode { object, radix }
        }
        ObjectType::Thread => {
            thread::initialise(object);
            Capability::Thread { object }
        }
        ObjectType::AddressSpace => {
            let asid = vspace::initialise_address_space(kernel, object);
            Capability::AddressSpace { root: object, asid }
        }
        ObjectType::PageTable => Capability::PageTable { table: object, mapped_address: 0, mapped_asid: 0 },
        ObjectType::Frame | ObjectType::LargeFrame => Capability::Frame {
            frame: object,
            mapped_address: 0,
            mapped_asid: 0,
            large: object_type == ObjectType::LargeFrame,
            rights: Rights::READ | Rights::WRITE | Rights::EXECUTE,
        },
        ObjectType::Endpoint => {
            endpoint::initialise(object);
            Capability::Endpoint { object, rights: Rights::ALL, badge: 0 }
        }
        ObjectType::Notification => {
            notification::initialise(object);
            Capability::Notification { object, rights: Rights::ALL, badge: 0 }
        }
        ObjectType::Reply => {
            reply::initialise(object);
            Capability::Reply { object }
        }
        ObjectType::SchedContext => {
            sched_context::initialise(object);
            Capability::SchedContext { object }
        }
        ObjectType::Timer => {
            timer::initialise(object);
            Capability::Timer { object }
        }
    }
}

const _: () = assert!(PAGE_BITS == kernel_core::layout::PAGE_SHIFT);
