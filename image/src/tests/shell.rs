//! System tests of the default system's shell, typed at the prompt as a person would:
//! programs, faults, jobs, Ctrl-C, memory, and every connection through the security server.

use kernel_abi::exit_status;

use super::{PROMPT, STEP, SystemTest, expect_status};
use crate::systest::Machine;

/// The shell tests, in the order they run.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "shell.session",
        about: "the default system boots to the shell; programs run with arguments, $?, a fault reported, unknown commands, a malformed program refused, ps, Ctrl-C stops the foreground program, free and kill of a background job, exit",
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(|boot| boot)?;
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
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(|boot| boot)?;
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
];
