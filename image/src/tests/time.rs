//! System tests of time at user level: the shell's `uptime` and the `sleep` program (a
//! kernel timer each spawned program gets from the process manager), typed at the prompt
//! of the default system as a person would.

use std::time::Duration;

use kernel_abi::exit_status;

use super::{PROMPT, STEP, SystemTest, expect_status, system_disk_attach};
use crate::systest::Machine;

/// The time tests, in the order they run.
pub const TESTS: &[SystemTest] = &[SystemTest {
    name: "shell.time",
    about: "uptime gives the time since boot; sleep 2 returns to the prompt after at least two seconds of guest time, with status 0; a bad or missing argument prints the usage with status 2; Ctrl-C interrupts a sleep",
    system: "virt",
    run: |cx| {
        // `sleep` is a program of the system disk's /bin.
        let disk = cx.system_disk("system.img")?;
        let mut machine = cx.boot(|boot| boot.disk_as(&disk, system_disk_attach()))?;
        machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
        let command = |machine: &mut Machine, line: &str, answer: &str| -> Result<String, String> {
            machine.expect(PROMPT, STEP)?;
            machine.type_line(line)?;
            machine.expect(answer, STEP)
        };
        let before = uptime(&mut machine, command)?;
        command(&mut machine, "sleep 2", "sleep 2")?;
        // The prompt comes back only when sleep has ended (bounded by STEP).
        let after = uptime(&mut machine, command)?;
        if after - before < 2.0 {
            return Err(format!("sleep 2 returned after {:.3} s of guest time", after - before));
        }
        command(&mut machine, "echo status $?", "status 0")?;
        // Malformed and missing arguments.
        command(&mut machine, "sleep x", "sleep: not a number of seconds: x")?;
        machine.expect("usage: sleep SECONDS", STEP)?;
        command(&mut machine, "echo status $?", "status 2")?;
        command(&mut machine, "sleep", "usage: sleep SECONDS")?;
        command(&mut machine, "echo status $?", "status 2")?;
        // A fraction of a second works too.
        command(&mut machine, "sleep 0.25", "sleep 0.25")?;
        command(&mut machine, "echo status $?", "status 0")?;
        // Ctrl-C ends a sleep long before its time, as any foreground program. The newline
        // after the command says the shell took the line (a Ctrl-C typed before that would
        // only discard it). From then on the program, or the shell spawning it, holds the
        // foreground; a Ctrl-C lost in the instant between the two is typed again.
        let started = uptime(&mut machine, command)?;
        command(&mut machine, "sleep 600", "sleep 600\n")?;
        let mut interrupted = Err(String::new());
        for _ in 0..5 {
            machine.type_text("\x03")?;
            interrupted = machine.expect("^C", Duration::from_secs(10));
            if interrupted.is_ok() {
                break;
            }
        }
        interrupted?;
        command(&mut machine, "echo status $?", "status 130")?;
        let stopped = uptime(&mut machine, command)?;
        if stopped - started > 300.0 {
            return Err(format!("Ctrl-C took {:.3} s to end a sleep", stopped - started));
        }
        machine.expect(PROMPT, STEP)?;
        machine.type_line("exit")?;
        machine.expect("root: shell exited with status 0", STEP)?;
        expect_status(&mut machine, exit_status::SUCCESS)
    },
}];

/// Types `uptime` and reads `up SECONDS s`.
fn uptime(
    machine: &mut Machine,
    command: impl Fn(&mut Machine, &str, &str) -> Result<String, String>,
) -> Result<f64, String> {
    command(machine, "uptime", "up ")?;
    let seconds = machine.expect(" s\n", STEP)?;
    parse_uptime(&seconds).ok_or_else(|| format!("uptime printed {seconds:?}"))
}

/// The seconds of what follows `up ` in `up 12.345 s`.
fn parse_uptime(text: &str) -> Option<f64> {
    let number = text.strip_suffix(" s\n")?;
    let (whole, millis) = number.split_once('.')?;
    if millis.len() != 3 || !whole.bytes().chain(millis.bytes()).all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_uptime;

    #[test]
    fn reads_the_uptime_line() {
        assert_eq!(parse_uptime("12.345 s\n"), Some(12.345));
        assert_eq!(parse_uptime("0.001 s\n"), Some(0.001));
        assert_eq!(parse_uptime("12.34 s\n"), None);
        assert_eq!(parse_uptime("x.345 s\n"), None);
        assert_eq!(parse_uptime("12.345\n"), None);
    }
}
