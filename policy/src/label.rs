//! Labels: a level from an ordered set plus a set of categories, and the flow rule.
//!
//! A [`Label`] is plain numbers that mean something only with the [`Policy`](crate::Policy)
//! that made it: the level is an index into the policy's ordered levels (0 is the lowest)
//! and each category is a bit in a 64-bit set. Labels from different policies are compared
//! by name, through [`Policy::translate_label`](crate::Policy::translate_label).

use serde::{Deserialize, Serialize};

/// The most categories a policy can declare (one bit each in [`Categories`]).
pub const MAX_CATEGORIES: usize = 64;

/// The most levels a policy can declare.
pub const MAX_LEVELS: usize = 32;

/// A level: an index into the policy's ordered levels; a higher index is more secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Level(u8);

impl Level {
    /// The lowest level of every policy.
    pub const LOWEST: Level = Level(0);

    /// The level at `index` in the policy's order (0 is the lowest).
    pub const fn new(index: u8) -> Self {
        Level(index)
    }

    /// The index of this level in the policy's order.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A set of categories, one bit per category declared by the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Categories(u64);

impl Categories {
    /// No categories.
    pub const EMPTY: Categories = Categories(0);

    /// The set whose bit `i` stands for the policy's category `i`.
    pub const fn from_bits(bits: u64) -> Self {
        Categories(bits)
    }

    /// The bits of this set.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The set holding only category `index`, or `None` past [`MAX_CATEGORIES`].
    pub fn single(index: usize) -> Option<Self> {
        u32::try_from(index).ok().and_then(|shift| 1u64.checked_shl(shift)).map(Categories)
    }

    /// Whether category `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        Self::single(index).is_some_and(|one| self.0 & one.0 != 0)
    }

    /// Whether every category of `self` is also in `other`.
    pub const fn is_subset_of(self, other: Categories) -> bool {
        self.0 & !other.0 == 0
    }

    /// The categories in either set.
    pub const fn union(self, other: Categories) -> Categories {
        Categories(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The indices of the categories in the set, lowest first.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        (0..MAX_CATEGORIES).filter(move |&index| self.contains(index))
    }
}

/// A security label: a level plus a set of categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Label {
    level: Level,
    categories: Categories,
}

impl Label {
    /// The label with `level` and `categories`.
    pub const fn new(level: Level, categories: Categories) -> Self {
        Label { level, categories }
    }

    /// The lowest label of every policy: the lowest level and no categories. The first
    /// process (the root task) runs with it.
    pub const BOTTOM: Label = Label::new(Level::LOWEST, Categories::EMPTY);

    /// The level.
    pub const fn level(self) -> Level {
        self.level
    }

    /// The categories.
    pub const fn categories(self) -> Categories {
        self.categories
    }

    /// The flow rule of DESIGN.md §5: information may flow from `self` to `to` when
    /// `self.level <= to.level` and `self.categories ⊆ to.categories`.
    pub const fn flows_to(self, to: Label) -> bool {
        self.level.0 <= to.level.0 && self.categories.is_subset_of(to.categories)
    }

    /// Whether information may flow both ways, as a channel needs (a call has a reply).
    /// This holds exactly when the labels are equal.
    pub const fn flows_both_ways(self, other: Label) -> bool {
        self.flows_to(other) && other.flows_to(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(level: u8, bits: u64) -> Label {
        Label::new(Level::new(level), Categories::from_bits(bits))
    }

    #[test]
    fn flow_needs_level_order_and_category_subset() {
        assert!(label(0, 0).flows_to(label(1, 0)));
        assert!(!label(1, 0).flows_to(label(0, 0)));
        assert!(label(0, 0b01).flows_to(label(0, 0b11)));
        assert!(!label(0, 0b11).flows_to(label(0, 0b01)));
        // Higher level but a missing category: no flow.
        assert!(!label(0, 0b10).flows_to(label(2, 0b01)));
        assert!(label(1, 0b10).flows_to(label(1, 0b10)));
    }

    #[test]
    fn both_ways_means_equal() {
        assert!(label(1, 0b10).flows_both_ways(label(1, 0b10)));
        assert!(!label(1, 0b10).flows_both_ways(label(2, 0b10)));
        assert!(!label(1, 0b10).flows_both_ways(label(1, 0b11)));
    }

    #[test]
    fn category_indices_round_trip_and_out_of_range_is_none() {
        let set = Categories::single(3).and_then(|a| Categories::single(63).map(|b| a.union(b)));
        let set = set.expect("indices below 64 are valid");
        assert_eq!(set.indices().collect::<alloc::vec::Vec<_>>(), [3, 63]);
        assert!(Categories::single(64).is_none());
        assert!(!set.contains(64));
        assert!(!set.contains(usize::MAX));
    }
}
