//! Kernel console output: a polled 16550 UART found in the device tree, or the SBI console
//! before the UART is known.
//!
//! Output keeps no state besides the register address, so the panic handler can always
//! print, whatever the rest of the kernel was doing.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use kernel_core::board::Uart;
use kernel_core::layout::PHYS_MAP_BASE;

/// Direct-mapped address of the UART registers; zero until [`init`].
static UART_BASE: AtomicUsize = AtomicUsize::new(0);
/// Registers are `1 << UART_SHIFT` bytes apart.
static UART_SHIFT: AtomicU32 = AtomicU32::new(0);

const THR: usize = 0; // transmit holding register
const IER: usize = 1; // interrupt enable
const LSR: usize = 5; // line status
const LSR_THR_EMPTY: u8 = 1 << 5;

/// Starts using `uart` for output. Its interrupts stay off: input belongs to the console
/// server, which will get the device through a capability.
pub fn init(uart: &Uart) {
    UART_SHIFT.store(uart.reg_shift, Ordering::Relaxed);
    UART_BASE.store(PHYS_MAP_BASE + uart.registers.start, Ordering::Release);
    write_register(IER, 0);
}

fn register_address(index: usize) -> usize {
    UART_BASE.load(Ordering::Acquire) + (index << UART_SHIFT.load(Ordering::Relaxed))
}

fn write_register(index: usize, value: u8) {
    // SAFETY: UART_BASE is the direct-mapped register block of the UART the device tree
    // names (see `init`), mapped read-write in every page table the kernel uses; the register
    // index is one of the 16550's eight registers.
    unsafe { core::ptr::write_volatile(register_address(index) as *mut u8, value) }
}

fn read_register(index: usize) -> u8 {
    // SAFETY: as in `write_register`.
    unsafe { core::ptr::read_volatile(register_address(index) as *const u8) }
}

fn put_byte(byte: u8) {
    if UART_BASE.load(Ordering::Acquire) == 0 {
        crate::arch::riscv64::sbi::console_putchar(byte);
        return;
    }
    while read_register(LSR) & LSR_THR_EMPTY == 0 {
        core::hint::spin_loop();
    }
    write_register(THR, byte);
}

/// Writes raw bytes, turning `\n` into `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    for &byte in bytes {
        if byte == b'\n' {
            put_byte(b'\r');
        }
        put_byte(byte);
    }
}

/// A `fmt::Write` handle on the console.
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_bytes(text.as_bytes());
        Ok(())
    }
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::console::Console, format_args!($($arg)*));
    }};
}

/// Prints a line to the kernel console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => {{
        $crate::kprint!($($arg)*);
        $crate::kprint!("\n");
    }};
}
