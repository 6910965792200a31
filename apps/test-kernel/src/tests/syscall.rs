//! The syscall layer itself: undefined numbers, register preservation, bad capability
//! addresses and types, user pointers, and `debug_check`.

use kernel_abi::{Error, ObjectType, Syscall};
use userlib::ipc::{self, Message};
use userlib::syscall::{debug_check, debug_write_address, fuzz, undefined};

use crate::context::{CNODE, Context, Outcome, Test};
use crate::{check, check_eq, ok};

/// The syscall tests.
pub const ALL: &[Test] = &[
    Test {
        id: "SYSCALL0008",
        about: "the boot info describes the boot archive, mapped read-only, holding this program",
        run: boot_archive_mapped,
    },
    Test {
        id: "SYSCALL0007",
        about: "the kernel never touches device registers for a program: debug_write from a device frame and a device-frame IPC buffer are refused",
        run: device_frames_refused,
    },
    Test {
        id: "SYSCALL0001",
        about: "undefined syscall numbers are InvalidSyscall and leave a1..a6 as they were",
        run: undefined_numbers,
    },
    Test { id: "SYSCALL0002", about: "yield returns 0 and preserves a1..a6", run: yield_preserves },
    Test {
        id: "SYSCALL0003",
        about: "debug_write refuses null, kernel, wrapping, past-the-end and unmapped pointers, and lengths over 64 KiB",
        run: debug_write_pointers,
    },
    Test {
        id: "SYSCALL0004",
        about: "every IPC syscall refuses capability address 0, addresses past the CNode, and empty slots",
        run: bad_capability_addresses,
    },
    Test {
        id: "SYSCALL0005",
        about: "IPC syscalls on capabilities of the wrong type are IllegalOperation",
        run: wrong_types,
    },
    Test {
        id: "SYSCALL0006",
        about: "debug_check counts every slot reachable from the caller, including CNodes it holds",
        run: debug_check_counts,
    },
];

fn undefined_numbers(_: &mut Context) -> Outcome {
    let mut tried = 0;
    for number in [10, 11, 12, 13, 64, 9999, usize::MAX] {
        if Syscall::try_from(number).is_ok() {
            continue;
        }
        check_eq!(undefined(number, [1, 2, 3, 4, 5, 6]), Some(Err(Error::InvalidSyscall)));
        check_eq!(
            fuzz(number, [0, 11, 12, 13, 14, 15, 16]),
            [Error::InvalidSyscall as usize, 11, 12, 13, 14, 15, 16]
        );
        tried += 1;
    }
    check!(tried >= 3);
    Ok(())
}

fn yield_preserves(_: &mut Context) -> Outcome {
    check_eq!(fuzz(Syscall::Yield as usize, [5, 6, 7, 8, 9, 10, 11]), [0, 6, 7, 8, 9, 10, 11]);
    Ok(())
}

fn debug_write_pointers(context: &mut Context) -> Outcome {
    const USER_END: usize = 1 << 38;
    let (_, page) = ok!(context.mapped_frame());
    for (address, length) in [
        (0, 8),
        (0xffff_ffff_8020_0000, 8),
        (usize::MAX - 4, 16),
        (USER_END - 4, 8),
        (USER_END, 1),
        (0x20_0000_0000, 1),
        // The page after the scratch page is not mapped: nothing of the range is written.
        (page + 0xff0, 0x20),
    ] {
        check_eq!(debug_write_address(address, length), Err(Error::InvalidUserPointer));
    }
    check_eq!(debug_write_address(page, 64 * 1024 + 1), Err(Error::InvalidArgument));
    check_eq!(debug_write_address(usize::MAX, usize::MAX), Err(Error::InvalidArgument));
    // Nothing to write is fine, wherever it points.
    check_eq!(debug_write_address(page, 0), Ok(0));
    check_eq!(debug_write_address(0, 0), Ok(0));
    Ok(())
}

fn bad_capability_addresses(context: &mut Context) -> Outcome {
    let empty = context.slot();
    let slots = context.info.cnode_slots;
    let message = Message::new(1, &[]);
    for cptr in [0, empty, slots, slots + 1, usize::MAX] {
        check_eq!(ipc::send(cptr, &message), Err(Error::InvalidCapability));
        check_eq!(ipc::try_send(cptr, &message), Err(Error::InvalidCapability));
        check_eq!(ipc::call(cptr, &message).map(|_| ()), Err(Error::InvalidCapability));
        check_eq!(ipc::receive(cptr, 0).map(|_| ()), Err(Error::InvalidCapability));
        check_eq!(ipc::try_receive(cptr, 0).map(|_| ()), Err(Error::InvalidCapability));
        check_eq!(ipc::signal(cptr), Err(Error::InvalidCapability));
        check_eq!(ipc::poll(cptr), Err(Error::InvalidCapability));
    }
    Ok(())
}

fn wrong_types(context: &mut Context) -> Outcome {
    let thread = ok!(context.make(ObjectType::Thread, 0));
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let notification = ok!(context.make(ObjectType::Notification, 0));
    let reply = ok!(context.make(ObjectType::Reply, 0));
    let address_space = ok!(context.make(ObjectType::AddressSpace, 0));
    let message = Message::new(1, &[]);
    check_eq!(ipc::send(CNODE, &message), Err(Error::IllegalOperation));
    check_eq!(ipc::try_send(thread, &message), Err(Error::IllegalOperation));
    check_eq!(ipc::send(frame, &message), Err(Error::IllegalOperation));
    check_eq!(ipc::receive(frame, 0).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::try_receive(context.pool, 0).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::receive(reply, 0).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::call(notification, &message).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::call(reply, &message).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::call(address_space, &message).map(|_| ()), Err(Error::IllegalOperation));
    Ok(())
}

fn debug_check_counts(context: &mut Context) -> Outcome {
    let before = ok!(debug_check());
    // The root CNode's slots 1.. and the root thread's own slots, at least.
    check!(before >= context.info.cnode_slots - 1);
    let small = ok!(context.make(ObjectType::CNode, 4));
    check_eq!(debug_check(), Ok(before + 15));
    ok!(userlib::object::delete(CNODE, small));
    check_eq!(debug_check(), Ok(before));
    Ok(())
}

fn device_frames_refused(context: &mut Context) -> Outcome {
    // A virtio-mmio register page: reading it from the kernel would fault (the kernel does
    // not map it) or, for other devices, have side effects.
    let info = context.info;
    let Some(index) = (0..info.untyped_count).find(|&index| {
        info.untyped[index].is_device == 1 && info.untyped[index].physical_address == 0x1000_1000
    }) else {
        return Err(crate::context::Failure { line: line!(), what: "a virtio-mmio device untyped" });
    };
    let device = kernel_abi::bootinfo::slot::FIRST_UNTYPED + index;
    let frame = context.slot();
    ok!(userlib::object::retype(device, ObjectType::Frame, 0, CNODE, frame, 1));
    let address = context.scratch_page();
    ok!(userlib::object::map_frame(frame, crate::context::ADDRESS_SPACE, address, kernel_abi::Rights::READ));
    check_eq!(debug_write_address(address, 8), Err(Error::InvalidUserPointer));
    let thread = ok!(context.make(ObjectType::Thread, 0));
    check_eq!(
        userlib::object::configure_thread(thread, CNODE, crate::context::ADDRESS_SPACE, address, frame, 0),
        Err(Error::IllegalOperation)
    );
    ok!(userlib::object::delete(CNODE, frame));
    Ok(())
}

fn boot_archive_mapped(context: &mut Context) -> Outcome {
    let bytes = userlib::boot_archive(context.info);
    check!(!bytes.is_empty());
    let archive = ok!(kernel_abi::bootarchive::BootArchive::parse(bytes));
    check!(archive.find("test-kernel").is_some_and(|entry| entry.data.starts_with(b"\x7fELF")));
    Ok(())
}
