//! System tests of the default system's shell, typed at the prompt as a person would:
//! programs, faults, jobs, Ctrl-C, memory, and every connection through the security server.
//! The programs are the system disk's (`/bin`), as on every boot of `cargo xtask run`.
//!
//! Each step is a named check (`context.step`), so a failure says which step and what it
//! shows, not only which text was not seen.

use kernel_abi::exit_status;

use super::{Context, PROMPT, STEP, SystemTest, expect_status, system_disk_attach};
use crate::systest::Machine;

/// Waits for the prompt, types `line` and waits for `answer`; returns what came since the
/// previous match, through the answer.
fn command(machine: &mut Machine, line: &str, answer: &str) -> Result<String, String> {
    machine.expect(PROMPT, STEP)?;
    machine.type_line(line)?;
    machine.expect(answer, STEP)
}

/// Leaves the shell at the prompt: it exits with status 0 and the machine powers off with 0.
fn exit(cx: &Context, machine: &mut Machine, powering_off: Option<&str>) -> Result<(), String> {
    cx.step(
        "exit",
        "exit at the prompt ends the shell with status 0 and the machine powers off with 0",
        || {
            machine.expect(PROMPT, STEP)?;
            machine.type_line("exit")?;
            machine.expect("root: shell exited with status 0", STEP)?;
            if let Some(line) = powering_off {
                machine.expect(line, STEP)?;
            }
            expect_status(machine, exit_status::SUCCESS)
        },
    )
}

fn session(cx: &Context) -> Result<(), String> {
    // `badelf`: a program file cut short, which the process manager must refuse.
    let broken = crate::build::broken_program()?;
    let disk = cx.system_disk_with("system.img", &[("badelf", broken.as_slice())], &[])?;
    let machine = &mut cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
    cx.step(
        "boots_to_shell",
        "the default system starts the console, the process manager and the shell, which prints its banner",
        || {
            machine.expect("root: started console", STEP)?;
            machine.expect("root: started proc", STEP)?;
            machine.expect("root: started shell", STEP)?;
            machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)
        },
    )?;
    cx.check("echo", "echo prints its arguments", command(machine, "echo hello, world", "hello, world"))?;
    cx.check(
        "program_arguments",
        "a program from the system disk's /bin runs with its arguments (hello)",
        command(machine, "hello from the shell", "hello from the shell"),
    )?;
    cx.check(
        "status_success",
        "$? is 0 after a program exited with 0",
        command(machine, "echo status $?", "status 0"),
    )?;
    cx.check(
        "fault_reported",
        "a program's fault is reported with its name, cause, address and pc",
        command(machine, "crash", "(crash) faulted: store page fault at 0x0, pc 0x"),
    )?;
    cx.check(
        "status_after_fault",
        "$? is 139 after a program faulted",
        command(machine, "echo status $?", "status 139"),
    )?;
    cx.check(
        "command_not_found",
        "an unknown command is reported as not found",
        command(machine, "nosuch", "lattice: command not found: nosuch"),
    )?;
    cx.check(
        "status_not_found",
        "$? is 127 after an unknown command",
        command(machine, "echo status $?", "status 127"),
    )?;
    // A malformed program file is refused with the reason; the next program runs.
    cx.check(
        "malformed_program",
        "a malformed program file is refused with the reason",
        command(machine, "badelf", "lattice: cannot run badelf: not a valid executable: "),
    )?;
    cx.check(
        "runs_after_refusal",
        "the next program runs after a refused one",
        command(machine, "hello after a bad file", "hello after a bad file"),
    )?;
    cx.check("ps", "ps prints the process table (its PID column)", command(machine, "ps", "PID"))?;
    cx.step("ctrl_c", "Ctrl-C stops a foreground program that never makes a syscall", || {
        command(machine, "spin", "spin: spinning forever")?;
        machine.type_text("\x03")?;
        machine.expect("^C", STEP)
    })?;
    cx.check(
        "status_after_ctrl_c",
        "$? is 130 after Ctrl-C",
        command(machine, "echo status $?", "status 130"),
    )?;
    // `free`: a background program holds one 4 MiB chunk of the 56 MiB; killed, it gives it
    // back.
    cx.check("background_job", "`spin &` starts job [1]", command(machine, "spin &", "[1] "))?;
    cx.step("free_with_job", "free shows 52.0 MiB and the background spin among the processes", || {
        command(machine, "free", "52.0 MiB")?;
        machine.expect(" spin", STEP)
    })?;
    cx.check("kill_job", "kill %1 kills the background job", command(machine, "kill %1", "[1] killed spin"))?;
    cx.check(
        "free_after_kill",
        "free after the kill prints its table again (a 0 B figure)",
        command(machine, "free", "0 B"),
    )?;
    exit(cx, machine, Some("[kernel] root task exited; powering off"))
}

fn connections(cx: &Context) -> Result<(), String> {
    let disk = cx.system_disk("system.img")?;
    let machine = &mut cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
    cx.step(
        "boot_policy",
        "the security server loads the boot policy (an audit event) and the shell starts",
        || {
            machine.expect("[security] INFO audit: policy load at boot policy=", STEP)?;
            machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)
        },
    )?;
    // The shell's own connections, opened at start through the security server.
    cx.step("conns_own", "conns lists the shell's connections to the console, proc and the donor", || {
        command(machine, "conns", "/bin/shell  internal{user}  console")?;
        machine.expect("/bin/shell  internal{user}  proc", STEP)?;
        machine.expect("/bin/shell  internal{user}  donor", STEP)
    })?;
    // A program the policy gives nothing asks for the process manager.
    cx.check(
        "malformed_typed_error",
        "a malformed request to the security server gets a typed error",
        command(machine, "forbidden", "forbidden: a malformed request got: malformed message"),
    )?;
    cx.check(
        "denied",
        "a connection the policy does not give is denied",
        machine.expect("forbidden: connect to proc: denied: ", STEP),
    )?;
    cx.check("status_denied", "$? is 1 after forbidden", command(machine, "echo status $?", "status 1"))?;
    // A program holds a console session, paid from its quota.
    let id = cx.step(
        "hold_connects",
        "a background program opens a console session and prints its connection id",
        || {
            command(machine, "hold &", "[1] ")?;
            machine.expect("hold: holding connection ", STEP)?;
            let id = machine.expect(" to the console", STEP)?.replace(" to the console", "");
            let id = id.trim().to_string();
            match id.parse::<u64>() {
                Ok(_) => Ok(id),
                Err(_) => Err(format!("hold printed {id:?} where its connection id should be")),
            }
        },
    )?;
    cx.step("conns_program", "conns lists the program's connection", || {
        // The prompt came before hold's line.
        machine.type_line("conns")?;
        machine.expect(&format!("{id}  /bin/hold"), STEP)
    })?;
    cx.check(
        "free_donation",
        "free shows the session's 16.0 KiB donation in hold's 4.0 MiB quota",
        command(machine, "free", "16.0 KiB  4.0 MiB  hold"),
    )?;
    // Revoked: the program's next call fails, its donation is back.
    cx.check(
        "revoke_usage",
        "revoke without an id prints its usage",
        command(machine, "revoke", "revoke: usage"),
    )?;
    cx.check(
        "revoke",
        "revoke ID revokes the connection",
        command(machine, &format!("revoke {id}"), &format!("revoked connection {id}")),
    )?;
    cx.step(
        "revoked_call_fails",
        "the program's next call on the revoked connection fails: invalid capability",
        || {
            machine.expect(&format!("hold: connection {id} is gone after "), STEP)?;
            machine.expect("invalid capability", STEP)
        },
    )?;
    cx.step(
        "donation_back",
        "after the revoke, free shows hold's donation back (0 B of its 4.0 MiB)",
        || {
            // hold's line may come before or after the prompt; the shell reads what is typed
            // either way.
            machine.type_line("free")?;
            machine.expect("0 B  4.0 MiB  hold", STEP)
        },
    )?;
    cx.step("conns_without_revoked", "conns no longer lists the revoked connection", || {
        let listed = command(machine, "conns", "/bin/shell  internal{user}  donor")?;
        let rest = machine.expect(PROMPT, STEP)?;
        if listed.contains("/bin/hold") || rest.contains("/bin/hold") {
            return Err(format!("conns still lists the revoked connection:\n{listed}{rest}"));
        }
        Ok(())
    })?;
    cx.step("revoke_twice", "revoking the connection again is no such connection", || {
        // (The prompt after conns is read.)
        machine.type_line(&format!("revoke {id}"))?;
        machine.expect("revoke: connection ", STEP)?;
        machine.expect("no such connection", STEP)
    })?;
    cx.check("kill_hold", "kill %1 kills hold", command(machine, "kill %1", "[1] killed hold"))?;
    // The audit trail, read back by the shell: every decision so far, in order.
    cx.step("audit_trail", "audit reads back the shell's grant, the denial, hold's grant and its revocation, in order", || {
        let trail = command(machine, "audit", "policy load")?;
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
        Ok(())
    })?;
    // A program that opens sessions until its quota is spent is refused, and its end gives
    // every donation back.
    cx.step(
        "quota_refused",
        "a program opening sessions until its quota is spent is refused: quota exceeded",
        || {
            // (The prompt after the trail is read.)
            machine.type_line("greedy &")?;
            machine.expect("[1] ", STEP)?;
            machine.expect("greedy: opened ", STEP)?;
            machine.expect("sessions, then: quota exceeded: the session costs 16384 bytes", STEP)
        },
    )?;
    cx.step("quota_spent", "free shows greedy's donations, in MiB, against its 4.0 MiB quota", || {
        machine.type_line("free")?;
        machine.expect(" MiB  4.0 MiB  greedy", STEP)
    })?;
    cx.check("kill_greedy", "kill %1 kills greedy", command(machine, "kill %1", "[1] killed greedy"))?;
    cx.step("greedy_gone", "once greedy ended, free lists it no more", || {
        let after = command(machine, "free", "/bin/shell")?;
        let rest = machine.expect(PROMPT, STEP)?;
        if after.contains("greedy") || rest.contains("greedy") {
            return Err(format!("free still lists greedy after it ended:\n{after}{rest}"));
        }
        Ok(())
    })?;
    // Its connections ended with it, and the trail says so.
    cx.step("audit_client_ended", "the audit trail says greedy's connections ended with it", || {
        machine.type_line("audit")?;
        machine.expect(": its client /bin/greedy ended", STEP)
    })?;
    // A foreground program reads the terminal through its own console session.
    cx.step("readline", "a foreground program reads a typed line through its own console session", || {
        machine.type_line("readline")?;
        machine.expect("readline: type a line> ", STEP)?;
        machine.type_line("typed by a person")?;
        machine.expect("readline: you typed `typed by a person`", STEP)
    })?;
    cx.check("status_readline", "$? is 0 after readline", command(machine, "echo status $?", "status 0"))?;
    // Denials and revocations are also events on the console as they happen.
    let transcript = machine.transcript();
    cx.step("audit_events", "the denial and the revocation were info events on the console as they happened", || {
        for line in [
            "[security] INFO audit: deny client=/bin/forbidden label=internal{user} service=proc",
            &format!("[security] INFO audit: revoke connection={id} why=\"revoked at the request of /bin/shell\""),
        ] {
            if !transcript.contains(line) {
                return Err(format!("no {line:?} on the console"));
            }
        }
        Ok(())
    })?;
    exit(cx, machine, None)
}

/// The shell tests, in the order they run.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "shell.session",
        about: "the default system boots to the shell; programs run with arguments, $?, a fault reported, unknown commands, a malformed program refused, ps, Ctrl-C stops the foreground program, free and kill of a background job, exit",
        system: "virt",
        run: session,
    },
    SystemTest {
        name: "shell.connections",
        about: "every connection goes through the security server: conns lists the shell's, a malformed request gets a typed error, a forbidden connection is denied naming the rule, a program's connection shows with its donation, revoke makes its next call fail and free shows the donation back, the audit trail reads back every decision, a program opening sessions until its quota is spent is refused, a foreground program reads the terminal",
        system: "virt",
        run: connections,
    },
];
