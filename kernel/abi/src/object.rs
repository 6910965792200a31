//! Kernel object types, their sizes, and capability rights.

/// The types Untyped memory can be retyped into.
#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    /// Untyped memory of `2^size_bits` bytes (a smaller piece of the parent).
    Untyped = 0,
    /// A capability table of `2^size_bits` slots.
    CNode = 1,
    /// A thread control block.
    Thread = 2,
    /// An Sv39 address space (a root page table with an address-space id).
    AddressSpace = 3,
    /// A second- or third-level page table.
    PageTable = 4,
    /// A 4 KiB frame of memory.
    Frame = 5,
    /// A 2 MiB frame of memory.
    LargeFrame = 6,
    /// A synchronous IPC endpoint.
    Endpoint = 7,
    /// A word of signal bits.
    Notification = 8,
    /// A reply object: where a caller waits for its reply.
    Reply = 9,
    /// A scheduling context: a CPU budget per period.
    SchedContext = 10,
    /// A timer: signals a notification at a deadline (in `rdtime` units).
    Timer = 11,
}

/// Every object type, in number order.
pub const ALL_OBJECT_TYPES: [ObjectType; 12] = [
    ObjectType::Untyped,
    ObjectType::CNode,
    ObjectType::Thread,
    ObjectType::AddressSpace,
    ObjectType::PageTable,
    ObjectType::Frame,
    ObjectType::LargeFrame,
    ObjectType::Endpoint,
    ObjectType::Notification,
    ObjectType::Reply,
    ObjectType::SchedContext,
    ObjectType::Timer,
];

impl TryFrom<usize> for ObjectType {
    type Error = crate::Error;

    fn try_from(value: usize) -> Result<Self, crate::Error> {
        ALL_OBJECT_TYPES.get(value).copied().ok_or(crate::Error::InvalidArgument)
    }
}

/// log2 of the bytes of one CNode slot.
pub const SLOT_SIZE_BITS: usize = 6;
/// Smallest Untyped the kernel hands out or accepts, log2 bytes.
pub const MIN_UNTYPED_BITS: usize = 4;
/// Largest Untyped, log2 bytes (the direct map covers 128 GiB).
pub const MAX_UNTYPED_BITS: usize = 36;
/// Largest CNode radix (slots = 2^radix).
pub const MAX_CNODE_RADIX: usize = 16;
/// log2 bytes of a thread control block.
pub const THREAD_SIZE_BITS: usize = 11;
/// log2 bytes of an endpoint, notification or reply object.
pub const SMALL_OBJECT_SIZE_BITS: usize = 6;
/// log2 bytes of a scheduling context.
pub const SCHED_CONTEXT_SIZE_BITS: usize = 8;
/// log2 bytes of a timer (its fields, then the slot holding the notification it signals).
pub const TIMER_SIZE_BITS: usize = 7;
/// log2 bytes of a page table, address space or small frame.
pub const PAGE_BITS: usize = 12;
/// log2 bytes of a large frame.
pub const LARGE_PAGE_BITS: usize = 21;

impl ObjectType {
    /// log2 of the bytes one object takes, given the retype `size_bits` argument (used by
    /// Untyped and CNode only). `None` if `size_bits` is out of range for the type.
    pub const fn size_bits(self, size_bits: usize) -> Option<usize> {
        match self {
            Self::Untyped => {
                if size_bits >= MIN_UNTYPED_BITS && size_bits <= MAX_UNTYPED_BITS {
                    Some(size_bits)
                } else {
                    None
                }
            }
            Self::CNode => {
                if size_bits >= 1 && size_bits <= MAX_CNODE_RADIX {
                    Some(size_bits + SLOT_SIZE_BITS)
                } else {
                    None
                }
            }
            Self::Thread => Some(THREAD_SIZE_BITS),
            Self::AddressSpace | Self::PageTable | Self::Frame => Some(PAGE_BITS),
            Self::LargeFrame => Some(LARGE_PAGE_BITS),
            Self::Endpoint | Self::Notification | Self::Reply => Some(SMALL_OBJECT_SIZE_BITS),
            Self::SchedContext => Some(SCHED_CONTEXT_SIZE_BITS),
            Self::Timer => Some(TIMER_SIZE_BITS),
        }
    }
}

/// What a capability lets its holder do with the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rights(pub u8);

impl Rights {
    /// Receive on an endpoint or notification; read a frame.
    pub const READ: Self = Self(1);
    /// Send on an endpoint or signal a notification; write a frame.
    pub const WRITE: Self = Self(2);
    /// Send capabilities along with messages.
    pub const GRANT: Self = Self(4);
    /// Call (wait for a reply) through an endpoint.
    pub const GRANT_REPLY: Self = Self(8);
    /// Execute a frame's contents.
    pub const EXECUTE: Self = Self(16);
    /// Every right.
    pub const ALL: Self = Self(31);
    /// No right.
    pub const NONE: Self = Self(0);

    /// Whether every right in `other` is present.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The rights present in both.
    pub const fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Rights from a syscall word (unknown bits dropped).
    pub const fn from_word(word: usize) -> Self {
        Self((word & Self::ALL.0 as usize).to_le_bytes()[0])
    }
}

impl core::ops::BitOr for Rights {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_table() {
        assert_eq!(ObjectType::CNode.size_bits(12), Some(18));
        assert_eq!(ObjectType::CNode.size_bits(0), None);
        assert_eq!(ObjectType::CNode.size_bits(MAX_CNODE_RADIX + 1), None);
        assert_eq!(ObjectType::Untyped.size_bits(3), None);
        assert_eq!(ObjectType::Untyped.size_bits(20), Some(20));
        assert_eq!(ObjectType::LargeFrame.size_bits(0), Some(21));
        for object in ALL_OBJECT_TYPES {
            assert_eq!(ObjectType::try_from(object as usize), Ok(object));
        }
        assert!(ObjectType::try_from(ALL_OBJECT_TYPES.len()).is_err());
    }

    #[test]
    fn rights_algebra() {
        let rw = Rights::READ | Rights::WRITE;
        assert!(rw.contains(Rights::READ));
        assert!(!rw.contains(Rights::GRANT));
        assert_eq!(rw.intersect(Rights::WRITE | Rights::GRANT), Rights::WRITE);
        assert_eq!(Rights::from_word(usize::MAX), Rights::ALL);
    }
}
