//! Address spaces: mapping frames and page tables, rights, shared memory, and unmapping.

use kernel_abi::invocation::{FrameOp, PageTableOp};
use kernel_abi::syscall::FAULT_LABEL;
use kernel_abi::{Error, FaultKind, ObjectType, Rights};
use userlib::ipc;
use userlib::memory::{read_word, write_word};
use userlib::object;

use crate::context::{ADDRESS_SPACE, CNODE, Context, Outcome, Test};
use crate::{check, check_eq, ok};

/// The address-space tests.
pub const ALL: &[Test] = &[
    Test { id: "VSPACE0001", about: "a frame maps only at an address aligned to its size", run: alignment },
    Test {
        id: "VSPACE0002",
        about: "addresses 0, 2^38 and above, and kernel addresses are RangeErrors; the last user page maps",
        run: address_range,
    },
    Test {
        id: "VSPACE0003",
        about: "a mapped frame capability, or an occupied address, is AlreadyMapped (even the program's own code)",
        run: already_mapped,
    },
    Test {
        id: "VSPACE0004",
        about: "a frame needs page tables at both levels below the root: MissingPageTable until they are mapped",
        run: page_tables,
    },
    Test {
        id: "VSPACE0005",
        about: "a mapping has at most the frame capability's rights, always READ, and a read-only page refuses stores",
        run: mapping_rights,
    },
    Test {
        id: "VSPACE0006",
        about: "two capabilities to one frame mapped at two addresses see the same memory",
        run: shared_memory,
    },
    Test {
        id: "VSPACE0007",
        about: "revoking a frame capability unmaps its copies: touching a copy's page then faults",
        run: revoke_unmaps_copies,
    },
    Test {
        id: "VSPACE0008",
        about: "after unmap, the page faults; the capability maps again",
        run: unmap_then_fault,
    },
    Test {
        id: "VSPACE0009",
        about: "frame_address is page aligned, distinct per frame and the same for copies",
        run: frame_addresses,
    },
    Test {
        id: "VSPACE0010",
        about: "the address space argument must be an address space capability",
        run: address_space_argument,
    },
    Test {
        id: "VSPACE0011",
        about: "unknown frame and page-table operations are IllegalOperation; missing words are InvalidArgument",
        run: bad_invocation,
    },
    Test {
        id: "VSPACE0012",
        about: "deleting a mapped frame capability unmaps the page",
        run: delete_unmaps,
    },
    Test {
        id: "VSPACE0013",
        about: "a 2 MiB frame needs one page table and is usable across its whole range",
        run: large_frame,
    },
    Test {
        id: "VSPACE0014",
        about: "unmapping a page table makes the pages mapped through it fault",
        run: page_table_unmap_faults,
    },
];

const RW: Rights = Rights(Rights::READ.0 | Rights::WRITE.0);
/// A 1 GiB region nothing else in the suite maps (level-2 index 64).
const FAR: usize = 0x10_0000_0000;
/// Another one (level-2 index 128).
const FARTHER: usize = 0x20_0000_0000;

fn read_at(address: usize) -> usize {
    read_word(address).unwrap_or(usize::MAX)
}

fn write_at(address: usize) -> usize {
    usize::from(write_word(address, 0x5a5a))
}

/// Runs `entry(address)` in a thread of priority 100 and expects it to fault with `kind`
/// at `address`.
fn expect_fault_at(
    context: &mut Context,
    entry: fn(usize) -> usize,
    address: usize,
    kind: FaultKind,
) -> Outcome {
    let faults = ok!(context.make(ObjectType::Endpoint, 0));
    ok!(context.spawn(entry, address, 100, faults));
    let (message, _) = ok!(ipc::receive(faults, 0));
    check_eq!(message.label, FAULT_LABEL);
    check_eq!((FaultKind::from_word(message.word(0)), message.word(2)), (Some(kind), address));
    Ok(())
}

fn alignment(context: &mut Context) -> Outcome {
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let page = context.scratch_page();
    check_eq!(object::map_frame(frame, ADDRESS_SPACE, page + 8, RW), Err(Error::AlignmentError));
    check_eq!(object::map_frame(frame, ADDRESS_SPACE, page + 0x800, RW), Err(Error::AlignmentError));
    let large = ok!(context.make(ObjectType::LargeFrame, 0));
    check_eq!(object::map_frame(large, ADDRESS_SPACE, FAR + 0x1000, RW), Err(Error::AlignmentError));
    ok!(object::map_frame(frame, ADDRESS_SPACE, page, RW));
    Ok(())
}

fn address_range(context: &mut Context) -> Outcome {
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let table = ok!(context.make(ObjectType::PageTable, 0));
    for address in [0, 1 << 38, (1 << 38) + 0x1000, 0xffff_ffc0_0000_0000, usize::MAX & !0xfff] {
        check_eq!(object::map_frame(frame, ADDRESS_SPACE, address, RW), Err(Error::RangeError));
    }
    check_eq!(object::map_page_table(table, ADDRESS_SPACE, 1 << 38), Err(Error::RangeError));
    check_eq!(object::map_page_table(table, ADDRESS_SPACE, usize::MAX), Err(Error::RangeError));
    let last = (1 << 38) - 0x1000;
    ok!(object::map_frame(frame, ADDRESS_SPACE, last, RW));
    check!(write_word(last + 0xff8, 0x1234));
    check_eq!(read_word(last + 0xff8), Some(0x1234));
    ok!(object::unmap_frame(frame));
    Ok(())
}

fn already_mapped(context: &mut Context) -> Outcome {
    let (frame, address) = ok!(context.mapped_frame());
    let copy = context.slot();
    ok!(object::copy(CNODE, copy, CNODE, frame, Rights::ALL));
    let elsewhere = context.scratch_page();
    check_eq!(object::map_frame(frame, ADDRESS_SPACE, elsewhere, RW), Err(Error::AlreadyMapped));
    check_eq!(object::map_frame(copy, ADDRESS_SPACE, address, RW), Err(Error::AlreadyMapped));
    // The program's first page (ELF headers and code) is mapped by the loader.
    check_eq!(object::map_frame(copy, ADDRESS_SPACE, 0x10000, RW), Err(Error::AlreadyMapped));
    let table = ok!(context.make(ObjectType::PageTable, 0));
    ok!(object::map_page_table(table, ADDRESS_SPACE, FAR));
    check_eq!(object::map_page_table(table, ADDRESS_SPACE, FARTHER), Err(Error::AlreadyMapped));
    ok!(object::map_frame(copy, ADDRESS_SPACE, elsewhere, RW));
    Ok(())
}

fn page_tables(context: &mut Context) -> Outcome {
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let (upper, lower, spare) = (
        ok!(context.make(ObjectType::PageTable, 0)),
        ok!(context.make(ObjectType::PageTable, 0)),
        ok!(context.make(ObjectType::PageTable, 0)),
    );
    let address = FAR + 0x3000;
    check_eq!(object::map_frame(frame, ADDRESS_SPACE, address, RW), Err(Error::MissingPageTable));
    ok!(object::map_page_table(upper, ADDRESS_SPACE, address));
    check_eq!(object::map_frame(frame, ADDRESS_SPACE, address, RW), Err(Error::MissingPageTable));
    ok!(object::map_page_table(lower, ADDRESS_SPACE, address));
    ok!(object::map_frame(frame, ADDRESS_SPACE, address, RW));
    check!(write_word(address, 77));
    check_eq!(read_word(address), Some(77));
    // Both levels are present: a third table has nowhere to go.
    check_eq!(object::map_page_table(spare, ADDRESS_SPACE, address), Err(Error::AlreadyMapped));
    ok!(object::unmap_frame(frame));
    ok!(object::unmap_page_table(lower));
    check_eq!(object::map_frame(frame, ADDRESS_SPACE, address, RW), Err(Error::MissingPageTable));
    // Another table takes the lower table's place; the frame's contents survived.
    ok!(object::map_page_table(spare, ADDRESS_SPACE, address));
    ok!(object::map_frame(frame, ADDRESS_SPACE, address, RW));
    check_eq!(read_word(address), Some(77));
    Ok(())
}

fn mapping_rights(context: &mut Context) -> Outcome {
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let (read_only, read_write) = (context.slot(), context.slot());
    ok!(object::copy(CNODE, read_only, CNODE, frame, Rights::READ));
    ok!(object::copy(CNODE, read_write, CNODE, frame, RW));
    let (page, other) = (context.scratch_page(), context.scratch_page());
    check_eq!(object::map_frame(read_only, ADDRESS_SPACE, page, RW), Err(Error::InsufficientRights));
    check_eq!(
        object::map_frame(read_write, ADDRESS_SPACE, page, RW | Rights::EXECUTE),
        Err(Error::InsufficientRights)
    );
    check_eq!(object::map_frame(frame, ADDRESS_SPACE, page, Rights::WRITE), Err(Error::InvalidArgument));
    ok!(object::map_frame(read_write, ADDRESS_SPACE, other, RW));
    check!(write_word(other, 0x77));
    ok!(object::map_frame(read_only, ADDRESS_SPACE, page, Rights::READ));
    check_eq!(read_word(page), Some(0x77));
    expect_fault_at(context, write_at, page, FaultKind::StorePageFault)
}

fn shared_memory(context: &mut Context) -> Outcome {
    let (frame, first) = ok!(context.mapped_frame());
    let copy = context.slot();
    ok!(object::copy(CNODE, copy, CNODE, frame, RW));
    let second = context.scratch_page();
    ok!(object::map_frame(copy, ADDRESS_SPACE, second, RW));
    check!(write_word(first + 0x100, 0xfeed));
    check_eq!(read_word(second + 0x100), Some(0xfeed));
    check!(write_word(second + 0xff8, 0xbeef));
    check_eq!(read_word(first + 0xff8), Some(0xbeef));
    Ok(())
}

fn revoke_unmaps_copies(context: &mut Context) -> Outcome {
    let (frame, first) = ok!(context.mapped_frame());
    let copy = context.slot();
    ok!(object::copy(CNODE, copy, CNODE, frame, RW));
    let second = context.scratch_page();
    ok!(object::map_frame(copy, ADDRESS_SPACE, second, RW));
    check!(write_word(second, 1));
    check_eq!(object::revoke(CNODE, frame), Ok(1));
    // The original's own mapping stays.
    check_eq!(read_word(first), Some(1));
    expect_fault_at(context, write_at, second, FaultKind::StorePageFault)
}

fn unmap_then_fault(context: &mut Context) -> Outcome {
    let (frame, address) = ok!(context.mapped_frame());
    check!(write_word(address, 3));
    ok!(object::unmap_frame(frame));
    // Unmapping twice is harmless.
    ok!(object::unmap_frame(frame));
    expect_fault_at(context, read_at, address, FaultKind::LoadPageFault)?;
    ok!(object::map_frame(frame, ADDRESS_SPACE, address, RW));
    check_eq!(read_word(address), Some(3));
    Ok(())
}

fn frame_addresses(context: &mut Context) -> Outcome {
    let first = ok!(context.make(ObjectType::Frame, 0));
    let second = ok!(context.make(ObjectType::Frame, 0));
    let copy = context.slot();
    ok!(object::copy(CNODE, copy, CNODE, first, Rights::READ));
    let (a, b) = (ok!(object::frame_address(first)), ok!(object::frame_address(second)));
    check_eq!(a % 0x1000, 0);
    check_eq!(b % 0x1000, 0);
    check!(a != b);
    check_eq!(object::frame_address(copy), Ok(a));
    // Physical RAM on QEMU virt starts at 2 GiB.
    check!(a >= 0x8000_0000);
    Ok(())
}

fn address_space_argument(context: &mut Context) -> Outcome {
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let table = ok!(context.make(ObjectType::PageTable, 0));
    let empty = context.slot();
    let page = context.scratch_page();
    check_eq!(object::map_frame(frame, CNODE, page, RW), Err(Error::IllegalOperation));
    check_eq!(object::map_frame(frame, empty, page, RW), Err(Error::InvalidCapability));
    check_eq!(object::map_frame(frame, 0, page, RW), Err(Error::InvalidCapability));
    check_eq!(object::map_page_table(table, frame, FAR), Err(Error::IllegalOperation));
    check_eq!(object::map_page_table(table, empty, FAR), Err(Error::InvalidCapability));
    // A fresh address space of our own takes both.
    let address_space = ok!(context.make(ObjectType::AddressSpace, 0));
    ok!(object::map_page_table(table, address_space, FAR));
    check_eq!(object::map_frame(frame, address_space, FAR, RW), Err(Error::MissingPageTable));
    Ok(())
}

fn bad_invocation(context: &mut Context) -> Outcome {
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let table = ok!(context.make(ObjectType::PageTable, 0));
    check_eq!(ipc::invoke(frame, 0, &[]).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::invoke(frame, 4, &[]).map(|_| ()), Err(Error::IllegalOperation));
    check_eq!(ipc::invoke(table, 3, &[]).map(|_| ()), Err(Error::IllegalOperation));
    let map = FrameOp::Map as usize;
    check_eq!(ipc::invoke(frame, map, &[ADDRESS_SPACE, FAR]).map(|_| ()), Err(Error::InvalidArgument));
    let map_table = PageTableOp::Map as usize;
    check_eq!(ipc::invoke(table, map_table, &[ADDRESS_SPACE]).map(|_| ()), Err(Error::InvalidArgument));
    // Unmapping what is not mapped is fine.
    ok!(object::unmap_page_table(table));
    Ok(())
}

fn delete_unmaps(context: &mut Context) -> Outcome {
    let (frame, address) = ok!(context.mapped_frame());
    check!(write_word(address, 9));
    ok!(object::delete(CNODE, frame));
    expect_fault_at(context, read_at, address, FaultKind::LoadPageFault)
}

fn large_frame(context: &mut Context) -> Outcome {
    let large = ok!(context.make(ObjectType::LargeFrame, 0));
    let table = ok!(context.make(ObjectType::PageTable, 0));
    check_eq!(object::map_frame(large, ADDRESS_SPACE, FARTHER, RW), Err(Error::MissingPageTable));
    ok!(object::map_page_table(table, ADDRESS_SPACE, FARTHER));
    ok!(object::map_frame(large, ADDRESS_SPACE, FARTHER, RW));
    for offset in [0, 0x1000, 0x10_0008, (2 << 20) - 8] {
        check!(write_word(FARTHER + offset, offset + 1));
    }
    for offset in [0, 0x1000, 0x10_0008, (2 << 20) - 8] {
        check_eq!(read_word(FARTHER + offset), Some(offset + 1));
    }
    // A small frame cannot go where the large one is.
    let small = ok!(context.make(ObjectType::Frame, 0));
    check_eq!(object::map_frame(small, ADDRESS_SPACE, FARTHER + 0x1000, RW), Err(Error::AlreadyMapped));
    Ok(())
}

fn page_table_unmap_faults(context: &mut Context) -> Outcome {
    let frame = ok!(context.make(ObjectType::Frame, 0));
    let (upper, lower) =
        (ok!(context.make(ObjectType::PageTable, 0)), ok!(context.make(ObjectType::PageTable, 0)));
    ok!(object::map_page_table(upper, ADDRESS_SPACE, FAR));
    ok!(object::map_page_table(lower, ADDRESS_SPACE, FAR));
    ok!(object::map_frame(frame, ADDRESS_SPACE, FAR, RW));
    check!(write_word(FAR, 5));
    ok!(object::unmap_page_table(upper));
    expect_fault_at(context, read_at, FAR, FaultKind::LoadPageFault)
}
