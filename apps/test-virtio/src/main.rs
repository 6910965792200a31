//! `test-virtio`: which devices sit behind QEMU virt's virtio-mmio transports, as the guest
//! sees them. Run as the root task, it maps each transport's registers (a frame from the
//! device Untyped the kernel made from the device tree), reads its identification registers
//! (magic, version, device id), prints one line per transport and a summary, then waits for
//! a key on the UART (an interrupt, as `test-irq` does) before exiting, so the host can look
//! at the running machine: the harness's disk and network tests (`harness.*`) boot it.
//!
//! It only reads registers: no device is reset or driven, so a disk image is never written.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

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

fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(message) => {
            println!("test-virtio: FAILED: {message}");
            1
        }
    }
}

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

fn run() -> Result<(), &'static str> {
    let info = userlib::boot_info().ok_or("no boot info")?;
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
        let untyped = device_untyped(info, address).ok_or("no device Untyped for a virtio-mmio transport")?;
        let registers = map(untyped, next_slot())?;
        if registers.read32(MAGIC_VALUE) != MAGIC {
            println!("test-virtio: {address:#x}: magic {:#x}", registers.read32(MAGIC_VALUE));
            return Err("a transport without the virtio magic value");
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

    let uart_untyped = device_untyped(info, UART_ADDRESS).ok_or("no device Untyped for the UART")?;
    let uart = map(uart_untyped, next_slot())?;
    let ram = (0..info.untyped_count)
        .find(|&index| info.untyped[index].is_device == 0 && info.untyped[index].size_bits >= 16)
        .map(|index| slot::FIRST_UNTYPED + index)
        .ok_or("no RAM untyped")?;
    let notification = next_slot();
    object::retype(ram, ObjectType::Notification, 0, slot::CNODE, notification, 1)
        .map_err(|_| "retype a notification")?;
    let handler = next_slot();
    object::irq_handler(slot::IRQ_CONTROL, UART_IRQ, slot::CNODE, handler)
        .map_err(|_| "take the UART IRQ")?;
    object::irq_set_notification(handler, notification).map_err(|_| "bind the notification")?;
    uart.write8(INTERRUPT_ENABLE, 1); // receive data available
    println!("test-virtio: type a key to stop");
    // An interrupt may come with nothing to read (see CAVEATS.md); wait for a real key.
    loop {
        ipc::wait(notification).map_err(|_| "wait")?;
        let typed = uart.read8(LINE_STATUS) & DATA_READY != 0;
        while uart.read8(LINE_STATUS) & DATA_READY != 0 {
            uart.read8(RECEIVE_BUFFER);
        }
        object::irq_acknowledge(handler).map_err(|_| "acknowledge")?;
        if typed {
            break;
        }
    }
    uart.write8(INTERRUPT_ENABLE, 0);
    println!("test-virtio: done");
    Ok(())
}
