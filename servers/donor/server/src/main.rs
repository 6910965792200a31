//! `donor`: the resource donor (DESIGN.md §6). It owns the memory the manifest gives it
//! (`memory`, its budget) and splits it into equal chunks of Untyped, one per process
//! quota. `Grant` retypes a child Untyped of a free chunk and moves it to the process
//! manager in the reply (the kernel moves, never copies, an Untyped sent over IPC), which
//! builds the process from it; `Release` revokes the chunk, so nothing made from the quota
//! survives wherever its capabilities went, and the chunk is free again. Sessions are paid
//! from quotas (`Charge` and `Reclaim`, from the security server); the books are
//! [`donor::Ledger`].
//!
//! Who may ask what: requests through a manifest capability (badge below
//! `security_api::FIRST_CONNECTION`: the process manager's and the security server's,
//! `uses = ["donor"]`) may do everything; requests through a session from the security
//! server (the shell's `free`) may only ask `Free`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(program::main);

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("donor: the resource donor runs on Lattice; `cargo test -p donor` tests its books");
}

#[cfg(target_os = "none")]
mod program {
    extern crate alloc;

    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    use donor::{FREE_PAGE, Ledger};
    use donor_api::{Donor, DonorError, Request, Response};
    use kernel_abi::ObjectType;
    use loader::server_slots as at;
    use security_api::{FIRST_CONNECTION, SecurityClient};
    use userlib::ipc::Cptr;
    use userlib::rpc::{Incoming, Reply, Server};
    use userlib::{object, println};

    /// log2 bytes of a chunk: one process quota. Half of it (`CHUNK_BITS - 1`) is the
    /// process's own memory; the rest pays for its sessions.
    const CHUNK_BITS: usize = 22;
    /// The reply object it serves with.
    const REPLY: usize = at::FIRST_FREE;
    /// Where a granted Untyped waits to be moved out by the reply.
    const OUTGOING: usize = at::FIRST_FREE + 1;
    /// The first chunk's slot.
    const FIRST_CHUNK: usize = at::FIRST_FREE + 2;
    /// Slots of this server's CNode.
    const SLOTS: usize = 1 << 12;
    /// The source of boot servers' donations (they have no chunk of their own).
    const BOOT: u64 = 0;
    /// A process's share of the CPU: this much in every period (so one program that never
    /// blocks cannot take the whole machine from the others at its priority and below).
    const BUDGET_US: u32 = 50_000;
    const PERIOD_US: u32 = 100_000;

    /// The memory set aside for one connection.
    #[derive(Clone, Copy)]
    struct Donation {
        /// The Untyped (the donor keeps it; the server takes a child of it).
        untyped: Cptr,
        /// Its size, log2 bytes.
        bits: usize,
        /// Whose memory it is: the paying client's chunk, or `BOOT`.
        source: u64,
    }

    struct Books {
        ledger: Ledger,
        free_chunks: Vec<Cptr>,
        /// Chunks granted, by client id (and `BOOT`'s, once a boot server donated).
        granted: BTreeMap<u64, Cptr>,
        /// Live connections' donations.
        donations: BTreeMap<u64, Donation>,
        /// Donations given back, kept for reuse, by source (an Untyped carved out of a
        /// chunk cannot go back into it until the whole chunk is revoked).
        spare: BTreeMap<u64, Vec<Donation>>,
        free_slots: Vec<usize>,
    }

    pub(crate) fn main() -> i32 {
        let _ = userlib::trace::init("donor", tracing::Level::INFO);
        if object::retype(at::MEMORY, ObjectType::Reply, 0, at::CNODE, REPLY, 1).is_err() {
            println!("donor: cannot make a reply object");
            return 1;
        }
        let mut free_chunks = Vec::new();
        let mut next = FIRST_CHUNK;
        while next < SLOTS
            && object::retype(at::MEMORY, ObjectType::Untyped, CHUNK_BITS, at::CNODE, next, 1).is_ok()
        {
            free_chunks.push(next);
            next += 1;
        }
        free_chunks.reverse();
        // One chunk pays for the boot servers' sessions (their allowances); the rest is
        // what processes get quotas from.
        let Some(boot) = free_chunks.pop() else {
            println!("donor: no memory to manage");
            return 1;
        };
        let total = (free_chunks.len() as u64) << CHUNK_BITS;
        let security = SecurityClient::new(at::FIRST_CLIENT);
        if let Err(error) = security.register("donor", at::SERVICE, 0) {
            println!("donor: cannot register with the security server: {error}");
            return 1;
        }
        tracing::info!(chunks = free_chunks.len(), mib = total >> 20, "ready");
        let mut books = Books {
            ledger: Ledger::new(total),
            free_chunks,
            granted: BTreeMap::from([(BOOT, boot)]),
            donations: BTreeMap::new(),
            spare: BTreeMap::new(),
            free_slots: (next..SLOTS).rev().collect(),
        };
        let mut server = Server::new(at::SERVICE, REPLY);
        let error = server.serve::<Donor>(|incoming, request| books.handle(incoming, request));
        println!("donor: stopped serving: {error}");
        1
    }

    impl Books {
        fn handle(&mut self, incoming: &Incoming<'_>, request: Request) -> Reply<Donor> {
            let badge = incoming.badge() as u64;
            let privileged = badge < FIRST_CONNECTION;
            if !privileged && !matches!(request, Request::Free { .. }) {
                return Reply::Now(Err(DonorError::NotPermitted));
            }
            match request {
                Request::Grant { client, pid, program, bytes } => {
                    match self.grant(client, pid, &program, bytes) {
                        Ok(bytes) => Reply::WithCapability(Ok(Response::Granted { bytes }), OUTGOING),
                        Err(error) => Reply::Now(Err(error)),
                    }
                }
                Request::Report { client, bytes } => {
                    Reply::Now(self.ledger.report(client, bytes).map(|()| Response::Reported))
                }
                Request::Release { client } => Reply::Now(self.release(client)),
                Request::Charge { client, program, connection, bytes, server } => Reply::Now(
                    self.charge(client, &program, connection, bytes, server).map(|()| Response::Charged),
                ),
                Request::Reclaim { connection } => {
                    Reply::Now(Ok(Response::Reclaimed { bytes: self.reclaim(connection) }))
                }
                Request::Free { after } => {
                    Reply::Now(Ok(Response::Memory(self.ledger.memory(after, FREE_PAGE))))
                }
                Request::Take { connection } => match self.take(badge, connection) {
                    Ok(bytes) => Reply::WithCapability(Ok(Response::Taken { bytes }), OUTGOING),
                    Err(error) => Reply::Now(Err(error)),
                },
                Request::Budget { client } => match self.budget(client) {
                    Ok(()) => Reply::WithCapability(
                        Ok(Response::Budget { budget_us: BUDGET_US, period_us: PERIOD_US }),
                        OUTGOING,
                    ),
                    Err(error) => Reply::Now(Err(error)),
                },
            }
        }

        /// A chunk for `client`: a child Untyped of its first half waits in `OUTGOING` for
        /// the reply to move it.
        fn grant(&mut self, client: u64, pid: u32, program: &str, bytes: u64) -> Result<u64, DonorError> {
            let chunk_bytes = 1u64 << CHUNK_BITS;
            if bytes > chunk_bytes {
                return Err(DonorError::OutOfMemory);
            }
            let &chunk = self.free_chunks.last().ok_or(DonorError::OutOfMemory)?;
            // A reply that could not move the last one leaves it here: it goes.
            let _ = object::delete(at::CNODE, OUTGOING);
            object::retype(chunk, ObjectType::Untyped, CHUNK_BITS - 1, at::CNODE, OUTGOING, 1)
                .map_err(|_| DonorError::OutOfMemory)?;
            if let Err(error) = self.ledger.grant(client, pid, program, chunk_bytes) {
                let _ = object::revoke(at::CNODE, chunk);
                return Err(error);
            }
            self.free_chunks.pop();
            self.granted.insert(client, chunk);
            Ok(chunk_bytes)
        }

        fn release(&mut self, client: u64) -> Result<Response, DonorError> {
            let bytes = self.ledger.release(client)?;
            if let Some(chunk) = self.granted.remove(&client) {
                // Everything made from the quota, wherever its capabilities went: the
                // process and the memory its sessions were given.
                let _ = object::revoke(at::CNODE, chunk);
                self.free_chunks.push(chunk);
            }
            let gone: Vec<u64> = self
                .donations
                .iter()
                .filter(|(_, donation)| donation.source == client)
                .map(|(&id, _)| id)
                .collect();
            for connection in gone {
                if let Some(donation) = self.donations.remove(&connection) {
                    self.give_slot(donation.untyped);
                }
            }
            for donation in self.spare.remove(&client).unwrap_or_default() {
                self.give_slot(donation.untyped);
            }
            Ok(Response::Released { bytes })
        }

        fn give_slot(&mut self, slot: usize) {
            let _ = object::delete(at::CNODE, slot);
            self.free_slots.push(slot);
        }

        /// Books the session and sets its memory aside: an Untyped of the session's cost,
        /// out of the client's chunk (or the boot servers' one).
        fn charge(
            &mut self,
            client: u64,
            program: &str,
            connection: u64,
            bytes: u64,
            server: u64,
        ) -> Result<(), DonorError> {
            let backed = self.ledger.charge(client, program, connection, bytes, server)?;
            let bits =
                usize::try_from(bytes.max(4096).next_power_of_two().trailing_zeros()).unwrap_or(CHUNK_BITS);
            let source = if backed { client } else { BOOT };
            match self.set_aside(source, bits) {
                Ok(untyped) => {
                    self.donations.insert(connection, Donation { untyped, bits, source });
                    Ok(())
                }
                Err(error) => {
                    self.ledger.reclaim(connection);
                    Err(error)
                }
            }
        }

        /// An Untyped of `bits` from `source`'s memory: one given back before, or a new
        /// one carved from its chunk.
        fn set_aside(&mut self, source: u64, bits: usize) -> Result<Cptr, DonorError> {
            if let Some(spare) = self.spare.get_mut(&source)
                && let Some(index) = spare.iter().position(|donation| donation.bits == bits)
            {
                return Ok(spare.swap_remove(index).untyped);
            }
            let &chunk = self.granted.get(&source).ok_or(DonorError::NoSuchClient)?;
            let slot = self.free_slots.pop().ok_or(DonorError::OutOfMemory)?;
            if object::retype(chunk, ObjectType::Untyped, bits, at::CNODE, slot, 1).is_err() {
                self.free_slots.push(slot);
                // The chunk is carved up (donations given back in other sizes): no room.
                return Err(DonorError::QuotaExceeded { free: 0 });
            }
            Ok(slot)
        }

        /// A scheduling context for `client`'s thread, made from its quota (so it goes with
        /// the quota) and configured with a process's share of the CPU; it waits in
        /// `OUTGOING` for the reply to carry a copy.
        fn budget(&mut self, client: u64) -> Result<(), DonorError> {
            let &chunk =
                self.granted.get(&client).filter(|_| client != BOOT).ok_or(DonorError::NoSuchClient)?;
            let _ = object::delete(at::CNODE, OUTGOING);
            object::retype(chunk, ObjectType::SchedContext, 0, at::CNODE, OUTGOING, 1)
                .map_err(|_| DonorError::OutOfMemory)?;
            object::configure_sched_context(
                at::SCHED_CONTROL,
                OUTGOING,
                BUDGET_US as usize,
                PERIOD_US as usize,
            )
            .map_err(|_| DonorError::NotPermitted)
        }

        /// The connection closed: its memory comes back (nothing the server made from it
        /// survives) and is kept for the client's next session.
        fn reclaim(&mut self, connection: u64) -> u64 {
            let bytes = self.ledger.reclaim(connection);
            if let Some(donation) = self.donations.remove(&connection) {
                let _ = object::revoke(at::CNODE, donation.untyped);
                self.spare.entry(donation.source).or_default().push(donation);
            }
            bytes
        }

        /// The server of `connection` (`caller`) takes its memory: a child Untyped of the
        /// donation waits in `OUTGOING` for the reply to move it.
        fn take(&mut self, caller: u64, connection: u64) -> Result<u64, DonorError> {
            let donation = *self.donations.get(&connection).ok_or(DonorError::NotPermitted)?;
            let bytes = self.ledger.take(caller, connection)?;
            let _ = object::delete(at::CNODE, OUTGOING);
            object::retype(donation.untyped, ObjectType::Untyped, donation.bits, at::CNODE, OUTGOING, 1)
                .map_err(|_| DonorError::OutOfMemory)?;
            Ok(bytes)
        }
    }
}
