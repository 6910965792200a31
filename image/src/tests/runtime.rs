//! System tests of the user runtime: heap, tracing and RPC in one program.

use kernel_abi::exit_status;

use super::{STEP, SystemTest, boot_list, expect_status};

/// The runtime tests, in the order they run.
pub const TESTS: &[SystemTest] = &[SystemTest {
    name: "runtime.heap_trace_rpc",
    about: "a program makes its heap from Untyped, allocates, prints tracing events, and RPC works between threads: capabilities both ways, a deferred answer, malformed requests answered with the typed error",
    system: "bare",
    run: |cx| {
        let mut machine = cx.boot(boot_list("test-runtime"))?;
        machine.expect("runtime: heap of 4096 KiB at 0x2000000000", STEP)?;
        machine.expect("runtime: vec sum 499500, string \"lattice-runtime\"; ", STEP)?;
        machine.expect("[test-runtime] INFO runtime: heap ready size=4194304", STEP)?;
        let audit = "[test-runtime] WARN audit: denied by rule connection=7 client=test-runtime";
        machine.expect(audit, STEP)?;
        machine.expect("[test-runtime] INFO runtime: server ready endpoint=", STEP)?;
        machine.expect("runtime: rpc add 2 + 3 = Ok(Sum(5))", STEP)?;
        machine.expect("runtime: capabilities travelled both ways", STEP)?;
        machine.expect("runtime: deferred answer released by another client", STEP)?;
        machine.expect("runtime: malformed request answered with malformed message", STEP)?;
        // RUNTIME0001..9 the heap, 0010..11 the tracing subscriber, 0012..27 RPC.
        cx.expect_checks(&machine, "runtime", &[("RUNTIME", 27)])?;
        machine.refute("below the level")?;
        machine.refute("FAIL")?;
        expect_status(&mut machine, exit_status::SUCCESS)
    },
}];
