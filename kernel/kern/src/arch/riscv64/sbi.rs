//! Calls into the SBI firmware (OpenSBI): the timer, early console output and power-off.

/// Programs the next timer interrupt for absolute time `deadline` (in `time` ticks).
pub fn set_timer(deadline: u64) {
    // The TIME extension exists since SBI 0.2; every firmware we boot on has it.
    let _ = sbi_rt::set_timer(deadline);
}

/// Writes one byte through the firmware's console (before the kernel has found a UART).
// The legacy call is deprecated in favour of the DBCN extension, but QEMU 7.2's OpenSBI
// implements SBI 1.0, which has no DBCN; the legacy call works everywhere.
#[allow(deprecated)]
pub fn console_putchar(byte: u8) {
    sbi_rt::legacy::console_putchar(byte as usize);
}

/// Asks the firmware to power off, reporting failure if `failed`. Returns only if the
/// firmware lacks the system reset extension.
pub fn shutdown(failed: bool) {
    if failed {
        let _ = sbi_rt::system_reset(sbi_rt::Shutdown, sbi_rt::SystemFailure);
    } else {
        let _ = sbi_rt::system_reset(sbi_rt::Shutdown, sbi_rt::NoReason);
    }
}
