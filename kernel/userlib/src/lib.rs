//! The Lattice user runtime: what every user program links.
//!
//! - [`entry!`] makes a function the program's entry point; its return value is the exit
//!   status.
//! - [`syscall`] has one safe wrapper per system call.
//! - [`print!`] and [`println!`] write to the kernel debug console.
//! - A panic prints its message and location and exits with status 101.
//!
//! This crate and the kernel are the only places user-level `unsafe` may live: programs,
//! servers and the shell `forbid(unsafe_code)` and reach the machine through here.
#![no_std]

pub mod fault;
pub mod image;
pub mod ipc;
pub mod memory;
pub mod mmio;
pub mod object;
pub mod print;
pub mod start;
pub mod syscall;
pub mod thread;

pub use kernel_abi::bootinfo::BootInfo;
pub use kernel_abi::{Error, ObjectType, Rights};

/// The root task's boot info page (mapped read-only by the kernel), after registering the
/// root task's IPC buffer. `None` if this program is not the root task.
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
    ipc::set_ipc_buffer(kernel_abi::bootinfo::ROOT_IPC_BUFFER_ADDRESS);
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
