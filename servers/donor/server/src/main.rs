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

    /// log2 bytes of a chunk: one process quota.
    const CHUNK_BITS: usize = 22;
    /// The reply object it serves with.
    const REPLY: usize = at::FIRST_FREE;
    /// Where a granted Untyped waits to be moved out by the reply.
    const OUTGOING: usize = at::FIRST_FREE + 1;
    /// The first chunk's slot.
    const FIRST_CHUNK: usize = at::FIRST_FREE + 2;
    /// Slots of this server's CNode.
    const SLOTS: usize = 1 << 12;

    struct Books {
        ledger: Ledger,
        free_chunks: Vec<Cptr>,
        /// Chunks granted, by client id.
        granted: BTreeMap<u64, Cptr>,
    }

    pub(crate) fn main() -> i32 {
        let _ = userlib::trace::init("donor", tracing::Level::INFO);
        if object::retype(at::MEMORY, ObjectType::Reply, 0, at::CNODE, REPLY, 1).is_err() {
            println!("donor: cannot make a reply object");
            return 1;
        }
        let mut free_chunks = Vec::new();
        for slot in FIRST_CHUNK..SLOTS {
            if object::retype(at::MEMORY, ObjectType::Untyped, CHUNK_BITS, at::CNODE, slot, 1).is_err() {
                break;
            }
            free_chunks.push(slot);
        }
        free_chunks.reverse();
        let total = (free_chunks.len() as u64) << CHUNK_BITS;
        let security = SecurityClient::new(at::FIRST_CLIENT);
        if let Err(error) = security.register("donor", at::SERVICE, 0) {
            println!("donor: cannot register with the security server: {error}");
            return 1;
        }
        tracing::info!(chunks = free_chunks.len(), mib = total >> 20, "ready");
        let mut books = Books { ledger: Ledger::new(total), free_chunks, granted: BTreeMap::new() };
        let mut server = Server::new(at::SERVICE, REPLY);
        let error = server.serve::<Donor>(|incoming, request| books.handle(incoming, request));
        println!("donor: stopped serving: {error}");
        1
    }

    impl Books {
        fn handle(&mut self, incoming: &Incoming<'_>, request: Request) -> Reply<Donor> {
            let privileged = (incoming.badge() as u64) < FIRST_CONNECTION;
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
                Request::Charge { client, program, connection, bytes } => Reply::Now(
                    self.ledger.charge(client, &program, connection, bytes).map(|()| Response::Charged),
                ),
                Request::Reclaim { connection } => {
                    Reply::Now(Ok(Response::Reclaimed { bytes: self.ledger.reclaim(connection) }))
                }
                Request::Free { after } => {
                    Reply::Now(Ok(Response::Memory(self.ledger.memory(after, FREE_PAGE))))
                }
            }
        }

        /// A chunk for `client`: a child Untyped of it waits in `OUTGOING` for the reply to
        /// move it.
        fn grant(&mut self, client: u64, pid: u32, program: &str, bytes: u64) -> Result<u64, DonorError> {
            let chunk_bytes = 1u64 << CHUNK_BITS;
            if bytes > chunk_bytes {
                return Err(DonorError::OutOfMemory);
            }
            let &chunk = self.free_chunks.last().ok_or(DonorError::OutOfMemory)?;
            // A reply that could not move the last one leaves it here: it goes.
            let _ = object::delete(at::CNODE, OUTGOING);
            object::retype(chunk, ObjectType::Untyped, CHUNK_BITS, at::CNODE, OUTGOING, 1)
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
                // Everything made from the quota, wherever its capabilities went.
                let _ = object::revoke(at::CNODE, chunk);
                self.free_chunks.push(chunk);
            }
            Ok(Response::Released { bytes })
        }
    }
}
