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
    use kit::{Answer, Call, Caller, Config, Kit, Slot};
    use loader::server_slots as at;
    use userlib::{object, println};

    /// log2 bytes of a chunk: one process quota. Half of it (`CHUNK_BITS - 1`) is the
    /// process's own memory; the rest pays for its sessions.
    const CHUNK_BITS: usize = 22;
    /// The source of boot servers' donations (they have no chunk of their own).
    const BOOT: u64 = 0;
    /// A process's share of the CPU: this much in every period (so one program that never
    /// blocks cannot take the whole machine from the others at its priority and below).
    const BUDGET_US: u32 = 50_000;
    const PERIOD_US: u32 = 100_000;

    /// The memory set aside for one connection.
    struct Donation {
        /// The Untyped (the donor keeps it; the server takes a child of it).
        untyped: Slot,
        /// Its size, log2 bytes.
        bits: usize,
        /// Whose memory it is: the paying client's chunk, or `BOOT`.
        source: u64,
    }

    struct Books {
        ledger: Ledger,
        free_chunks: Vec<Slot>,
        /// Chunks granted, by client id (and `BOOT`'s, once a boot server donated).
        granted: BTreeMap<u64, Slot>,
        /// Live connections' donations.
        donations: BTreeMap<u64, Donation>,
        /// Donations given back, kept for reuse, by source (an Untyped carved out of a
        /// chunk cannot go back into it until the whole chunk is revoked).
        spare: BTreeMap<u64, Vec<Donation>>,
        /// Where a granted Untyped or budget waits to be moved out by the reply.
        outgoing: Slot,
    }

    pub(crate) fn main() -> i32 {
        let _ = userlib::trace::init("donor", tracing::Level::INFO);
        // The donor registers so that programs can connect to it (the shell's `free`), but
        // takes no session notices: the security server calls the donor, so the donor may
        // not call it back once the system runs (the manifest's `boot_only`).
        let config = Config::new("donor").service("donor", 0).without_notices();
        let (kit, outgoing) = match Kit::<()>::start(config).and_then(|kit| Ok((kit, Slot::new()?))) {
            Ok(started) => started,
            Err(error) => {
                println!("donor: cannot start: {error}");
                return 1;
            }
        };
        let mut free_chunks = Vec::new();
        while let Ok(chunk) = Slot::make(ObjectType::Untyped, CHUNK_BITS) {
            free_chunks.push(chunk);
        }
        free_chunks.reverse();
        // One chunk pays for the boot servers' sessions (their allowances); the rest is
        // what processes get quotas from.
        let Some(boot) = free_chunks.pop() else {
            println!("donor: no memory to manage");
            return 1;
        };
        let total = (free_chunks.len() as u64) << CHUNK_BITS;
        tracing::info!(chunks = free_chunks.len(), mib = total >> 20, "ready");
        let mut books = Books {
            ledger: Ledger::new(total),
            free_chunks,
            granted: BTreeMap::from([(BOOT, boot)]),
            donations: BTreeMap::new(),
            spare: BTreeMap::new(),
            outgoing,
        };
        let error = kit.run(&mut books);
        println!("donor: stopped serving: {error:?}");
        1
    }

    impl kit::Server for Books {
        type Protocol = Donor;
        type Session = ();

        fn request(&mut self, _kit: &mut Kit<()>, call: &Call<'_>, request: Request) -> Answer<Donor> {
            self.handle(call.caller(), request)
        }
    }

    impl Books {
        fn handle(&mut self, caller: Caller, request: Request) -> Answer<Donor> {
            let badge = caller.badge();
            // Manifest clients (the process manager, the security server, the servers that
            // take donations) may do everything; sessions (the shell's `free`) only look.
            let privileged = matches!(caller, Caller::Manifest(_));
            if !privileged && !matches!(request, Request::Free { .. }) {
                return Answer::Now(Err(DonorError::NotPermitted));
            }
            let outgoing = self.outgoing.index();
            match request {
                Request::Grant { client, pid, program, bytes } => {
                    match self.grant(client, pid, &program, bytes) {
                        Ok(bytes) => Answer::WithCapability(Ok(Response::Granted { bytes }), outgoing),
                        Err(error) => Answer::Now(Err(error)),
                    }
                }
                Request::Report { client, bytes } => {
                    Answer::Now(self.ledger.report(client, bytes).map(|()| Response::Reported))
                }
                Request::Release { client } => Answer::Now(self.release(client)),
                Request::Charge { client, program, connection, bytes, server } => Answer::Now(
                    self.charge(client, &program, connection, bytes, server).map(|()| Response::Charged),
                ),
                Request::Reclaim { connection } => {
                    Answer::Now(Ok(Response::Reclaimed { bytes: self.reclaim(connection) }))
                }
                Request::Free { after } => {
                    Answer::Now(Ok(Response::Memory(self.ledger.memory(after, FREE_PAGE))))
                }
                Request::Take { connection } => match self.take(badge, connection) {
                    Ok(bytes) => Answer::WithCapability(Ok(Response::Taken { bytes }), outgoing),
                    Err(error) => Answer::Now(Err(error)),
                },
                Request::Budget { client } => match self.budget(client) {
                    Ok(()) => Answer::WithCapability(
                        Ok(Response::Budget { budget_us: BUDGET_US, period_us: PERIOD_US }),
                        outgoing,
                    ),
                    Err(error) => Answer::Now(Err(error)),
                },
            }
        }

        /// A chunk for `client`: a child Untyped of its first half waits in the outgoing slot for
        /// the reply to move it.
        fn grant(&mut self, client: u64, pid: u32, program: &str, bytes: u64) -> Result<u64, DonorError> {
            let chunk_bytes = 1u64 << CHUNK_BITS;
            if bytes > chunk_bytes {
                return Err(DonorError::OutOfMemory);
            }
            let chunk = self.free_chunks.last().ok_or(DonorError::OutOfMemory)?.index();
            self.carve_outgoing(chunk, ObjectType::Untyped, CHUNK_BITS - 1)?;
            if let Err(error) = self.ledger.grant(client, pid, program, chunk_bytes) {
                let _ = object::revoke(at::CNODE, chunk);
                return Err(error);
            }
            if let Some(chunk) = self.free_chunks.pop() {
                self.granted.insert(client, chunk);
            }
            Ok(chunk_bytes)
        }

        fn release(&mut self, client: u64) -> Result<Response, DonorError> {
            let bytes = self.ledger.release(client)?;
            if let Some(chunk) = self.granted.remove(&client) {
                // Everything made from the quota, wherever its capabilities went: the
                // process and the memory its sessions were given.
                let _ = object::revoke(at::CNODE, chunk.index());
                self.free_chunks.push(chunk);
            }
            // Its donations' slots go with them (empty now: the revoke took them).
            self.donations.retain(|_, donation| donation.source != client);
            self.spare.remove(&client);
            Ok(Response::Released { bytes })
        }

        /// A new object of `object_type` made from `source` waits in the outgoing slot
        /// for the reply to carry it (a reply that could not move the last one left it
        /// there: it goes first).
        fn carve_outgoing(
            &mut self,
            source: usize,
            object_type: ObjectType,
            bits: usize,
        ) -> Result<(), DonorError> {
            let _ = object::delete(at::CNODE, self.outgoing.index());
            object::retype(source, object_type, bits, at::CNODE, self.outgoing.index(), 1)
                .map_err(|_| DonorError::OutOfMemory)
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
        fn set_aside(&mut self, source: u64, bits: usize) -> Result<Slot, DonorError> {
            if let Some(spare) = self.spare.get_mut(&source)
                && let Some(index) = spare.iter().position(|donation| donation.bits == bits)
            {
                return Ok(spare.swap_remove(index).untyped);
            }
            let chunk = self.granted.get(&source).ok_or(DonorError::NoSuchClient)?.index();
            let slot = Slot::new().map_err(|_| DonorError::OutOfMemory)?;
            if object::retype(chunk, ObjectType::Untyped, bits, at::CNODE, slot.index(), 1).is_err() {
                // The chunk is carved up (donations given back in other sizes): no room.
                return Err(DonorError::QuotaExceeded { free: 0 });
            }
            Ok(slot)
        }

        /// A scheduling context for `client`'s thread, made from its quota (so it goes with
        /// the quota) and configured with a process's share of the CPU; it waits in
        /// the outgoing slot for the reply to carry a copy.
        fn budget(&mut self, client: u64) -> Result<(), DonorError> {
            let chunk =
                self.granted.get(&client).filter(|_| client != BOOT).ok_or(DonorError::NoSuchClient)?.index();
            self.carve_outgoing(chunk, ObjectType::SchedContext, 0)?;
            object::configure_sched_context(
                at::SCHED_CONTROL,
                self.outgoing.index(),
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
                let _ = object::revoke(at::CNODE, donation.untyped.index());
                self.spare.entry(donation.source).or_default().push(donation);
            }
            bytes
        }

        /// The server of `connection` (`caller`) takes its memory: a child Untyped of the
        /// donation waits in the outgoing slot for the reply to move it.
        fn take(&mut self, caller: u64, connection: u64) -> Result<u64, DonorError> {
            let donation = self.donations.get(&connection).ok_or(DonorError::NotPermitted)?;
            let (untyped, bits) = (donation.untyped.index(), donation.bits);
            let bytes = self.ledger.take(caller, connection)?;
            self.carve_outgoing(untyped, ObjectType::Untyped, bits)?;
            Ok(bytes)
        }
    }
}
