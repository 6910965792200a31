//! Capability slots as owned values.
//!
//! A server's CNode has the loader's fixed slots below `server_slots::FIRST_FREE` and free
//! slots above. The kit keeps the free ones in one pool per program; a [`Slot`] is taken
//! from it and, when dropped, deletes whatever capability it holds (an empty slot is fine)
//! and goes back. So a capability's life is the owner's: a session's donation is a `Slot`
//! in its [`crate::Session`], and closing the session drops it.
//!
//! Invariant: a slot index is either in the pool or owned by exactly one `Slot` (or
//! deliberately given up with [`Slot::leak`] for the program's life); the pool never holds
//! a slot twice.

use alloc::vec::Vec;

/// Free slot indices. Pure bookkeeping, so it is host-tested; [`Slot`] pairs it with the
/// kernel.
#[derive(Debug, Default)]
pub struct SlotPool {
    free: Vec<usize>,
}

impl SlotPool {
    /// An empty pool.
    pub const fn new() -> Self {
        Self { free: Vec::new() }
    }

    /// Adds the slots `range` (taken lowest first).
    pub fn add(&mut self, range: core::ops::Range<usize>) {
        self.free.extend(range);
        // Highest first, so `pop` gives the lowest; duplicates go.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
        self.free.dedup();
    }

    /// A free slot, the lowest.
    pub fn take(&mut self) -> Option<usize> {
        self.free.pop()
    }

    /// Gives `slot` back. O(1): only a [`Slot`]'s drop gives a slot back, once, so the
    /// pool is never handed a free slot (it is not searched for one; releasing a process's
    /// hundred slots must not cost a scan of thousands each).
    pub fn give(&mut self, slot: usize) {
        self.free.push(slot);
    }

    /// How many slots are free.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// Whether no slot is free.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

#[cfg(target_arch = "riscv64")]
mod owned {
    use super::SlotPool;
    use crate::KitError;
    use kernel_abi::{ObjectType, Rights};
    use loader::server_slots as at;
    use userlib::object;
    use userlib::rpc::CapabilitySlot;

    /// This program's free slots (one thread serves; the lock is for helper threads).
    static POOL: spin::Mutex<SlotPool> = spin::Mutex::new(SlotPool::new());

    /// Gives the kit the program's free slots: `server_slots::FIRST_FREE` up to the end of
    /// a CNode of `1 << radix` slots. Called once by [`crate::Kit::start`].
    pub fn init(radix: usize) {
        POOL.lock().add(at::FIRST_FREE..1 << radix);
    }

    /// A slot of the program's own CNode, empty or holding a capability it owns. Dropping
    /// it deletes the capability and frees the slot.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Slot {
        index: usize,
    }

    impl Slot {
        /// An empty slot.
        pub fn new() -> Result<Slot, KitError> {
            POOL.lock().take().map(|index| Slot { index }).ok_or(KitError::NoSlots)
        }

        /// A slot holding a new object of `object_type` (`size_bits` for those that have a
        /// size) made from the program's memory budget.
        pub fn make(object_type: ObjectType, size_bits: usize) -> Result<Slot, KitError> {
            let slot = Slot::new()?;
            object::retype(at::MEMORY, object_type, size_bits, at::CNODE, slot.index, 1)?;
            Ok(slot)
        }

        /// A slot holding a new object of `object_type` made from the Untyped in slot
        /// `untyped` (a session's donation, say), not from the program's budget.
        pub fn make_from(
            untyped: usize,
            object_type: ObjectType,
            size_bits: usize,
        ) -> Result<Slot, KitError> {
            let slot = Slot::new()?;
            object::retype(untyped, object_type, size_bits, at::CNODE, slot.index, 1)?;
            Ok(slot)
        }

        /// A slot holding a copy of `source`'s capability with only `rights`.
        pub fn copy(source: usize, rights: Rights) -> Result<Slot, KitError> {
            let slot = Slot::new()?;
            object::copy(at::CNODE, slot.index, at::CNODE, source, rights)?;
            Ok(slot)
        }

        /// A slot holding a child of `source`'s capability with `rights` and `badge`.
        pub fn mint(source: usize, rights: Rights, badge: usize) -> Result<Slot, KitError> {
            let slot = Slot::new()?;
            object::mint(at::CNODE, slot.index, at::CNODE, source, rights, badge)?;
            Ok(slot)
        }

        /// A slot holding the capability moved out of `from` (a receive slot).
        pub fn take_from(from: CapabilitySlot) -> Result<Slot, KitError> {
            let slot = Slot::new()?;
            object::move_capability(at::CNODE, slot.index, from.cnode, from.index)?;
            Ok(slot)
        }

        /// Its index in the program's CNode (a capability pointer for invocations).
        pub fn index(&self) -> usize {
            self.index
        }

        /// The slot as a place to receive a capability into.
        pub fn as_receive(&self) -> CapabilitySlot {
            CapabilitySlot { cnode: at::CNODE, index: self.index }
        }

        /// Keeps the slot and its capability for the program's life; returns its index.
        pub fn leak(self) -> usize {
            let index = self.index;
            core::mem::forget(self);
            index
        }
    }

    impl Drop for Slot {
        fn drop(&mut self) {
            // An empty slot deletes without error; a failure leaves the capability, and
            // then the slot must not be reused.
            if object::delete(at::CNODE, self.index).is_ok() {
                POOL.lock().give(self.index);
            }
        }
    }
}

#[cfg(target_arch = "riscv64")]
pub use owned::Slot;
#[cfg(target_arch = "riscv64")]
pub(crate) use owned::init;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_lowest_first_and_go_back() {
        let mut pool = SlotPool::new();
        pool.add(32..36);
        assert_eq!(pool.len(), 4);
        assert_eq!(pool.take(), Some(32));
        assert_eq!(pool.take(), Some(33));
        pool.give(32);
        assert_eq!(pool.take(), Some(32));
        assert_eq!(pool.take(), Some(34));
        assert_eq!(pool.take(), Some(35));
        assert_eq!(pool.take(), None);
        assert!(pool.is_empty());
    }

    #[test]
    fn adding_a_range_twice_keeps_each_slot_once() {
        let mut pool = SlotPool::new();
        pool.add(10..12);
        pool.add(10..12);
        assert_eq!(pool.len(), 2);
        let a = pool.take();
        let b = pool.take();
        assert_ne!(a, b);
        assert_eq!(pool.take(), None);
    }
}
