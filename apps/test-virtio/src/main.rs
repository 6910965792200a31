//! `test-virtio`: which devices sit behind QEMU virt's virtio-mmio transports, as the guest
//! sees them. Run as the root task, it maps each transport's registers (a frame from the
//! device Untyped the kernel made from the device tree), reads its identification registers
//! (magic, version, device id), prints one line per transport and a summary, then waits for
//! a key on the UART (an interrupt, as `test-irq` does) before exiting, so the host can look
//! at the running machine: the harness's disk and network tests (`harness.*`) boot it.
//!
//! It only reads registers: no device is reset or driven, so a disk image is never written.
//! Its two checks have an id and a sentence (its table is [`CHECKS`]) and print one line
//! each (`test-virtio: ok   VIRTIO0001 ...`, the `checks` crate's form); the harness judges
//! the transport lines.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use checks::{Check, Report};
use kernel_abi::ObjectType;
use kernel_abi::bootinfo::{BOOT_INFO_ADDRESS, BootInfo, slot};
use userlib::mmio::Registers;
use userlib::{ipc, object, println};

userlib::entry!(main);

/// QEMU virt's virtio-mmio transports: eight, one page apart (the kernel must have found
/// each in the device tree: there is a device Untyped for it).
const FIRST_TRANSPORT: usize = 0x1000_1000;
const TRANSPORTS: usize = 8;
const TRANSPORT_STRIDE: usize = 0x1000;
/// The transport's identification registers (virtio 1.2 §4.2.2).
const MAGIC_VALUE: usize = 0x000;
const VERSION: usize = 0x004;
const DEVICE_ID: usize = 0x008;
/// "virt", little-endian.
const MAGIC: u32 = 0x7472_6976;

/// QEMU virt's UART and its PLIC source, for the key that ends the program.
const UART_ADDRESS: usize = 0x1000_0000;
const UART_IRQ: usize = 10;
const RECEIVE_BUFFER: usize = 0;
const INTERRUPT_ENABLE: usize = 1;
const LINE_STATUS: usize = 5;
const DATA_READY: u8 = 1;

/// Where the device pages are mapped: after the boot info and IPC buffer pages, inside the
/// page table the kernel made for them.
const MAPPINGS: usize = BOOT_INFO_ADDRESS + 0x4000;

const TRANSPORTS_FOUND: Check = Check::new(
    "VIRTIO0001",
    "each of QEMU virt's eight virtio-mmio transports is a device Untyped in the boot info, maps, and shows the virtio magic value",
);
const KEY_ENDS: Check =
    Check::new("VIRTIO0002", "a key typed on the UART arrives as an interrupt and ends the wait");
/// Every check, in the order they run.
static CHECKS: [Check; 2] = [TRANSPORTS_FOUND, KEY_ENDS];

fn main() -> i32 {
    let mut report = Report::new("test-virtio", &CHECKS, |line| println!("{line}"));
    if let Err((check, message)) = run(&mut report) {
        report.check(&check, false, message);
    }
    i32::try_from(report.finish()).unwrap_or(i32::MAX)
}

/// A step that failed: the check it fails, and why.
type Failed = (Check, &'static str);

/// The name of a virtio device id (virtio 1.2 §5).
fn device_name(id: u32) -> &'static str {
    match id {
        0 => "none",
        1 => "network",
        2 => "block",
        3 => "console",
        4 => "entropy",
        5 => "balloon",
        9 => "9p",
        16 => "gpu",
        18 => "input",
        19 => "vsock",
        _ => "other",
    }
}

/// The capability slot of the device Untyped that starts at `address`.
fn device_untyped(info: &BootInfo, address: usize) -> Option<usize> {
    (0..info.untyped_count)
        .find(|&index| info.untyped[index].is_device != 0 && info.untyped[index].physical_address == address)
        .map(|index| slot::FIRST_UNTYPED + index)
}

fn run(report: &mut Report<2, impl FnMut(core::fmt::Arguments<'_>)>) -> Result<(), Failed> {
    let info = userlib::boot_info().ok_or((TRANSPORTS_FOUND, "no boot info"))?;
    let mut free = info.first_free_slot;
    let mut next_slot = || {
        free += 1;
        free - 1
    };
    let mut mapping = MAPPINGS;
    let mut map = |untyped: usize, slot: usize| -> Result<Registers, &'static str> {
        object::retype(untyped, ObjectType::Frame, 0, slot::CNODE, slot, 1)
            .map_err(|_| "retype a device frame")?;
        let registers =
            Registers::map(slot, slot::ADDRESS_SPACE, mapping).map_err(|_| "map a device frame")?;
        mapping += 0x1000;
        Ok(registers)
    };
    let mut devices = 0;
    for index in 0..TRANSPORTS {
        let address = FIRST_TRANSPORT + index * TRANSPORT_STRIDE;
        let untyped = device_untyped(info, address)
            .ok_or((TRANSPORTS_FOUND, "no device Untyped for a virtio-mmio transport"))?;
        let registers = map(untyped, next_slot()).map_err(|what| (TRANSPORTS_FOUND, what))?;
        if registers.read32(MAGIC_VALUE) != MAGIC {
            println!("test-virtio: {address:#x}: magic {:#x}", registers.read32(MAGIC_VALUE));
            return Err((TRANSPORTS_FOUND, "a transport without the virtio magic value"));
        }
        let id = registers.read32(DEVICE_ID);
        if id != 0 {
            devices += 1;
        }
        println!(
            "test-virtio: {address:#x} virtio-mmio v{} device {id} ({})",
            registers.read32(VERSION),
            device_name(id)
        );
    }
    println!("test-virtio: {TRANSPORTS} transports, {devices} devices");
    report.check(&TRANSPORTS_FOUND, true, ());

    let uart_untyped =
        device_untyped(info, UART_ADDRESS).ok_or((KEY_ENDS, "no device Untyped for the UART"))?;
    let uart = map(uart_untyped, next_slot()).map_err(|what| (KEY_ENDS, what))?;
    let ram = (0..info.untyped_count)
        .find(|&index| info.untyped[index].is_device == 0 && info.untyped[index].size_bits >= 16)
        .map(|index| slot::FIRST_UNTYPED + index)
        .ok_or((KEY_ENDS, "no RAM untyped"))?;
    let notification = next_slot();
    object::retype(ram, ObjectType::Notification, 0, slot::CNODE, notification, 1)
        .map_err(|_| (KEY_ENDS, "retype a notification"))?;
    let handler = next_slot();
    object::irq_handler(slot::IRQ_CONTROL, UART_IRQ, slot::CNODE, handler)
        .map_err(|_| (KEY_ENDS, "take the UART IRQ"))?;
    object::irq_set_notification(handler, notification).map_err(|_| (KEY_ENDS, "bind the notification"))?;
    uart.write8(INTERRUPT_ENABLE, 1); // receive data available
    println!("test-virtio: type a key to stop");
    // An interrupt may come with nothing to read (see CAVEATS.md); wait for a real key.
    loop {
        ipc::wait(notification).map_err(|_| (KEY_ENDS, "wait on the notification"))?;
        let typed = uart.read8(LINE_STATUS) & DATA_READY != 0;
        while uart.read8(LINE_STATUS) & DATA_READY != 0 {
            uart.read8(RECEIVE_BUFFER);
        }
        object::irq_acknowledge(handler).map_err(|_| (KEY_ENDS, "acknowledge the interrupt"))?;
        if typed {
            break;
        }
    }
    uart.write8(INTERRUPT_ENABLE, 0);
    println!("test-virtio: done");
    report.check(&KEY_ENDS, true, ());
    Ok(())
}
