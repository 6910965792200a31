//! Messages: endpoints, replies and notifications, and kernel object invocations.
//!
//! A [`Message`] is a label plus up to [`MAX_MESSAGE_WORDS`] words; the first four travel in
//! registers, the rest in the thread's IPC buffer, which the program registers once with
//! [`set_ipc_buffer`] (the root task's is set up by the kernel and registered by
//! [`crate::boot_info`]).

#[cfg(target_arch = "riscv64")]
use core::mem::offset_of;

use kernel_abi::MessageInfo;
#[cfg(target_arch = "riscv64")]
use kernel_abi::ipc_buffer::IpcBuffer;
#[cfg(target_arch = "riscv64")]
use kernel_abi::syscall::MAX_TRANSFER_CAPS;
use kernel_abi::syscall::{MAX_MESSAGE_WORDS, REGISTER_MESSAGE_WORDS};
#[cfg(target_arch = "riscv64")]
use kernel_abi::{Error, Syscall};

#[cfg(target_arch = "riscv64")]
use crate::syscall::{Registers, raw_registers};

/// A capability address: an index into the thread's CNode. 0 is never a capability.
pub type Cptr = usize;

/// Tells the runtime where this thread's IPC buffer is mapped (the address given to
/// `Thread::configure`; 0 for none). It is kept in the thread pointer register `tp`, so
/// every thread has its own.
///
/// # Safety
///
/// `address` is 0, or the address the kernel was given for this thread's IPC buffer: 8-byte
/// aligned, inside a frame mapped readable and writable in this program while the thread
/// runs, outside everything Rust code of the program refers to (its image, stacks and
/// heap), and used as an IPC buffer by this thread alone. The runtime then reads and writes
/// that memory whenever this thread sends or receives a long message.
#[cfg(target_arch = "riscv64")]
pub unsafe fn set_ipc_buffer(address: usize) {
    // SAFETY: Lattice programs do not use thread-local storage, so `tp` is free for the
    // runtime; writing it affects only this thread.
    unsafe { core::arch::asm!("mv tp, {}", in(reg) address, options(nomem, nostack)) };
}

/// This thread's IPC buffer, if one was registered with [`set_ipc_buffer`].
#[cfg(target_arch = "riscv64")]
#[inline(always)]
pub fn ipc_buffer() -> Option<IpcBufferWords> {
    let address: usize;
    // SAFETY: reading tp has no side effects.
    unsafe { core::arch::asm!("mv {}, tp", out(reg) address, options(nomem, nostack)) };
    (address != 0).then_some(IpcBufferWords { address })
}

/// This thread's IPC buffer: a page the kernel reads and writes too, so it is reached by
/// copying words in and out through raw pointers, never through a Rust reference (the
/// kernel changes it only during a syscall, which the compiler treats as writing any memory
/// a pointer could reach). Only [`ipc_buffer`] makes one, from the address
/// [`set_ipc_buffer`] was promised.
#[cfg(target_arch = "riscv64")]
#[derive(Clone, Copy, Debug)]
pub struct IpcBufferWords {
    address: usize,
}

#[cfg(target_arch = "riscv64")]
impl IpcBufferWords {
    /// The buffer's address (where it is mapped).
    #[inline(always)]
    pub fn address(self) -> usize {
        self.address
    }

    /// The word `offset` bytes in (a field offset of `IpcBuffer`, so in bounds and aligned).
    #[inline(always)]
    fn word(self, offset: usize) -> *mut usize {
        debug_assert!(offset + 8 <= kernel_abi::ipc_buffer::IPC_BUFFER_SIZE && offset.is_multiple_of(8));
        (self.address + offset) as *mut usize
    }

    #[inline(always)]
    fn read(self, offset: usize) -> usize {
        // SAFETY: `set_ipc_buffer`'s contract: the buffer is mapped readable for this thread,
        // aligned, and no Rust object lives there; the offset is inside it (`word`). A plain
        // read is enough: the kernel writes the buffer only inside a syscall's `ecall`, which
        // the compiler assumes may write any memory.
        unsafe { core::ptr::read(self.word(offset)) }
    }

    #[inline(always)]
    fn write(self, offset: usize, value: usize) {
        // SAFETY: as in `read`, and the page is mapped writable (a plain write: the `ecall`
        // that lets the kernel read it is assumed to read any memory).
        unsafe { core::ptr::write(self.word(offset), value) }
    }

    /// Message word `index` (0 past the last word).
    #[inline(always)]
    pub fn message(self, index: usize) -> usize {
        if index >= MAX_MESSAGE_WORDS {
            return 0;
        }
        self.read(offset_of!(IpcBuffer, message) + 8 * index)
    }

    /// Sets message word `index` (ignored past the last word).
    #[inline(always)]
    pub fn set_message(self, index: usize, value: usize) {
        if index < MAX_MESSAGE_WORDS {
            self.write(offset_of!(IpcBuffer, message) + 8 * index, value);
        }
    }

    /// Copies `words` into the message words from `first` on (clipped to the last word).
    #[inline(always)]
    pub fn write_message(self, first: usize, words: &[usize]) {
        let count = words.len().min(MAX_MESSAGE_WORDS.saturating_sub(first));
        if count > 0 {
            // SAFETY: as in `write`, for `count` words from `first`, inside the message array
            // (clipped above); `words` is Rust memory, so it does not overlap the buffer.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    words.as_ptr(),
                    self.word(offset_of!(IpcBuffer, message) + 8 * first),
                    count,
                )
            };
        }
    }

    /// Copies the message words from `first` on into `words` (clipped to the last word).
    #[inline(always)]
    pub fn read_message(self, first: usize, words: &mut [usize]) {
        let count = words.len().min(MAX_MESSAGE_WORDS.saturating_sub(first));
        if count > 0 {
            // SAFETY: as in `read`, for `count` words from `first`, inside the message array
            // (clipped above); `words` is Rust memory, so it does not overlap the buffer.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    self.word(offset_of!(IpcBuffer, message) + 8 * first),
                    words.as_mut_ptr(),
                    count,
                )
            };
        }
    }

    /// The capability address in `send_caps[index]` (0 past the last).
    #[inline(always)]
    pub fn send_cap(self, index: usize) -> usize {
        if index >= MAX_TRANSFER_CAPS {
            return 0;
        }
        self.read(offset_of!(IpcBuffer, send_caps) + 8 * index)
    }

    /// Names the capability to send in `send_caps[index]` (ignored past the last).
    #[inline(always)]
    pub fn set_send_cap(self, index: usize, cptr: Cptr) {
        if index < MAX_TRANSFER_CAPS {
            self.write(offset_of!(IpcBuffer, send_caps) + 8 * index, cptr);
        }
    }

    /// Where a received capability goes: (CNode cptr, 0 for the thread's root; slot index, 0
    /// for none).
    #[inline(always)]
    pub fn receive_slot(self) -> (Cptr, usize) {
        (self.read(offset_of!(IpcBuffer, receive_cnode)), self.read(offset_of!(IpcBuffer, receive_index)))
    }

    /// Says where a received capability goes (`index` 0: accept none).
    #[inline(always)]
    pub fn set_receive_slot(self, cnode: Cptr, index: usize) {
        self.write(offset_of!(IpcBuffer, receive_cnode), cnode);
        self.write(offset_of!(IpcBuffer, receive_index), index);
    }

    /// How many capabilities the last message brought (written by the kernel).
    #[inline(always)]
    pub fn received_caps(self) -> usize {
        self.read(offset_of!(IpcBuffer, received_caps))
    }

    /// The runtime's word (the kernel never touches it).
    #[inline(always)]
    pub fn user_data(self) -> usize {
        self.read(offset_of!(IpcBuffer, user_data))
    }

    /// Sets the runtime's word.
    #[inline(always)]
    pub fn set_user_data(self, value: usize) {
        self.write(offset_of!(IpcBuffer, user_data), value);
    }
}

/// A message: a label and words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// What the message means (an operation number, a fault label, ...).
    pub label: usize,
    /// Number of valid words.
    pub length: usize,
    /// Capabilities carried (sending: how many of the IPC buffer's `send_caps` to send;
    /// receiving: how many arrived).
    pub caps: usize,
    /// The words.
    pub words: [usize; MAX_MESSAGE_WORDS],
}

impl Message {
    /// A message with `label` and `words` (at most [`MAX_MESSAGE_WORDS`]; more are dropped).
    pub fn new(label: usize, words: &[usize]) -> Self {
        let length = words.len().min(MAX_MESSAGE_WORDS);
        let mut message = Self { label, length, caps: 0, words: [0; MAX_MESSAGE_WORDS] };
        message.words[..length].copy_from_slice(&words[..length]);
        message
    }

    /// The valid words.
    pub fn words(&self) -> &[usize] {
        &self.words[..self.length]
    }

    /// Word `index`, or 0 past the end.
    pub fn word(&self, index: usize) -> usize {
        if index < self.length { self.words[index] } else { 0 }
    }

    #[cfg(target_arch = "riscv64")]
    fn info(&self) -> MessageInfo {
        MessageInfo::new(self.label, self.length, self.caps)
    }

    /// Puts the message into registers (returned) and the IPC buffer.
    #[cfg(target_arch = "riscv64")]
    fn load(&self, a0: usize, a6: usize) -> Registers {
        if self.length > REGISTER_MESSAGE_WORDS
            && let Some(buffer) = ipc_buffer()
        {
            buffer.write_message(REGISTER_MESSAGE_WORDS, &self.words[REGISTER_MESSAGE_WORDS..self.length]);
        }
        [a0, self.info().0, self.words[0], self.words[1], self.words[2], self.words[3], a6]
    }

    /// Reads a received message out of registers and the IPC buffer.
    #[cfg(target_arch = "riscv64")]
    fn store(registers: &Registers) -> Self {
        let info = MessageInfo(registers[1]);
        let mut message = Self {
            label: info.label(),
            length: info.length(),
            caps: info.caps(),
            words: [0; MAX_MESSAGE_WORDS],
        };
        message.words[..REGISTER_MESSAGE_WORDS].copy_from_slice(&registers[2..6]);
        if message.length > REGISTER_MESSAGE_WORDS {
            match ipc_buffer() {
                Some(buffer) => {
                    buffer.read_message(
                        REGISTER_MESSAGE_WORDS,
                        &mut message.words[REGISTER_MESSAGE_WORDS..message.length],
                    );
                }
                None => message.length = REGISTER_MESSAGE_WORDS,
            }
        }
        message
    }
}

#[inline(always)]
#[cfg(target_arch = "riscv64")]
fn check(registers: &Registers) -> Result<(), Error> {
    status(registers[0])
}

/// `a0` as a result: 0 is success, anything else an error code.
#[inline(always)]
#[cfg(target_arch = "riscv64")]
fn status(code: usize) -> Result<(), Error> {
    if code == 0 { Ok(()) } else { Err(decode_error(code)) }
}

#[inline(never)]
#[cold]
#[cfg(target_arch = "riscv64")]
fn decode_error(code: usize) -> Error {
    Error::try_from(code).unwrap_or(Error::InvalidArgument)
}

#[cfg(target_arch = "riscv64")]
fn syscall(number: Syscall, registers: Registers) -> Registers {
    // SAFETY: every IPC-family call writes only the caller's registers, its IPC buffer, and
    // (for a capability it agreed to receive) a slot it named; none is Rust-owned memory
    // the caller could hold a reference into across this call: the IPC buffer holds no
    // Rust object (`set_ipc_buffer`'s contract) and is only copied in and out.
    unsafe { raw_registers(number as usize, registers) }
}

/// Calls `cap` (an endpoint) with `message` and waits for the reply. Returns the reply.
#[cfg(target_arch = "riscv64")]
pub fn call(cap: Cptr, message: &Message) -> Result<Message, Error> {
    let registers = syscall(Syscall::Call, message.load(cap, 0));
    check(&registers)?;
    Ok(Message::store(&registers))
}

/// Sends `message` on `cap` (endpoint: waits for a receiver; notification: signals; reply:
/// answers the caller).
#[cfg(target_arch = "riscv64")]
pub fn send(cap: Cptr, message: &Message) -> Result<(), Error> {
    check(&syscall(Syscall::Send, message.load(cap, 0)))
}

/// Sends only if a receiver is waiting (`WouldBlock` otherwise).
#[cfg(target_arch = "riscv64")]
pub fn try_send(cap: Cptr, message: &Message) -> Result<(), Error> {
    check(&syscall(Syscall::NonBlockingSend, message.load(cap, 0)))
}

/// Waits for a message on endpoint `cap`; a call received binds its caller to `reply`
/// (0: none). Returns the message and the sender's badge.
#[cfg(target_arch = "riscv64")]
pub fn receive(cap: Cptr, reply: Cptr) -> Result<(Message, usize), Error> {
    let registers = syscall(Syscall::Recv, [cap, 0, 0, 0, 0, 0, reply]);
    check(&registers)?;
    Ok((Message::store(&registers), registers[6]))
}

/// Receives only if a sender is waiting (`WouldBlock` otherwise).
#[cfg(target_arch = "riscv64")]
pub fn try_receive(cap: Cptr, reply: Cptr) -> Result<(Message, usize), Error> {
    let registers = syscall(Syscall::NonBlockingRecv, [cap, 0, 0, 0, 0, 0, reply]);
    check(&registers)?;
    Ok((Message::store(&registers), registers[6]))
}

/// Answers the caller bound to `reply` with `message`, then waits on `cap` as [`receive`].
#[cfg(target_arch = "riscv64")]
pub fn reply_receive(cap: Cptr, message: &Message, reply: Cptr) -> Result<(Message, usize), Error> {
    let registers = syscall(Syscall::ReplyRecv, message.load(cap, reply));
    check(&registers)?;
    Ok((Message::store(&registers), registers[6]))
}

/// Signals notification `cap` (ORs its badge into the word).
#[cfg(target_arch = "riscv64")]
pub fn signal(cap: Cptr) -> Result<(), Error> {
    check(&syscall(Syscall::Send, [cap, 0, 0, 0, 0, 0, 0]))
}

/// Waits on notification `cap`; returns its word (the OR of the badges signalled).
#[cfg(target_arch = "riscv64")]
pub fn wait(cap: Cptr) -> Result<usize, Error> {
    let registers = syscall(Syscall::Recv, [cap, 0, 0, 0, 0, 0, 0]);
    check(&registers)?;
    Ok(registers[6])
}

/// Takes notification `cap`'s word without waiting (0 if nothing was signalled).
#[cfg(target_arch = "riscv64")]
pub fn poll(cap: Cptr) -> Result<usize, Error> {
    let registers = syscall(Syscall::NonBlockingRecv, [cap, 0, 0, 0, 0, 0, 0]);
    check(&registers)?;
    Ok(registers[6])
}

/// Invokes the kernel object `cap` with operation `label` and argument `words`; returns the
/// result words.
#[cfg(target_arch = "riscv64")]
pub fn invoke(cap: Cptr, label: usize, words: &[usize]) -> Result<Message, Error> {
    call(cap, &Message::new(label, words))
}

/// The short form of a message: tag and the four register words, nothing in the IPC
/// buffer. What fast protocols (and the IPC benchmarks) use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Short {
    /// Label, length (at most 4) and capability count.
    pub info: MessageInfo,
    /// Message registers 0..3.
    pub words: [usize; REGISTER_MESSAGE_WORDS],
}

/// [`call`] with a short message.
#[inline(always)]
#[cfg(target_arch = "riscv64")]
pub fn call_short(cap: Cptr, message: Short) -> Result<Short, Error> {
    let [w0, w1, w2, w3] = message.words;
    let registers = syscall(Syscall::Call, [cap, message.info.0, w0, w1, w2, w3, 0]);
    check(&registers)?;
    Ok(Short {
        info: MessageInfo(registers[1]),
        words: [registers[2], registers[3], registers[4], registers[5]],
    })
}

/// [`receive`] returning a short message and the badge.
#[inline(always)]
#[cfg(target_arch = "riscv64")]
pub fn receive_short(cap: Cptr, reply: Cptr) -> Result<(Short, usize), Error> {
    let registers = syscall(Syscall::Recv, [cap, 0, 0, 0, 0, 0, reply]);
    check(&registers)?;
    let message = Short {
        info: MessageInfo(registers[1]),
        words: [registers[2], registers[3], registers[4], registers[5]],
    };
    Ok((message, registers[6]))
}

/// [`reply_receive`] with short messages.
#[inline(always)]
#[cfg(target_arch = "riscv64")]
pub fn reply_receive_short(cap: Cptr, message: Short, reply: Cptr) -> Result<(Short, usize), Error> {
    let [w0, w1, w2, w3] = message.words;
    let registers = syscall(Syscall::ReplyRecv, [cap, message.info.0, w0, w1, w2, w3, reply]);
    check(&registers)?;
    let message = Short {
        info: MessageInfo(registers[1]),
        words: [registers[2], registers[3], registers[4], registers[5]],
    };
    Ok((message, registers[6]))
}
