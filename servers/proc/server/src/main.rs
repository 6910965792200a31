//! The process manager: spawns programs from the filesystem (or the boot archive) with
//! arguments and environment, reports their faults, collects their exit status, kills
//! them, lists them, and reclaims everything a process held when it ends.
//!
//! A program's bytes come from its file, read through the manager's own read-only session
//! with the filesystem (opened through the security server at the first spawn, as any
//! program connects; the policy scopes it), or from the boot archive when the filesystem
//! cannot give a bare name's file: the rules are [`proc::program`]'s. The file is read
//! into the heap as far as its load plan needs (at most `proc::program::MAX_PROGRAM_BYTES`)
//! and dropped once the process is built.
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
//! It runs on the server kit (`kit`): the kit registers `proc` with the security server,
//! takes the session notices (so it knows which process each session is), and delivers
//! requests and the processes' fault messages to [`Manager`]. The process table is the
//! host-tested [`proc::ProcessTable`]; this file builds and releases the kernel objects.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(program::main);

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("proc: the process manager runs on Lattice; `cargo test -p proc` tests its process table");
}

#[cfg(target_os = "none")]
mod program {
    extern crate alloc;

    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    use donor_api::DonorClient;
    use fs_api::{FsClient, FsError, OpenFlags};
    use kernel_abi::bootarchive::BootArchive;
    use kernel_abi::{FaultKind, ObjectType, Rights};
    use kernel_core::layout::USER_STACK_TOP;
    use kit::{Answer, Call, Caller, Config, Deferred, FAULT_BADGE, Kit, Slot};
    use loader::{Grant, Spec, Workspace, server_slots as at};
    use proc::demand::{self, Demand};
    use proc::program::{Instead, MAX_PROGRAM_BYTES, NoFile, ProgramName, ReadError, instead, read_program};
    use proc::{ProcessTable, WaitNow};
    use proc_api::{ExitStatus, Pid, Proc, ProcError, Request, Response, start_slots};
    use security_api::SecurityClient;
    use userlib::ipc::{Cptr, Message};
    use userlib::{object, println};

    /// Bytes of the quota each process is built from.
    const QUOTA_BYTES: u64 = 4 << 20;
    /// What a session costs its client (the process table entries it may create).
    const SESSION_BYTES: u64 = 16 << 10;
    /// The badge a process's timer signals its notification with.
    const TIMER_BADGE: usize = 1;
    /// A spawned program's stack and heap, in pages, and how many of each are made when it
    /// is built (the top of the stack, the start of the heap); the rest is made when the
    /// program first touches it (`proc::demand`).
    const STACK_PAGES: usize = 16;
    const HEAP_PAGES: usize = 64;
    const STACK_RESIDENT: usize = 2;
    const HEAP_RESIDENT: usize = 1;
    /// Priority of spawned programs.
    const PROGRAM_PRIORITY: usize = 100;
    /// A page of the manager's address space to copy through (its start info page's region
    /// has page tables).
    const SCRATCH: usize = userlib::start::START_INFO_ADDRESS + 0x2000;
    /// `Wait`s that may be pending at once.
    const WAITERS: usize = 15;

    /// A running process's kernel objects in the manager's CNode.
    struct Resources {
        thread: Cptr,
        /// Its address space (to map the pages it touches first, `demand`).
        address_space: Cptr,
        /// Its stack and heap pages not made yet.
        demand: Demand,
        /// The quota it is built from: revoking it destroys every object made from it.
        chunk: Slot,
        /// Everything else (its security session, fault endpoint, CNode, pages, ...).
        slots: Vec<Slot>,
    }

    struct Manager {
        archive: BootArchive<'static>,
        table: ProcessTable<Deferred, Resources>,
        security: SecurityClient,
        donor: DonorClient,
        files: Files,
    }

    /// The manager's own filesystem session (read-only), opened at the first spawn that
    /// needs it, not at start: the manager must not wait on a disk before it serves, and a
    /// system without a filesystem never asks.
    enum Files {
        /// Not asked for yet (or dropped after it failed, to be opened again).
        Untried,
        /// Open: the client, the session capability it calls through (a slot of ours,
        /// deleted when the session is dropped), the frames of the session's shared buffer
        /// (their capabilities hold its mapping in our window) and the connection's id.
        Open { files: FsClient, _session: Slot, _buffer: Vec<Slot>, connection: u64 },
        /// No filesystem in this system, or the policy gives the manager none: bare names
        /// come from the boot archive from now on (not asked again; see CAVEATS.md).
        Unavailable,
    }

    /// A program's bytes, for the process builder.
    enum Image {
        /// Its file, read in as far as its load plan needs.
        File(Vec<u8>),
        /// The boot archive's entry (mapped read-only, shared).
        Archive(&'static [u8]),
    }

    impl Image {
        fn bytes(&self) -> &[u8] {
            match self {
                Image::File(bytes) => bytes,
                Image::Archive(bytes) => bytes,
            }
        }
    }

    /// Why reading a program's file gave no bytes.
    enum FileFailure {
        /// The filesystem's answer (the rules decide what follows).
        Filesystem(FsError),
        /// The file is there and is not a program this manager loads.
        Refused(ProcError),
    }

    fn archive() -> Option<BootArchive<'static>> {
        BootArchive::parse(userlib::server_boot_archive()?).ok()
    }

    pub(crate) fn main() -> i32 {
        let _ = userlib::trace::init("proc", tracing::Level::INFO);
        let Some(archive) = archive() else {
            println!("proc: no boot archive");
            return 1;
        };
        let config = Config::new("proc").service("proc", SESSION_BYTES).deferred_answers(WAITERS);
        let kit = match Kit::start(config) {
            Ok(kit) => kit,
            Err(error) => {
                println!("proc: cannot start: {error}");
                return 1;
            }
        };
        let (Some(security), Some(donor)) = (kit.security(), kit.donor()) else {
            println!("proc: the manifest must give it the security server and the donor");
            return 1;
        };
        println!("proc: ready");
        let mut manager =
            Manager { archive, table: ProcessTable::new(), security, donor, files: Files::Untried };
        let error = kit.run(&mut manager);
        println!("proc: stopped serving: {error:?}");
        1
    }

    impl kit::Server for Manager {
        type Protocol = Proc;
        type Session = ();

        fn request(&mut self, kit: &mut Kit<()>, call: &Call<'_>, request: Request) -> Answer<Proc> {
            let caller = call.badge();
            match request {
                Request::Spawn { program, args, env, foreground: _ } => {
                    let name = match ProgramName::resolve(&program) {
                        Ok(name) => name,
                        Err(error) => return Answer::Now(Err(error)),
                    };
                    if !may_spawn(kit, call.caller(), &name) {
                        tracing::info!(
                            program = program.as_str(),
                            "spawn outside the session's scope refused"
                        );
                        return Answer::Now(Err(ProcError::NotPermitted));
                    }
                    Answer::Now(
                        self.spawn(call.caller(), &program, &name, &args, &env)
                            .map(|(pid, client)| Response::Spawned { pid, client }),
                    )
                }
                Request::Wait { pid } => {
                    match self.table.check_parent(caller, pid).and_then(|()| self.table.wait(pid)) {
                        Ok(WaitNow::Exited(status)) => Answer::Now(Ok(Response::Exited { pid, status })),
                        Ok(WaitNow::Wait) => match kit.defer() {
                            Some(deferred) => match self.table.wait_later(pid, deferred) {
                                Ok(()) => Answer::Later,
                                Err(deferred) => {
                                    kit.answer::<Proc>(deferred, &Err(ProcError::NoSuchProcess), None);
                                    Answer::Later
                                }
                            },
                            None => Answer::Now(Err(ProcError::OutOfMemory)),
                        },
                        Err(error) => Answer::Now(Err(error)),
                    }
                }
                Request::Kill { pid } => {
                    Answer::Now(self.table.check_parent(caller, pid).and_then(|()| self.kill(kit, pid)))
                }
                Request::List { after } => {
                    let sessions = &kit.sessions;
                    let table = &self.table;
                    Answer::Now(Ok(table.list(after, |parent| {
                        sessions.client_of(parent).and_then(|client| table.pid_of_client(client)).unwrap_or(0)
                    })))
                }
                Request::Memory => match self.donor.free() {
                    Ok(memory) => Answer::Now(Ok(Response::Memory {
                        total_bytes: memory.total,
                        free_bytes: memory.free,
                    })),
                    Err(_) => Answer::Now(Err(ProcError::OutOfMemory)),
                },
            }
        }

        fn fault(&mut self, kit: &mut Kit<()>, number: u64, message: &Message) {
            if let Ok(pid) = Pid::try_from(number)
                && !self.page_in(pid, message)
            {
                self.ended(kit, pid, message);
            }
        }
    }

    /// A timer and the notification it signals (badge [`TIMER_BADGE`]), made from the
    /// process's quota `chunk` into slots of ours (kept in `used`, so they go with the
    /// process); returns (timer, notification).
    fn make_timer(chunk: &Slot, used: &mut Vec<Slot>) -> Result<(Cptr, Cptr), ProcError> {
        let out_of_memory = |_| ProcError::OutOfMemory;
        let timer = Slot::new().map_err(out_of_memory)?;
        let notification = Slot::new().map_err(out_of_memory)?;
        object::retype(chunk.index(), ObjectType::Timer, 0, at::CNODE, timer.index(), 1)
            .and_then(|()| {
                object::retype(chunk.index(), ObjectType::Notification, 0, at::CNODE, notification.index(), 1)
            })
            .map_err(|_| ProcError::OutOfMemory)?;
        let badged = Slot::mint(notification.index(), Rights::WRITE, TIMER_BADGE).map_err(out_of_memory)?;
        object::timer_set_notification(timer.index(), badged.index()).map_err(|_| ProcError::OutOfMemory)?;
        let made = (timer.index(), notification.index());
        used.extend([timer, notification, badged]);
        Ok(made)
    }

    /// Whether `caller` may spawn the program `name`: a session by its scope's spawn
    /// patterns, asked with the path that labels the program (`/bin/NAME` for a bare name,
    /// wherever its bytes come from); a manifest client (a test program of a test system)
    /// always.
    fn may_spawn(kit: &Kit<()>, caller: Caller, name: &ProgramName) -> bool {
        let Caller::Session(connection) = caller else { return true };
        let Some(session) = kit.sessions.get(connection) else { return false };
        session.info.scope.allows_spawn(name.path())
    }

    /// Opens `path` through `files` and reads it in as far as its load plan needs.
    fn read_file(files: &FsClient, path: &str) -> Result<Vec<u8>, FileFailure> {
        let (handle, size) = files.open(path, OpenFlags::READ).map_err(FileFailure::Filesystem)?;
        let read = read_program(size, MAX_PROGRAM_BYTES, |buffer| files.read(handle, buffer));
        let _ = files.close(handle);
        read.map_err(|error| match error {
            ReadError::Read(error) => FileFailure::Filesystem(error),
            other => {
                FileFailure::Refused(other.into_proc_error(|error| ProcError::Unreadable(error.to_string())))
            }
        })
    }

    impl Manager {
        /// The filesystem session, opened if it was not tried yet.
        fn files(&mut self) -> Option<&FsClient> {
            if matches!(self.files, Files::Untried) {
                self.files = self.connect_files();
            }
            match &self.files {
                Files::Open { files, .. } => Some(files),
                _ => None,
            }
        }

        fn connect_files(&self) -> Files {
            // Without a free slot nothing is decided: ask again at the next spawn.
            let Ok(slot) = Slot::new() else { return Files::Untried };
            match self.security.connect("fs", grant::Rights::READ, slot.as_receive()) {
                Ok(connection) => {
                    tracing::debug!(connection, "a read session with the filesystem, for program files");
                    let mut files = FsClient::new(slot.index());
                    // Program files come in buffer-fulls through the session's shared buffer,
                    // not in messages; refused, they travel inline, slower and nothing else.
                    let mut buffer = Vec::new();
                    let attached = files.attach_buffer(|| {
                        let page = Slot::new().ok()?;
                        let into = page.as_receive();
                        buffer.push(page);
                        Some(into)
                    });
                    if let Err(error) = attached {
                        tracing::debug!(%error, "no shared buffer: program files travel inline");
                        buffer.clear();
                    }
                    Files::Open { files, _session: slot, _buffer: buffer, connection }
                }
                Err(error) => {
                    // The security server's audit trail says why; bare names come from the
                    // boot archive.
                    tracing::debug!(%error, "no filesystem session: programs come from the boot archive");
                    Files::Unavailable
                }
            }
        }

        /// The bytes of the program `name`: its file, or the boot archive's entry standing
        /// in for it ([`proc::program::instead`]). A session that fails to carry a request
        /// (revoked by a policy swap, say) is opened again once.
        fn program(&mut self, name: &ProgramName) -> Result<Image, ProcError> {
            let mut answer = None;
            for _ in 0..2 {
                let Some(files) = self.files() else { break };
                match read_file(files, name.path()) {
                    Ok(bytes) => return Ok(Image::File(bytes)),
                    Err(FileFailure::Refused(error)) => return Err(error),
                    Err(FileFailure::Filesystem(FsError::Rpc(error))) => {
                        tracing::info!(%error, "the filesystem session failed; opening another");
                        // Closed at the security server too, if it is not gone already.
                        if let Files::Open { connection, .. } = self.files {
                            let _ = self.security.revoke(connection);
                        }
                        self.files = Files::Untried;
                    }
                    Err(FileFailure::Filesystem(error)) => {
                        answer = Some(error);
                        break;
                    }
                }
            }
            let why = answer.as_ref().map_or(NoFile::NoSession, NoFile::Answer);
            let archive = &self.archive;
            match instead(name, why, |entry| archive.find(entry).is_some()) {
                Instead::Archive(entry) => archive
                    .find(entry)
                    .map(|entry| Image::Archive(entry.data))
                    .ok_or(ProcError::NoSuchProgram),
                Instead::Refuse(error) => Err(error),
            }
        }

        fn spawn(
            &mut self,
            caller: Caller,
            program: &str,
            name: &ProgramName,
            args: &[String],
            env: &[(String, String)],
        ) -> Result<(Pid, u64), ProcError> {
            let image = self.program(name)?;
            let elf = image.bytes();
            let pid = self.table.next_pid();
            let mut used = Vec::new();
            // Admission: its security session, in a slot of ours (its capability is a copy).
            // The path labels it (`/bin/NAME` for a bare name), as its spawn was allowed.
            let security = Slot::new().map_err(|_| ProcError::OutOfMemory)?;
            let parent_connection = caller.connection().unwrap_or(0);
            let admitted = self.security.admit(name.path(), parent_connection, security.as_receive());
            let (client, label) = admitted.map_err(|error| {
                tracing::warn!(program, %error, "the security server refused to admit it");
                ProcError::NotPermitted
            })?;
            let security_index = security.index();
            used.push(security);
            // Its quota.
            let Ok(chunk) = Slot::new() else {
                let _ = self.security.depart(client);
                return Err(ProcError::OutOfMemory);
            };
            if self.donor.grant(client, pid, program, QUOTA_BYTES, chunk.as_receive()).is_err() {
                let _ = self.security.depart(client);
                return Err(ProcError::OutOfMemory);
            }
            // Its label goes in its environment: its events name it (`userlib::trace`).
            let mut env = env.to_vec();
            env.retain(|(key, _)| key != userlib::trace::LABEL_VARIABLE);
            env.push((String::from(userlib::trace::LABEL_VARIABLE), label.clone()));
            let built = self.build(pid, &chunk, client, security_index, program, elf, args, &env, &mut used);
            match built {
                Ok((thread, pages, address_space, demand)) => {
                    let _ = self.donor.report(client, (pages * 4096) as u64);
                    let resources = Resources { thread, address_space, demand, chunk, slots: used };
                    let pid = self.table.insert(
                        program.to_string(),
                        caller.badge(),
                        client,
                        label,
                        pages,
                        QUOTA_BYTES,
                        resources,
                    );
                    Ok((pid, client))
                }
                Err(error) => {
                    let demand = Demand::new();
                    self.release(
                        Resources { thread: 0, address_space: 0, demand, chunk, slots: used },
                        client,
                    );
                    Err(error)
                }
            }
        }

        #[allow(clippy::too_many_arguments, reason = "one call site; the pieces of one spawn")]
        fn build(
            &mut self,
            pid: Pid,
            chunk: &Slot,
            client: u64,
            security: Cptr,
            program: &str,
            elf: &[u8],
            args: &[String],
            env: &[(String, String)],
            used: &mut Vec<Slot>,
        ) -> Result<(Cptr, usize, Cptr, Demand), ProcError> {
            let badge = usize::try_from(FAULT_BADGE + u64::from(pid)).map_err(|_| ProcError::OutOfMemory)?;
            let fault_endpoint =
                Slot::mint(at::SERVICE, Rights::WRITE, badge).map_err(|_| ProcError::OutOfMemory)?;
            let fault_index = fault_endpoint.index();
            used.push(fault_endpoint);
            let arguments: Vec<&str> = args.iter().map(String::as_str).collect();
            let environment: Vec<(&str, &str)> =
                env.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
            let (timer, timer_notification) = make_timer(chunk, used)?;
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
            let mut take = || {
                let slot = Slot::new().ok()?;
                let index = slot.index();
                used.push(slot);
                Some(index)
            };
            let mut workspace = Workspace {
                untyped: chunk.index(),
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
                cnode_radix: 8,
                stack_pages: STACK_PAGES,
                heap_pages: HEAP_PAGES,
                resident: loader::Resident::Some { stack: STACK_RESIDENT, heap: HEAP_RESIDENT },
                fault_endpoint: fault_index,
                grants: &grants,
                // Its one capability, the security session, at the first service slot.
                services: &["security"],
            };
            let process = loader::build(&mut workspace, &spec).map_err(|error| match error {
                loader::BuildError::Elf(error) => ProcError::BadElf(alloc::format!("{error}")),
                loader::BuildError::StartInfoTooLarge => ProcError::ArgumentsTooLong,
                loader::BuildError::Kernel(_) | loader::BuildError::NoSlots => ProcError::OutOfMemory,
            })?;
            // Its share of the CPU, from the donor; without one (a system whose donor has no
            // scheduling control) it runs unbudgeted, as servers do.
            if let Ok(budget) = Slot::new() {
                match self.donor.budget(client, budget.as_receive()) {
                    Ok(_) => object::set_sched_context(process.thread, budget.index())
                        .map_err(|_| ProcError::OutOfMemory)?,
                    Err(error) => tracing::debug!(pid, %error, "no CPU budget"),
                }
                used.push(budget);
            }
            loader::start(&process).map_err(|_| ProcError::OutOfMemory)?;
            // Routine comings and goings are debug events: the terminal is the user's. Faults
            // (a warning, below) and kills stay visible.
            tracing::debug!(pid, program, pages = process.pages, "spawned");
            let mut demand = Demand::new();
            let stack = USER_STACK_TOP - STACK_PAGES * demand::PAGE_BYTES;
            demand.add(stack, STACK_PAGES, STACK_PAGES - STACK_RESIDENT..STACK_PAGES);
            demand.add(userlib::start::HEAP_ADDRESS, HEAP_PAGES, 0..HEAP_RESIDENT);
            Ok((process.thread, process.pages, process.address_space, demand))
        }

        /// A page fault of process `pid` on a page of its stack or heap not made yet: makes
        /// it from the process's quota, maps it, and resumes the thread at the same
        /// instruction. `false` if it is no such fault (or the quota is spent): the
        /// process has faulted.
        fn page_in(&mut self, pid: Pid, message: &Message) -> bool {
            let touch = matches!(
                FaultKind::from_word(message.word(0)),
                Some(FaultKind::LoadPageFault | FaultKind::StorePageFault)
            );
            let Some(process) = self.table.get_mut(pid).filter(|_| touch) else { return false };
            let Some(resources) = process.resources_mut() else { return false };
            let Some(page) = resources.demand.claim(message.word(2)) else { return false };
            let made = Slot::make_from(resources.chunk.index(), ObjectType::Frame, 0).and_then(|frame| {
                object::map_frame(
                    frame.index(),
                    resources.address_space,
                    page,
                    Rights::READ | Rights::WRITE,
                )?;
                Ok(frame)
            });
            let Ok(frame) = made else {
                tracing::info!(pid, page, "no memory left in its quota for a page it touched");
                return false;
            };
            resources.slots.push(frame);
            let thread = resources.thread;
            process.pages += 1;
            object::resume(thread).is_ok()
        }

        /// Gives a process's memory back: revoking its quota destroys every object made from
        /// it, wherever its capabilities went; its connections close (the security server),
        /// and the quota returns (the donor); its slots are free again when they drop.
        fn release(&mut self, resources: Resources, client: u64) {
            let Resources { chunk, slots, .. } = resources;
            let _ = object::revoke(at::CNODE, chunk.index());
            let _ = self.security.depart(client);
            let _ = self.donor.release(client);
            drop(slots);
        }

        /// A fault or exit message from process `pid`.
        fn ended(&mut self, kit: &mut Kit<()>, pid: Pid, message: &Message) {
            let Some(process) = self.table.get(pid) else { return };
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
            self.finish(kit, pid, status);
        }

        /// Records how `pid` ended, takes its memory back, and answers a waiter.
        fn finish(&mut self, kit: &mut Kit<()>, pid: Pid, status: ExitStatus) {
            let Some(ended) = self.table.end(pid, status) else { return };
            self.release(ended.resources, ended.client);
            if let Some((waiter, answer)) = ended.waiter {
                kit.answer::<Proc>(waiter, &Ok(answer), None);
            }
        }

        fn kill(&mut self, kit: &mut Kit<()>, pid: Pid) -> Result<Response, ProcError> {
            let process = self.table.get(pid).ok_or(ProcError::NoSuchProcess)?;
            if let Some(resources) = process.resources() {
                let _ = object::suspend(resources.thread);
                tracing::info!(pid, program = process.name.as_str(), "killed");
                self.finish(kit, pid, ExitStatus::Killed);
            }
            Ok(Response::Killed)
        }
    }
}
