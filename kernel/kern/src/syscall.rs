//! The syscall entry: decode the registers into a typed call, check it, perform it.
//!
//! Decoding never changes state; an invalid call returns an error code in `a0` and the
//! thread continues.

use kernel_abi::{Error, Syscall};

use crate::Kernel;
use crate::memory::UserSlice;

/// Longest `debug_write`, in bytes; longer writes are refused, not truncated.
pub const DEBUG_WRITE_MAX: usize = 64 * 1024;

/// What the thread asked for, with arguments checked for form (not yet for access).
enum Call {
    DebugWrite(UserSlice),
    Exit(usize),
    Yield,
}

fn decode(number: usize, arguments: [usize; 6]) -> Result<Call, Error> {
    match Syscall::try_from(number)? {
        Syscall::DebugWrite => {
            if arguments[1] > DEBUG_WRITE_MAX {
                return Err(Error::InvalidArgument);
            }
            Ok(Call::DebugWrite(UserSlice::new(arguments[0], arguments[1])?))
        }
        Syscall::Exit => Ok(Call::Exit(arguments[0])),
        Syscall::Yield => Ok(Call::Yield),
        _ => Err(Error::InvalidSyscall),
    }
}

/// Handles an `ecall` from thread `index`.
pub fn handle(kernel: &mut Kernel, index: usize) {
    let thread = kernel.scheduler.thread_mut(index);
    thread.frame.pc += 4; // resume after the ecall
    let number = thread.frame.a(7);
    let arguments = core::array::from_fn(|n| thread.frame.a(n));
    let address_space = thread.address_space;

    let result = decode(number, arguments).and_then(|call| match call {
        Call::DebugWrite(slice) => {
            slice.read_in_pieces(address_space, crate::console::write_bytes)?;
            Ok(arguments[1])
        }
        Call::Exit(status) => {
            kernel.exit_thread(index, status);
            Ok(0)
        }
        Call::Yield => {
            kernel.scheduler.requeue_current();
            Ok(0)
        }
    });

    let frame = &mut kernel.scheduler.thread_mut(index).frame;
    match result {
        Ok(value) => {
            frame.set_a(0, 0);
            frame.set_a(1, value);
        }
        Err(error) => frame.set_a(0, error as usize),
    }
}
