//! The audit trail: the latest records of every security decision, numbered, for
//! `ReadAudit` (the shell's `audit`). The oldest go first when it is full.
//!
//! Invariants: sequence numbers count up from 1 without gaps in what was ever recorded; the
//! trail holds at most its capacity, newest last.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use security_api::AuditRecord;

use crate::Audit;

/// The kept records.
#[derive(Debug)]
pub struct AuditTrail {
    records: VecDeque<AuditRecord>,
    capacity: usize,
    next_seq: u64,
}

impl AuditTrail {
    /// An empty trail keeping the latest `capacity` records (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { records: VecDeque::new(), capacity: capacity.max(1), next_seq: 1 }
    }

    /// Keeps `audit` as the next record; returns its sequence number.
    pub fn record(&mut self, audit: Audit) -> u64 {
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        let seq = self.next_seq;
        self.records.push_back(AuditRecord { seq, event: audit });
        self.next_seq += 1;
        seq
    }

    /// Records after sequence number `after`, at most `page`, fewer while `fits` says the
    /// answer would not fit a message; and whether more are kept after the last one given.
    pub fn page(
        &self,
        after: u64,
        page: usize,
        fits: impl Fn(&[AuditRecord], bool) -> bool,
    ) -> (Vec<AuditRecord>, bool) {
        let mut records: Vec<AuditRecord> =
            self.records.iter().filter(|record| record.seq > after).take(page).cloned().collect();
        let newest = self.records.back().map_or(0, |last| last.seq);
        let mut more =
            records.last().map_or(after < newest && !self.records.is_empty(), |mine| mine.seq < newest);
        while !records.is_empty() && !fits(&records, more) {
            records.pop();
            more = true;
        }
        (records, more)
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn revoke(n: u64) -> Audit {
        Audit::Revoke { connection: n, why: format!("test {n}") }
    }

    #[test]
    fn the_oldest_records_go_first_and_numbers_keep_counting() {
        let mut trail = AuditTrail::new(3);
        for n in 1..=5 {
            assert_eq!(trail.record(revoke(n)), n);
        }
        assert_eq!(trail.len(), 3);
        let (records, more) = trail.page(0, 10, |_, _| true);
        assert_eq!(records.iter().map(|record| record.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(!more);
    }

    #[test]
    fn pages_follow_on_and_shrink_to_fit() {
        let mut trail = AuditTrail::new(10);
        for n in 1..=6 {
            trail.record(revoke(n));
        }
        let (first, more) = trail.page(0, 4, |_, _| true);
        assert_eq!(first.len(), 4);
        assert!(more);
        let (second, more) = trail.page(4, 4, |_, _| true);
        assert_eq!(second.iter().map(|record| record.seq).collect::<Vec<_>>(), [5, 6]);
        assert!(!more);
        // An answer that fits only two records carries two and says more.
        let (small, more) = trail.page(0, 4, |records, _| records.len() <= 2);
        assert_eq!(small.len(), 2);
        assert!(more);
        let (none, more) = trail.page(6, 4, |_, _| true);
        assert!(none.is_empty());
        assert!(!more);
    }
}
