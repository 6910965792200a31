//! Capabilities and the derivation tree.
//!
//! A capability lives in a [`Slot`] of a CNode. Every capability made from another (by
//! copy, mint, retype, or transfer over IPC) is recorded as its child, so that
//! [`next_to_revoke`] can find every descendant, wherever it was copied to. Deleting a
//! capability that has children splices the children into its parent: they stay reachable
//! from every ancestor, so a later revoke higher up still finds them.
//!
//! The tree is stored in the slots themselves (parent, first child, next and previous
//! sibling), so it needs no memory of its own. Slots are named by [`SlotId`], which the
//! kernel makes from the slot's physical address and host tests from an index.
//!
//! Invariants (checked by [`check_tree`]):
//! - a slot is linked into the tree iff it holds a capability;
//! - `child.parent == parent` for every child in `parent`'s sibling list, and the list's
//!   previous/next links agree;
//! - following parents from any slot ends (no cycles).

use abi::Rights;
use kernel_abi as abi;

/// Names a slot; 0 means "none".
pub type SlotId = usize;

/// Where a frame or page table capability is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Address-space id of the address space (never 0).
    pub asid: u16,
    /// The virtual address.
    pub address: usize,
}

/// A capability: which object, and what its holder may do with it.
#[repr(C, u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Capability {
    /// An empty slot.
    #[default]
    Null = 0,
    /// Memory that can be retyped into objects.
    Untyped {
        /// Physical address of the first byte.
        base: usize,
        /// log2 of the size in bytes.
        size_bits: u8,
        /// Device memory: only frames can be made from it, and they are not zeroed.
        is_device: bool,
        /// Bytes from `base` already handed out to children.
        used: usize,
    },
    /// A table of capability slots.
    CNode {
        /// Physical address of the slot array.
        object: usize,
        /// log2 of the number of slots.
        radix: u8,
    },
    /// A thread.
    Thread {
        /// Physical address of the thread control block.
        object: usize,
    },
    /// An address space (root page table).
    AddressSpace {
        /// Physical address of the root page table.
        root: usize,
        /// Its address-space id.
        asid: u16,
    },
    /// A page table below the root; caps to it cannot be copied, so it has one mapping.
    PageTable {
        /// Physical address of the table.
        table: usize,
        /// Where it is installed (meaningful when `mapped_asid` is not 0).
        mapped_address: usize,
        /// Address-space id it is installed in; 0 when not installed.
        mapped_asid: u16,
    },
    /// A frame of memory; each frame capability maps it at most once. (Fields are ordered
    /// so that the capability fits in 32 bytes.)
    Frame {
        /// Physical address of the frame.
        frame: usize,
        /// Where this capability has it mapped (meaningful when `mapped_asid` is not 0).
        mapped_address: usize,
        /// Address-space id it is mapped in; 0 when not mapped.
        mapped_asid: u16,
        /// 2 MiB rather than 4 KiB.
        large: bool,
        /// The most this capability may map it with (READ, WRITE, EXECUTE).
        rights: Rights,
    },
    /// A synchronous IPC endpoint.
    Endpoint {
        /// Physical address of the endpoint.
        object: usize,
        /// READ: receive; WRITE: send; GRANT: send capabilities; GRANT_REPLY: call.
        rights: Rights,
        /// Delivered to the receiver with every message sent through this capability.
        badge: usize,
    },
    /// A notification word.
    Notification {
        /// Physical address of the notification.
        object: usize,
        /// READ: wait and poll; WRITE: signal.
        rights: Rights,
        /// OR-ed into the word by a signal through this capability.
        badge: usize,
    },
    /// A reply object.
    Reply {
        /// Physical address of the reply object.
        object: usize,
    },
    /// A scheduling context.
    SchedContext {
        /// Physical address of the scheduling context.
        object: usize,
    },
    /// A timer.
    Timer {
        /// Physical address of the timer.
        object: usize,
    },
    /// Authority to make IRQ handler capabilities.
    IrqControl,
    /// Authority over one interrupt line.
    IrqHandler {
        /// The PLIC source number.
        irq: u16,
    },
    /// Authority to configure scheduling contexts.
    SchedControl,
}

impl Capability {
    /// Whether the slot is empty.
    pub const fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// A short name of the capability's type, for reports.
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Untyped { .. } => "untyped",
            Self::CNode { .. } => "cnode",
            Self::Thread { .. } => "thread",
            Self::AddressSpace { .. } => "address space",
            Self::PageTable { .. } => "page table",
            Self::Frame { .. } => "frame",
            Self::Endpoint { .. } => "endpoint",
            Self::Notification { .. } => "notification",
            Self::Reply { .. } => "reply",
            Self::SchedContext { .. } => "scheduling context",
            Self::Timer { .. } => "timer",
            Self::IrqControl => "irq control",
            Self::IrqHandler { .. } => "irq handler",
            Self::SchedControl => "sched control",
        }
    }

    /// Where a frame or page table capability is mapped, if it is.
    pub const fn mapping(&self) -> Option<Mapping> {
        match *self {
            Self::Frame { mapped_address, mapped_asid, .. }
            | Self::PageTable { mapped_address, mapped_asid, .. }
                if mapped_asid != 0 =>
            {
                Some(Mapping { asid: mapped_asid, address: mapped_address })
            }
            _ => None,
        }
    }

    /// The rights the capability carries (all rights for types without a rights field).
    pub const fn rights(&self) -> Rights {
        match self {
            Self::Frame { rights, .. }
            | Self::Endpoint { rights, .. }
            | Self::Notification { rights, .. } => *rights,
            _ => Rights::ALL,
        }
    }

    /// A copy for a new slot: `rights` masked in, `badge` set if given (only on an
    /// unbadged endpoint or notification), mapping state cleared. `None` if this
    /// capability cannot be copied (null, page tables, reply objects, untyped memory with
    /// children is handled by the caller).
    pub fn derive(&self, rights: Rights, badge: Option<usize>) -> Option<Self> {
        let copy = match *self {
            Self::Null | Self::PageTable { .. } | Self::Reply { .. } => return None,
            Self::Frame { frame, large, rights: own, .. } => {
                Self::Frame { frame, mapped_address: 0, mapped_asid: 0, large, rights: own.intersect(rights) }
            }
            Self::Endpoint { object, rights: own, badge: old } => {
                Self::Endpoint { object, rights: own.intersect(rights), badge: rebadge(old, badge)? }
            }
            Self::Notification { object, rights: own, badge: old } => {
                Self::Notification { object, rights: own.intersect(rights), badge: rebadge(old, badge)? }
            }
            other => {
                if badge.is_some() {
                    return None;
                }
                other
            }
        };
        Some(copy)
    }
}

/// A badge can be set once: minting from a badged capability keeps the badge, and asking
/// for a different one is refused.
fn rebadge(old: usize, new: Option<usize>) -> Option<usize> {
    match new {
        None => Some(old),
        Some(badge) if old == 0 || old == badge => Some(badge),
        Some(_) => None,
    }
}

/// Tree links of a slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Links {
    /// The capability this one was derived from.
    pub parent: SlotId,
    /// The most recently derived child.
    pub first_child: SlotId,
    /// The next child of the same parent.
    pub next_sibling: SlotId,
    /// The previous child of the same parent.
    pub previous_sibling: SlotId,
}

/// A CNode slot: a capability and its place in the derivation tree. All zero bytes is an
/// empty slot, so freshly zeroed memory is a valid CNode.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Slot {
    /// The capability.
    pub capability: Capability,
    /// Its derivation links.
    pub links: Links,
}

/// Bytes of a slot; the ABI's CNode sizes depend on it.
pub const SLOT_SIZE: usize = 1 << abi::object::SLOT_SIZE_BITS;
const _: () = assert!(core::mem::size_of::<Slot>() == SLOT_SIZE, "slot size matches the ABI");

/// Storage for slots: CNode memory in the kernel, a table in host tests.
pub trait SlotStore {
    /// The slot named `id`.
    fn load(&self, id: SlotId) -> Slot;
    /// Overwrites the slot named `id`.
    fn store(&mut self, id: SlotId, slot: Slot);

    /// Changes the links of `id` in place.
    fn update_links(&mut self, id: SlotId, change: impl FnOnce(&mut Links)) {
        let mut slot = self.load(id);
        change(&mut slot.links);
        self.store(id, slot);
    }
}

/// Puts `capability` into the empty slot `child`, as the first child of `parent` (or as a
/// root when `parent` is 0).
pub fn insert<S: SlotStore>(store: &mut S, parent: SlotId, child: SlotId, capability: Capability) {
    debug_assert!(store.load(child).capability.is_null(), "insert into an occupied slot");
    let mut links = Links { parent, ..Links::default() };
    if parent != 0 {
        let old_first = store.load(parent).links.first_child;
        links.next_sibling = old_first;
        if old_first != 0 {
            store.update_links(old_first, |l| l.previous_sibling = child);
        }
        store.update_links(parent, |l| l.first_child = child);
    }
    store.store(child, Slot { capability, links });
}

/// Empties slot `id` and returns what it held. Its children take its place under its
/// parent, in order.
pub fn remove<S: SlotStore>(store: &mut S, id: SlotId) -> Capability {
    let slot = store.load(id);
    let Links { parent, first_child, next_sibling, previous_sibling } = slot.links;
    // Reparent the children and find the last one.
    let mut last_child = 0;
    let mut child = first_child;
    while child != 0 {
        store.update_links(child, |l| l.parent = parent);
        last_child = child;
        child = store.load(child).links.next_sibling;
    }
    // Splice [first_child .. last_child] (or nothing) between the neighbours.
    let (head, tail) =
        if first_child != 0 { (first_child, last_child) } else { (next_sibling, previous_sibling) };
    if first_child != 0 {
        store.update_links(first_child, |l| l.previous_sibling = previous_sibling);
        store.update_links(last_child, |l| l.next_sibling = next_sibling);
    }
    let after_previous = if first_child != 0 { head } else { next_sibling };
    let before_next = if first_child != 0 { tail } else { previous_sibling };
    if previous_sibling != 0 {
        store.update_links(previous_sibling, |l| l.next_sibling = after_previous);
    } else if parent != 0 {
        store.update_links(parent, |l| l.first_child = after_previous);
    }
    if next_sibling != 0 {
        store.update_links(next_sibling, |l| l.previous_sibling = before_next);
    }
    store.store(id, Slot::default());
    slot.capability
}

/// Moves the capability in `from` to the empty slot `to`, keeping its place in the tree.
pub fn relocate<S: SlotStore>(store: &mut S, from: SlotId, to: SlotId) {
    debug_assert!(store.load(to).capability.is_null(), "move into an occupied slot");
    let slot = store.load(from);
    let Links { parent, first_child, next_sibling, previous_sibling } = slot.links;
    if previous_sibling != 0 {
        store.update_links(previous_sibling, |l| l.next_sibling = to);
    } else if parent != 0 {
        store.update_links(parent, |l| l.first_child = to);
    }
    if next_sibling != 0 {
        store.update_links(next_sibling, |l| l.previous_sibling = to);
    }
    let mut child = first_child;
    while child != 0 {
        store.update_links(child, |l| l.parent = to);
        child = store.load(child).links.next_sibling;
    }
    store.store(to, slot);
    store.store(from, Slot::default());
}

/// Replaces the capability in occupied slot `id` without touching its links (used to
/// record a mapping or an Untyped's used bytes).
pub fn update<S: SlotStore>(store: &mut S, id: SlotId, capability: Capability) {
    let mut slot = store.load(id);
    slot.capability = capability;
    store.store(id, slot);
}

/// Whether `id` has derived capabilities.
pub fn has_children<S: SlotStore>(store: &S, id: SlotId) -> bool {
    store.load(id).links.first_child != 0
}

/// The next descendant of `id` to delete when revoking it: a leaf (no children of its
/// own), so deleting it never splices. `None` when `id` has no descendants left.
pub fn next_to_revoke<S: SlotStore>(store: &S, id: SlotId) -> Option<SlotId> {
    let mut node = store.load(id).links.first_child;
    if node == 0 {
        return None;
    }
    loop {
        let child = store.load(node).links.first_child;
        if child == 0 {
            return Some(node);
        }
        node = child;
    }
}

/// A broken tree invariant, found by [`check_tree`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// An empty slot has links.
    EmptySlotLinked(SlotId),
    /// A child's parent link does not point back.
    WrongParent(SlotId),
    /// Sibling links disagree.
    BrokenSiblings(SlotId),
    /// Following parents does not end.
    Cycle(SlotId),
}

/// Checks the tree invariants over every slot in `slots` (all slots that exist). `limit`
/// bounds the walks (the number of slots is a good value).
pub fn check_tree<S: SlotStore>(
    store: &S,
    slots: impl Iterator<Item = SlotId>,
    limit: usize,
) -> Result<(), TreeError> {
    for id in slots {
        let slot = store.load(id);
        if slot.capability.is_null() {
            if slot.links != Links::default() {
                return Err(TreeError::EmptySlotLinked(id));
            }
            continue;
        }
        let mut previous = 0;
        let mut child = slot.links.first_child;
        let mut steps = 0;
        while child != 0 {
            let links = store.load(child).links;
            if links.parent != id {
                return Err(TreeError::WrongParent(child));
            }
            if links.previous_sibling != previous {
                return Err(TreeError::BrokenSiblings(child));
            }
            previous = child;
            child = links.next_sibling;
            steps += 1;
            if steps > limit {
                return Err(TreeError::BrokenSiblings(id));
            }
        }
        let mut ancestor = slot.links.parent;
        let mut depth = 0;
        while ancestor != 0 {
            ancestor = store.load(ancestor).links.parent;
            depth += 1;
            if depth > limit {
                return Err(TreeError::Cycle(id));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Slots 1..=n in a vector (slot 0 is the "none" id).
    struct Table(Vec<Slot>);

    impl SlotStore for Table {
        fn load(&self, id: SlotId) -> Slot {
            self.0[id]
        }
        fn store(&mut self, id: SlotId, slot: Slot) {
            self.0[id] = slot;
        }
    }

    fn table(slots: usize) -> Table {
        Table(std::vec![Slot::default(); slots + 1])
    }

    fn endpoint(badge: usize) -> Capability {
        Capability::Endpoint { object: 0x9000, rights: Rights::ALL, badge }
    }

    fn check(table: &Table) {
        check_tree(table, 1..table.0.len(), table.0.len()).unwrap();
    }

    fn children(table: &Table, id: SlotId) -> Vec<SlotId> {
        let mut out = Vec::new();
        let mut child = table.load(id).links.first_child;
        while child != 0 {
            out.push(child);
            child = table.load(child).links.next_sibling;
        }
        out
    }

    fn revoke(table: &mut Table, id: SlotId) -> usize {
        let mut deleted = 0;
        while let Some(leaf) = next_to_revoke(table, id) {
            remove(table, leaf);
            deleted += 1;
        }
        deleted
    }

    #[test]
    fn children_are_recorded_newest_first() {
        let mut t = table(8);
        insert(&mut t, 0, 1, endpoint(0));
        insert(&mut t, 1, 2, endpoint(5));
        insert(&mut t, 1, 3, endpoint(6));
        insert(&mut t, 3, 4, endpoint(6));
        assert_eq!(children(&t, 1), [3, 2]);
        assert_eq!(children(&t, 3), [4]);
        assert!(has_children(&t, 1) && !has_children(&t, 2));
        check(&t);
    }

    #[test]
    fn revoke_removes_every_descendant_and_only_those() {
        let mut t = table(10);
        insert(&mut t, 0, 1, endpoint(0));
        insert(&mut t, 1, 2, endpoint(1));
        insert(&mut t, 2, 3, endpoint(1)); // a copy of the copy, e.g. sent over IPC
        insert(&mut t, 3, 4, endpoint(1));
        insert(&mut t, 1, 5, endpoint(2));
        insert(&mut t, 0, 6, endpoint(0)); // unrelated root
        assert_eq!(revoke(&mut t, 2), 2);
        assert!(t.load(3).capability.is_null() && t.load(4).capability.is_null());
        assert!(!t.load(2).capability.is_null(), "revoke keeps the capability itself");
        assert_eq!(revoke(&mut t, 1), 2);
        assert_eq!(children(&t, 1), Vec::<usize>::new());
        assert!(!t.load(6).capability.is_null());
        check(&t);
    }

    #[test]
    fn deleting_a_middle_capability_keeps_its_children_revocable_from_above() {
        let mut t = table(8);
        insert(&mut t, 0, 1, endpoint(0));
        insert(&mut t, 1, 2, endpoint(0));
        insert(&mut t, 2, 3, endpoint(0));
        insert(&mut t, 2, 4, endpoint(0));
        insert(&mut t, 1, 5, endpoint(0));
        assert_eq!(remove(&mut t, 2), endpoint(0));
        check(&t);
        assert_eq!(children(&t, 1), [5, 4, 3]);
        assert_eq!(t.load(3).links.parent, 1);
        assert_eq!(revoke(&mut t, 1), 3);
        check(&t);
    }

    #[test]
    fn relocate_keeps_the_tree() {
        let mut t = table(8);
        insert(&mut t, 0, 1, endpoint(0));
        insert(&mut t, 1, 2, endpoint(0));
        insert(&mut t, 1, 3, endpoint(0));
        insert(&mut t, 2, 4, endpoint(0));
        relocate(&mut t, 2, 7);
        check(&t);
        assert_eq!(children(&t, 1), [3, 7]);
        assert_eq!(t.load(4).links.parent, 7);
        relocate(&mut t, 1, 8);
        check(&t);
        assert_eq!(t.load(3).links.parent, 8);
        assert_eq!(revoke(&mut t, 8), 3);
    }

    #[test]
    fn derive_masks_rights_sets_badges_once_and_refuses_what_cannot_be_copied() {
        let original = Capability::Endpoint { object: 1, rights: Rights::READ | Rights::WRITE, badge: 0 };
        let minted = original.derive(Rights::WRITE | Rights::GRANT, Some(42)).unwrap();
        assert_eq!(minted, Capability::Endpoint { object: 1, rights: Rights::WRITE, badge: 42 });
        assert_eq!(minted.derive(Rights::ALL, None), Some(minted));
        assert_eq!(minted.derive(Rights::ALL, Some(42)), Some(minted));
        assert_eq!(minted.derive(Rights::ALL, Some(43)), None, "no re-badging");
        assert_eq!(Capability::Reply { object: 1 }.derive(Rights::ALL, None), None);
        let table = Capability::PageTable { table: 1, mapped_address: 0, mapped_asid: 0 };
        assert_eq!(table.derive(Rights::ALL, None), None);
        assert_eq!(Capability::Thread { object: 1 }.derive(Rights::ALL, Some(1)), None);
        let mapped = Capability::Frame {
            frame: 0x1000,
            mapped_address: 0x5000,
            mapped_asid: 3,
            large: false,
            rights: Rights::READ | Rights::WRITE,
        };
        assert_eq!(mapped.mapping(), Some(Mapping { asid: 3, address: 0x5000 }));
        let copy = mapped.derive(Rights::READ, None).unwrap();
        assert_eq!(
            copy,
            Capability::Frame {
                frame: 0x1000,
                mapped_address: 0,
                mapped_asid: 0,
                large: false,
                rights: Rights::READ
            }
        );
        assert_eq!(copy.mapping(), None);
        assert!(mapped.derive(Rights::ALL, Some(5)).is_some(), "a frame ignores a badge, as in seL4");
    }

    #[test]
    fn random_operations_keep_the_invariants() {
        let mut random = crate::testing::Xorshift(0x5eed_1234_abcd_0001);
        let size = 40;
        let mut t = table(size);
        for _ in 0..20_000 {
            let a = 1 + random.below(size);
            let b = 1 + random.below(size);
            let occupied_a = !t.load(a).capability.is_null();
            let occupied_b = !t.load(b).capability.is_null();
            match random.below(5) {
                0 if !occupied_b => insert(&mut t, if occupied_a && a != b { a } else { 0 }, b, endpoint(0)),
                1 if occupied_a => {
                    remove(&mut t, a);
                }
                2 if occupied_a && !occupied_b => relocate(&mut t, a, b),
                3 if occupied_a => {
                    revoke(&mut t, a);
                    assert!(!has_children(&t, a));
                }
                _ => {}
            }
            check(&t);
        }
    }

    #[test]
    fn the_checker_finds_broken_trees() {
        let mut t = table(4);
        insert(&mut t, 0, 1, endpoint(0));
        insert(&mut t, 1, 2, endpoint(0));
        let mut bad = Table(t.0.clone());
        bad.update_links(2, |l| l.parent = 3);
        assert_eq!(check_tree(&bad, 1..5, 5), Err(TreeError::WrongParent(2)));
        let mut bad = Table(t.0.clone());
        bad.update_links(4, |l| l.parent = 1);
        assert_eq!(check_tree(&bad, 1..5, 5), Err(TreeError::EmptySlotLinked(4)));
        let mut bad = Table(t.0.clone());
        bad.update_links(1, |l| l.parent = 2);
        assert_eq!(check_tree(&bad, 1..5, 5), Err(TreeError::Cycle(1)));
    }
}
