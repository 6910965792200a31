//! The process manager: spawns programs from the boot archive with arguments and
//! environment, reports their faults, collects their exit status, kills them, lists them,
//! and reclaims everything a process held when it ends.
//!
//! Each process is admitted by the security server first (`Admit`: it gets a client id,
//! a label, and its security session capability, at `start_slots::SECURITY`), then given a
//! quota by the resource donor (`Grant`: a quota of `QUOTA_BYTES`, of which the donor moves
//! the process's own half to the manager as an Untyped; the other half pays for its
//! sessions), and built from that Untyped, so revoking it takes the whole process back:
//! that includes the timer and notification it starts with (`start_slots::TIMER`,
//! `TIMER_NOTIFICATION`), so a process's timer never outlives it. Its thread runs on a CPU
//! budget from the donor (`Budget`). When it ends, the manager revokes it, tells
//! the security server (`Depart`: its connections close) and the donor (`Release`: the
//! quota returns). Every process's fault endpoint is the manager's own endpoint, minted
//! with badge `FAULT_BADGE + pid`: faults and exits arrive as messages in the same loop as
//! requests.
//!
//! Its own capabilities (from the manifest): the security server at `FIRST_CLIENT`, the
//! donor at `FIRST_CLIENT + 1`. It registers `proc` with the security server and takes
//! session notices, so it knows which program each session is.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use donor_api::DonorClient;
use kernel_abi::bootarchive::BootArchive;
use kernel_abi::syscall::FAULT_LABEL;
use kernel_abi::{FaultKind, ObjectType, Rights};
use loader::{Grant, Spec, Workspace, server_slots as at};
use proc_api::{ExitStatus, Pid, Proc, ProcError, ProcessInfo, ProcessState, Request, Response, start_slots};
use security_api::{FIRST_CONNECTION, SecurityClient, SessionNotice};
use userlib::ipc::{Cptr, Message};
use userlib::rpc::{self, CapabilitySlot, Outcome, Reply, Server};
use userlib::{object, println};

userlib::entry!(main);

/// Bytes of the quota each process is built from.
const QUOTA_BYTES: u64 = 4 << 20;
/// What a session costs its client (the process table entries it may create).
const SESSION_BYTES: u64 = 16 << 10;
/// The badge of the notification the security server signals for session notices.
const NOTICE_BADGE: usize = 1;
/// Slots of the security server and the donor (from the manifest).
const SECURITY: usize = at::FIRST_CLIENT;
const DONOR: usize = at::FIRST_CLIENT + 1;
/// Badges of fault endpoints start here (client badges are below).
const FAULT_BADGE: usize = 1 << 40;
/// The badge a process's timer signals its notification with.
const TIMER_BADGE: usize = 1;
/// Priority of spawned programs.
const PROGRAM_PRIORITY: usize = 100;
/// A page of the manager's address space to copy through (its start info page's region
/// has page tables).
const SCRATCH: usize = userlib::start::START_INFO_ADDRESS + 0x2000;
/// Slots of the manager's CNode it may hand out (the loader's reserved ones are below).
const SLOTS: usize = 1 << 12;

/// Slot bookkeeping: which of the manager's slots are free.
struct Slots {
    free: Vec<usize>,
}

impl Slots {
    fn take(&mut self) -> Option<usize> {
        self.free.pop()
    }
}

/// One process.
struct Process {
    name: String,
    parent: usize,
    state: ProcessState,
    status: Option<ExitStatus>,
    thread: Cptr,
    /// The quota the process is built from.
    chunk: Cptr,
    /// Its security client id.
    client: u64,
    /// Its label in the policy.
    label: String,
    /// Slots of the manager's CNode holding the process's objects (freed when it ends).
    slots: Vec<usize>,
    pages: usize,
    /// A `Wait` whose answer is pending: the reply object the waiter is bound to.
    waiter: Option<Cptr>,
}

struct Manager {
    archive: BootArchive<'static>,
    slots: Slots,
    spare_replies: Vec<Cptr>,
    processes: BTreeMap<Pid, Process>,
    next_pid: Pid,
    security: SecurityClient,
    donor: DonorClient,
    /// Sessions: connection id to the client's security client id and program, from the
    /// security server's notices.
    sessions: BTreeMap<u64, (u64, String)>,
    /// The memory each session's client donated for it (an Untyped the donor moved here;
    /// the donor revokes it when the session closes).
    session_memory: BTreeMap<u64, Cptr>,
}

fn archive() -> Option<BootArchive<'static>> {
    BootArchive::parse(userlib::server_boot_archive()?).ok()
}

fn main() -> i32 {
    let _ = userlib::trace::init("proc", tracing::Level::INFO);
    let Some(archive) = archive() else {
        println!("proc: no boot archive");
        return 1;
    };
    let mut slots = Slots { free: (at::FIRST_FREE..SLOTS).rev().collect() };
    // Reply objects first (one to serve with, spares for deferred answers), then the rest of
    // the budget in chunks.
    let mut replies = Vec::new();
    for _ in 0..16 {
        let Some(slot) = slots.take() else { return 1 };
        if object::retype(at::MEMORY, ObjectType::Reply, 0, at::CNODE, slot, 1).is_err() {
            println!("proc: cannot make reply objects");
            return 1;
        }
        replies.push(slot);
    }
    let Some(reply) = replies.pop() else { return 1 };
    let security = SecurityClient::new(SECURITY);
    if let Err(error) = security.register("proc", at::SERVICE, SESSION_BYTES) {
        println!("proc: cannot register with the security server: {error}");
        return 1;
    }
    // Session notices arrive as a signal of a notification bound to this thread: a
    // message with label 0 and no words out of the endpoint receive.
    let subscribed = (|| {
        let notification = slots.take()?;
        let badged = slots.take()?;
        object::retype(at::MEMORY, ObjectType::Notification, 0, at::CNODE, notification, 1).ok()?;
        object::mint(at::CNODE, badged, at::CNODE, notification, Rights::WRITE, NOTICE_BADGE).ok()?;
        object::bind_notification(at::THREAD, notification).ok()?;
        security.subscribe(badged).ok()
    })();
    if subscribed.is_none() {
        println!("proc: cannot subscribe to session notices");
        return 1;
    }
    println!("proc: ready");
    let mut manager = Manager {
        archive,
        slots,
        spare_replies: replies,
        processes: BTreeMap::new(),
        next_pid: 1,
        security,
        donor: DonorClient::new(DONOR),
        sessions: BTreeMap::new(),
        session_memory: BTreeMap::new(),
    };
    let mut server = Server::new(at::SERVICE, reply);
    let error = server.run(|incoming| {
        if incoming.badge() >= FAULT_BADGE && incoming.label() == FAULT_LABEL {
            manager.ended(incoming.badge() - FAULT_BADGE, incoming.message());
            // Nobody waits for an answer to a fault message.
            return Outcome::Answer(Message::new(0, &[]), None);
        }
        if incoming.label() == 0 && incoming.message().length == 0 {
            manager.take_notices();
            return Outcome::Answer(Message::new(0, &[]), None);
        }
        match incoming.request::<Proc>() {
            Ok(request) => manager.handle(incoming.badge(), incoming.reply_object(), request).outcome(),
            Err(error) => {
                let message = incoming.message();
                tracing::warn!(
                    badge = incoming.badge(),
                    label = message.label,
                    words = message.length,
                    "refused a malformed request"
                );
                Reply::<Proc>::Now(Err(ProcError::from(error))).outcome()
            }
        }
    });
    println!("proc: stopped serving: {error}");
    1
}

impl Manager {
    fn handle(&mut self, client: usize, reply_object: Cptr, request: Request) -> Reply<Proc> {
        match request {
            Request::Spawn { program, args, env, foreground: _ } => Reply::Now(
                self.spawn(client, &program, &args, &env)
                    .map(|(pid, client)| Response::Spawned { pid, client }),
            ),
            Request::Wait { pid } => match self.check_parent(client, pid) {
                Ok(()) => self.wait(pid, reply_object),
                Err(error) => Reply::Now(Err(error)),
            },
            Request::Kill { pid } => Reply::Now(self.check_parent(client, pid).and_then(|()| self.kill(pid))),
            Request::List { after } => Reply::Now(Ok(self.list(after))),
            Request::Memory => match self.donor.free() {
                Ok(memory) => {
                    Reply::Now(Ok(Response::Memory { total_bytes: memory.total, free_bytes: memory.free }))
                }
                Err(_) => Reply::Now(Err(ProcError::OutOfMemory)),
            },
        }
    }

    /// The security server has session notices: who opened a session, which closed.
    fn take_notices(&mut self) {
        let Ok(notices) = self.security.notices() else { return };
        for notice in notices {
            match notice {
                SessionNotice::Opened { connection, client_id, client, donation_bytes, .. } => {
                    tracing::debug!(connection, client = client.as_str(), "session opened");
                    self.sessions.insert(connection, (client_id, client));
                    if donation_bytes > 0 {
                        self.take_memory(connection);
                    }
                }
                SessionNotice::Closed { connection } => {
                    self.sessions.remove(&connection);
                    // The donor took the memory back already (revoked); the slot goes.
                    if let Some(slot) = self.session_memory.remove(&connection) {
                        let _ = object::delete(at::CNODE, slot);
                        self.slots.free.push(slot);
                    }
                }
            }
        }
    }

    /// Takes the memory the client of `connection` donated for its session and keeps it for
    /// the session's life. (A session's state here is a map entry and the processes it
    /// spawned, each paid from its own quota, so nothing is made from it yet.)
    fn take_memory(&mut self, connection: u64) {
        let Some(slot) = self.slots.take() else { return };
        match self.donor.take(connection, CapabilitySlot { cnode: at::CNODE, index: slot }) {
            Ok(bytes) => {
                tracing::debug!(connection, bytes, "took the session's memory");
                self.session_memory.insert(connection, slot);
            }
            Err(error) => {
                tracing::debug!(connection, %error, "no memory for the session");
                self.slots.free.push(slot);
            }
        }
    }

    fn spawn(
        &mut self,
        client: usize,
        program: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> Result<(Pid, u64), ProcError> {
        let elf = self.archive.find(program).ok_or(ProcError::NoSuchProgram)?.data;
        let pid = self.next_pid;
        let mut used = Vec::new();
        // Admission: its security session, in a slot of ours (its capability is a copy).
        let security = self.slots.take().ok_or(ProcError::OutOfMemory)?;
        used.push(security);
        let parent_connection = if (client as u64) >= FIRST_CONNECTION { client as u64 } else { 0 };
        let admitted = self.security.admit(
            program,
            parent_connection,
            CapabilitySlot { cnode: at::CNODE, index: security },
        );
        let (security_client, label) = match admitted {
            Ok(admitted) => admitted,
            Err(error) => {
                self.free_slots(&used);
                return Err(ProcError::NotPermitted).inspect_err(|_| {
                    tracing::warn!(program, %error, "the security server refused to admit it");
                });
            }
        };
        // Its quota.
        let Some(chunk) = self.slots.take() else {
            self.depart(security_client, &used);
            return Err(ProcError::OutOfMemory);
        };
        used.push(chunk);
        let into = CapabilitySlot { cnode: at::CNODE, index: chunk };
        if self.donor.grant(security_client, pid, program, QUOTA_BYTES, into).is_err() {
            self.depart(security_client, &used);
            return Err(ProcError::OutOfMemory);
        }
        // Its label goes in its environment: its events name it (`userlib::trace`).
        let mut env = env.to_vec();
        env.retain(|(key, _)| key != userlib::trace::LABEL_VARIABLE);
        env.push((String::from(userlib::trace::LABEL_VARIABLE), label.clone()));
        let result = self.build(pid, chunk, security_client, security, program, elf, args, &env, &mut used);
        match result {
            Ok((thread, pages)) => {
                self.next_pid += 1;
                let _ = self.donor.report(security_client, (pages * 4096) as u64);
                self.processes.insert(
                    pid,
                    Process {
                        name: program.to_string(),
                        parent: client,
                        state: ProcessState::Running,
                        status: None,
                        thread,
                        chunk,
                        client: security_client,
                        label,
                        slots: used,
                        pages,
                        waiter: None,
                    },
                );
                Ok((pid, security_client))
            }
            Err(error) => {
                self.release(chunk, security_client, &used);
                Err(error)
            }
        }
    }

    /// Deletes `slots` (empty or not) and frees them.
    fn free_slots(&mut self, slots: &[usize]) {
        for &slot in slots {
            let _ = object::delete(at::CNODE, slot);
            self.slots.free.push(slot);
        }
    }

    /// A process that will not run after all: the security server forgets it.
    fn depart(&mut self, client: u64, slots: &[usize]) {
        let _ = self.security.depart(client);
        self.free_slots(slots);
    }

    #[allow(clippy::too_many_arguments, reason = "one call site; the pieces of one spawn")]
    fn build(
        &mut self,
        pid: Pid,
        chunk: Cptr,
        client: u64,
        security: Cptr,
        program: &str,
        elf: &[u8],
        args: &[String],
        env: &[(String, String)],
        used: &mut Vec<usize>,
    ) -> Result<(Cptr, usize), ProcError> {
        let fault_endpoint = self.slots.take().ok_or(ProcError::OutOfMemory)?;
        used.push(fault_endpoint);
        object::mint(
            at::CNODE,
            fault_endpoint,
            at::CNODE,
            at::SERVICE,
            Rights::WRITE,
            FAULT_BADGE + pid as usize,
        )
        .map_err(|_| ProcError::OutOfMemory)?;
        let arguments: Vec<&str> = args.iter().map(String::as_str).collect();
        let environment: Vec<(&str, &str)> =
            env.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let (timer, timer_notification) = self.make_timer(chunk, used)?;
        // What a program starts with (`proc_api::start_slots`): its security session, and a
        // timer with its notification, paid from its quota.
        let grants = [
            Grant {
                slot: start_slots::SECURITY,
                source: security,
                rights: Rights::WRITE | Rights::GRANT,
                badge: None,
            },
            Grant { slot: start_slots::TIMER, source: timer, rights: Rights::ALL, badge: None },
            Grant {
                slot: start_slots::TIMER_NOTIFICATION,
                source: timer_notification,
                rights: Rights::READ | Rights::WRITE,
                badge: None,
            },
        ];
        let slots = &mut self.slots;
        let mut take = || {
            let slot = slots.take();
            if let Some(slot) = slot {
                used.push(slot);
            }
            slot
        };
        let mut workspace = Workspace {
            untyped: chunk,
            cnode: at::CNODE,
            next_slot: &mut take,
            address_space: at::ADDRESS_SPACE,
            scratch: SCRATCH,
        };
        let spec = Spec {
            name: program,
            elf,
            arguments: &arguments,
            environment: &environment,
            priority: PROGRAM_PRIORITY,
            cnode_radix: 6,
            stack_pages: 16,
            heap_pages: 64,
            fault_endpoint,
            grants: &grants,
        };
        let process = loader::build(&mut workspace, &spec).map_err(|error| match error {
            loader::BuildError::Elf(error) => ProcError::BadElf(alloc::format!("{error}")),
            loader::BuildError::StartInfoTooLarge => ProcError::ArgumentsTooLong,
            loader::BuildError::Kernel(_) | loader::BuildError::NoSlots => ProcError::OutOfMemory,
        })?;
        // Its share of the CPU, from the donor; without one (a system whose donor has no
        // scheduling control) it runs unbudgeted, as servers do.
        if let Some(slot) = self.slots.take() {
            used.push(slot);
            let into = CapabilitySlot { cnode: at::CNODE, index: slot };
            match self.donor.budget(client, into) {
                Ok(_) => {
                    object::set_sched_context(process.thread, slot).map_err(|_| ProcError::OutOfMemory)?
                }
                Err(error) => tracing::debug!(pid, %error, "no CPU budget"),
            }
        }
        loader::start(&process).map_err(|_| ProcError::OutOfMemory)?;
        // Routine comings and goings are debug events: the terminal is the user's. Faults
        // (a warning, above) and kills stay visible.
        tracing::debug!(pid, program, pages = process.pages, "spawned");
        Ok((process.thread, process.pages))
    }

    /// A timer and the notification it signals (badge 1), made from the process's quota
    /// `chunk` into slots of ours (recorded in `used`); returns (timer, notification).
    fn make_timer(&mut self, chunk: Cptr, used: &mut Vec<usize>) -> Result<(Cptr, Cptr), ProcError> {
        let mut take = || {
            let slot = self.slots.take().ok_or(ProcError::OutOfMemory)?;
            used.push(slot);
            Ok::<Cptr, ProcError>(slot)
        };
        let (timer, notification, badged) = (take()?, take()?, take()?);
        let made = object::retype(chunk, ObjectType::Timer, 0, at::CNODE, timer, 1)
            .and_then(|()| object::retype(chunk, ObjectType::Notification, 0, at::CNODE, notification, 1))
            .and_then(|()| {
                object::mint(at::CNODE, badged, at::CNODE, notification, Rights::WRITE, TIMER_BADGE)
            })
            .and_then(|()| object::timer_set_notification(timer, badged));
        made.map_err(|_| ProcError::OutOfMemory)?;
        Ok((timer, notification))
    }

    /// Gives a process's memory back: revoking its quota destroys every object made from
    /// it, wherever its capabilities went; its connections close (the security server),
    /// and the quota returns (the donor); its slots in the manager's CNode are free again.
    fn release(&mut self, chunk: Cptr, client: u64, slots: &[usize]) {
        let _ = object::revoke(at::CNODE, chunk);
        let _ = self.security.depart(client);
        let _ = self.donor.release(client);
        self.free_slots(slots);
    }

    /// A fault or exit message from process `pid`.
    fn ended(&mut self, pid: usize, message: &Message) {
        let Ok(pid) = Pid::try_from(pid) else { return };
        let Some(process) = self.processes.get_mut(&pid) else { return };
        let status = match FaultKind::from_word(message.word(0)) {
            Some(FaultKind::Exited) => ExitStatus::Code(message.word(4) as i64),
            Some(kind) => {
                tracing::warn!(
                    "pid {pid} ({}) faulted: {} at {:#x}, pc {:#x}",
                    process.name,
                    kind.describe(),
                    message.word(2),
                    message.word(1)
                );
                ExitStatus::Faulted {
                    kind: kind.describe().to_string(),
                    pc: message.word(1) as u64,
                    address: message.word(2) as u64,
                }
            }
            None => ExitStatus::Faulted { kind: "unknown".to_string(), pc: 0, address: 0 },
        };
        tracing::debug!(pid, program = process.name.as_str(), %status, "ended");
        self.finish(pid, status);
    }

    /// Records how `pid` ended, takes its memory back, and answers a waiter.
    fn finish(&mut self, pid: Pid, status: ExitStatus) {
        let Some(process) = self.processes.get_mut(&pid) else { return };
        if process.state == ProcessState::Exited {
            return;
        }
        process.state = ProcessState::Exited;
        process.status = Some(status);
        let (chunk, client, slots) = (process.chunk, process.client, core::mem::take(&mut process.slots));
        let waiter = process.waiter.take();
        self.release(chunk, client, &slots);
        if let Some(reply_object) = waiter
            && let Some(process) = self.processes.remove(&pid)
        {
            let status = process.status.unwrap_or(ExitStatus::Killed);
            let _ = rpc::answer::<Proc>(reply_object, &Ok(Response::Exited { pid, status }), None);
            self.spare_replies.push(reply_object);
        }
    }

    fn wait(&mut self, pid: Pid, reply_object: Cptr) -> Reply<Proc> {
        let Some(process) = self.processes.get_mut(&pid) else {
            return Reply::Now(Err(ProcError::NoSuchProcess));
        };
        if process.state == ProcessState::Exited {
            let status = process.status.clone().unwrap_or(ExitStatus::Killed);
            self.processes.remove(&pid);
            return Reply::Now(Ok(Response::Exited { pid, status }));
        }
        if process.waiter.is_some() {
            return Reply::Now(Err(ProcError::AlreadyWaiting));
        }
        // Answer when it ends; receive with another reply object meanwhile.
        let next_reply = match self.spare_replies.pop() {
            Some(reply) => reply,
            None => {
                let Some(slot) = self.slots.take() else { return Reply::Now(Err(ProcError::OutOfMemory)) };
                if object::retype(at::MEMORY, ObjectType::Reply, 0, at::CNODE, slot, 1).is_err() {
                    self.slots.free.push(slot);
                    return Reply::Now(Err(ProcError::OutOfMemory));
                }
                slot
            }
        };
        if let Some(process) = self.processes.get_mut(&pid) {
            process.waiter = Some(reply_object);
        }
        Reply::Later { next_reply }
    }

    /// Only the client that spawned a process may wait for or kill it.
    fn check_parent(&self, client: usize, pid: Pid) -> Result<(), ProcError> {
        let process = self.processes.get(&pid).ok_or(ProcError::NoSuchProcess)?;
        if process.parent == client { Ok(()) } else { Err(ProcError::NotPermitted) }
    }

    fn kill(&mut self, pid: Pid) -> Result<Response, ProcError> {
        let process = self.processes.get(&pid).ok_or(ProcError::NoSuchProcess)?;
        if process.state == ProcessState::Running {
            let _ = object::suspend(process.thread);
            tracing::info!(pid, program = process.name.as_str(), "killed");
            self.finish(pid, ExitStatus::Killed);
        }
        Ok(Response::Killed)
    }

    /// The pid of the process that spawned through session `connection`, if it is one of
    /// ours (0: a boot server such as the shell, or a manifest client).
    fn parent_pid(&self, connection: usize) -> Pid {
        let Some((client, _)) = self.sessions.get(&(connection as u64)) else { return 0 };
        self.processes.iter().find(|(_, process)| process.client == *client).map_or(0, |(&pid, _)| pid)
    }

    fn list(&self, after: Pid) -> Response {
        let processes: Vec<ProcessInfo> = self
            .processes
            .range(after + 1..)
            .take(16)
            .map(|(&pid, process)| ProcessInfo {
                pid,
                name: process.name.clone(),
                state: process.state,
                label: process.label.clone(),
                quota_bytes: QUOTA_BYTES,
                used_bytes: (process.pages * 4096) as u64,
                parent: self.parent_pid(process.parent),
            })
            .collect();
        let more = processes.last().is_some_and(|last| self.processes.range(last.pid + 1..).next().is_some());
        Response::Processes { processes, more }
    }
}
