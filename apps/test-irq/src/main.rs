//! `test-irq`: a tiny user-level UART driver. Run as the root task, it takes the UART's
//! registers (a frame from device Untyped) and its interrupt (an IRQ handler bound to a
//! notification), enables receive interrupts, and echoes three typed characters, one
//! interrupt at a time. The system test types them. Each check has an id and a sentence
//! (its table is [`CHECKS`]) and prints one line (`test-irq: ok   IRQ0001 ...`, the
//! `checks` crate's form); a step that fails leaves the checks after it not run.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use checks::{Check, Report};
use kernel_abi::ObjectType;
use kernel_abi::bootinfo::{BOOT_INFO_ADDRESS, slot};
use userlib::mmio::Registers;
use userlib::{ipc, object, println};

userlib::entry!(main);

/// QEMU virt's UART: registers and PLIC source (the test checks the boot info for them).
const UART_ADDRESS: usize = 0x1000_0000;
const UART_IRQ: usize = 10;
const RECEIVE_BUFFER: usize = 0;
const INTERRUPT_ENABLE: usize = 1;
const LINE_STATUS: usize = 5;
const DATA_READY: u8 = 1;

const REGISTERS: Check = Check::new(
    "IRQ0001",
    "the UART's registers are a device Untyped in the boot info, and a frame retyped from it maps",
);
const HANDLER_ONCE: Check = Check::new(
    "IRQ0002",
    "the UART's interrupt is handed out once (a second handler is refused) and binds to a notification",
);
const KEYS: Check =
    Check::new("IRQ0003", "three typed keys arrive through interrupts signalled on the notification");
/// Every check, in the order they run.
static CHECKS: [Check; 3] = [REGISTERS, HANDLER_ONCE, KEYS];

fn main() -> i32 {
    let mut report = Report::new("test-irq", &CHECKS, |line| println!("{line}"));
    let failed = match run(&mut report) {
        Ok(()) => report.finish(),
        Err((check, message)) => {
            report.check(&check, false, message);
            report.finish()
        }
    };
    i32::try_from(failed).unwrap_or(i32::MAX)
}

/// A step that failed: the check it fails, and why.
type Failed = (Check, &'static str);

fn run(report: &mut Report<3, impl FnMut(core::fmt::Arguments<'_>)>) -> Result<(), Failed> {
    let info = userlib::boot_info().ok_or((REGISTERS, "no boot info"))?;
    let mut free = info.first_free_slot;
    let mut next_slot = || {
        free += 1;
        free - 1
    };
    let device = (0..info.untyped_count)
        .find(|&index| {
            info.untyped[index].is_device != 0 && info.untyped[index].physical_address == UART_ADDRESS
        })
        .map(|index| slot::FIRST_UNTYPED + index)
        .ok_or((REGISTERS, "no device untyped for the UART"))?;
    let ram = (0..info.untyped_count)
        .find(|&index| info.untyped[index].is_device == 0 && info.untyped[index].size_bits >= 16)
        .map(|index| slot::FIRST_UNTYPED + index)
        .ok_or((REGISTERS, "no RAM untyped"))?;
    let frame = next_slot();
    object::retype(device, ObjectType::Frame, 0, slot::CNODE, frame, 1)
        .map_err(|_| (REGISTERS, "retype the UART frame"))?;
    let uart = Registers::map(frame, slot::ADDRESS_SPACE, BOOT_INFO_ADDRESS + 0x4000)
        .map_err(|_| (REGISTERS, "map the UART"))?;
    report.check(&REGISTERS, true, ());

    let notification = next_slot();
    object::retype(ram, ObjectType::Notification, 0, slot::CNODE, notification, 1)
        .map_err(|_| (HANDLER_ONCE, "retype a notification"))?;
    let handler = next_slot();
    object::irq_handler(slot::IRQ_CONTROL, UART_IRQ, slot::CNODE, handler)
        .map_err(|_| (HANDLER_ONCE, "take the IRQ"))?;
    let again = next_slot();
    if object::irq_handler(slot::IRQ_CONTROL, UART_IRQ, slot::CNODE, again).is_ok() {
        return Err((HANDLER_ONCE, "the same IRQ was handed out twice"));
    }
    object::irq_set_notification(handler, notification)
        .map_err(|_| (HANDLER_ONCE, "bind the notification"))?;
    report.check(&HANDLER_ONCE, true, ());

    uart.write8(INTERRUPT_ENABLE, 1); // receive data available
    println!("test-irq: type three keys");
    // An interrupt means "look at the device": like any driver, read whatever is there
    // (possibly nothing, possibly several keys) and acknowledge.
    let (mut keys, mut interrupts) = (0, 0);
    while keys < 3 {
        let word = ipc::wait(notification).map_err(|_| (KEYS, "wait on the notification"))?;
        interrupts += 1;
        while uart.read8(LINE_STATUS) & DATA_READY != 0 {
            let byte = uart.read8(RECEIVE_BUFFER);
            keys += 1;
            println!("test-irq: interrupt (badge {word}): got {:?}", char::from(byte));
        }
        object::irq_acknowledge(handler).map_err(|_| (KEYS, "acknowledge the interrupt"))?;
    }
    uart.write8(INTERRUPT_ENABLE, 0);
    println!("test-irq: done: {keys} keys in {interrupts} interrupts");
    report.check(&KEYS, true, ());
    Ok(())
}
