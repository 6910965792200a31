//! The first instructions: the Linux image header, BSS clearing, the boot page table and the
//! jump into the high half.
//!
//! The firmware (OpenSBI) enters `_start` in S-mode with the MMU off, `a0` = hart id and
//! `a1` = physical address of the device tree. Until paging is on, the code must be position
//! independent: `la` is PC-relative under the medany code model, so it yields physical
//! addresses here.
//!
//! The boot page table maps, with 1 GiB pages:
//! - the gigabyte holding the kernel at its physical address (so the instruction after the
//!   `satp` write can still be fetched),
//! - the kernel's link address `0xffffffff80000000 + 2 MiB` to its load address, which
//!   requires the load address to be 2 MiB past a 1 GiB boundary (true for OpenSBI's
//!   `0x80200000` and for U-Boot's `booti`, which honours the header's `text_offset`),
//! - the first 128 GiB of physical memory at `PHYS_MAP_BASE` (the direct map).
//!
//! `kernel_main` then builds the real kernel page table with proper permissions.

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _start
    .option push
    .option norvc
_start:
    /* RISC-V Linux image header (Documentation/arch/riscv/boot-image-header.rst). */
    j       1f                      /* code0 */
    .word   0                       /* code1 */
    .dword  0x200000                /* text_offset: load 2 MiB into RAM */
    .dword  __kernel_size           /* image_size, including BSS */
    .dword  0                       /* flags: little endian */
    .word   2                       /* header version 0.2 */
    .word   0
    .dword  0
    .ascii  "RISCV\0\0\0"           /* magic (deprecated) */
    .ascii  "RSC\x05"               /* magic2 */
    .word   0
    .option pop
1:
    csrw    sie, zero
    csrw    satp, zero

    /* Clear BSS (boot page table and stacks live there). */
    la      t0, __bss_start
    la      t1, __bss_end
2:  bgeu    t0, t1, 3f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       2b
3:
    la      t0, {boot_table}        /* physical address of the boot page table */
    la      s2, _start              /* physical load address of the kernel */

    /* Identity gigapage for the kernel's own gigabyte: V R W X A D = 0xcf. */
    srli    t2, s2, 30
    andi    t2, t2, 511
    slli    t3, t2, 3
    add     t3, t0, t3
    slli    t4, t2, 28              /* (gigabyte << 30) >> 12 << 10 */
    ori     t4, t4, 0xcf
    sd      t4, 0(t3)

    /* Kernel link gigapage (index 510) -> load address - 2 MiB. */
    li      t5, 0x200000
    sub     t5, s2, t5
    srli    t5, t5, 12
    slli    t5, t5, 10
    ori     t5, t5, 0xcf
    li      t3, 510 * 8
    add     t3, t0, t3
    sd      t5, 0(t3)

    /* Direct map: entries 256..384 -> physical gigabytes 0..128, V R W A D = 0xc7. */
    li      t3, 0
    li      t4, 128
    li      t5, 256 * 8
    add     t5, t0, t5
4:  slli    t6, t3, 28
    ori     t6, t6, 0xc7
    sd      t6, 0(t5)
    addi    t5, t5, 8
    addi    t3, t3, 1
    bltu    t3, t4, 4b

    /* Paging on: Sv39 (mode 8). */
    srli    t0, t0, 12
    li      t1, 8
    slli    t1, t1, 60
    or      t0, t0, t1
    sfence.vma
    csrw    satp, t0
    sfence.vma

    /* Continue at the link address. */
    li      t1, {image_base}
    sub     t1, t1, s2              # link address minus load address
    la      t0, 5f
    add     t0, t0, t1
    jr      t0
5:
    la      sp, {stack} + {stack_size}
    mv      a2, s2
    call    {kernel_main}
6:  wfi
    j       6b
"#,
    boot_table = sym BOOT_PAGE_TABLE,
    image_base = const kernel_core::layout::KERNEL_IMAGE_BASE,
    stack = sym super::trap::KERNEL_STACK,
    stack_size = const super::trap::KERNEL_STACK_SIZE,
    kernel_main = sym crate::kernel_main,
);

/// A page-aligned page table.
#[repr(C, align(4096))]
pub struct PageTableFrame(pub [u64; 512]);

/// The boot page table, filled in by `_start` and abandoned once `kernel_main` switches to the
/// kernel page table. In BSS, so it starts zeroed.
#[unsafe(no_mangle)]
static mut BOOT_PAGE_TABLE: PageTableFrame = PageTableFrame([0; 512]);
