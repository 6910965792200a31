//! System tests of the process manager: `image/systems/test-proc.toml` runs `apps/test-proc`
//! against it.

use super::{STEP, SystemTest};

/// The proc tests, in the order they run.
pub const TESTS: &[SystemTest] = &[SystemTest {
    name: "proc.spawn_wait_kill",
    about: "the process manager spawns programs from the boot archive, reports faults and kills, and reclaims memory",
    system: "test-proc",
    run: |cx| {
        let mut machine = cx.boot(|boot| boot)?;
        machine.expect("root: started proc", STEP)?;
        for check in [
            "ok   hello runs with its arguments and exits with 0",
            "ok   a store to address 0 comes back as a fault status",
            "ok   an unknown program is NoSuchProgram",
            "ok   a running program is listed",
            "ok   a killed program's status is Killed",
            "ok   a collected status is gone",
            "ok   40 programs in a row run: memory of ended processes is reclaimed",
        ] {
            machine.expect(&format!("test-proc: {check}"), STEP)?;
        }
        machine.expect("test-proc: done, 0 checks failed", STEP)?;
        machine.refute("kernel panic")?;
        Ok(())
    },
}];
