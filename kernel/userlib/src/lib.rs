//! The Lattice user runtime: what every user program links.
//!
//! - [`entry!`] makes a function the program's entry point; its return value is the exit
//!   status.
//! - [`syscall`] has one safe wrapper per system call.
//! - [`print!`] and [`println!`] write to the kernel debug console.
//! - A panic prints its message and location and exits with status 101.
//! - [`heap`] is the program's allocator (talc) over a region it maps; programs opt in with
//!   `extern crate alloc` and [`heap::init`].
//! - [`rpc`] carries serde requests and responses in IPC messages (postcard), client and
//!   server side; [`trace`] prints `tracing` events as lines on the console.
//! - [`time`] reads the real-time counter and wraps kernel timers (sleep until a deadline).
//!
//! This crate and the kernel are the only places user-level `unsafe` may live: programs,
//! servers and the shell `forbid(unsafe_code)` and reach the machine through here.
//!
//! Everything that touches the machine (inline assembly, linker symbols, fixed addresses)
//! is compiled for RISC-V only; the pure parts (message type, RPC wire format, event
//! formatting) also build on the host, where `cargo test -p userlib` tests them.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

#[cfg(target_arch = "riscv64")]
pub mod fault;
#[cfg(target_arch = "riscv64")]
pub mod heap;
#[cfg(target_arch = "riscv64")]
pub mod image;
pub mod ipc;
pub mod measure;
#[cfg(target_arch = "riscv64")]
pub mod memory;
#[cfg(target_arch = "riscv64")]
pub mod mmio;
#[cfg(target_arch = "riscv64")]
pub mod object;
#[cfg(target_arch = "riscv64")]
pub mod print;
pub mod rpc;
pub mod shared;
#[cfg(target_arch = "riscv64")]
pub mod start;
#[cfg(target_arch = "riscv64")]
pub mod syscall;
#[cfg(target_arch = "riscv64")]
pub mod thread;
#[cfg(target_arch = "riscv64")]
pub mod time;
pub mod trace;

pub use kernel_abi::bootinfo::BootInfo;
pub use kernel_abi::{Error, ObjectType, Rights};

/// The root task's boot info page (mapped read-only by the kernel), after registering the
/// root task's IPC buffer. `None` if this program is not the root task.
#[cfg(target_arch = "riscv64")]
pub fn boot_info() -> Option<&'static BootInfo> {
    let address = kernel_abi::bootinfo::BOOT_INFO_ADDRESS;
    // Only the root task has the page; other programs get a fault on the read below, so
    // they must not call this. The magic word guards against a stale mapping.
    // SAFETY: the kernel maps the boot info page read-only at BOOT_INFO_ADDRESS in the root
    // task, page aligned and holding a BootInfo, before the root task's first instruction.
    let info = unsafe { &*(address as *const BootInfo) };
    if info.magic != kernel_abi::bootinfo::BOOT_INFO_MAGIC {
        return None;
    }
    time::set_timebase_hz(info.timebase_hz as u64);
    // SAFETY: the kernel configured the root task's thread with its IPC buffer frame mapped
    // read-write at ROOT_IPC_BUFFER_ADDRESS (outside the image, stack and heap regions), and
    // no other thread uses it until the root task hands it out, which it never does.
    unsafe { ipc::set_ipc_buffer(kernel_abi::bootinfo::ROOT_IPC_BUFFER_ADDRESS) };
    Some(info)
}

/// The boot archive's bytes, mapped read-only by the kernel in the root task (parse them
/// with `kernel_abi::bootarchive::BootArchive`).
pub fn boot_archive(info: &BootInfo) -> &'static [u8] {
    if info.archive_address != kernel_abi::bootinfo::BOOT_ARCHIVE_ADDRESS || info.archive_size == 0 {
        return &[];
    }
    // SAFETY: `info` is the kernel's boot info page (`boot_info` checked its magic), which
    // says the archive is mapped read-only at BOOT_ARCHIVE_ADDRESS for `archive_size` bytes;
    // nothing ever writes it.
    unsafe { core::slice::from_raw_parts(info.archive_address as *const u8, info.archive_size) }
}

/// The read-only copy of the boot archive the root task maps for servers the manifest marks
/// `boot_archive = true` (the process manager). Only such a server may call this: elsewhere
/// nothing is mapped there and the read faults.
#[cfg(target_arch = "riscv64")]
pub fn server_boot_archive() -> Option<&'static [u8]> {
    let address = kernel_abi::bootinfo::BOOT_ARCHIVE_ADDRESS;
    // The archive's total length is the second 32-bit field of its header.
    let header = memory::read_word(address + 8)?;
    let total = (header >> 32) & 0xffff_ffff;
    if total < 16 {
        return None;
    }
    // SAFETY: the root task mapped a read-only copy of the whole archive (whose header
    // says `total` bytes) at BOOT_ARCHIVE_ADDRESS in this server before starting it, and
    // nothing writes it; `BootArchive::parse` checks the contents.
    Some(unsafe { core::slice::from_raw_parts(address as *const u8, total) })
}

/// The exit status of a program that panicked.
pub const PANIC_EXIT_STATUS: usize = 101;

/// Declares `main` (a `fn() -> i32` or `fn() -> usize`) as the program's entry point.
///
/// ```ignore
/// userlib::entry!(main);
/// fn main() -> i32 { userlib::println!("hello"); 0 }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn _start(start_info: usize) -> ! {
            $crate::start::begin(start_info);
            $crate::syscall::exit($main() as usize)
        }
    };
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(location) => println!("panic at {}:{}: {}", location.file(), location.line(), info.message()),
        None => println!("panic: {}", info.message()),
    }
    syscall::exit(PANIC_EXIT_STATUS)
}
