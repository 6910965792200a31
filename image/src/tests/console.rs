//! System tests of the console server: they boot `image/systems/test-console.toml` (the
//! console and `apps/test-console`), type on the serial line as a person would, and check
//! what comes back through the console.

use kernel_abi::exit_status;

use super::{STEP, SystemTest, expect_status};

/// The console tests, in the order they run.
pub const TESTS: &[SystemTest] = &[SystemTest {
    name: "console.end_to_end",
    about: "the console server writes, answers malformed requests with typed errors, keeps the foreground, ends a read on Ctrl-C and echoes typed lines",
    system: "test-console",
    run: |cx| {
        let mut machine = cx.boot(|boot| boot)?;
        machine.expect("root: started console (priority 200", STEP)?;
        machine.expect("test-console: hello through the console", STEP)?;
        // CONSOLE0001..5: a write, Malformed, WrongProtocol, an unknown variant, the
        // foreground; CONSOLE0006 Ctrl-C; CONSOLE0007 reads go on until `quit`.
        let mut checks = cx.program_checks("test-console", &[("CONSOLE", 7)])?;
        checks.until(&machine, "CONSOLE0005")?;
        machine.expect("test-console: press Ctrl-C", STEP)?;
        // The read must be waiting before Ctrl-C is typed (a Ctrl-C with no read waiting
        // only signals); the console says so at debug level.
        machine.expect("read waits for input session=2", STEP)?;
        machine.type_text("\x03")?;
        checks.until(&machine, "CONSOLE0006")?;
        machine.expect("test-console: type lines; `quit` ends", STEP)?;
        machine.type_line("hello console")?;
        machine.expect("echo: hello console", STEP)?;
        // A line typed in two pieces.
        machine.type_text("split ")?;
        machine.type_line("line")?;
        machine.expect("echo: split line", STEP)?;
        machine.type_line("quit")?;
        checks.finish(&machine)?;
        machine.expect("root: test-console exited with status 0", STEP)?;
        machine.refute("kernel panic")?;
        expect_status(&mut machine, exit_status::SUCCESS)
    },
}];
