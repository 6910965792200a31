//! The system-test harness: drive a machine through its serial console as a person would.
//!
//! A [`Machine`] is a child process (QEMU) whose stdout is read by a background thread into
//! a transcript. Tests wait for text to appear ([`Machine::expect`]) and type input
//! ([`Machine::type_line`]); every wait has a deadline, and waking up is driven by output
//! arriving (a condition variable), never by sleeping. The verdict of a boot is the
//! machine's exit status, which the kernel sets through the test device.
//!
//! [`boot`] starts QEMU for a [`Boot`]: with forwarded ports it waits until QEMU is past
//! its set-up (OpenSBI's banner on the console), and if QEMU found a host port taken, it
//! picks new ports and boots again, so tests never collide over ports.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::qemu::{self, Boot, Console, Forward, Protocol};

/// Output so far, and whether the machine has closed its console.
#[derive(Default)]
struct Transcript {
    text: String,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    transcript: Mutex<Transcript>,
    changed: Condvar,
}

/// What [`Machine::line_at`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum NextLine {
    /// The line starting at the offset (without its line break), and the offset after it.
    Line(String, usize),
    /// The machine stopped and printed nothing more.
    Stopped,
    /// The deadline passed before the line was complete.
    Deadline,
}

/// A running machine under test.
pub struct Machine {
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    /// Offset in the transcript after the last matched text.
    cursor: usize,
    /// The ports QEMU forwards, as it was started.
    forwards: Vec<Forward>,
}

impl Machine {
    /// Starts `command` (whose stdin and stdout must be piped).
    pub fn start(mut command: Command) -> Result<Self, String> {
        let mut child =
            command.spawn().map_err(|error| format!("cannot start {:?}: {error}", command.get_program()))?;
        let stdin = child.stdin.take();
        let shared = Arc::new(Shared::default());
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(Box::new(stdout) as Box<dyn Read + Send>);
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(Box::new(stderr) as Box<dyn Read + Send>);
        }
        let open_streams = Arc::new(Mutex::new(readers.len()));
        for mut reader in readers {
            let shared = Arc::clone(&shared);
            let open_streams = Arc::clone(&open_streams);
            thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                loop {
                    let count = reader.read(&mut buffer).unwrap_or(0);
                    let mut transcript = shared.transcript.lock().expect("transcript lock");
                    if count == 0 {
                        let mut open = open_streams.lock().expect("stream count lock");
                        *open -= 1;
                        if *open == 0 {
                            transcript.closed = true;
                        }
                        shared.changed.notify_all();
                        return;
                    }
                    // Serial output uses CRLF; tests match on plain newlines.
                    transcript.text.push_str(&String::from_utf8_lossy(&buffer[..count]).replace('\r', ""));
                    shared.changed.notify_all();
                }
            });
        }
        Ok(Self { child, stdin, shared, cursor: 0, forwards: Vec::new() })
    }

    /// The host process's id (QEMU's, for looking at its files and sockets in `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The host port on 127.0.0.1 that reaches `guest_port` of the guest over `protocol`.
    pub fn host_port(&self, protocol: Protocol, guest_port: u16) -> Result<u16, String> {
        self.forwards
            .iter()
            .find(|forward| forward.protocol == protocol && forward.guest_port == guest_port)
            .map(|forward| forward.host_port)
            .ok_or_else(|| format!("no {} forward to guest port {guest_port}", protocol.name()))
    }

    /// Waits until `needle` appears anywhere in the output, or the machine stops, without
    /// moving past anything a test expects. Returns whether it appeared.
    fn wait_for_anywhere(&self, needle: &str, timeout: Duration) -> Result<bool, String> {
        let deadline = Instant::now() + timeout;
        let mut transcript = self.shared.transcript.lock().expect("transcript lock");
        loop {
            if transcript.text.contains(needle) {
                return Ok(true);
            }
            if transcript.closed {
                return Ok(false);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("timed out after {timeout:?} waiting for {needle:?}"));
            }
            transcript =
                self.shared.changed.wait_timeout(transcript, deadline - now).expect("transcript lock").0;
        }
    }

    /// Waits until `needle` appears after the previous match; returns the text from the
    /// previous match to the end of this one.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut transcript = self.shared.transcript.lock().expect("transcript lock");
        loop {
            if let Some(found) = transcript.text[self.cursor..].find(needle) {
                let end = self.cursor + found + needle.len();
                let matched = transcript.text[self.cursor..end].to_string();
                self.cursor = end;
                return Ok(matched);
            }
            if transcript.closed {
                let seen = &transcript.text[self.cursor..];
                let tail: Vec<&str> = seen.lines().rev().take(6).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "the machine stopped before printing {needle:?}; its last lines: {}",
                    tail.join(" | ")
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("timed out after {timeout:?} waiting for {needle:?}"));
            }
            transcript =
                self.shared.changed.wait_timeout(transcript, deadline - now).expect("transcript lock").0;
        }
    }

    /// Waits, until `deadline`, for the line that starts at `offset` in the transcript to be
    /// complete, independently of what [`Machine::expect`] has matched (so a reader of one
    /// program's lines can follow them alongside a test's other waits). A last line the
    /// machine stopped without ending counts as a line.
    pub fn line_at(&self, offset: usize, deadline: Instant) -> NextLine {
        let mut transcript = self.shared.transcript.lock().expect("transcript lock");
        loop {
            let rest = transcript.text.get(offset..).unwrap_or("");
            if let Some(end) = rest.find('\n') {
                return NextLine::Line(rest[..end].to_string(), offset + end + 1);
            }
            if transcript.closed {
                return match rest {
                    "" => NextLine::Stopped,
                    rest => NextLine::Line(rest.to_string(), offset + rest.len()),
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return NextLine::Deadline;
            }
            transcript =
                self.shared.changed.wait_timeout(transcript, deadline - now).expect("transcript lock").0;
        }
    }

    /// Checks that `needle` does not appear anywhere in the output so far.
    pub fn refute(&self, needle: &str) -> Result<(), String> {
        let transcript = self.shared.transcript.lock().expect("transcript lock");
        match transcript.text.find(needle) {
            Some(_) => Err(format!("unexpected output {needle:?}")),
            None => Ok(()),
        }
    }

    /// Types `text` on the console, without Enter.
    pub fn type_text(&mut self, text: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the console input is closed")?;
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|error| format!("typing {text:?}: {error}"))
    }

    /// Types `line` and Enter on the console.
    pub fn type_line(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the console input is closed")?;
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\r"))
            .and_then(|()| stdin.flush())
            .map_err(|error| format!("typing {line:?}: {error}"))
    }

    /// Waits for the machine to stop and returns its exit status.
    pub fn expect_exit(&mut self, timeout: Duration) -> Result<i32, String> {
        let deadline = Instant::now() + timeout;
        {
            let mut transcript = self.shared.transcript.lock().expect("transcript lock");
            while !transcript.closed {
                let now = Instant::now();
                if now >= deadline {
                    return Err(format!("the machine did not stop within {timeout:?}"));
                }
                transcript =
                    self.shared.changed.wait_timeout(transcript, deadline - now).expect("transcript lock").0;
            }
        }
        // Output is closed, so the process is exiting; wait() returns promptly.
        let status = self.child.wait().map_err(|error| format!("waiting for the machine: {error}"))?;
        status.code().ok_or_else(|| "the machine was killed by a signal".to_string())
    }

    /// Everything the machine printed so far.
    pub fn transcript(&self) -> String {
        self.shared.transcript.lock().expect("transcript lock").text.clone()
    }
}

/// What QEMU's firmware prints first: QEMU has set up every device and network by then.
const FIRMWARE_BANNER: &str = "OpenSBI";
/// Boots with forwarded ports are tried this often before giving up on finding free ports.
const PORT_ATTEMPTS: usize = 5;

/// Starts QEMU `qemu` for `boot` with the console piped. With forwarded ports, waits until
/// QEMU's set-up is over (at most `timeout`); if a host port turned out to be taken, picks
/// new ones and starts again (up to five times).
pub fn boot(qemu: &Path, mut boot: Boot, timeout: Duration) -> Result<Machine, String> {
    for attempt in 1..=PORT_ATTEMPTS {
        let mut machine = Machine::start(boot.command(qemu, Console::Piped))?;
        machine.forwards = boot.forwards().to_vec();
        if machine.forwards.is_empty() || machine.wait_for_anywhere(FIRMWARE_BANNER, timeout)? {
            return Ok(machine);
        }
        // QEMU stopped during set-up: a taken port, or something else to report.
        let transcript = machine.transcript();
        drop(machine);
        if !transcript.contains(qemu::PORT_TAKEN) {
            return Err(format!("QEMU stopped while starting:\n{transcript}"));
        }
        println!("        (attempt {attempt}: a forwarded port was taken; picking new ports)");
        if let Some(network) = boot.network_mut() {
            network.pick_new_ports()?;
        }
    }
    Err(format!("QEMU found a forwarded port taken {PORT_ATTEMPTS} times in a row"))
}

/// The transcript of the machine dropped last, so a failed test can show what it saw.
static LAST_TRANSCRIPT: Mutex<String> = Mutex::new(String::new());

/// Takes the transcript of the machine dropped last.
pub fn take_last_transcript() -> String {
    std::mem::take(&mut *LAST_TRANSCRIPT.lock().expect("transcript lock"))
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *LAST_TRANSCRIPT.lock().expect("transcript lock") = self.transcript();
    }
}

#[cfg(test)]
mod tests {
    //! The harness tested against a tiny shell script standing in for a machine.
    use super::*;
    use std::process::Stdio;

    fn shell(script: &str) -> Machine {
        let mut command = Command::new("sh");
        command.args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        Machine::start(command).unwrap()
    }

    #[test]
    fn expects_in_order_types_input_and_takes_the_exit_status() {
        // A serial console's Enter is a carriage return; read exactly "ada\r".
        let mut machine =
            shell("echo 'login:'; name=$(head -c 4 | tr -d '\\r'); echo \"hello $name\"; echo done; exit 7");
        machine.expect("login:", Duration::from_secs(10)).unwrap();
        machine.type_line("ada").unwrap();
        let text = machine.expect("hello ada", Duration::from_secs(10)).unwrap();
        assert!(text.ends_with("hello ada"));
        assert!(machine.expect("login:", Duration::from_millis(200)).is_err(), "a match is consumed");
        machine.expect("done", Duration::from_secs(10)).unwrap();
        assert_eq!(machine.expect_exit(Duration::from_secs(10)), Ok(7));
        assert!(machine.refute("goodbye").is_ok());
        assert!(machine.refute("hello").is_err());
    }

    #[test]
    fn a_missing_line_times_out_within_its_deadline() {
        let mut machine = shell("echo start; read never");
        let began = Instant::now();
        let error = machine.expect("never printed", Duration::from_millis(300)).unwrap_err();
        assert!(error.contains("timed out"), "{error}");
        assert!(began.elapsed() < Duration::from_secs(5));
        assert!(machine.expect_exit(Duration::from_millis(100)).is_err());
    }

    #[test]
    fn lines_are_read_from_any_offset_without_moving_the_cursor() {
        let mut machine =
            shell("echo one; echo two; name=$(head -c 4 | tr -d '\\r'); printf \"got $name\"; exit 0");
        let deadline = Instant::now() + Duration::from_secs(10);
        let NextLine::Line(first, next) = machine.line_at(0, deadline) else { panic!("no first line") };
        assert_eq!((first.as_str(), next), ("one", 4));
        assert_eq!(machine.line_at(next, deadline), NextLine::Line("two".into(), 8));
        // The cursor is where it was: expect still finds the first line.
        machine.expect("one", Duration::from_secs(10)).unwrap();
        // Nothing more until input comes: the deadline passes.
        assert_eq!(machine.line_at(8, Instant::now() + Duration::from_millis(200)), NextLine::Deadline);
        machine.type_line("ada").unwrap();
        // The last line has no line break; once the machine stops it is a line all the same.
        assert_eq!(machine.line_at(8, deadline), NextLine::Line("got ada".into(), 15));
        assert_eq!(machine.line_at(15, deadline), NextLine::Stopped);
        assert_eq!(machine.expect_exit(Duration::from_secs(10)), Ok(0));
    }

    #[test]
    fn a_stopped_machine_fails_the_wait_at_once() {
        let mut machine = shell("echo bye; exit 3");
        let error = machine.expect("never printed", Duration::from_secs(30)).unwrap_err();
        assert!(error.contains("stopped"), "{error}");
        assert_eq!(machine.expect_exit(Duration::from_secs(10)), Ok(3));
    }
}
