//! The syscall entry: decode the registers into a typed call, check it, perform it.
//!
//! Decoding never changes state; an invalid call returns an error code in `a0` and the
//! thread continues. A `call` on a kernel object's capability is an invocation of the object
//! (label = operation, message words = arguments; the reply words come back in `a2`..).

use kernel_abi::syscall::REGISTER_MESSAGE_WORDS;
use kernel_abi::{Error, MessageInfo, Rights, Syscall};
use kernel_core::capability::{Capability, SlotId};

use crate::Kernel;
use crate::ipc;
use crate::memory::UserSlice;
use crate::object::endpoint::{self, SendOptions};
use crate::object::thread::{self, ADDRESS_SPACE_SLOT, Thread};
use crate::object::{ObjectRef, cnode, irq, notification, reply, sched_context, timer, untyped, vspace};

/// Longest `debug_write`, in bytes; longer writes are refused, not truncated.
pub const DEBUG_WRITE_MAX: usize = 64 * 1024;
/// Most argument words an invocation reads (registers plus IPC buffer).
const MAX_INVOCATION_WORDS: usize = 8;

/// Register `a<index>` of `caller`, copied out.
fn register(caller: ObjectRef<Thread>, index: usize) -> usize {
    // SAFETY: live: every `caller` in this file is the thread that trapped, running until
    // it blocks; exclusive: one read.
    unsafe { caller.get() }.frame.a(index)
}

/// Sets register `a<index>` of `caller`.
fn set_register(caller: ObjectRef<Thread>, index: usize, value: usize) {
    // SAFETY: as in `register`; one store.
    unsafe { caller.get() }.frame.set_a(index, value);
}

/// Handles an `ecall` from `caller`. Inlined into the trap handler, its one caller, so a
/// syscall pays for one stack frame, not two.
#[inline(always)]
pub fn handle(kernel: &mut Kernel, caller: ObjectRef<Thread>) {
    // SAFETY: live: the thread that trapped; exclusive: two accesses, nothing called.
    let number = unsafe {
        let frame = &mut caller.get().frame;
        frame.pc += 4; // resume after the ecall
        frame.a(7)
    };
    let result = match Syscall::try_from(number) {
        Ok(Syscall::DebugWrite) => debug_write(caller).map(|written| set_register(caller, 1, written)),
        Ok(Syscall::Exit) => {
            let status = register(caller, 0);
            kernel.exit_thread(caller, status);
            Ok(())
        }
        Ok(Syscall::Yield) => {
            kernel.scheduler.requeue_current();
            Ok(())
        }
        Ok(Syscall::Call) => call(kernel, caller),
        Ok(Syscall::Send) => send(kernel, caller, true),
        Ok(Syscall::NonBlockingSend) => send(kernel, caller, false),
        Ok(Syscall::Recv) => receive(kernel, caller, true),
        Ok(Syscall::NonBlockingRecv) => receive(kernel, caller, false),
        Ok(Syscall::IdleInstructions) => {
            set_register(caller, 1, kernel.idle_instructions);
            Ok(())
        }
        Ok(Syscall::DebugCheck) => crate::invariants::check(kernel, caller)
            .map(|slots| set_register(caller, 1, slots))
            .map_err(|invariant| {
                set_register(caller, 1, invariant as usize);
                Error::InvalidArgument
            }),
        Ok(Syscall::ReplyRecv) => {
            let reply_cptr = register(caller, 6);
            match lookup(caller, reply_cptr) {
                Ok((_, Capability::Reply { object })) => {
                    // Nobody to answer is fine here: a server's first reply_recv has no caller.
                    let _ = reply::reply(kernel, ObjectRef::new(object), caller);
                    receive(kernel, caller, true)
                }
                Ok(_) => Err(Error::IllegalOperation),
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error),
    };
    // Success is 0 in a0. A caller that blocked gets a0 again when it is woken (0, or
    // `Cancelled`); a message delivered into its registers also sets a0 to 0.
    let code = match result {
        Ok(()) => 0,
        Err(error) => error as usize,
    };
    set_register(caller, 0, code);
}

fn debug_write(caller: ObjectRef<Thread>) -> Result<usize, Error> {
    let (address, length) = (register(caller, 0), register(caller, 1));
    if length > DEBUG_WRITE_MAX {
        return Err(Error::InvalidArgument);
    }
    let slice = UserSlice::new(address, length)?;
    // SAFETY: live: the thread that trapped; exclusive: one read.
    let address_space = unsafe { caller.get() }.capability(ADDRESS_SPACE_SLOT);
    let Capability::AddressSpace { root, .. } = address_space else {
        return Err(Error::InvalidUserPointer);
    };
    slice.read_in_pieces(root, crate::console::write_bytes)?;
    Ok(length)
}

/// The slot and capability at `cptr` in `thread`'s CSpace; empty slots are an error.
fn lookup(thread: ObjectRef<Thread>, cptr: usize) -> Result<(SlotId, Capability), Error> {
    let slot = ipc::resolve(thread, cptr)?;
    let capability = cnode::load(slot);
    if capability.is_null() { Err(Error::InvalidCapability) } else { Ok((slot, capability)) }
}

fn send(kernel: &mut Kernel, caller: ObjectRef<Thread>, blocking: bool) -> Result<(), Error> {
    let (_, capability) = lookup(caller, register(caller, 0))?;
    match capability {
        Capability::Endpoint { object, rights, badge } => {
            if !rights.contains(Rights::WRITE) {
                return Err(Error::InsufficientRights);
            }
            let options =
                SendOptions { badge, can_grant: rights.contains(Rights::GRANT), is_call: false, blocking };
            endpoint::send(kernel, ObjectRef::new(object), caller, options)
        }
        Capability::Notification { object, rights, badge } => {
            if !rights.contains(Rights::WRITE) {
                return Err(Error::InsufficientRights);
            }
            notification::signal(kernel, ObjectRef::new(object), badge);
            Ok(())
        }
        Capability::Reply { object } => reply::reply(kernel, ObjectRef::new(object), caller),
        _ => Err(Error::IllegalOperation),
    }
}

fn receive(kernel: &mut Kernel, caller: ObjectRef<Thread>, blocking: bool) -> Result<(), Error> {
    let (_, capability) = lookup(caller, register(caller, 0))?;
    match capability {
        Capability::Endpoint { object, rights, .. } => {
            if !rights.contains(Rights::READ) {
                return Err(Error::InsufficientRights);
            }
            let reply_cptr = register(caller, 6);
            let reply_object = if reply_cptr == 0 {
                0
            } else {
                match lookup(caller, reply_cptr)? {
                    (_, Capability::Reply { object }) => object,
                    _ => return Err(Error::IllegalOperation),
                }
            };
            endpoint::receive(kernel, ObjectRef::new(object), caller, reply_object, blocking)
        }
        Capability::Notification { object, rights, .. } => {
            if !rights.contains(Rights::READ) {
                return Err(Error::InsufficientRights);
            }
            notification::wait(kernel, ObjectRef::new(object), caller, blocking);
            Ok(())
        }
        _ => Err(Error::IllegalOperation),
    }
}

fn call(kernel: &mut Kernel, caller: ObjectRef<Thread>) -> Result<(), Error> {
    let (slot, capability) = lookup(caller, register(caller, 0))?;
    if let Capability::Endpoint { object, rights, badge } = capability {
        if !rights.contains(Rights::WRITE) {
            return Err(Error::InsufficientRights);
        }
        let options =
            SendOptions { badge, can_grant: rights.contains(Rights::GRANT), is_call: true, blocking: true };
        return endpoint::send(kernel, ObjectRef::new(object), caller, options);
    }
    // An invocation of a kernel object: gather the argument words.
    let info = MessageInfo(register(caller, 1));
    let mut words = [0usize; MAX_INVOCATION_WORDS];
    let length = info.length().min(MAX_INVOCATION_WORDS);
    for (index, word) in words.iter_mut().enumerate().take(length) {
        *word = if index < REGISTER_MESSAGE_WORDS {
            register(caller, 2 + index)
        } else {
            match thread::ipc_buffer(caller) {
                Some(buffer) => buffer.message(index),
                None => return Err(Error::InvalidArgument),
            }
        };
    }
    let words = &words[..length];
    let resolve = |cptr: usize| ipc::resolve(caller, cptr);
    let mut results = [0usize; 6];
    let count = match capability {
        Capability::Untyped { .. } => {
            let retype = untyped::decode(slot, info.label(), words, resolve)?;
            untyped::invoke(kernel, retype).map(|_| 0)?
        }
        Capability::CNode { .. } => {
            let invocation = cnode::decode(&capability, info.label(), words, resolve)?;
            results[0] = cnode::invoke(kernel, invocation)?;
            1
        }
        Capability::Thread { object } => {
            let invocation = thread::decode(caller, ObjectRef::new(object), info.label(), words, resolve)?;
            thread::invoke(kernel, ObjectRef::new(object), invocation, &mut results)?
        }
        Capability::IrqControl | Capability::IrqHandler { .. } => {
            let invocation = irq::decode(kernel, &capability, info.label(), words, resolve)?;
            irq::invoke(kernel, invocation)?;
            0
        }
        Capability::Timer { object } => {
            let invocation = timer::decode(object, info.label(), words, resolve)?;
            let now = crate::arch::riscv64::csr::read_time() as u64;
            results[0] = timer::invoke(kernel, invocation, now);
            1
        }
        Capability::SchedControl => {
            let configure =
                sched_context::decode(info.label(), words, kernel.scheduler.timebase_hz(), resolve)?;
            let now = crate::arch::riscv64::csr::read_time() as u64;
            sched_context::configure(kernel, configure, now);
            0
        }
        Capability::Frame { .. } | Capability::PageTable { .. } => {
            let invocation = vspace::decode(kernel, slot, info.label(), words, resolve)?;
            match vspace::invoke(kernel, invocation)? {
                Some(value) => {
                    results[0] = value;
                    1
                }
                None => 0,
            }
        }
        _ => return Err(Error::IllegalOperation),
    };
    // The invoker is still running (invocations never block): return the results.
    set_register(caller, 0, 0);
    set_register(caller, 1, MessageInfo::new(0, count, 0).0);
    for (index, value) in results.iter().take(count.min(REGISTER_MESSAGE_WORDS)).enumerate() {
        set_register(caller, 2 + index, *value);
    }
    if count > REGISTER_MESSAGE_WORDS
        && let Some(buffer) = thread::ipc_buffer(caller)
    {
        for (index, value) in results.iter().enumerate().take(count).skip(REGISTER_MESSAGE_WORDS) {
            buffer.set_message(index, *value);
        }
    }
    Ok(())
}
