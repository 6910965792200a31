//! Interpreter tests against a fake system: builtins, programs, `$?`, jobs, Ctrl-C, errors,
//! the working directory.

use super::*;
use crate::system::{
    AuditEntry, ConnectionInfo, FaultKind, MemoryInfo, Metadata, ProcessInfo, ProcessMemory, ProcessState,
};
use alloc::collections::{BTreeMap, VecDeque};
use fsutil::FileSystem;
use fsutil::memory::{Denial, MemoryFs};

/// What a fake program does.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Exits at once with this status.
    Exits(i64),
    /// Faults at once.
    Faults(FaultKind, u64, u64),
    /// Runs until killed, or until the test ends it.
    Runs,
    /// Cannot be started: not enough memory.
    TooBig,
    /// A file that is not a program (the process manager's `BadElf`).
    NotAProgram,
}

/// One `spawn` call.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Spawn {
    program: String,
    arguments: Vec<String>,
    environment: Vec<(String, String)>,
    mode: Mode,
    /// The terminal output written before the spawn (to check ordering).
    output_before: String,
}

struct Process {
    program: String,
    mode: Mode,
    killed: bool,
}

/// A system with a few programs, two processes, two connections, and a terminal that
/// records what it is sent.
struct Fake {
    programs: BTreeMap<&'static str, Behaviour>,
    input: VecDeque<u8>,
    output: Vec<u8>,
    next_pid: u32,
    running: BTreeMap<Pid, Process>,
    spawns: Vec<Spawn>,
    finished: Vec<(Pid, ExitStatus)>,
    /// The next `wait` returns `Interrupted`, as if Ctrl-C was typed meanwhile.
    interrupt_next_wait: bool,
    kills: Vec<Pid>,
    connections: Vec<ConnectionInfo>,
    revoked: Vec<ConnectionId>,
    /// Every query fails with `Unavailable` (servers not running).
    unavailable: bool,
    /// `kill` finds the process already ended (it ended just before).
    ended_before_kill: bool,
    /// The filesystem (`None`: the shell has no session, as if the policy refused it).
    filesystem: Option<MemoryFs>,
}

const MIB: u64 = 1024 * 1024;

impl Fake {
    fn new() -> Self {
        let programs = BTreeMap::from([
            ("hello", Behaviour::Exits(0)),
            ("fail", Behaviour::Exits(3)),
            ("crash", Behaviour::Faults(FaultKind::StorePageFault, 0x1042, 0)),
            ("illegal", Behaviour::Faults(FaultKind::IllegalInstruction, 0x2000, 0)),
            ("spin", Behaviour::Runs),
            ("big", Behaviour::TooBig),
            // Files named by path, as the process manager finds them on the disk.
            ("/home/user/tool", Behaviour::Exits(0)),
            ("/home/user/notes.txt", Behaviour::NotAProgram),
        ]);
        let connection = |id, service: &str, rights: &str, scope: &str| ConnectionInfo {
            id: ConnectionId(id),
            client_name: "httpd".into(),
            client_label: "web".into(),
            service: service.into(),
            rights: rights.into(),
            scope: scope.into(),
            donation_bytes: 16 * 1024,
        };
        Self {
            programs,
            input: VecDeque::new(),
            output: Vec::new(),
            next_pid: 7,
            running: BTreeMap::new(),
            spawns: Vec::new(),
            finished: Vec::new(),
            interrupt_next_wait: false,
            kills: Vec::new(),
            connections: vec![connection(4, "net", "listen", ""), connection(3, "fs", "read", "/www")],
            revoked: Vec::new(),
            unavailable: false,
            ended_before_kill: false,
            filesystem: Some(
                MemoryFs::new()
                    .with_directory("/home/user/notes")
                    .with_directory("/home/other")
                    .with_file("/www/index.html", b"<h1>hi</h1>")
                    .with_directory("/etc/policy"),
            ),
        }
    }

    fn status_of(&self, program: &str) -> ExitStatus {
        match self.programs[program] {
            Behaviour::Exits(code) => ExitStatus::Code(code),
            Behaviour::Faults(kind, pc, address) => ExitStatus::Faulted { kind, pc, address },
            Behaviour::Runs | Behaviour::TooBig | Behaviour::NotAProgram => {
                panic!("{program} does not end by itself")
            }
        }
    }

    /// Ends background process `pid` with `status`.
    fn end(&mut self, pid: u32, status: ExitStatus) {
        let process = self.running.remove(&Pid(pid)).expect("ending a process that is not running");
        assert_eq!(process.mode, Mode::Background);
        self.finished.push((Pid(pid), status));
    }

    /// Ends background process `pid` as its program does.
    fn end_normally(&mut self, pid: u32) {
        let status = self.status_of(&self.running[&Pid(pid)].program);
        self.end(pid, status);
    }

    fn check_available(&self) -> Result<(), SystemError> {
        if self.unavailable { Err(SystemError::Unavailable) } else { Ok(()) }
    }
}

impl System for Fake {
    fn read(&mut self, buffer: &mut [u8]) -> Result<usize, SystemError> {
        // A few bytes at a time, as a serial line delivers them.
        let count = buffer.len().min(self.input.len()).min(3);
        for slot in buffer.iter_mut().take(count) {
            *slot = self.input.pop_front().unwrap();
        }
        Ok(count)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    fn clear_screen(&mut self) {
        self.output.extend_from_slice(b"<clear>");
    }

    fn spawn(
        &mut self,
        program: &str,
        arguments: &[String],
        environment: &[(String, String)],
        mode: Mode,
    ) -> Result<Pid, SystemError> {
        self.spawns.push(Spawn {
            program: program.into(),
            arguments: arguments.to_vec(),
            environment: environment.to_vec(),
            mode,
            output_before: text(&self.output),
        });
        match self.programs.get(program) {
            None => return Err(SystemError::NotFound),
            Some(Behaviour::TooBig) => return Err(SystemError::OutOfMemory),
            Some(Behaviour::NotAProgram) => {
                return Err(SystemError::Other(
                    "not a valid executable: not an ELF file (bad or truncated headers)".into(),
                ));
            }
            Some(_) => {}
        }
        let pid = Pid(self.next_pid);
        self.next_pid += 1;
        self.running.insert(pid, Process { program: program.into(), mode, killed: false });
        Ok(pid)
    }

    fn wait(&mut self, pid: Pid) -> Result<ExitStatus, SystemError> {
        let process = self.running.get(&pid).ok_or(SystemError::NoSuchProcess)?;
        assert_eq!(process.mode, Mode::Foreground, "the shell waits only for foreground programs");
        if core::mem::take(&mut self.interrupt_next_wait) {
            return Err(SystemError::Interrupted);
        }
        let status = if process.killed { ExitStatus::Killed } else { self.status_of(&process.program) };
        self.running.remove(&pid);
        Ok(status)
    }

    fn poll_finished(&mut self) -> Vec<(Pid, ExitStatus)> {
        core::mem::take(&mut self.finished)
    }

    fn kill(&mut self, pid: Pid) -> Result<(), SystemError> {
        let process = self.running.get_mut(&pid).ok_or(SystemError::NoSuchProcess)?;
        if self.ended_before_kill {
            return Err(SystemError::NoSuchProcess);
        }
        self.kills.push(pid);
        process.killed = true;
        if process.mode == Mode::Background {
            self.running.remove(&pid);
            self.finished.push((pid, ExitStatus::Killed));
        }
        Ok(())
    }

    fn processes(&mut self) -> Result<Vec<ProcessInfo>, SystemError> {
        self.check_available()?;
        let process = |pid, name: &str, state, label: &str, used_bytes, quota_bytes, parent| ProcessInfo {
            pid: Pid(pid),
            name: name.into(),
            state,
            label: label.into(),
            quota_bytes,
            used_bytes,
            parent,
        };
        Ok(vec![
            process(7, "httpd", ProcessState::Blocked, "web", 2 * MIB, 8 * MIB, Some(Pid(1))),
            process(1, "root", ProcessState::Running, "system", 3 * MIB / 2, 4 * MIB, None),
        ])
    }

    fn memory(&mut self) -> Result<MemoryInfo, SystemError> {
        self.check_available()?;
        let process = |pid, name: &str, used_bytes, quota_bytes, donated_bytes| ProcessMemory {
            pid,
            name: name.into(),
            quota_bytes,
            used_bytes,
            donated_bytes,
        };
        Ok(MemoryInfo {
            total_bytes: 256 * MIB,
            free_bytes: 200 * MIB,
            processes: vec![
                process(Some(Pid(7)), "httpd", 2 * MIB, 8 * MIB, 32 * 1024),
                process(None, "/bin/shell", 0, MIB, 48 * 1024),
                process(Some(Pid(1)), "root", 3 * MIB / 2, 4 * MIB, 0),
            ],
        })
    }

    fn connections(&mut self) -> Result<Vec<ConnectionInfo>, SystemError> {
        self.check_available()?;
        Ok(self.connections.clone())
    }

    fn revoke(&mut self, connection: ConnectionId) -> Result<(), SystemError> {
        self.check_available()?;
        let index = self
            .connections
            .iter()
            .position(|each| each.id == connection)
            .ok_or(SystemError::NoSuchConnection)?;
        self.connections.remove(index);
        self.revoked.push(connection);
        Ok(())
    }

    fn uptime(&mut self) -> Result<core::time::Duration, SystemError> {
        self.check_available()?;
        Ok(core::time::Duration::from_millis(12_345))
    }

    fn stat(&mut self, path: &str) -> Result<Metadata, FilesystemError> {
        match &mut self.filesystem {
            None => Err(FilesystemError::NoFilesystem("unknown service".into())),
            Some(filesystem) => filesystem.stat(path).map_err(FilesystemError::Fs),
        }
    }

    fn audit(&mut self) -> Result<Vec<AuditEntry>, SystemError> {
        self.check_available()?;
        let entry = |seq, event: &str, details: &str| AuditEntry {
            seq,
            event: event.into(),
            details: details.into(),
        };
        Ok(vec![
            entry(1, "policy load", "policy 35f8d4d91392f105: 0 kept, 0 revoked"),
            entry(2, "deny", "/bin/nc (web) to fs: no grant of fs to /bin/nc"),
        ])
    }
}

/// Terminal bytes as text, with `\r\n` written `\n`.
fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap().replace("\r\n", "\n")
}

/// A started shell over a fresh fake, its greeting already taken off the output.
fn shell() -> Shell<Fake> {
    let mut shell = Shell::new(Fake::new());
    shell.start();
    shell.flush();
    assert_eq!(text(&shell.system().output), format!("{GREETING}\n{PROMPT}"));
    shell.system_mut().output.clear();
    shell
}

/// Types `keys`; returns what the terminal showed.
fn type_keys(shell: &mut Shell<Fake>, keys: &str) -> String {
    let exit = shell.feed(keys.as_bytes());
    assert_eq!(exit, None, "the shell exited after {keys:?}");
    text(&core::mem::take(&mut shell.system_mut().output))
}

/// Runs `line` through `execute`; returns the output.
fn run(shell: &mut Shell<Fake>, line: &str) -> String {
    assert_eq!(shell.execute(line), Flow::Continue, "{line:?} exited");
    shell.flush();
    text(&core::mem::take(&mut shell.system_mut().output))
}

#[test]
fn commands() {
    // (lines run before, line, output, $? afterwards)
    let cases: &[(&[&str], &str, &str, i64)] = &[
        (&[], "echo hello   'big  world'", "hello big  world\n", 0),
        (&[], "echo -n a b", "a b", 0),
        (&[], "echo", "\n", 0),
        (&[], "", "", 0),
        (&["fail"], "", "", 3),
        (&["fail"], "A=1", "", 0),
        (&[], "# nothing", "", 0),
        (&["fail"], "echo $? ${?}", "3 3\n", 0),
        (
            &["fail"],
            "echo $?; echo",
            "lattice: syntax error: ';': command lists are not supported (quote it to use it literally)\n",
            2,
        ),
        (&[], "echo 'x", "lattice: syntax error: unterminated single quote (opened at column 6)\n", 2),
        (&[], "hello", "", 0),
        (&[], "hello a b", "", 0),
        (&[], "fail", "", 3),
        (&["fail"], "hello", "", 0),
        (&[], "crash", "pid 7 (crash) faulted: store page fault at 0x0, pc 0x1042\n", 139),
        (&[], "illegal", "pid 7 (illegal) faulted: illegal instruction (instruction 0x0), pc 0x2000\n", 132),
        (&[], "foo", "lattice: command not found: foo\n", 127),
        (&[], "foo a b", "lattice: command not found: foo\n", 127),
        (&[], "'' x", "lattice: command not found: ''\n", 127),
        (&[], "big", "lattice: cannot run big: out of memory\n", 126),
        // A program named by a path: absolute, or relative to the working directory.
        (&[], "/home/user/tool", "", 0),
        (&["cd /home/user"], "./tool a", "", 0),
        (&["cd /home"], "user/tool", "", 0),
        (&["cd /home/user/notes"], "../tool", "", 0),
        (&[], "/home/user/nothing", "lattice: no such program: /home/user/nothing\n", 127),
        (&["cd /home/user"], "./nothing", "lattice: no such program: ./nothing\n", 127),
        (&["cd /home/user"], "./tool\u{1}", "lattice: ./tool\u{1}: a path with a control character\n", 127),
        (
            &["cd /home/user"],
            "./notes.txt",
            "lattice: cannot run ./notes.txt: not a valid executable: not an ELF file (bad or truncated headers)\n",
            126,
        ),
        (&[], "spin &", "[1] 7\n", 0),
        (&["fail"], "spin &", "[1] 8\n", 0),
        (&[], "echo a &", "lattice: echo is a builtin and cannot run in the background\n", 2),
        (&[], "A=1", "", 0),
        (&["A=1", "B=x$A"], "echo $A $B ${B}y", "1 x1 x1y\n", 0),
        (&["A=1", "unset A"], "echo [$A]", "[]\n", 0),
        (&["B='x y'", "A=1", "export C=2"], "set", "A=1\nB='x y'\nC=2\nPWD=/\n", 0),
        (&["Q=\"it's\"", "E="], "set", "E=''\nPWD=/\nQ='it'\\''s'\n", 0),
        (&["A=1", "export B=2 C"], "env", "B=2\nC=\nPWD=/\n", 0),
        (&["A=1", "export B='2 3'"], "export", "export B='2 3'\nexport PWD=/\n", 0),
        (&[], "pwd", "/\n", 0),
        (&["cd /home/user/notes"], "pwd", "/home/user/notes\n", 0),
        (&["cd /home//user/./notes/"], "echo $PWD $OLDPWD", "/home/user/notes /\n", 0),
        (&["cd /www", "cd ../home/user"], "pwd", "/home/user\n", 0),
        (&["cd /home/user"], "cd ../../../..", "", 0),
        (&["cd /home/user"], "cd", "", 0),
        (&["cd /www", "cd /etc"], "cd -", "/www\n", 0),
        (&["cd /www", "cd"], "pwd", "/home/user\n", 0),
        (&["HOME=/home/other", "cd /www", "cd"], "pwd", "/home/other\n", 0),
        (&["HOME=", "cd /www", "cd"], "pwd", "/home/user\n", 0),
        (&["cd /www"], "cd nothing", "cd: /www/nothing: no such file or directory\n", 1),
        (&[], "cd /www/index.html", "cd: /www/index.html: not a directory\n", 1),
        (&[], "cd /www/index.html/x", "cd: /www/index.html/x: not a directory\n", 1),
        (&[], "cd ''", "cd: \"\": an empty path names nothing\n", 1),
        (&[], "cd a b", "cd: too many arguments (usage: cd [DIR|-])\n", 2),
        (&[], "cd -", "cd: no previous directory (OLDPWD is not set)\n", 1),
        (&[], "pwd -L", "pwd: takes no arguments\n", 2),
        (&[], "export 1x A", "export: not a variable name: 1x\n", 1),
        (&[], "exit abc", "exit: not a number: abc\n", 2),
        (&[], "exit 1 2", "exit: too many arguments\n", 2),
        (&[], "kill", "kill: usage: kill PID|%JOB...\n", 2),
        (&[], "kill 99", "kill: 99: no such process\n", 1),
        (&[], "kill abc", "kill: not a process id: abc\n", 1),
        (&[], "kill %1 %x", "kill: no such job: %1\nkill: no such job: %x\n", 1),
        (&["spin &"], "kill 7", "", 0),
        (&["spin &"], "kill %1", "", 0),
        (&[], "revoke", "revoke: usage: revoke ID... (ids from conns)\n", 2),
        (&[], "revoke x", "revoke: not a connection id: x\n", 1),
        (&[], "revoke 9", "revoke: connection 9: no such connection\n", 1),
        (&[], "revoke 3", "revoked connection 3\n", 0),
        (&["revoke 3"], "revoke 3 4", "revoke: connection 3: no such connection\nrevoked connection 4\n", 1),
        (&["revoke 3", "revoke 4"], "conns", "no connections\n", 0),
        (&[], "jobs", "", 0),
        (&["spin &", "spin a 'b c' &"], "jobs", "[1] 7 spin &\n[2] 8 spin a b c &\n", 0),
        (&[], "clear", "<clear>", 0),
        (
            &[],
            "ps",
            "PID  PARENT  STATE    LABEL      USED    QUOTA  NAME\n\
             \x20 1       -  running  system  1.5 MiB  4.0 MiB  root\n\
             \x20 7       1  blocked  web     2.0 MiB  8.0 MiB  httpd\n",
            0,
        ),
        (
            &[],
            "free",
            "            TOTAL      USED       FREE\n\
             memory  256.0 MiB  56.0 MiB  200.0 MiB\n\
             \n\
             PID     USED   DONATED    QUOTA  NAME\n\
             \x20 -      0 B  48.0 KiB  1.0 MiB  /bin/shell\n\
             \x20 1  1.5 MiB       0 B  4.0 MiB  root\n\
             \x20 7  2.0 MiB  32.0 KiB  8.0 MiB  httpd\n",
            0,
        ),
        (
            &[],
            "audit",
            "SEQ  EVENT        DETAILS\n\
             \x20 1  policy load  policy 35f8d4d91392f105: 0 kept, 0 revoked\n\
             \x20 2  deny         /bin/nc (web) to fs: no grant of fs to /bin/nc\n",
            0,
        ),
        (&[], "uptime", "up 12.345 s\n", 0),
        (&[], "uptime now", "uptime: takes no arguments\n", 2),
        (
            &[],
            "conns",
            "ID  CLIENT  LABEL  SERVICE   DONATED  RIGHTS  SCOPE\n\
             \x203  httpd   web    fs       16.0 KiB  read    /www\n\
             \x204  httpd   web    net      16.0 KiB  listen  -\n",
            0,
        ),
    ];
    for (setup, line, output, status) in cases {
        let mut shell = shell();
        for setup_line in *setup {
            run(&mut shell, setup_line);
        }
        let found = run(&mut shell, line);
        assert_eq!(found, *output, "output of {line:?} after {setup:?}");
        assert_eq!(shell.last_status(), *status, "$? after {line:?} after {setup:?}");
    }
}

#[test]
fn uptime_is_seconds_to_the_millisecond() {
    use core::time::Duration;
    assert_eq!(format_uptime(Duration::ZERO), "up 0.000 s");
    assert_eq!(format_uptime(Duration::from_micros(2_999_999)), "up 2.999 s");
    assert_eq!(format_uptime(Duration::from_secs(3600)), "up 3600.000 s");
}

#[test]
fn help_lists_every_builtin_once() {
    let mut shell = shell();
    let output = run(&mut shell, "help");
    assert!(output.starts_with("Builtins:\n"), "{output}");
    for (_, name, _, _) in BUILTINS {
        let lines = output.lines().filter(|line| line.trim_start().split(' ').next() == Some(name)).count();
        assert_eq!(lines, 1, "{name} in\n{output}");
    }
    for required in [
        "help", "echo", "ps", "kill", "free", "conns", "revoke", "audit", "uptime", "cd", "pwd", "clear",
        "exit",
    ] {
        assert!(Builtin::named(required).is_some(), "{required}");
    }
    assert!(output.lines().all(|line| line.len() <= 80), "help fits 80 columns:\n{output}");
    let files = output.lines().find(|line| line.starts_with("Files: ")).expect("a line for the file tools");
    for tool in coreutils::TOOLS {
        assert!(files.split(' ').any(|word| word == tool.name), "{} in {files}", tool.name);
    }
}

#[test]
fn unavailable_services_are_reported() {
    let mut shell = shell();
    shell.system_mut().unavailable = true;
    for (line, output) in [
        ("ps", "ps: service unavailable\n"),
        ("free", "free: service unavailable\n"),
        ("conns", "conns: service unavailable\n"),
        ("audit", "audit: service unavailable\n"),
        ("uptime", "uptime: service unavailable\n"),
        ("revoke 3", "revoke: connection 3: service unavailable\n"),
    ] {
        assert_eq!(run(&mut shell, line), output);
        assert_eq!(shell.last_status(), 1, "{line}");
    }
}

#[test]
fn programs_get_arguments_and_environment() {
    let mut shell = shell();
    shell.variables_mut().set("HOME", "/home");
    shell.variables_mut().export("HOME");
    run(&mut shell, "export X=1 Y=2");
    run(&mut shell, "LOCAL=shell-only");
    run(&mut shell, "Y=override Z=3 hello a 'b c' \"$LOCAL\"");
    run(&mut shell, "spin &");
    let spawns = &shell.system().spawns;
    assert_eq!(spawns.len(), 2);
    assert_eq!(spawns[0].program, "hello");
    assert_eq!(spawns[0].arguments, ["a", "b c", "shell-only"]);
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    };
    assert_eq!(
        spawns[0].environment,
        pairs(&[("HOME", "/home"), ("PWD", "/"), ("X", "1"), ("Y", "override"), ("Z", "3")])
    );
    assert_eq!(spawns[0].mode, Mode::Foreground);
    assert_eq!(spawns[1].environment, pairs(&[("HOME", "/home"), ("PWD", "/"), ("X", "1"), ("Y", "2")]));
    assert_eq!(spawns[1].mode, Mode::Background);
    // Prefix assignments do not stay.
    assert_eq!(shell.variables().get("Z"), None);
    assert_eq!(shell.variables().get("Y"), Some("2"));
}

/// The process manager has no working directory: a program named by a relative path is
/// spawned by its absolute, normal path; a bare name as typed (the manager finds it).
#[test]
fn a_program_named_by_path_is_spawned_by_its_absolute_path() {
    let mut shell = shell();
    run(&mut shell, "cd /home/user/notes");
    for line in ["../tool", "./../.././user//tool", "/home/user/tool", "hello"] {
        run(&mut shell, line);
    }
    let spawned: Vec<&str> = shell.system().spawns.iter().map(|spawn| spawn.program.as_str()).collect();
    assert_eq!(spawned, ["/home/user/tool", "/home/user/tool", "/home/user/tool", "hello"]);
    // It still starts in the working directory.
    assert!(shell.system().spawns.iter().all(|spawn| {
        spawn.environment.iter().any(|(name, value)| name == "PWD" && value == "/home/user/notes")
    }));
}

#[test]
fn programs_start_in_the_shells_directory() {
    let mut shell = shell();
    run(&mut shell, "cd /home/user/notes");
    run(&mut shell, "hello");
    // Whatever the variable says, programs get the directory; a prefix assignment is the
    // one way to give one program another.
    run(&mut shell, "export PWD=/etc");
    run(&mut shell, "hello");
    run(&mut shell, "unset PWD");
    run(&mut shell, "hello");
    run(&mut shell, "PWD=/tmp hello");
    let directories: Vec<Option<String>> = shell
        .system()
        .spawns
        .iter()
        .map(|spawn| spawn.environment.iter().find(|(name, _)| name == "PWD").map(|(_, value)| value.clone()))
        .collect();
    let expected = ["/home/user/notes", "/home/user/notes", "/home/user/notes", "/tmp"];
    assert_eq!(directories, expected.map(|directory| Some(String::from(directory))));
    for spawn in &shell.system().spawns {
        assert_eq!(spawn.environment.iter().filter(|(name, _)| name == "PWD").count(), 1);
    }
    assert_eq!(run(&mut shell, "pwd"), "/home/user/notes\n");
    assert_eq!(run(&mut shell, "env"), "PWD=/home/user/notes\n");
}

#[test]
fn cd_without_a_filesystem_or_refused_says_so_and_stays() {
    let mut shell = shell();
    run(&mut shell, "cd /www");
    shell.system_mut().filesystem.as_mut().unwrap().deny("/etc", Denial::Everything);
    assert_eq!(
        run(&mut shell, "cd /etc/policy"),
        "cd: /etc/policy: denied: the fake's scope gives no access at /etc\n"
    );
    assert_eq!(shell.last_status(), 1);
    shell.system_mut().filesystem = None;
    assert_eq!(run(&mut shell, "cd /home"), "cd: no filesystem: unknown service\n");
    assert_eq!(shell.last_status(), 1);
    assert_eq!(run(&mut shell, "cd"), "cd: no filesystem: unknown service\n");
    assert_eq!(run(&mut shell, "pwd"), "/www\n");
    assert_eq!(shell.directory(), "/www");
    assert_eq!(shell.variables().get("PWD"), Some("/www"));
}

#[test]
fn cd_asks_the_filesystem_normal_paths_only() {
    let mut shell = shell();
    for line in ["cd /home/user", "cd ./notes/../../other//", "cd ..", "cd /..", "cd -", "cd nowhere/../.."] {
        run(&mut shell, line);
    }
    let filesystem = shell.system().filesystem.as_ref().unwrap();
    assert_eq!(filesystem.abnormal_paths(), &[] as &[String]);
    assert_eq!(
        filesystem.requests(),
        ["stat /home/user", "stat /home/other", "stat /home", "stat /", "stat /home", "stat /"]
    );
}

#[test]
fn the_starting_directory_must_be_absolute() {
    let mut shell = shell();
    assert_eq!(shell.set_directory("/home//user/"), Ok(()));
    assert_eq!(shell.directory(), "/home/user");
    assert!(shell.set_directory("home").is_err());
    assert_eq!(shell.directory(), "/home/user");
    assert_eq!(shell.variables().get("PWD"), Some("/home/user"));
}

#[test]
fn output_comes_before_the_program_runs() {
    let mut shell = shell();
    type_keys(&mut shell, "hello\r");
    assert_eq!(shell.system().spawns[0].output_before, "hello\n");
}

#[test]
fn a_session() {
    let mut shell = shell();
    // (keys typed, what the terminal shows, $? afterwards)
    let steps: &[(&str, &str, i64)] = &[
        ("echo hi\r", "echo hi\nhi\nlattice$ ", 0),
        ("fail\r", "fail\nlattice$ ", 3),
        ("echo $?\r", "echo $?\n3\nlattice$ ", 0),
        ("nothing here\r", "nothing here\nlattice: command not found: nothing\nlattice$ ", 127),
        ("crash\r", "crash\npid 8 (crash) faulted: store page fault at 0x0, pc 0x1042\nlattice$ ", 139),
        ("\r", "\nlattice$ ", 139),
        ("# comment\r", "# comment\nlattice$ ", 139),
        ("X=1\r", "X=1\nlattice$ ", 0),
        (
            "echo \"$X\r",
            "echo \"$X\nlattice: syntax error: unterminated double quote (opened at column 6)\nlattice$ ",
            2,
        ),
    ];
    for (keys, shown, status) in steps {
        assert_eq!(type_keys(&mut shell, keys), *shown, "after typing {keys:?}");
        assert_eq!(shell.last_status(), *status, "$? after typing {keys:?}");
    }
}

#[test]
fn background_jobs_are_reported_at_the_next_prompt() {
    let mut shell = shell();
    assert_eq!(type_keys(&mut shell, "spin &\r"), "spin &\n[1] 7\nlattice$ ");
    assert_eq!(type_keys(&mut shell, "spin 2&\r"), "spin 2&\n[2] 8\nlattice$ ");
    assert_eq!(type_keys(&mut shell, "crash &\r"), "crash &\n[3] 9\nlattice$ ");
    // Nothing is said until the next prompt.
    shell.system_mut().end(7, ExitStatus::Code(3));
    shell.system_mut().end_normally(9);
    assert_eq!(type_keys(&mut shell, "abc"), "abc");
    assert_eq!(
        type_keys(&mut shell, "\x7f\x7f\x7f\r"),
        "\x08\x1b[K\x08\x1b[K\x08\x1b[K\n\
         [1] done spin (status 3)\n\
         [3] faulted crash: store page fault at 0x0, pc 0x1042\n\
         lattice$ "
    );
    assert_eq!(type_keys(&mut shell, "jobs\r"), "jobs\n[2] 8 spin 2 &\nlattice$ ");
    assert_eq!(type_keys(&mut shell, "kill %2\r"), "kill %2\n[2] killed spin 2\nlattice$ ");
    assert_eq!(shell.system().kills, [Pid(8)]);
    // Numbers start again from 1 when no job is left; an ending is reported once.
    assert_eq!(type_keys(&mut shell, "spin &\r"), "spin &\n[1] 10\nlattice$ ");
    assert_eq!(type_keys(&mut shell, "\r"), "\nlattice$ ");
    // A background job's status does not change $?.
    type_keys(&mut shell, "hello\r");
    shell.system_mut().end(10, ExitStatus::Code(5));
    assert_eq!(type_keys(&mut shell, "echo $?\r"), "echo $?\n0\n[1] done spin (status 5)\nlattice$ ");
}

#[test]
fn ctrl_c_stops_the_foreground_program() {
    let mut shell = shell();
    shell.system_mut().interrupt_next_wait = true;
    assert_eq!(type_keys(&mut shell, "spin\r"), "spin\n^C\nlattice$ ");
    assert_eq!(shell.system().kills, [Pid(7)]);
    assert!(shell.system().running.is_empty(), "the killed program was collected");
    assert_eq!(shell.last_status(), 130);
    assert_eq!(type_keys(&mut shell, "echo $?\r"), "echo $?\n130\nlattice$ ");
}

#[test]
fn ctrl_c_after_the_program_ended_keeps_its_status() {
    let mut shell = shell();
    // The program faults just as Ctrl-C arrives: the kill finds nothing, and the fault is
    // what counts.
    shell.system_mut().interrupt_next_wait = true;
    shell.system_mut().ended_before_kill = true;
    assert_eq!(
        type_keys(&mut shell, "crash\r"),
        "crash\n^C\npid 7 (crash) faulted: store page fault at 0x0, pc 0x1042\nlattice$ "
    );
    assert_eq!(shell.last_status(), 139);
    assert!(shell.system().running.is_empty());
}

#[test]
fn control_keys_at_the_prompt() {
    let mut shell = shell();
    assert_eq!(type_keys(&mut shell, "abc\x03"), "abc^C\nlattice$ ");
    assert_eq!(shell.last_status(), 130);
    assert_eq!(type_keys(&mut shell, "\x04"), "\n(use `exit` to leave the shell)\nlattice$ ");
    // Ctrl-L: clear, prompt, the line as it was with the cursor where it was.
    assert_eq!(type_keys(&mut shell, "ab\x1b[D\x0c"), "ab\x1b[D<clear>lattice$ ab\x1b[D");
    assert_eq!(type_keys(&mut shell, "\x05\r"), "\x1b[C\nlattice: command not found: ab\nlattice$ ");
    assert_eq!(type_keys(&mut shell, "clear\r"), "clear\n<clear>lattice$ ");
}

#[test]
fn history_builtin_and_recall() {
    let mut shell = shell();
    type_keys(&mut shell, "echo one\r");
    type_keys(&mut shell, "fail\r");
    assert_eq!(type_keys(&mut shell, "\x1b[A\x1b[A\r"), "\x1b[Kfail\x1b[4D\x1b[Kecho one\none\nlattice$ ");
    assert_eq!(
        type_keys(&mut shell, "history\r"),
        "history\n    1  echo one\n    2  fail\n    3  echo one\n    4  history\nlattice$ "
    );
}

#[test]
fn exit() {
    // (keys, the status the shell exits with)
    let cases: &[(&str, i64)] = &[("exit\r", 0), ("exit 4\r", 4), ("fail\rexit\r", 3), ("exit -1\r", -1)];
    for (keys, status) in cases {
        let mut shell = shell();
        assert_eq!(shell.feed(keys.as_bytes()), Some(*status), "{keys:?}");
        // Bytes after `exit` are not read.
        let mut shell = self::shell();
        let mut with_more = String::from(*keys);
        with_more.push_str("echo after\r");
        assert_eq!(shell.feed(with_more.as_bytes()), Some(*status));
        assert!(!text(&shell.system().output).contains("after\n"));
    }
}

#[test]
fn run_reads_until_exit_or_end_of_input() {
    let mut fake = Fake::new();
    fake.input.extend(b"echo hi\rfail\rexit 5\recho never\r");
    let mut shell = Shell::new(fake);
    assert_eq!(shell.run(), 5);
    assert_eq!(
        text(&shell.system().output),
        format!("{GREETING}\n{PROMPT}echo hi\nhi\n{PROMPT}fail\n{PROMPT}exit 5\n")
    );

    let mut fake = Fake::new();
    fake.input.extend(b"fail\r");
    let mut shell = Shell::new(fake);
    assert_eq!(shell.run(), 3, "the end of input exits with $?");
}

#[test]
fn quoting_for_set() {
    let cases = [
        ("abc", "abc"),
        ("", "''"),
        ("a b", "'a b'"),
        ("it's", "'it'\\''s'"),
        ("/a/b-c.d", "/a/b-c.d"),
        ("$x", "'$x'"),
    ];
    for (value, shown) in cases {
        assert_eq!(quoted(value), shown);
    }
}
