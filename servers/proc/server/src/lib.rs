//! The process manager's process table, apart from the kernel so the host tests can run
//! it: pids, who spawned each process, its state and exit status, the one `Wait` that may
//! be pending on it, and the page of `List`. `src/main.rs` builds and releases the
//! processes' kernel objects and carries out what the table answers.
//!
//! Generic over `W`, the handle of a waiting `Wait` (a deferred answer in the server), and
//! `R`, the process's kernel resources (its thread, quota and slots), which the table hands
//! back exactly once, when the process ends, for the driver to release.
//!
//! Invariants:
//! - pids are never reused (they count up from 1);
//! - a running process holds its resources; an ended one holds none;
//! - an ended process stays listed (a zombie) until its parent's `Wait` collects its
//!   status; a `Wait` already pending on it is answered the moment it ends, and the entry
//!   goes;
//! - only the caller that spawned a process may wait for it or kill it.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use proc_api::{ExitStatus, Pid, ProcError, ProcessInfo, ProcessState, Response};

pub mod demand;
pub mod program;

/// Most processes one `List` answer carries.
pub const LIST_PAGE: usize = 16;

/// One process.
#[derive(Debug)]
pub struct Process<W, R> {
    /// Its program.
    pub name: String,
    /// The badge of the caller that spawned it (a session or a manifest client).
    pub parent: u64,
    /// Its security client id.
    pub client: u64,
    /// Its label in the policy.
    pub label: String,
    /// Pages it holds: those it was built with, and those made on first touch since.
    pub pages: usize,
    /// Bytes of its quota.
    pub quota_bytes: u64,
    state: ProcessState,
    status: Option<ExitStatus>,
    waiter: Option<W>,
    resources: Option<R>,
}

impl<W, R> Process<W, R> {
    /// Its kernel resources, while it runs.
    pub fn resources(&self) -> Option<&R> {
        self.resources.as_ref()
    }

    /// Its kernel resources, while it runs, to change (a page made on first touch).
    pub fn resources_mut(&mut self) -> Option<&mut R> {
        self.resources.as_mut()
    }

    /// Whether it still runs.
    pub fn running(&self) -> bool {
        self.state == ProcessState::Running
    }
}

/// What a `Wait` gets at once.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitNow {
    /// It had ended: its status (the entry is gone).
    Exited(ExitStatus),
    /// It runs: keep the caller waiting and hand the table its handle ([`ProcessTable::wait_later`]).
    Wait,
}

/// A process that ended: its resources to release, and the pending `Wait` to answer.
#[derive(Debug)]
pub struct Ended<W, R> {
    /// Its kernel resources.
    pub resources: R,
    /// Its security client id (its connections close).
    pub client: u64,
    /// The waiter and its answer, if a `Wait` was pending.
    pub waiter: Option<(W, Response)>,
}

/// The processes.
#[derive(Debug)]
pub struct ProcessTable<W, R> {
    processes: BTreeMap<Pid, Process<W, R>>,
    next_pid: Pid,
}

impl<W, R> Default for ProcessTable<W, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W, R> ProcessTable<W, R> {
    /// No processes; the first gets pid 1.
    pub const fn new() -> Self {
        Self { processes: BTreeMap::new(), next_pid: 1 }
    }

    /// The pid the next process will get.
    pub fn next_pid(&self) -> Pid {
        self.next_pid
    }

    /// Records a process that now runs; returns its pid ([`ProcessTable::next_pid`]).
    #[allow(clippy::too_many_arguments, reason = "one call site; the facts of one spawn")]
    pub fn insert(
        &mut self,
        name: String,
        parent: u64,
        client: u64,
        label: String,
        pages: usize,
        quota_bytes: u64,
        resources: R,
    ) -> Pid {
        let pid = self.next_pid;
        self.next_pid += 1;
        let process = Process {
            name,
            parent,
            client,
            label,
            pages,
            quota_bytes,
            state: ProcessState::Running,
            status: None,
            waiter: None,
            resources: Some(resources),
        };
        self.processes.insert(pid, process);
        pid
    }

    /// Process `pid`.
    pub fn get(&self, pid: Pid) -> Option<&Process<W, R>> {
        self.processes.get(&pid)
    }

    /// Process `pid`, to change.
    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Process<W, R>> {
        self.processes.get_mut(&pid)
    }

    /// Only the caller that spawned a process may wait for or kill it.
    pub fn check_parent(&self, caller: u64, pid: Pid) -> Result<(), ProcError> {
        let process = self.processes.get(&pid).ok_or(ProcError::NoSuchProcess)?;
        if process.parent == caller { Ok(()) } else { Err(ProcError::NotPermitted) }
    }

    /// `Wait { pid }` from its parent (checked first): its status if it ended, or wait.
    pub fn wait(&mut self, pid: Pid) -> Result<WaitNow, ProcError> {
        let process = self.processes.get(&pid).ok_or(ProcError::NoSuchProcess)?;
        if process.state == ProcessState::Exited {
            let status = self.processes.remove(&pid).and_then(|process| process.status);
            return Ok(WaitNow::Exited(status.unwrap_or(ExitStatus::Killed)));
        }
        if process.waiter.is_some() {
            return Err(ProcError::AlreadyWaiting);
        }
        Ok(WaitNow::Wait)
    }

    /// Keeps `waiter` for `pid` after [`ProcessTable::wait`] said wait. Gives it back if
    /// the process is gone or someone waits already.
    pub fn wait_later(&mut self, pid: Pid, waiter: W) -> Result<(), W> {
        match self.processes.get_mut(&pid) {
            Some(process) if process.running() && process.waiter.is_none() => {
                process.waiter = Some(waiter);
                Ok(())
            }
            _ => Err(waiter),
        }
    }

    /// Process `pid` ended with `status` (its exit, a fault, a kill). Returns what to
    /// release and whom to answer; `None` if it is unknown or had ended already.
    pub fn end(&mut self, pid: Pid, status: ExitStatus) -> Option<Ended<W, R>> {
        let process = self.processes.get_mut(&pid)?;
        let resources = process.resources.take()?;
        process.state = ProcessState::Exited;
        let client = process.client;
        let waiter = match process.waiter.take() {
            Some(waiter) => {
                self.processes.remove(&pid);
                Some((waiter, Response::Exited { pid, status }))
            }
            None => {
                process.status = Some(status);
                None
            }
        };
        Some(Ended { resources, client, waiter })
    }

    /// The pid of the running or ended process whose security client id is `client`.
    pub fn pid_of_client(&self, client: u64) -> Option<Pid> {
        self.processes.iter().find(|(_, process)| process.client == client).map(|(&pid, _)| pid)
    }

    /// The processes after `after`, a page; `parent_pid` turns a parent's badge into its
    /// pid (0: not one of ours).
    pub fn list(&self, after: Pid, parent_pid: impl Fn(u64) -> Pid) -> Response {
        let processes: Vec<ProcessInfo> = self
            .processes
            .range(after.saturating_add(1)..)
            .take(LIST_PAGE)
            .map(|(&pid, process)| ProcessInfo {
                pid,
                name: process.name.clone(),
                state: process.state,
                label: process.label.clone(),
                quota_bytes: process.quota_bytes,
                used_bytes: (process.pages * 4096) as u64,
                parent: parent_pid(process.parent),
            })
            .collect();
        let more = processes
            .last()
            .is_some_and(|last| self.processes.range(last.pid.saturating_add(1)..).next().is_some());
        Response::Processes { processes, more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const SHELL: u64 = 65537;
    const OTHER: u64 = 65540;

    fn table_with(count: usize) -> ProcessTable<&'static str, u32> {
        let mut table = ProcessTable::new();
        for index in 0..u32::try_from(count).expect("a small table") {
            let pid = table.insert(
                "hello".to_string(),
                SHELL,
                1000 + u64::from(index),
                "internal{user}".to_string(),
                10,
                4 << 20,
                index,
            );
            assert_eq!(pid, index + 1);
        }
        table
    }

    #[test]
    fn only_the_parent_may_wait_or_kill() {
        let table = table_with(1);
        assert_eq!(table.check_parent(SHELL, 1), Ok(()));
        assert_eq!(table.check_parent(OTHER, 1), Err(ProcError::NotPermitted));
        assert_eq!(table.check_parent(SHELL, 2), Err(ProcError::NoSuchProcess));
    }

    #[test]
    fn a_pending_wait_is_answered_when_the_process_ends() {
        let mut table = table_with(1);
        assert_eq!(table.wait(1), Ok(WaitNow::Wait));
        assert_eq!(table.wait_later(1, "waiter"), Ok(()));
        assert_eq!(table.wait(1), Err(ProcError::AlreadyWaiting));
        let ended = table.end(1, ExitStatus::Code(3)).expect("it ran");
        assert_eq!(ended.resources, 0);
        assert_eq!(ended.client, 1000);
        let (waiter, answer) = ended.waiter.expect("a wait was pending");
        assert_eq!(waiter, "waiter");
        assert_eq!(answer, Response::Exited { pid: 1, status: ExitStatus::Code(3) });
        assert!(table.get(1).is_none(), "collected");
    }

    #[test]
    fn an_ended_process_waits_for_its_parent_as_a_zombie() {
        let mut table = table_with(2);
        let ended = table.end(2, ExitStatus::Killed).expect("it ran");
        assert!(ended.waiter.is_none());
        assert_eq!(table.get(2).map(Process::running), Some(false));
        assert!(table.get(2).and_then(Process::resources).is_none(), "released once");
        assert!(table.end(2, ExitStatus::Code(0)).is_none(), "ending twice releases nothing");
        assert_eq!(table.wait(2), Ok(WaitNow::Exited(ExitStatus::Killed)));
        assert!(table.get(2).is_none());
        assert_eq!(table.wait(2), Err(ProcError::NoSuchProcess));
        // A waiter offered for a process that is gone comes back.
        assert_eq!(table.wait_later(2, "late"), Err("late"));
    }

    #[test]
    fn pids_are_never_reused() {
        let mut table = table_with(1);
        let _ = table.end(1, ExitStatus::Code(0));
        let _ = table.wait(1);
        assert_eq!(table.next_pid(), 2);
        let pid = table.insert("b".to_string(), SHELL, 2000, String::new(), 1, 1, 9);
        assert_eq!(pid, 2);
    }

    #[test]
    fn the_list_comes_in_pages_with_parents_as_pids() {
        let table = table_with(LIST_PAGE + 3);
        let Response::Processes { processes, more } =
            table.list(0, |badge| if badge == SHELL { 0 } else { 7 })
        else {
            panic!("a page")
        };
        assert_eq!(processes.len(), LIST_PAGE);
        assert!(more);
        assert!(processes.iter().all(|process| process.parent == 0 && process.used_bytes == 40960));
        let last = processes.last().map(|process| process.pid).unwrap_or(0);
        let Response::Processes { processes, more } = table.list(last, |_| 0) else { panic!("a page") };
        assert_eq!(processes.len(), 3);
        assert!(!more);
        assert_eq!(table.pid_of_client(1002), Some(3));
        assert_eq!(table.pid_of_client(5), None);
    }
}
