//! The virtual address space layout shared by the kernel and every address space.
//!
//! Sv39 gives 39-bit virtual addresses: the lower half `0 .. 2^38` belongs to user programs,
//! the upper half (sign-extended) to the kernel. Every address space maps the kernel half
//! identically (the top-level entries 256..512 are copied from the kernel's root table), and
//! none of those mappings carry the user bit.

/// Bytes in a base page.
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: usize = 12;

/// First address past user space: user virtual addresses are below this.
pub const USER_END: usize = 1 << 38;
/// Lowest address a user program may map; page zero stays unmapped so null dereferences fault.
pub const USER_START: usize = PAGE_SIZE;

/// Base of the direct map: physical address `p` is visible to the kernel at `p + PHYS_MAP_BASE`.
pub const PHYS_MAP_BASE: usize = 0xffff_ffc0_0000_0000;
/// Size of the direct map window (the physical addresses it can reach).
pub const PHYS_MAP_SIZE: usize = 128 << 30;
/// Virtual address the kernel image is linked at (its first byte, the image header).
pub const KERNEL_IMAGE_BASE: usize = 0xffff_ffff_8020_0000;

/// Top of the initial user stack (exclusive); the stack grows down from here.
pub const USER_STACK_TOP: usize = 0x3f_ffff_0000;
/// Size of the initial user stack. One unmapped guard page lies below it.
pub const USER_STACK_SIZE: usize = 64 * 1024;

/// Rounds `value` down to a multiple of `align` (a power of two).
pub const fn align_down(value: usize, align: usize) -> usize {
    value & !(align - 1)
}

/// Rounds `value` up to a multiple of `align` (a power of two); `None` on overflow.
pub const fn align_up(value: usize, align: usize) -> Option<usize> {
    match value.checked_add(align - 1) {
        Some(sum) => Some(sum & !(align - 1)),
        None => None,
    }
}

// The layout's invariants, checked at compile time.
const _: () = assert!(USER_STACK_TOP <= USER_END, "the stack lies in user space");
const _: () = assert!(USER_STACK_TOP - USER_STACK_SIZE - PAGE_SIZE > USER_START, "room for the guard page");
const _: () = assert!(KERNEL_IMAGE_BASE > PHYS_MAP_BASE + PHYS_MAP_SIZE, "image above the direct map");
const _: () = assert!(PHYS_MAP_BASE.is_multiple_of(1 << 30), "the direct map uses 1 GiB pages");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_helpers() {
        assert_eq!(align_down(0x1fff, PAGE_SIZE), 0x1000);
        assert_eq!(align_up(0x1001, PAGE_SIZE), Some(0x2000));
        assert_eq!(align_up(0x1000, PAGE_SIZE), Some(0x1000));
        assert_eq!(align_up(usize::MAX, PAGE_SIZE), None);
    }
}
