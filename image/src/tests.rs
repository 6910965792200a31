//! `cargo xtask test`: lints, host tests, then system tests that boot QEMU.
//!
//! Every check counts in the final `N passed, N failed` line: each lint run, each host test
//! (as `cargo test` reports them), and each system test.

use std::path::Path;
use std::time::{Duration, Instant};

use kernel_abi::exit_status;

use crate::build::{self, KERNEL_TARGET, USER_TARGET, cargo};
use crate::qemu::{self, Boot, Console};
use crate::systest::{Machine, take_last_transcript};

/// Host crates: tested with `cargo test`, linted for the host.
const HOST_PACKAGES: &[&str] = &[
    "kernel-abi",
    "kernel-core",
    "userlib",
    "security-api",
    "security-server",
    "proc-api",
    "console-api",
    "console",
    "donor-api",
    "donor",
    "coreutils",
    "policy",
    "shell",
    "image",
];
/// User-level library crates, linted for the RISC-V user target along with the program
/// packages the build compiles ([`build::USER_PACKAGES`]).
const USER_LIBRARIES: &[&str] =
    &["userlib", "security-api", "security-server", "proc-api", "console-api", "donor-api"];

/// How long a boot may take to reach a line (QEMU under TCG on a loaded 2-core machine).
pub const STEP: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(message) => {
                self.failed += 1;
                self.failures.push(format!("{name}: {message}"));
            }
        }
    }
}

/// The outcome of one named check.
type CheckResult = (String, Result<(), String>);

/// Runs clippy with the workspace lints on host and target crates (warnings are errors).
/// Returns one result per run.
pub fn lint() -> Result<Vec<CheckResult>, String> {
    let mut results = Vec::new();
    let mut host = cargo();
    host.args(["clippy", "--quiet", "--all-targets"]);
    for package in HOST_PACKAGES {
        host.args(["-p", package]);
    }
    host.args(["--", "-D", "warnings"]);
    results.push(("lint.host".to_string(), build::run_checked(&mut host, "clippy (host crates)")));

    let mut user = cargo();
    user.args(["clippy", "--quiet", "--release", "--target", USER_TARGET]);
    for package in USER_LIBRARIES.iter().chain(build::USER_PACKAGES) {
        user.args(["-p", package]);
    }
    user.args(["--", "-D", "warnings"]);
    results.push(("lint.user".to_string(), build::run_checked(&mut user, "clippy (user programs)")));

    let mut kernel = cargo();
    kernel.args([
        "clippy",
        "--quiet",
        "--release",
        "--target",
        KERNEL_TARGET,
        "-p",
        "kernel",
        "--",
        "-D",
        "warnings",
    ]);
    results.push(("lint.kernel".to_string(), build::run_checked(&mut kernel, "clippy (kernel)")));

    let failed: Vec<_> =
        results.iter().filter(|(_, result)| result.is_err()).map(|(name, _)| name.clone()).collect();
    if failed.is_empty() {
        println!("lints: clean");
    } else {
        println!("lints: {} failed", failed.join(", "));
    }
    Ok(results)
}

/// Runs `cargo test` on the host crates; returns (passed, failed, failure names).
fn host_tests() -> Result<(usize, usize, Vec<String>), String> {
    let mut command = cargo();
    command.args(["test", "--no-fail-fast"]);
    for package in HOST_PACKAGES {
        command.args(["-p", package]);
    }
    let output = command.output().map_err(|error| format!("cannot run cargo test: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (mut passed, mut failed, mut names) = (0, 0, Vec::new());
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("test result: ") {
            // "ok. 12 passed; 0 failed; 0 ignored; ..."
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(kind), Some(count)) = (words.next(), words.next()) else { continue };
                let count: usize = count.parse().unwrap_or(0);
                match kind {
                    "passed" => passed += count,
                    "failed" => failed += count,
                    _ => {}
                }
            }
        } else if line.starts_with("test ") && line.ends_with(" FAILED") {
            names.push(line.trim_start_matches("test ").trim_end_matches(" ... FAILED").to_string());
        }
    }
    if !output.status.success() && failed == 0 {
        // Did not even build: show why, and count it as one failure.
        eprintln!("{stderr}");
        return Ok((passed, 1, vec!["host tests did not build".into()]));
    }
    if failed > 0 {
        println!("{stdout}");
    }
    Ok((passed, failed, names))
}

/// One system test: a boot of QEMU and what must be seen.
pub struct SystemTest {
    /// A stable name, `area.what`.
    pub name: &'static str,
    /// One sentence saying what must hold.
    pub about: &'static str,
    /// Boots and checks; the arguments are the QEMU binary and the kernel image.
    pub run: fn(&Path, &Path) -> Result<(), String>,
}

/// Boots `kernel` under `qemu`, with `configure` adjusting the boot.
pub fn boot(qemu: &Path, kernel: &Path, configure: impl FnOnce(Boot) -> Boot) -> Result<Machine, String> {
    let command = configure(Boot::new(kernel)).command(qemu, Console::Piped);
    Machine::start(command)
}

/// Waits for the machine to power off and checks its exit status.
pub fn expect_status(machine: &mut Machine, expected: u16) -> Result<(), String> {
    let status = machine.expect_exit(STEP)?;
    if status == i32::from(expected) {
        Ok(())
    } else {
        Err(format!("machine exit status {status} ({}), expected {expected}", qemu::explain_status(status)))
    }
}

/// The shell's prompt.
pub const PROMPT: &str = "lattice$ ";

/// Leaves the default system's shell, which powers the machine off with status 0.
fn exit_shell(machine: &mut Machine) -> Result<(), String> {
    machine.expect(PROMPT, STEP)?;
    machine.type_line("exit")?;
    expect_status(machine, exit_status::SUCCESS)
}

/// Sets `lattice.boot=programs` on the kernel command line.
pub fn boot_list(programs: &str) -> impl FnOnce(Boot) -> Boot {
    let bootargs = format!("lattice.boot={programs}");
    move |boot| boot.bootargs(Some(bootargs))
}

const SYSTEM_TESTS: &[SystemTest] = &[
    SystemTest {
        name: "boot.banner",
        about: "the kernel prints its version, the memory map and the devices of QEMU virt",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, |boot| boot)?;
            machine.expect(&format!("Lattice kernel {}", env!("CARGO_PKG_VERSION")), STEP)?;
            machine.expect("on riscv-virtio,qemu", STEP)?;
            machine.expect("harts: 0; booted on hart 0; timebase 10000000 Hz", STEP)?;
            machine.expect("memory map:", STEP)?;
            machine.expect("ram       0x0080000000..0x0090000000    256 MiB", STEP)?;
            machine.expect("reserved  0x0080000000..", STEP)?;
            machine.expect("kernel    0x0080200000..", STEP)?;
            machine.expect("devices:", STEP)?;
            machine.expect("uart      ns16550a at 0x10000000, irq 10", STEP)?;
            machine.expect("plic      at 0xc000000, 96 sources", STEP)?;
            machine.expect("virtio    mmio at 0x10001000, irq 1", STEP)?;
            machine.expect("virtio    mmio at 0x10008000, irq 8", STEP)?;
            machine.expect("exit      sifive,test at 0x100000", STEP)?;
            exit_shell(&mut machine)
        },
    },
    SystemTest {
        name: "boot.device_tree_not_constants",
        about: "with -m 384M -smp 2 the banner shows 384 MiB and two harts",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, |boot| boot.memory("384M").harts(2))?;
            // OpenSBI picks the boot hart by lottery, so either may boot the kernel.
            machine.expect("harts: 0 1; booted on hart ", STEP)?;
            machine.expect("ram       0x0080000000..0x0098000000    384 MiB", STEP)?;
            exit_shell(&mut machine)
        },
    },
    SystemTest {
        name: "shell.session",
        about: "the default system boots to the shell; programs run with arguments, $?, a fault reported, unknown commands, a malformed program refused, ps, Ctrl-C stops the foreground program, free and kill of a background job, exit",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, |boot| boot)?;
            machine.expect("root: started console", STEP)?;
            machine.expect("root: started proc", STEP)?;
            machine.expect("root: started shell", STEP)?;
            machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
            let command = |machine: &mut Machine, line: &str, answer: &str| -> Result<(), String> {
                machine.expect(PROMPT, STEP)?;
                machine.type_line(line)?;
                machine.expect(answer, STEP).map(|_| ())
            };
            command(&mut machine, "echo hello, world", "hello, world")?;
            command(&mut machine, "hello from the shell", "hello from the shell")?;
            command(&mut machine, "echo status $?", "status 0")?;
            command(&mut machine, "crash", "(crash) faulted: store page fault at 0x0, pc 0x")?;
            command(&mut machine, "echo status $?", "status 139")?;
            command(&mut machine, "nosuch", "lattice: command not found: nosuch")?;
            command(&mut machine, "echo status $?", "status 127")?;
            // A malformed program file is refused with the reason; the next program runs.
            command(&mut machine, "badelf", "lattice: cannot run badelf: not a valid executable: ")?;
            command(&mut machine, "hello after a bad file", "hello after a bad file")?;
            command(&mut machine, "ps", "PID")?;
            // Ctrl-C stops a foreground program that never makes a syscall.
            command(&mut machine, "spin", "spin: spinning forever")?;
            machine.type_text("\x03")?;
            machine.expect("^C", STEP)?;
            command(&mut machine, "echo status $?", "status 130")?;
            // `free`: a background program holds one 4 MiB chunk of the 56 MiB; killed, it
            // gives it back.
            command(&mut machine, "spin &", "[1] ")?;
            command(&mut machine, "free", "52.0 MiB")?;
            machine.expect(" spin", STEP)?;
            command(&mut machine, "kill %1", "[1] killed spin")?;
            command(&mut machine, "free", "0 B")?;
            machine.expect(PROMPT, STEP)?;
            machine.type_line("exit")?;
            machine.expect("root: shell exited with status 0", STEP)?;
            machine.expect("[kernel] root task exited; powering off", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "shell.connections",
        about: "every connection goes through the security server: conns lists the shell's, a malformed request gets a typed error, a forbidden connection is denied naming the rule, a program's connection shows with its donation, revoke makes its next call fail and free shows the donation back, the audit trail reads back every decision, a program opening sessions until its quota is spent is refused, a foreground program reads the terminal",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, |boot| boot)?;
            machine.expect("[security] INFO audit: policy load at boot policy=", STEP)?;
            machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
            let command = |machine: &mut Machine, line: &str, answer: &str| -> Result<String, String> {
                machine.expect(PROMPT, STEP)?;
                machine.type_line(line)?;
                machine.expect(answer, STEP)
            };
            // The shell's own connections, opened at start through the security server.
            command(&mut machine, "conns", "/bin/shell  internal{user}  console")?;
            machine.expect("/bin/shell  internal{user}  proc", STEP)?;
            machine.expect("/bin/shell  internal{user}  donor", STEP)?;
            // A program the policy gives nothing asks for the process manager.
            command(&mut machine, "forbidden", "forbidden: a malformed request got: malformed message")?;
            machine.expect("forbidden: connect to proc: denied: ", STEP)?;
            command(&mut machine, "echo status $?", "status 1")?;
            // A program holds a console session, paid from its quota.
            command(&mut machine, "hold &", "[1] ")?;
            machine.expect("hold: holding connection ", STEP)?;
            let id = machine.expect(" to the console", STEP)?.replace(" to the console", "");
            let id = id.trim().to_string();
            if id.parse::<u64>().is_err() {
                return Err(format!("hold printed {id:?} where its connection id should be"));
            }
            // The prompt came before hold's line.
            machine.type_line("conns")?;
            machine.expect(&format!("{id}  /bin/hold"), STEP)?;
            command(&mut machine, "free", "16.0 KiB  4.0 MiB  hold")?;
            // Revoked: the program's next call fails, its donation is back.
            command(&mut machine, "revoke", "revoke: usage")?;
            command(&mut machine, &format!("revoke {id}"), &format!("revoked connection {id}"))?;
            machine.expect(&format!("hold: connection {id} is gone after "), STEP)?;
            machine.expect("invalid capability", STEP)?;
            // hold's line may come before or after the prompt; the shell reads what is typed
            // either way.
            machine.type_line("free")?;
            machine.expect("0 B  4.0 MiB  hold", STEP)?;
            let listed = command(&mut machine, "conns", "/bin/shell  internal{user}  donor")?;
            let rest = machine.expect(PROMPT, STEP)?;
            if listed.contains("/bin/hold") || rest.contains("/bin/hold") {
                return Err(format!("conns still lists the revoked connection:\n{listed}{rest}"));
            }
            // (The prompt after conns is read.)
            machine.type_line(&format!("revoke {id}"))?;
            machine.expect("revoke: connection ", STEP)?;
            machine.expect("no such connection", STEP)?;
            command(&mut machine, "kill %1", "[1] killed hold")?;
            // The audit trail, read back by the shell: every decision so far, in order.
            let trail = command(&mut machine, "audit", "policy load")?;
            let trail = trail + machine.expect(PROMPT, STEP)?.as_str();
            let mut at = 0;
            for entry in [
                "grant        connection 65536: /bin/shell (internal{user}) to console, by the grant of console to /bin/shell at ",
                "deny         /bin/forbidden (internal{user}) to proc: the program is not declared in the policy",
                &format!("grant        connection {id}: /bin/hold (internal{{user}}) to console"),
                &format!("revoke       connection {id}: revoked at the request of /bin/shell"),
            ] {
                match trail[at..].find(entry) {
                    Some(found) => at += found + entry.len(),
                    None => return Err(format!("the audit trail lacks {entry:?} (in order):\n{trail}")),
                }
            }
            // A program that opens sessions until its quota is spent is refused, and its end
            // gives every donation back.
            // (The prompt after the trail is read.)
            machine.type_line("greedy &")?;
            machine.expect("[1] ", STEP)?;
            machine.expect("greedy: opened ", STEP)?;
            machine.expect("sessions, then: quota exceeded: the session costs 16384 bytes", STEP)?;
            machine.type_line("free")?;
            machine.expect(" MiB  4.0 MiB  greedy", STEP)?;
            command(&mut machine, "kill %1", "[1] killed greedy")?;
            let after = command(&mut machine, "free", "/bin/shell")?;
            let rest = machine.expect(PROMPT, STEP)?;
            if after.contains("greedy") || rest.contains("greedy") {
                return Err(format!("free still lists greedy after it ended:\n{after}{rest}"));
            }
            // Its connections ended with it, and the trail says so.
            machine.type_line("audit")?;
            machine.expect(": its client /bin/greedy ended", STEP)?;
            // A foreground program reads the terminal through its own console session.
            machine.type_line("readline")?;
            machine.expect("readline: type a line> ", STEP)?;
            machine.type_line("typed by a person")?;
            machine.expect("readline: you typed `typed by a person`", STEP)?;
            command(&mut machine, "echo status $?", "status 0")?;
            // Denials and revocations are also events on the console as they happen.
            let transcript = machine.transcript();
            for line in [
                "[security] INFO audit: deny client=/bin/forbidden label=internal{user} service=proc",
                &format!(
                    "[security] INFO audit: revoke connection={id} why=\"revoked at the request of /bin/shell\""
                ),
            ] {
                if !transcript.contains(line) {
                    return Err(format!("no {line:?} on the console"));
                }
            }
            machine.expect(PROMPT, STEP)?;
            machine.type_line("exit")?;
            machine.expect("root: shell exited with status 0", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "fault.contained",
        about: "three faulting programs are reported and stopped; the kernel and another program go on",
        run: |qemu, kernel| {
            let mut machine =
                boot(qemu, kernel, boot_list("survivor,crash,crash-kernel-read,crash-illegal"))?;
            machine.expect("survivor: yielding", STEP)?;
            machine.expect("survivor: done, 0 checks failed", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)?;
            // The round-robin tick may interleave the programs differently from run to run
            // (a crash program preempted in the middle of its message), so the lines are
            // checked for once the machine stopped, not their order.
            let transcript = machine.transcript();
            for line in [
                "[kernel] fault: crash: store page fault at 0x0, pc 0x",
                "[kernel] fault: crash-kernel-read: load page fault at 0xffffffff80200000, pc 0x",
                "[kernel] fault: crash-illegal: illegal instruction (instruction 0x",
                "; thread stopped",
                "survivor: running again",
            ] {
                if !transcript.contains(line) {
                    return Err(format!("no {line:?} in the output"));
                }
            }
            machine.refute("kernel panic")
        },
    },
    SystemTest {
        name: "syscall.bad_arguments",
        about: "bad pointers, overlong writes and undefined syscalls return the documented errors",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("survivor"))?;
            for check in [
                "ok   debug_write of null",
                "ok   debug_write of kernel memory",
                "ok   debug_write wrapping around the address space",
                "ok   debug_write past the end of user space",
                "ok   debug_write running off the stack top",
                "ok   debug_write longer than the limit",
                "ok   debug_write of an empty slice",
                "ok   undefined syscall 9999",
                "ok   undefined syscall usize::MAX",
                "ok   floating point across yields",
            ] {
                machine.expect(check, STEP)?;
            }
            machine.expect("0 checks failed", STEP)?;
            machine.refute("FAIL")?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "sched.preemption",
        about: "a program that never makes a syscall is preempted by the timer; FP state stays per thread",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("survivor,spin"))?;
            machine.expect("survivor: yielding", STEP)?;
            machine.expect("spin: spinning forever", STEP)?;
            machine.expect("survivor: running again", STEP)?;
            machine.expect("survivor: ok   floating point across yields", STEP)?;
            machine.expect("survivor: done, 0 checks failed", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "irq.uart_receive",
        about: "typed keys raise UART interrupts that a user-level driver receives through a notification",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("test-irq"))?;
            machine.expect("test-irq: type three keys", STEP)?;
            for key in ["x", "y", "z"] {
                machine.type_text(key)?;
                machine.expect(&format!("test-irq: interrupt (badge 0): got '{key}'"), STEP)?;
            }
            machine.expect("test-irq: done", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "proc.spawn_wait_kill",
        about: "the process manager spawns programs from the boot archive, reports faults and kills, and reclaims memory",
        run: |qemu, _| {
            let output = build::build_system("test-proc")?;
            let mut machine = boot(qemu, &output.kernel_image, |boot| boot)?;
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
    },
    SystemTest {
        name: "fault.root_task",
        about: "a faulting root task is reported and the machine powers off with status 3",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("crash"))?;
            machine.expect("[kernel] fault: crash: store page fault at 0x0", STEP)?;
            machine.expect("[kernel] the root task is gone; powering off", STEP)?;
            expect_status(&mut machine, exit_status::ROOT_TASK_FAULTED)
        },
    },
    SystemTest {
        name: "boot.exit_status",
        about: "another program as root task: its exit status is reported",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("hello"))?;
            machine.expect("hello, world", STEP)?;
            machine.expect("[kernel] hello exited with status 0", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "boot.missing_program",
        about: "a boot program missing from the archive is a clear boot failure",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("hello,nosuch"))?;
            machine.expect(
                "[kernel] boot program `nosuch` is not in the boot archive; it holds: root hello",
                STEP,
            )?;
            machine.expect("[kernel] boot failed: missing boot program `nosuch`", STEP)?;
            machine.refute("hello, world")?;
            expect_status(&mut machine, exit_status::BOOT_FAILURE)
        },
    },
    SystemTest {
        name: "panic.reports_location",
        about: "a kernel panic prints its cause and location and fails the machine",
        run: |qemu, kernel| {
            let mut machine =
                boot(qemu, kernel, |boot| boot.bootargs(Some("lattice.selftest=panic".into())))?;
            machine.expect("[kernel] kernel panic at kernel/kern/src/main.rs:", STEP)?;
            machine.expect(": deliberate panic requested by lattice.selftest=panic", STEP)?;
            expect_status(&mut machine, exit_status::KERNEL_PANIC)
        },
    },
];

fn system_tests(filter: Option<&str>, tally: &mut Tally) -> Result<(), String> {
    let qemu = qemu::ensure_installed()?;
    let output = build::build_all()?;
    let all = SYSTEM_TESTS
        .iter()
        .chain(crate::tests_kernel::KERNEL_SYSTEM_TESTS)
        .chain(crate::tests_console::CONSOLE_SYSTEM_TESTS)
        .chain(crate::tests_time::TIME_SYSTEM_TESTS);
    let selected: Vec<_> = all.filter(|test| filter.is_none_or(|f| test.name.contains(f))).collect();
    println!("system tests: {} in QEMU ({})", selected.len(), qemu.display());
    for test in selected {
        let started = Instant::now();
        let result = (test.run)(&qemu, &output.kernel_image);
        let seconds = started.elapsed().as_secs_f32();
        let transcript = take_last_transcript();
        match &result {
            Ok(()) => println!("  ok    {:<32} {:>5.1} s  {}", test.name, seconds, test.about),
            Err(message) => {
                println!("  FAIL  {:<32} {:>5.1} s  {}\n        {message}", test.name, seconds, test.about);
                println!("        last console output:");
                let lines: Vec<&str> = transcript.lines().collect();
                for line in &lines[lines.len().saturating_sub(40)..] {
                    println!("        | {line}");
                }
            }
        }
        tally.record(test.name, result);
    }
    Ok(())
}

/// Runs everything; `filter` keeps only the system tests whose name contains it (lints and
/// host tests then are skipped).
pub fn run_all(filter: Option<&str>) -> Result<(), String> {
    // Every host program the tests use, installed (or asked for) before the first build.
    crate::setup::ensure_host_tools(crate::setup::TEST_TOOLS)?;
    let mut tally = Tally::default();
    if filter.is_none() {
        println!("== lints");
        for (name, result) in lint()? {
            tally.record(&name, result);
        }
        println!("== host tests");
        let (passed, failed, names) = host_tests()?;
        println!("host tests: {passed} passed, {failed} failed");
        tally.passed += passed;
        tally.failed += failed;
        tally.failures.extend(names.into_iter().map(|name| format!("host test {name}")));
    }
    println!("== system tests");
    if let Err(message) = system_tests(filter, &mut tally) {
        tally.record("system tests", Err(message));
    }
    if !tally.failures.is_empty() {
        println!("failures:");
        for failure in &tally.failures {
            println!("  {failure}");
        }
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed == 0 { Ok(()) } else { Err(format!("{} checks failed", tally.failed)) }
}
