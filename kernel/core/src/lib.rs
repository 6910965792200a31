//! Kernel algorithms that need no hardware, so they run and are tested on the host.
//!
//! The privileged kernel (`kernel/kern`) supplies the hardware parts: it gives these
//! algorithms physical memory through [`paging::PhysicalMemory`] and the device tree as a
//! byte slice. Nothing here allocates; every collection has a fixed capacity and says what
//! happens when it is full.
#![no_std]

pub mod board;
pub mod capability;
pub mod deadlines;
pub mod elf;
pub mod frames;
pub mod layout;
pub mod paging;
pub mod runqueue;

/// Helpers shared by the host tests.
#[cfg(test)]
pub(crate) mod testing {
    /// A deterministic xorshift64 generator for mutation tests: the same cases every run.
    pub struct Xorshift(pub u64);

    impl Xorshift {
        /// The next value.
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A value below `bound`.
        pub fn below(&mut self, bound: usize) -> usize {
            usize::try_from(self.next() % bound as u64).expect("below a usize bound")
        }

        /// A byte.
        pub fn byte(&mut self) -> u8 {
            self.next().to_le_bytes()[0]
        }
    }
}
