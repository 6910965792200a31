//! Host programs run under a deadline, and what the host's `/proc` says about a running
//! machine (which files and sockets QEMU holds).
//!
//! A program run here never outlives its deadline: its output is read by threads until the
//! pipes close, the caller waits for that with a timeout (a channel, not a sleep), and a
//! program still running at the deadline is killed.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What a host program did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolOutput {
    /// Its exit status (`None` if a signal ended it, or it was killed at the deadline).
    pub status: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// Whether it was still running at the deadline (and so was killed).
    pub timed_out: bool,
}

impl ToolOutput {
    /// Standard output and standard error, for a message.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `command` with `input` on its standard input (then closed), for at most `timeout`.
pub fn run_with_deadline(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
) -> Result<ToolOutput, String> {
    let deadline = Instant::now() + timeout;
    let name = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start {name}: {error}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        // A program that never reads its input must not block us: write from a thread.
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let (sender, receiver) = mpsc::channel();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child.stdout.take().map(|stream| Box::new(stream) as Box<dyn Read + Send>),
        child.stderr.take().map(|stream| Box::new(stream) as Box<dyn Read + Send>),
    ];
    for (index, stream) in streams.into_iter().enumerate() {
        let sender = sender.clone();
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut bytes);
            }
            let _ = sender.send((index, bytes));
        });
    }
    drop(sender);
    let mut output = ToolOutput::default();
    for _ in 0..2 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(remaining) {
            Ok((0, bytes)) => output.stdout = String::from_utf8_lossy(&bytes).into_owned(),
            Ok((_, bytes)) => output.stderr = String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => {
                output.timed_out = true;
                break;
            }
        }
    }
    if output.timed_out {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|error| format!("waiting for {name}: {error}"))?;
    output.status = if output.timed_out { None } else { status.code() };
    Ok(output)
}

/// A file a process holds open, from `/proc/PID/fd` and `/proc/PID/fdinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenFile {
    /// What the descriptor points at: a path, or `socket:[INODE]`, `pipe:[INODE]`, ...
    pub target: PathBuf,
    /// The open flags (`O_ACCMODE` bits: 0 read-only, 1 write-only, 2 read-write).
    pub flags: u32,
}

impl OpenFile {
    /// Whether it is open for reading and writing.
    pub fn read_write(&self) -> bool {
        self.flags & 0o3 == 0o2
    }

    /// The inode of a socket descriptor.
    pub fn socket_inode(&self) -> Option<u64> {
        let target = self.target.to_str()?;
        target.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
    }
}

/// The files process `pid` holds open (Linux `/proc`).
pub fn open_files(pid: u32) -> Result<Vec<OpenFile>, String> {
    let directory = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&directory).map_err(|error| format!("read {directory}: {error}"))?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        // A descriptor closed since the listing is simply gone.
        let Ok(target) = std::fs::read_link(entry.path()) else { continue };
        let info = format!("/proc/{pid}/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(&info) else { continue };
        let flags = parse_fdinfo_flags(&info).ok_or_else(|| format!("no flags in {info}"))?;
        files.push(OpenFile { target, flags });
    }
    Ok(files)
}

/// The `flags:` line of an fdinfo file (octal).
pub fn parse_fdinfo_flags(fdinfo: &str) -> Option<u32> {
    let line = fdinfo.lines().find_map(|line| line.strip_prefix("flags:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_runs_with_input_and_its_status() {
        let output = run_with_deadline(
            Command::new("sh").args(["-c", "read line; echo \"got $line\"; echo oops >&2; exit 4"]),
            b"ada\n",
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(
            output,
            ToolOutput {
                status: Some(4),
                stdout: "got ada\n".into(),
                stderr: "oops\n".into(),
                timed_out: false
            }
        );
    }

    #[test]
    fn a_program_past_its_deadline_is_killed() {
        let began = Instant::now();
        let output = run_with_deadline(
            Command::new("sh").args(["-c", "echo started; exec sleep 30"]),
            b"",
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(output.timed_out);
        assert_eq!(output.status, None);
        assert!(began.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn fdinfo_flags_are_octal() {
        let info = "pos:\t0\nflags:\t0100002\nmnt_id:\t29\nino:\t1234\n";
        assert_eq!(parse_fdinfo_flags(info), Some(0o100002));
        let file = OpenFile { target: "/t/disk.img".into(), flags: 0o100002 };
        assert!(file.read_write());
        assert!(!OpenFile { target: "x".into(), flags: 0o100000 }.read_write());
        assert_eq!(parse_fdinfo_flags("pos: 0\n"), None);
    }

    #[test]
    fn this_process_sees_its_own_open_files() {
        let path = std::env::temp_dir().join(format!("lattice-open-files-{}", std::process::id()));
        let file = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path);
        let file = file.unwrap();
        let open = open_files(std::process::id()).unwrap();
        assert!(open.iter().any(|open| open.target == path && open.read_write()), "{open:?}");
        drop(file);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(OpenFile { target: "socket:[76535]".into(), flags: 2 }.socket_inode(), Some(76535));
        assert_eq!(OpenFile { target: "pipe:[1]".into(), flags: 2 }.socket_inode(), None);
    }
}
