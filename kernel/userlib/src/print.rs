//! `print!` and `println!` to the kernel debug console.
//!
//! Each call formats into a stack buffer and writes it with as few syscalls as possible, so
//! lines from different programs interleave only at buffer boundaries (256 bytes).

use core::fmt;

/// Formats into a fixed buffer, flushing to the console when full.
pub struct ConsoleWriter {
    buffer: [u8; 256],
    length: usize,
}

impl ConsoleWriter {
    /// An empty writer.
    pub const fn new() -> Self {
        Self { buffer: [0; 256], length: 0 }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if self.length > 0 {
            let _ = crate::syscall::debug_write(&self.buffer[..self.length]);
            self.length = 0;
        }
    }
}

impl Default for ConsoleWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for ConsoleWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.length == self.buffer.len() {
                self.flush();
            }
            self.buffer[self.length] = byte;
            self.length += 1;
        }
        Ok(())
    }
}

/// Used by the macros.
#[doc(hidden)]
pub fn print_arguments(arguments: fmt::Arguments<'_>) {
    let mut writer = ConsoleWriter::new();
    let _ = fmt::Write::write_fmt(&mut writer, arguments);
    writer.flush();
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::print_arguments(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print::print_arguments(format_args!("{}\n", format_args!($($arg)*))) };
}
