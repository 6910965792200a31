//! A fixed-capacity first-in first-out queue of thread indices: round robin within one
//! priority.
//!
//! Invariant: every index appears at most once (pushing a queued index is refused), so a
//! thread can never be scheduled twice.

/// A FIFO of distinct thread indices with room for `N`.
#[derive(Clone, Debug)]
pub struct RunQueue<const N: usize> {
    slots: [usize; N],
    head: usize,
    length: usize,
}

/// Why a push was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The queue holds `N` entries.
    Full,
    /// The index is already queued.
    AlreadyQueued,
}

impl<const N: usize> Default for RunQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RunQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        Self { slots: [0; N], head: 0, length: 0 }
    }

    /// Number of queued indices.
    pub const fn len(&self) -> usize {
        self.length
    }

    /// Whether nothing is queued.
    pub const fn is_empty(&self) -> bool {
        self.length == 0
    }

    fn slot(&self, position: usize) -> usize {
        self.slots[(self.head + position) % N]
    }

    /// Whether `index` is queued.
    pub fn contains(&self, index: usize) -> bool {
        (0..self.length).any(|position| self.slot(position) == index)
    }

    /// Queues `index` at the back.
    pub fn push_back(&mut self, index: usize) -> Result<(), QueueError> {
        if self.contains(index) {
            return Err(QueueError::AlreadyQueued);
        }
        if self.length == N {
            return Err(QueueError::Full);
        }
        self.slots[(self.head + self.length) % N] = index;
        self.length += 1;
        Ok(())
    }

    /// Takes the index at the front.
    pub fn pop_front(&mut self) -> Option<usize> {
        if self.length == 0 {
            return None;
        }
        let index = self.slots[self.head];
        self.head = (self.head + 1) % N;
        self.length -= 1;
        Some(index)
    }

    /// Removes `index` wherever it is, keeping the others in order. Returns whether it was there.
    pub fn remove(&mut self, index: usize) -> bool {
        let Some(found) = (0..self.length).find(|&position| self.slot(position) == index) else {
            return false;
        };
        for position in found..self.length - 1 {
            let next = self.slot(position + 1);
            self.slots[(self.head + position) % N] = next;
        }
        self.length -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_in_first_out_with_wraparound() {
        let mut queue = RunQueue::<3>::new();
        for round in 0..5 {
            queue.push_back(round).unwrap();
            queue.push_back(round + 10).unwrap();
            assert_eq!(queue.pop_front(), Some(round));
            assert_eq!(queue.pop_front(), Some(round + 10));
            assert!(queue.is_empty());
        }
        assert_eq!(queue.pop_front(), None);
    }

    #[test]
    fn refuses_duplicates_and_overflow() {
        let mut queue = RunQueue::<2>::new();
        queue.push_back(1).unwrap();
        assert_eq!(queue.push_back(1), Err(QueueError::AlreadyQueued));
        queue.push_back(2).unwrap();
        assert_eq!(queue.push_back(3), Err(QueueError::Full));
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn remove_keeps_order() {
        let mut queue = RunQueue::<4>::new();
        queue.pop_front();
        for index in [5, 6, 7, 8] {
            queue.push_back(index).unwrap();
        }
        assert!(queue.remove(6));
        assert!(!queue.remove(6));
        assert!(!queue.contains(6));
        queue.push_back(9).unwrap();
        let drained: [Option<usize>; 5] = core::array::from_fn(|_| queue.pop_front());
        assert_eq!(drained, [Some(5), Some(7), Some(8), Some(9), None]);
    }
}
