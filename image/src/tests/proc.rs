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
        // PROC0001..7: hello with arguments, a fault status, NoSuchProgram, a listed
        // program, Killed, a collected status gone, 40 programs in a row.
        cx.expect_checks(&machine, "test-proc", &[("PROC", 7)])?;
        machine.refute("kernel panic")?;
        Ok(())
    },
}];
