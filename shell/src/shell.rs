//! The interpreter: reads lines through the editor, runs builtins and programs through a
//! [`System`], keeps variables, `$?`, background jobs and the working directory.
//!
//! **The working directory** is the shell's: `cd` changes it (after asking the filesystem
//! that the target is a directory) and `pwd` prints it. Every program the shell starts
//! gets it as `PWD` in its environment, whatever the variable `PWD` holds (`cd` keeps the
//! variable equal to it, and `OLDPWD` the one before); only a prefix assignment
//! (`PWD=/tmp ls`) gives one program another. It is always absolute and normal
//! (`fsutil::path`), so programs resolve relative paths against it as they are.
//!
//! Output is collected and handed to [`System::write`] in one piece before every other
//! system call (so it appears before a program's own output, or before the shell blocks)
//! and after each batch of input. Lines end in `\r\n` because the terminal is raw.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::line::{Event, LineEditor};
use crate::parse::{self, Assignment, Command};
use crate::system::{
    ConnectionId, ExitStatus, FaultDescription, FileKind, FilesystemError, FsError, Mode, Pid,
    STATUS_CANNOT_RUN, STATUS_INTERRUPTED, STATUS_NOT_FOUND, STATUS_USAGE, System, SystemError,
};
use crate::table::{Align, Table, human_size};
use crate::variables::Variables;

/// The prompt. Tests wait for it: it is printed when the shell is ready for a line.
pub const PROMPT: &str = "lattice$ ";

/// The line printed once when the shell starts, before the first prompt.
pub const GREETING: &str = "Lattice shell. Type `help` for the list of builtins.";

/// Where `cd` goes without an argument when `HOME` is unset or empty.
pub const DEFAULT_HOME: &str = "/home/user";

/// What the shell does after a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave the shell with this status (`exit`).
    Exit(i64),
}

/// A program started with `&` that has not been reported as ended.
#[derive(Clone, Debug)]
struct Job {
    /// Its job number, as `%N` names it.
    number: usize,
    pid: Pid,
    /// The command as run (program and arguments), for reports.
    command: String,
}

/// A builtin command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builtin {
    Help,
    Echo,
    Ps,
    Kill,
    Jobs,
    Free,
    Conns,
    Revoke,
    Audit,
    Uptime,
    Cd,
    Pwd,
    Set,
    Env,
    Export,
    Unset,
    History,
    Clear,
    Exit,
}

/// The builtins, with their name, usage and one line of help, in the order `help` lists
/// them.
const BUILTINS: &[(Builtin, &str, &str, &str)] = &[
    (Builtin::Help, "help", "help", "list the builtins"),
    (Builtin::Echo, "echo", "echo [-n] WORD...", "print the words (-n: no newline)"),
    (Builtin::Ps, "ps", "ps", "list the processes"),
    (Builtin::Kill, "kill", "kill PID|%JOB...", "kill processes"),
    (Builtin::Jobs, "jobs", "jobs", "list the background jobs"),
    (Builtin::Free, "free", "free", "show memory: total, free, and per process"),
    (Builtin::Conns, "conns", "conns", "list the live connections"),
    (Builtin::Revoke, "revoke", "revoke ID...", "revoke connections (ids from conns)"),
    (Builtin::Audit, "audit", "audit", "show the security audit trail"),
    (Builtin::Uptime, "uptime", "uptime", "show the time since the machine started"),
    (Builtin::Cd, "cd", "cd [DIR|-]", "change directory (none: $HOME, else /home/user)"),
    (Builtin::Pwd, "pwd", "pwd", "print the directory programs start in"),
    (Builtin::Set, "set", "set", "list the shell variables"),
    (Builtin::Env, "env", "env", "list the exported variables (what programs get)"),
    (Builtin::Export, "export", "export [NAME[=VALUE]...]", "export variables to programs"),
    (Builtin::Unset, "unset", "unset NAME...", "forget variables"),
    (Builtin::History, "history", "history", "list the lines typed so far"),
    (Builtin::Clear, "clear", "clear", "clear the screen"),
    (Builtin::Exit, "exit", "exit [STATUS]", "leave the shell (default status: $?)"),
];

impl Builtin {
    /// The builtin called `name`, if there is one.
    fn named(name: &str) -> Option<Self> {
        BUILTINS.iter().find(|(_, builtin_name, _, _)| *builtin_name == name).map(|(builtin, ..)| *builtin)
    }
}

/// The output waiting to be written, with `\n` turned into `\r\n` on the way in.
#[derive(Default)]
struct Terminal {
    pending: Vec<u8>,
}

impl Write for Terminal {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.pending.push(b'\r');
            }
            self.pending.push(byte);
        }
        Ok(())
    }
}

/// Writes formatted text to the shell's terminal (writing to memory cannot fail).
macro_rules! say {
    ($shell:expr, $($argument:tt)*) => {{
        let _ = write!($shell.terminal, $($argument)*);
    }};
}

/// The shell. See the crate documentation for its behaviour.
pub struct Shell<S: System> {
    system: S,
    editor: LineEditor,
    variables: Variables,
    /// `$?`.
    last_status: i64,
    /// Background jobs, in job-number order.
    jobs: Vec<Job>,
    /// The working directory: absolute and normal.
    directory: String,
    terminal: Terminal,
}

impl<S: System> Shell<S> {
    /// A shell over `system`, in the root directory (`PWD=/`, exported, its one
    /// variable), with `$?` = 0.
    pub fn new(system: S) -> Self {
        let mut shell = Self {
            system,
            editor: LineEditor::new(),
            variables: Variables::new(),
            last_status: 0,
            jobs: Vec::new(),
            directory: String::from("/"),
            terminal: Terminal::default(),
        };
        shell.variables.set("PWD", "/");
        shell.variables.export("PWD");
        shell
    }

    /// The working directory.
    pub fn directory(&self) -> &str {
        &self.directory
    }

    /// Sets the working directory without asking the filesystem (the program does, at
    /// start, from its own `PWD`): `path` must be absolute; it is made normal.
    pub fn set_directory(&mut self, path: &str) -> Result<(), fsutil::path::PathError> {
        let directory = fsutil::path::working_directory(Some(path))?;
        self.enter(directory);
        Ok(())
    }

    /// Makes `directory` the working directory, keeping `PWD` and `OLDPWD`.
    fn enter(&mut self, directory: String) {
        let previous = core::mem::replace(&mut self.directory, directory);
        self.variables.set("OLDPWD", &previous);
        self.variables.set("PWD", &self.directory);
        self.variables.export("PWD");
    }

    /// What a program started now gets as its environment: the exported variables, with
    /// `PWD` the working directory, in name order.
    pub fn program_environment(&self) -> Vec<(String, String)> {
        let mut environment = self.variables.environment();
        environment.retain(|(name, _)| name != "PWD");
        let at = environment.partition_point(|(name, _)| name.as_str() < "PWD");
        environment.insert(at, (String::from("PWD"), self.directory.clone()));
        environment
    }

    /// The system, for whoever built the shell.
    pub fn system(&self) -> &S {
        &self.system
    }

    /// The system, mutably (tests drive their fake through this).
    pub fn system_mut(&mut self) -> &mut S {
        &mut self.system
    }

    /// The variables.
    pub fn variables(&self) -> &Variables {
        &self.variables
    }

    /// The variables, mutably (to set up the initial environment).
    pub fn variables_mut(&mut self) -> &mut Variables {
        &mut self.variables
    }

    /// `$?`: the status of the last command.
    pub fn last_status(&self) -> i64 {
        self.last_status
    }

    /// Greets, then reads and runs lines until `exit` or the end of input; returns the
    /// shell's exit status.
    pub fn run(&mut self) -> i64 {
        self.start();
        let mut buffer = [0; 64];
        loop {
            self.flush();
            match self.system.read(&mut buffer) {
                Ok(0) => return self.last_status,
                Ok(count) => {
                    if let Some(status) = self.feed(buffer.get(..count).unwrap_or_default()) {
                        return status;
                    }
                }
                Err(error) => {
                    say!(self, "lattice: cannot read the terminal: {error}\n");
                    self.flush();
                    return 1;
                }
            }
        }
    }

    /// Prints the greeting and the first prompt.
    pub fn start(&mut self) {
        say!(self, "{GREETING}\n");
        self.prompt();
    }

    /// Takes terminal input. Returns the exit status if the shell should exit (the rest of
    /// `bytes` is then ignored).
    pub fn feed(&mut self, bytes: &[u8]) -> Option<i64> {
        for &byte in bytes {
            let event = self.editor.feed(byte, &mut self.terminal.pending);
            match event {
                None => {}
                Some(Event::Line(line)) => {
                    if let Flow::Exit(status) = self.execute(&line) {
                        self.flush();
                        return Some(status);
                    }
                    self.prompt();
                }
                Some(Event::Interrupt) => {
                    self.last_status = STATUS_INTERRUPTED;
                    self.prompt();
                }
                Some(Event::EndOfInput) => {
                    say!(self, "\n(use `exit` to leave the shell)\n");
                    self.prompt();
                }
                Some(Event::ClearScreen) => {
                    self.system_flushed().clear_screen();
                    say!(self, "{PROMPT}");
                    self.editor.redraw(&mut self.terminal.pending);
                }
            }
        }
        self.flush();
        None
    }

    /// Runs one line, as if typed.
    pub fn execute(&mut self, line: &str) -> Flow {
        let status = self.last_status;
        let variables = &self.variables;
        let lookup = |name: &str| match name {
            "?" => Some(status.to_string()),
            name => variables.get(name).map(String::from),
        };
        let command = match parse::parse(line, &lookup) {
            Ok(command) => command,
            Err(error) => {
                say!(self, "lattice: syntax error: {error}\n");
                self.last_status = STATUS_USAGE;
                return Flow::Continue;
            }
        };
        let Command { assignments, words, background } = command;
        let Some((name, arguments)) = words.split_first() else {
            // Only assignments, or nothing at all (a blank line keeps `$?`).
            if !assignments.is_empty() {
                for Assignment { name, value } in &assignments {
                    self.variables.set(name, value);
                }
                self.last_status = 0;
            }
            return Flow::Continue;
        };
        if let Some(builtin) = Builtin::named(name) {
            if background {
                say!(self, "lattice: {name} is a builtin and cannot run in the background\n");
                self.last_status = STATUS_USAGE;
                return Flow::Continue;
            }
            return self.builtin(builtin, arguments);
        }
        let mut environment = self.program_environment();
        for Assignment { name, value } in assignments {
            environment.retain(|(existing, _)| *existing != name);
            environment.push((name, value));
        }
        self.last_status = self.run_program(name, arguments, &environment, background);
        Flow::Continue
    }

    /// Reports ended background jobs, then prints the prompt.
    fn prompt(&mut self) {
        self.report_finished_jobs();
        say!(self, "{PROMPT}");
    }

    /// Writes pending output.
    fn flush(&mut self) {
        if !self.terminal.pending.is_empty() {
            self.system.write(&self.terminal.pending);
            self.terminal.pending.clear();
        }
    }

    /// The system, after writing pending output, so output keeps its order.
    fn system_flushed(&mut self) -> &mut S {
        self.flush();
        &mut self.system
    }

    fn run_program(
        &mut self,
        name: &str,
        arguments: &[String],
        environment: &[(String, String)],
        background: bool,
    ) -> i64 {
        if name.is_empty() {
            say!(self, "lattice: command not found: ''\n");
            return STATUS_NOT_FOUND;
        }
        // A name with a `/` in it is a path to the program's file: a relative one is
        // resolved against the working directory here, since the process manager has none.
        // A bare name is the process manager's to find (`/bin/NAME`).
        let program = if name.contains('/') {
            match fsutil::path::resolve(&self.directory, name) {
                Ok(path) => path,
                Err(error) => {
                    say!(self, "lattice: {name}: {error}\n");
                    return STATUS_NOT_FOUND;
                }
            }
        } else {
            String::from(name)
        };
        let mode = if background { Mode::Background } else { Mode::Foreground };
        let pid = match self.system_flushed().spawn(&program, arguments, environment, mode) {
            Ok(pid) => pid,
            Err(SystemError::NotFound) if program.starts_with('/') => {
                say!(self, "lattice: no such program: {name}\n");
                return STATUS_NOT_FOUND;
            }
            Err(SystemError::NotFound) => {
                say!(self, "lattice: command not found: {name}\n");
                return STATUS_NOT_FOUND;
            }
            Err(error) => {
                say!(self, "lattice: cannot run {name}: {error}\n");
                return STATUS_CANNOT_RUN;
            }
        };
        if background {
            let number = self.jobs.last().map_or(1, |job| job.number + 1);
            let mut command = String::from(name);
            for argument in arguments {
                command.push(' ');
                command.push_str(argument);
            }
            self.jobs.push(Job { number, pid, command });
            say!(self, "[{number}] {pid}\n");
            return 0;
        }
        self.wait_foreground(name, pid)
    }

    /// Waits for a foreground program; Ctrl-C kills it. Returns `$?`.
    fn wait_foreground(&mut self, name: &str, pid: Pid) -> i64 {
        match self.system_flushed().wait(pid) {
            Ok(status) => self.report_foreground(name, pid, status),
            Err(SystemError::Interrupted) => {
                say!(self, "^C\n");
                if let Err(error) = self.system_flushed().kill(pid)
                    && error != SystemError::NoSuchProcess
                {
                    say!(self, "lattice: cannot stop pid {pid} ({name}): {error}\n");
                    return STATUS_INTERRUPTED;
                }
                // Collect its end, whether the kill did it or it ended just before.
                match self.system_flushed().wait(pid) {
                    Ok(ExitStatus::Killed) | Err(_) => STATUS_INTERRUPTED,
                    Ok(status) => self.report_foreground(name, pid, status),
                }
            }
            Err(error) => {
                say!(self, "lattice: lost pid {pid} ({name}): {error}\n");
                1
            }
        }
    }

    /// Says how a foreground program ended, unless it just exited; returns `$?`.
    fn report_foreground(&mut self, name: &str, pid: Pid, status: ExitStatus) -> i64 {
        match status {
            ExitStatus::Code(_) => {}
            ExitStatus::Faulted { kind, pc, address } => {
                say!(self, "pid {pid} ({name}) faulted: {}\n", FaultDescription { kind, pc, address });
            }
            ExitStatus::Killed => say!(self, "pid {pid} ({name}) killed\n"),
        }
        status.shell_status()
    }

    /// Reports background jobs that ended, one line each.
    fn report_finished_jobs(&mut self) {
        let finished = self.system_flushed().poll_finished();
        for (pid, status) in finished {
            let Some(index) = self.jobs.iter().position(|job| job.pid == pid) else { continue };
            let Job { number, command, .. } = self.jobs.remove(index);
            match status {
                ExitStatus::Code(code) => say!(self, "[{number}] done {command} (status {code})\n"),
                ExitStatus::Faulted { kind, pc, address } => {
                    say!(self, "[{number}] faulted {command}: {}\n", FaultDescription { kind, pc, address });
                }
                ExitStatus::Killed => say!(self, "[{number}] killed {command}\n"),
            }
        }
    }

    /// Runs `builtin`. Sets `$?` unless it exits.
    fn builtin(&mut self, builtin: Builtin, arguments: &[String]) -> Flow {
        let status = match builtin {
            Builtin::Help => self.help(),
            Builtin::Echo => self.echo(arguments),
            Builtin::Ps => self.ps(),
            Builtin::Kill => self.kill(arguments),
            Builtin::Jobs => self.list_jobs(),
            Builtin::Free => self.free(),
            Builtin::Conns => self.conns(),
            Builtin::Revoke => self.revoke(arguments),
            Builtin::Audit => self.audit(),
            Builtin::Uptime => self.uptime(arguments),
            Builtin::Cd => self.cd(arguments),
            Builtin::Pwd => self.pwd(arguments),
            Builtin::Set => self.set(),
            Builtin::Env => self.env(),
            Builtin::Export => self.export(arguments),
            Builtin::Unset => self.unset(arguments),
            Builtin::History => self.history(),
            Builtin::Clear => {
                self.system_flushed().clear_screen();
                0
            }
            Builtin::Exit => match arguments {
                [] => return Flow::Exit(self.last_status),
                [status] => match status.parse() {
                    Ok(status) => return Flow::Exit(status),
                    Err(_) => {
                        say!(self, "exit: not a number: {status}\n");
                        STATUS_USAGE
                    }
                },
                _ => {
                    say!(self, "exit: too many arguments\n");
                    STATUS_USAGE
                }
            },
        };
        self.last_status = status;
        Flow::Continue
    }

    fn help(&mut self) -> i64 {
        say!(self, "Builtins:\n");
        let width = BUILTINS.iter().map(|(_, _, usage, _)| usage.len()).max().unwrap_or(0);
        for (_, _, usage, summary) in BUILTINS {
            say!(self, "  {usage:<width$}  {summary}\n");
        }
        say!(self, "Anything else runs the program of that name: NAME [ARGUMENT...] [&]\n");
        let tools: Vec<&str> = coreutils::TOOLS.iter().map(|tool| tool.name).collect();
        say!(self, "Files: {} (NAME --help)\n", tools.join(" "));
        say!(self, "Keys: left/right, home/end, up/down (history), backspace, Ctrl-C, Ctrl-L.\n");
        0
    }

    fn echo(&mut self, arguments: &[String]) -> i64 {
        let (newline, words) = match arguments.split_first() {
            Some((flag, rest)) if flag == "-n" => (false, rest),
            _ => (true, arguments),
        };
        let text = words.join(" ");
        say!(self, "{text}");
        if newline {
            say!(self, "\n");
        }
        0
    }

    fn ps(&mut self) -> i64 {
        let mut processes = match self.system_flushed().processes() {
            Ok(processes) => processes,
            Err(error) => return self.failed("ps", &error),
        };
        processes.sort_by_key(|process| process.pid);
        let mut table = Table::new(&[
            ("PID", Align::Right),
            ("PARENT", Align::Right),
            ("STATE", Align::Left),
            ("LABEL", Align::Left),
            ("USED", Align::Right),
            ("QUOTA", Align::Right),
            ("NAME", Align::Left),
        ]);
        for process in processes {
            table.row(Vec::from([
                process.pid.to_string(),
                process.parent.map_or_else(|| "-".into(), |parent| parent.to_string()),
                process.state.name().into(),
                process.label,
                human_size(process.used_bytes),
                human_size(process.quota_bytes),
                process.name,
            ]));
        }
        let _ = table.render(&mut self.terminal);
        0
    }

    fn kill(&mut self, arguments: &[String]) -> i64 {
        if arguments.is_empty() {
            say!(self, "kill: usage: kill PID|%JOB...\n");
            return STATUS_USAGE;
        }
        let mut status = 0;
        for argument in arguments {
            let pid = match argument.strip_prefix('%') {
                Some(job) => {
                    let job = job.parse::<usize>().ok().and_then(|number| self.job(number));
                    match job {
                        Some(job) => job.pid,
                        None => {
                            say!(self, "kill: no such job: {argument}\n");
                            status = 1;
                            continue;
                        }
                    }
                }
                None => match argument.parse() {
                    Ok(pid) => Pid(pid),
                    Err(_) => {
                        say!(self, "kill: not a process id: {argument}\n");
                        status = 1;
                        continue;
                    }
                },
            };
            if let Err(error) = self.system_flushed().kill(pid) {
                say!(self, "kill: {pid}: {error}\n");
                status = 1;
            }
        }
        status
    }

    fn job(&self, number: usize) -> Option<&Job> {
        self.jobs.iter().find(|job| job.number == number)
    }

    fn list_jobs(&mut self) -> i64 {
        self.report_finished_jobs();
        let lines: Vec<String> = self
            .jobs
            .iter()
            .map(|job| alloc::format!("[{}] {} {} &\n", job.number, job.pid, job.command))
            .collect();
        for line in lines {
            say!(self, "{line}");
        }
        0
    }

    fn uptime(&mut self, arguments: &[String]) -> i64 {
        if !arguments.is_empty() {
            say!(self, "uptime: takes no arguments\n");
            return STATUS_USAGE;
        }
        match self.system_flushed().uptime() {
            Ok(up) => {
                say!(self, "{}\n", format_uptime(up));
                0
            }
            Err(error) => self.failed("uptime", &error),
        }
    }

    fn free(&mut self) -> i64 {
        let mut memory = match self.system_flushed().memory() {
            Ok(memory) => memory,
            Err(error) => return self.failed("free", &error),
        };
        let mut summary = Table::new(&[
            ("", Align::Left),
            ("TOTAL", Align::Right),
            ("USED", Align::Right),
            ("FREE", Align::Right),
        ]);
        summary.row(Vec::from([
            "memory".into(),
            human_size(memory.total_bytes),
            human_size(memory.total_bytes.saturating_sub(memory.free_bytes)),
            human_size(memory.free_bytes),
        ]));
        let _ = summary.render(&mut self.terminal);
        if memory.processes.is_empty() {
            return 0;
        }
        memory.processes.sort_by_key(|process| process.pid);
        say!(self, "\n");
        let mut table = Table::new(&[
            ("PID", Align::Right),
            ("USED", Align::Right),
            ("DONATED", Align::Right),
            ("QUOTA", Align::Right),
            ("NAME", Align::Left),
        ]);
        for process in memory.processes {
            table.row(Vec::from([
                process.pid.map_or_else(|| "-".into(), |pid| pid.to_string()),
                human_size(process.used_bytes),
                human_size(process.donated_bytes),
                human_size(process.quota_bytes),
                process.name,
            ]));
        }
        let _ = table.render(&mut self.terminal);
        0
    }

    fn conns(&mut self) -> i64 {
        let mut connections = match self.system_flushed().connections() {
            Ok(connections) => connections,
            Err(error) => return self.failed("conns", &error),
        };
        if connections.is_empty() {
            say!(self, "no connections\n");
            return 0;
        }
        connections.sort_by_key(|connection| connection.id);
        let mut table = Table::new(&[
            ("ID", Align::Right),
            ("CLIENT", Align::Left),
            ("LABEL", Align::Left),
            ("SERVICE", Align::Left),
            ("DONATED", Align::Right),
            ("RIGHTS", Align::Left),
            ("SCOPE", Align::Left),
        ]);
        for connection in connections {
            table.row(Vec::from([
                connection.id.to_string(),
                connection.client_name,
                connection.client_label,
                connection.service,
                human_size(connection.donation_bytes),
                connection.rights,
                if connection.scope.is_empty() { "-".into() } else { connection.scope },
            ]));
        }
        let _ = table.render(&mut self.terminal);
        0
    }

    fn audit(&mut self) -> i64 {
        let records = match self.system_flushed().audit() {
            Ok(records) => records,
            Err(error) => return self.failed("audit", &error),
        };
        if records.is_empty() {
            say!(self, "no audit records\n");
            return 0;
        }
        let mut table =
            Table::new(&[("SEQ", Align::Right), ("EVENT", Align::Left), ("DETAILS", Align::Left)]);
        for record in records {
            table.row(Vec::from([record.seq.to_string(), record.event, record.details]));
        }
        let _ = table.render(&mut self.terminal);
        0
    }

    fn revoke(&mut self, arguments: &[String]) -> i64 {
        if arguments.is_empty() {
            say!(self, "revoke: usage: revoke ID... (ids from conns)\n");
            return STATUS_USAGE;
        }
        let mut status = 0;
        for argument in arguments {
            let Ok(id) = argument.parse() else {
                say!(self, "revoke: not a connection id: {argument}\n");
                status = 1;
                continue;
            };
            match self.system_flushed().revoke(ConnectionId(id)) {
                Ok(()) => say!(self, "revoked connection {id}\n"),
                Err(error) => {
                    say!(self, "revoke: connection {id}: {error}\n");
                    status = 1;
                }
            }
        }
        status
    }

    fn cd(&mut self, arguments: &[String]) -> i64 {
        let (typed, announce) = match arguments {
            [] => {
                let home = self.variables.get("HOME").filter(|home| !home.is_empty());
                (String::from(home.unwrap_or(DEFAULT_HOME)), false)
            }
            [dash] if dash == "-" => match self.variables.get("OLDPWD").filter(|old| !old.is_empty()) {
                Some(previous) => (String::from(previous), true),
                None => {
                    say!(self, "cd: no previous directory (OLDPWD is not set)\n");
                    return 1;
                }
            },
            [directory] => (directory.clone(), false),
            _ => {
                say!(self, "cd: too many arguments (usage: cd [DIR|-])\n");
                return STATUS_USAGE;
            }
        };
        let path = match fsutil::path::resolve(&self.directory, &typed) {
            Ok(path) => path,
            Err(error) => {
                say!(self, "cd: {typed:?}: {error}\n");
                return 1;
            }
        };
        match self.system_flushed().stat(&path) {
            Ok(metadata) if metadata.kind == FileKind::Directory => {}
            Ok(_) => {
                say!(self, "cd: {path}: {}\n", FsError::NotADirectory);
                return 1;
            }
            Err(error @ FilesystemError::NoFilesystem(_)) => {
                say!(self, "cd: {error}\n");
                return 1;
            }
            Err(FilesystemError::Fs(error)) => {
                say!(self, "cd: {path}: {error}\n");
                return 1;
            }
        }
        self.enter(path);
        if announce {
            say!(self, "{}\n", self.directory);
        }
        0
    }

    fn pwd(&mut self, arguments: &[String]) -> i64 {
        if !arguments.is_empty() {
            say!(self, "pwd: takes no arguments\n");
            return STATUS_USAGE;
        }
        say!(self, "{}\n", self.directory);
        0
    }

    fn set(&mut self) -> i64 {
        let lines: Vec<String> = self
            .variables
            .iter()
            .map(|(name, value, _)| alloc::format!("{name}={}\n", quoted(value)))
            .collect();
        for line in lines {
            say!(self, "{line}");
        }
        0
    }

    fn env(&mut self) -> i64 {
        for (name, value) in self.program_environment() {
            say!(self, "{name}={value}\n");
        }
        0
    }

    fn export(&mut self, arguments: &[String]) -> i64 {
        if arguments.is_empty() {
            for (name, value) in self.variables.environment() {
                say!(self, "export {name}={}\n", quoted(&value));
            }
            return 0;
        }
        let mut status = 0;
        for argument in arguments {
            let (name, value) = match argument.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (argument.as_str(), None),
            };
            if !self.variables.export(name) {
                say!(self, "export: not a variable name: {name}\n");
                status = 1;
                continue;
            }
            if let Some(value) = value {
                self.variables.set(name, value);
            }
        }
        status
    }

    fn unset(&mut self, arguments: &[String]) -> i64 {
        for name in arguments {
            self.variables.unset(name);
        }
        0
    }

    fn history(&mut self) -> i64 {
        let lines: Vec<String> = self
            .editor
            .history()
            .iter()
            .enumerate()
            .map(|(index, line)| alloc::format!("{:>5}  {line}\n", index + 1))
            .collect();
        for line in lines {
            say!(self, "{line}");
        }
        0
    }

    /// Reports a failed system call of builtin `name`; returns its status.
    fn failed(&mut self, name: &str, error: &SystemError) -> i64 {
        say!(self, "{name}: {error}\n");
        1
    }
}

/// `value` as the shell would read it back: bare if it is made of safe characters, else in
/// single quotes (with `'` written as `'\''`).
fn quoted(value: &str) -> String {
    let safe = |character: char| character.is_ascii_alphanumeric() || "_-./:,+@%=".contains(character);
    if !value.is_empty() && value.chars().all(safe) {
        return value.into();
    }
    let mut text = String::from("'");
    for character in value.chars() {
        if character == '\'' {
            text.push_str("'\\''");
        } else {
            text.push(character);
        }
    }
    text.push('\'');
    text
}

/// `up 12.345 s`: the time since the machine started, to the millisecond (rounded down).
pub fn format_uptime(up: core::time::Duration) -> String {
    alloc::format!("up {}.{:03} s", up.as_secs(), up.subsec_millis())
}

#[cfg(test)]
mod tests;
