//! Memory scopes: the donor's quota, in bytes, and how amounts are written
//! ([`parse_memory`], [`format_memory`]).
//!
//! Invariant: a quota is at most [`MAX_MEMORY`]; 0 means the scope grants none.

use alloc::string::{String, ToString};

use crate::scope::Part;
use crate::{Scope, ScopeError};

/// The largest memory quota a scope can hold: 1 TiB.
pub const MAX_MEMORY: u64 = 1 << 40;

/// Parses a memory amount: bytes (`65536`) or a number with a binary suffix (`64K`,
/// `4M`, `1G`, `1T`; `KiB`, `MiB`, ... also accepted). Zero and amounts over
/// [`MAX_MEMORY`] are errors.
pub fn parse_memory(text: &str) -> Result<u64, ScopeError> {
    let bad = || ScopeError::BadMemory(text.into());
    let trimmed = text.trim();
    let digits_end = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(digits_end);
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match suffix.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(1u64 << shift).ok_or_else(bad)?;
    if bytes == 0 || bytes > MAX_MEMORY { Err(bad()) } else { Ok(bytes) }
}

/// Writes `bytes` the way [`parse_memory`] reads it back, in the largest exact unit.
pub fn format_memory(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return alloc::format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Memory scopes and the donor's question.
impl Scope {
    /// donor: a memory quota of `bytes` (1 to [`MAX_MEMORY`]).
    pub fn memory(bytes: u64) -> Result<Scope, ScopeError> {
        if bytes == 0 || bytes > MAX_MEMORY {
            return Err(ScopeError::BadMemory(bytes.to_string()));
        }
        Ok(Scope::from_part(Part::Donor(bytes)))
    }

    /// donor: the memory quota in bytes (0 when the scope grants none, and for other
    /// kinds).
    pub fn memory_quota(&self) -> u64 {
        match self.part() {
            Part::Donor(bytes) => *bytes,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rights, ServiceKind};

    #[test]
    fn amounts_parse() {
        let cases: [(&str, Option<u64>); 14] = [
            ("64K", Some(64 << 10)),
            ("4 MiB", Some(4 << 20)),
            ("4096", Some(4096)),
            ("1B", Some(1)),
            ("1T", Some(MAX_MEMORY)),
            ("1024G", Some(MAX_MEMORY)),
            (" 16M ", Some(16 << 20)),
            ("0", None),
            ("2T", None),
            ("1025G", None),
            ("4X", None),
            ("", None),
            ("M", None),
            ("99999999999999999999G", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_memory(text).ok(), expected, "{text:?}");
        }
    }

    #[test]
    fn amounts_print_back() {
        assert_eq!(format_memory(4 << 20), "4M");
        assert_eq!(format_memory(1000), "1000");
        assert_eq!(format_memory(1536), "1536");
        assert_eq!(format_memory(MAX_MEMORY), "1T");
        for bytes in [1, 4096, 3 << 20, 5 << 30, 1000, MAX_MEMORY] {
            assert_eq!(parse_memory(&format_memory(bytes)), Ok(bytes));
        }
    }

    #[test]
    fn the_donor_reads_the_quota() {
        assert_eq!(Scope::memory(16 << 20).map(|scope| scope.memory_quota()), Ok(16 << 20));
        assert!(Scope::memory(0).is_err());
        assert!(Scope::memory(MAX_MEMORY + 1).is_err());
        let quota = Scope::memory(1 << 20).expect("valid");
        assert_eq!(quota.rights(), Rights::MEMORY);
        assert_eq!(quota.restricted_to(Rights::READ).memory_quota(), 0);
        assert_eq!(Scope::empty(ServiceKind::Console).memory_quota(), 0);
        assert_eq!(quota.to_string(), "memory 1M");
    }
}
