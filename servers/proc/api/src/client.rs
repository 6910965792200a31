//! The client wrapper: one method per request.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use userlib::ipc::Cptr;
use userlib::rpc::{Client, RpcError};

use crate::{ExitStatus, Pid, Proc, ProcError, ProcessInfo, Request, Response};

/// A process just started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spawned {
    /// Its pid.
    pub pid: Pid,
    /// Its security client id.
    pub client: u64,
}

/// An answer of the wrong kind: the server does not speak this protocol's version.
fn unexpected() -> ProcError {
    ProcError::Rpc(RpcError::Malformed)
}

/// A client of the process manager, through a session capability.
#[derive(Clone, Copy, Debug)]
pub struct ProcClient {
    client: Client<Proc>,
}

impl ProcClient {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { client: Client::new(endpoint) }
    }

    /// Starts `program` with `args` and `env`; returns its pid.
    pub fn spawn(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        foreground: bool,
    ) -> Result<Pid, ProcError> {
        self.spawn_process(program, args, env, foreground).map(|spawned| spawned.pid)
    }

    /// Starts `program` with `args` and `env`; returns its pid and security client id.
    pub fn spawn_process(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        foreground: bool,
    ) -> Result<Spawned, ProcError> {
        let request = Request::Spawn {
            program: program.to_string(),
            args: args.iter().map(|argument| argument.to_string()).collect(),
            env: env
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect::<Vec<(String, String)>>(),
            foreground,
        };
        match self.client.call(&request)? {
            Response::Spawned { pid, client } => Ok(Spawned { pid, client }),
            _ => Err(unexpected()),
        }
    }

    /// Waits until `pid` ends; returns how.
    pub fn wait(&self, pid: Pid) -> Result<ExitStatus, ProcError> {
        match self.client.call(&Request::Wait { pid })? {
            Response::Exited { pid: ended, status } if ended == pid => Ok(status),
            _ => Err(unexpected()),
        }
    }

    /// Ends `pid`.
    pub fn kill(&self, pid: Pid) -> Result<(), ProcError> {
        match self.client.call(&Request::Kill { pid })? {
            Response::Killed => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// The programs' memory: `(total, free)` in bytes.
    pub fn memory(&self) -> Result<(u64, u64), ProcError> {
        match self.client.call(&Request::Memory)? {
            Response::Memory { total_bytes, free_bytes } => Ok((total_bytes, free_bytes)),
            _ => Err(unexpected()),
        }
    }

    /// Every process (asking page by page).
    pub fn list(&self) -> Result<Vec<ProcessInfo>, ProcError> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let Response::Processes { processes, more } = self.client.call(&Request::List { after })? else {
                return Err(unexpected());
            };
            let last = processes.last().map(|process| process.pid);
            all.extend(processes);
            match last {
                // A page must move forward, or a confused server would keep us here.
                Some(pid) if more && pid > after => after = pid,
                _ => return Ok(all),
            }
        }
    }
}
