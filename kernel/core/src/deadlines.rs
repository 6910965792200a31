//! A list of deadlines, earliest first, linked through its nodes: the kernel's armed
//! timers.
//!
//! The nodes live elsewhere (timer objects in the kernel, a table in host tests) and are
//! named by [`NodeId`]; a [`DeadlineStore`] reads and writes their [`Links`]. So the list
//! needs no memory of its own, like the derivation tree.
//!
//! Invariants (checked by [`DeadlineList::check`]):
//! - a node is `armed` iff it is in the list;
//! - deadlines never decrease from the head on; nodes with equal deadlines stay in the
//!   order they were inserted (first armed, first fired);
//! - `next` and `previous` agree, and the head has no `previous`.
//!
//! Costs: the earliest deadline and removal are constant time; insertion walks past every
//! node due no later than the new one.

/// Names a node; 0 means "none".
pub type NodeId = usize;

/// A node's place in the list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// When it is due (meaningful while armed).
    pub deadline: u64,
    /// The next node, due no earlier (0: last).
    pub next: NodeId,
    /// The previous node (0: first).
    pub previous: NodeId,
    /// Whether it is in the list.
    pub armed: bool,
}

/// Where the nodes' links are kept.
pub trait DeadlineStore {
    /// The links of node `id`.
    fn links(&self, id: NodeId) -> Links;
    /// Replaces the links of node `id`.
    fn set_links(&mut self, id: NodeId, links: Links);
}

/// What [`DeadlineList::check`] found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListError {
    /// This node is listed but not marked armed.
    NotArmed(NodeId),
    /// This node's `previous` does not name the node before it.
    BrokenLink(NodeId),
    /// This node is due before the one ahead of it.
    Unsorted(NodeId),
    /// The list is longer than the limit (a cycle).
    TooLong,
}

/// The list: just its head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadlineList {
    head: NodeId,
}

impl DeadlineList {
    /// An empty list.
    pub const fn new() -> Self {
        Self { head: 0 }
    }

    /// The node due first.
    pub const fn head(&self) -> Option<NodeId> {
        if self.head == 0 { None } else { Some(self.head) }
    }

    /// The earliest deadline, if any node is armed.
    pub fn earliest<S: DeadlineStore>(&self, store: &S) -> Option<u64> {
        self.head().map(|head| store.links(head).deadline)
    }

    /// Arms `id` (which must not be armed: [`Self::remove`] it first) for `deadline`,
    /// after every node due no later.
    pub fn insert<S: DeadlineStore>(&mut self, store: &mut S, id: NodeId, deadline: u64) {
        debug_assert!(id != 0 && !store.links(id).armed);
        let mut previous = 0;
        let mut next = self.head;
        while next != 0 {
            let links = store.links(next);
            if links.deadline > deadline {
                break;
            }
            previous = next;
            next = links.next;
        }
        store.set_links(id, Links { deadline, next, previous, armed: true });
        if previous == 0 {
            self.head = id;
        } else {
            let mut before = store.links(previous);
            before.next = id;
            store.set_links(previous, before);
        }
        if next != 0 {
            let mut after = store.links(next);
            after.previous = id;
            store.set_links(next, after);
        }
    }

    /// Disarms `id`, taking it out of the list; returns whether it was armed.
    pub fn remove<S: DeadlineStore>(&mut self, store: &mut S, id: NodeId) -> bool {
        let links = store.links(id);
        if !links.armed {
            return false;
        }
        if links.previous == 0 {
            self.head = links.next;
        } else {
            let mut before = store.links(links.previous);
            before.next = links.next;
            store.set_links(links.previous, before);
        }
        if links.next != 0 {
            let mut after = store.links(links.next);
            after.previous = links.previous;
            store.set_links(links.next, after);
        }
        store.set_links(id, Links { deadline: links.deadline, next: 0, previous: 0, armed: false });
        true
    }

    /// Takes the first node if it is due by `now` (disarmed), else `None`.
    pub fn pop_due<S: DeadlineStore>(&mut self, store: &mut S, now: u64) -> Option<NodeId> {
        let head = self.head()?;
        if store.links(head).deadline > now {
            return None;
        }
        self.remove(store, head);
        Some(head)
    }

    /// Checks the invariants over at most `limit` nodes; returns how many are armed.
    pub fn check<S: DeadlineStore>(&self, store: &S, limit: usize) -> Result<usize, ListError> {
        let mut previous = 0;
        let mut previous_deadline = 0;
        let mut node = self.head;
        let mut count = 0;
        while node != 0 {
            let links = store.links(node);
            if !links.armed {
                return Err(ListError::NotArmed(node));
            }
            if links.previous != previous {
                return Err(ListError::BrokenLink(node));
            }
            if count > 0 && links.deadline < previous_deadline {
                return Err(ListError::Unsorted(node));
            }
            count += 1;
            if count > limit {
                return Err(ListError::TooLong);
            }
            previous = node;
            previous_deadline = links.deadline;
            node = links.next;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Nodes 1..=n in a vector (node 0 is "none").
    struct Table(Vec<Links>);

    impl DeadlineStore for Table {
        fn links(&self, id: NodeId) -> Links {
            self.0[id]
        }
        fn set_links(&mut self, id: NodeId, links: Links) {
            self.0[id] = links;
        }
    }

    fn table(nodes: usize) -> Table {
        Table(std::vec![Links::default(); nodes + 1])
    }

    /// The armed nodes from the head on.
    fn order(list: &DeadlineList, store: &Table) -> Vec<NodeId> {
        let mut nodes = Vec::new();
        let mut node = list.head().unwrap_or(0);
        while node != 0 {
            nodes.push(node);
            node = store.links(node).next;
        }
        nodes
    }

    #[test]
    fn keeps_deadline_order_and_arming_order_for_ties() {
        let mut store = table(5);
        let mut list = DeadlineList::new();
        assert_eq!(list.earliest(&store), None);
        list.insert(&mut store, 1, 30);
        list.insert(&mut store, 2, 10);
        list.insert(&mut store, 3, 20);
        list.insert(&mut store, 4, 10);
        list.insert(&mut store, 5, 40);
        assert_eq!(order(&list, &store), [2, 4, 3, 1, 5]);
        assert_eq!(list.earliest(&store), Some(10));
        assert_eq!(list.check(&store, 10), Ok(5));
    }

    #[test]
    fn removal_anywhere_and_twice() {
        let mut store = table(3);
        let mut list = DeadlineList::new();
        for (id, deadline) in [(1, 5), (2, 6), (3, 7)] {
            list.insert(&mut store, id, deadline);
        }
        assert!(list.remove(&mut store, 2));
        assert!(!list.remove(&mut store, 2));
        assert_eq!(order(&list, &store), [1, 3]);
        assert!(list.remove(&mut store, 1));
        assert_eq!(order(&list, &store), [3]);
        assert!(list.remove(&mut store, 3));
        assert_eq!(list.head(), None);
        assert_eq!(list.check(&store, 10), Ok(0));
        assert!(!store.links(3).armed);
    }

    #[test]
    fn pops_only_what_is_due() {
        let mut store = table(3);
        let mut list = DeadlineList::new();
        list.insert(&mut store, 1, 100);
        list.insert(&mut store, 2, 50);
        list.insert(&mut store, 3, 150);
        assert_eq!(list.pop_due(&mut store, 49), None);
        assert_eq!(list.pop_due(&mut store, 100), Some(2));
        assert_eq!(list.pop_due(&mut store, 100), Some(1));
        assert_eq!(list.pop_due(&mut store, 100), None);
        assert_eq!(list.earliest(&store), Some(150));
    }

    #[test]
    fn check_finds_broken_lists() {
        let mut store = table(3);
        let mut list = DeadlineList::new();
        list.insert(&mut store, 1, 1);
        list.insert(&mut store, 2, 2);
        let mut broken = store.links(2);
        broken.deadline = 0;
        store.set_links(2, broken);
        assert_eq!(list.check(&store, 10), Err(ListError::Unsorted(2)));
        broken.deadline = 2;
        broken.previous = 3;
        store.set_links(2, broken);
        assert_eq!(list.check(&store, 10), Err(ListError::BrokenLink(2)));
        broken.previous = 1;
        broken.next = 1;
        store.set_links(2, broken);
        let mut first = store.links(1);
        first.previous = 2;
        store.set_links(1, first);
        assert!(list.check(&store, 10).is_err());
    }

    /// Random arms, re-arms, cancels and expiries against a simple model: the list always
    /// fires exactly the model's due nodes, in deadline order, ties in arming order.
    #[test]
    fn random_operations_match_a_model() {
        let mut generator = crate::testing::Xorshift(0x2545_f491_4f6c_dd1d);
        let mut random = move |below: u64| generator.next() % below;
        const NODES: usize = 16;
        let mut store = table(NODES);
        let mut list = DeadlineList::new();
        // The model: (deadline, arming sequence) per armed node.
        let mut model: Vec<Option<(u64, u64)>> = std::vec![None; NODES + 1];
        let mut sequence = 0;
        let mut now = 0;
        for _ in 0..20_000 {
            let id = 1 + usize::try_from(random(NODES as u64)).unwrap();
            match random(4) {
                0 | 1 => {
                    let deadline = now + random(50);
                    list.remove(&mut store, id);
                    list.insert(&mut store, id, deadline);
                    sequence += 1;
                    model[id] = Some((deadline, sequence));
                }
                2 => {
                    assert_eq!(list.remove(&mut store, id), model[id].is_some());
                    model[id] = None;
                }
                _ => {
                    now += random(20);
                    let mut due: Vec<(u64, u64, usize)> = (1..=NODES)
                        .filter_map(|node| model[node].map(|(deadline, seq)| (deadline, seq, node)))
                        .filter(|(deadline, _, _)| *deadline <= now)
                        .collect();
                    due.sort();
                    let mut fired = Vec::new();
                    while let Some(node) = list.pop_due(&mut store, now) {
                        fired.push(node);
                        model[node] = None;
                    }
                    assert_eq!(fired, due.iter().map(|(_, _, node)| *node).collect::<Vec<_>>());
                }
            }
            let armed = model.iter().filter(|entry| entry.is_some()).count();
            assert_eq!(list.check(&store, NODES), Ok(armed));
            let earliest = model.iter().flatten().map(|(deadline, _)| *deadline).min();
            assert_eq!(list.earliest(&store), earliest);
        }
    }
}
