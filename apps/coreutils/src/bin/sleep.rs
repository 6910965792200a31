//! `sleep SECONDS`: waits that long, then exits 0. A bad argument prints the usage and
//! exits 2. It sleeps on the timer every spawned program starts with
//! (`proc_api::start_slots::TIMER`, signalling `TIMER_NOTIFICATION`): one kernel timer
//! armed for the deadline and one wait, so it uses no CPU meanwhile. Ctrl-C ends it as any
//! foreground program (the shell has the process manager kill it; its timer goes with it).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(program::main);

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("sleep: runs on Lattice; `cargo test -p coreutils` tests its argument parsing");
}

#[cfg(target_os = "none")]
mod program {
    use coreutils::{SLEEP_USAGE, USAGE_STATUS, parse_seconds};
    use proc_api::start_slots;
    use userlib::println;
    use userlib::time::{self, Timer};

    pub(crate) fn main() -> i32 {
        let Some(info) = userlib::start::info() else {
            println!("{SLEEP_USAGE}");
            return USAGE_STATUS;
        };
        let mut arguments = info.arguments();
        let (Some(argument), None) = (arguments.next(), arguments.next()) else {
            println!("{SLEEP_USAGE}");
            return USAGE_STATUS;
        };
        let Some(duration) = parse_seconds(argument) else {
            println!("sleep: not a number of seconds: {argument}");
            println!("{SLEEP_USAGE}");
            return USAGE_STATUS;
        };
        let Some(deadline) = time::deadline_after(duration) else {
            println!("sleep: the timebase is unknown, so there is no telling when {argument} s have passed");
            return 1;
        };
        let timer = Timer::new(start_slots::TIMER, start_slots::TIMER_NOTIFICATION);
        match timer.sleep_until(deadline) {
            Ok(()) => 0,
            Err(error) => {
                println!("sleep: {error}");
                1
            }
        }
    }
}
