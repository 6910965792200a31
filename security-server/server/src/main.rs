//! `security`: the security server (DESIGN.md §5). It wraps the [`Broker`] in kernel
//! objects: the session capabilities it mints and revokes, the notifications it signals
//! when a server has session notices, and the resource donor it charges each session to.
//!
//! At start it reads two entries of the boot archive (mapped by the root task,
//! `boot_archive = true` in the manifest): `policy`, the compiled system policy, and
//! `manifest`, which says who the boot servers are: the root task gave server `i` (from 1,
//! in manifest order) its capability to this server with badge `i`, so badge `i` is that
//! server's client id, with path `/sbin/NAME` for a server that provides a service and
//! `/bin/NAME` for a program (the shell). Processes the process manager builds are
//! admitted with `Admit` and get the ids from [`FIRST_SPAWNED_CLIENT`] on.
//!
//! Capabilities it holds, in its own CNode: each registered server's endpoint and
//! notification; for each live connection, the root of its session capability (a badged
//! copy of the server's endpoint: the client got a child of it, so revoking the root takes
//! every copy the client made); for each admitted process, the root of its security
//! session capability. Slots: `loader::server_slots`, the donor at `FIRST_CLIENT`.
//!
//! Every grant, denial, revocation and policy load is an `info` event with target `audit`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(program::main);

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!(
        "security: the security server runs on Lattice; `cargo test -p security-server` tests its logic"
    );
}

#[cfg(target_os = "none")]
mod program {
    extern crate alloc;

    use alloc::collections::{BTreeMap, VecDeque};
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    use donor_api::{DonorClient, DonorError};
    use kernel_abi::bootarchive::BootArchive;
    use kernel_abi::{ObjectType, Rights};
    use loader::server_slots as at;
    use policy::Policy;
    use security_api::{AuditRecord, FIRST_SPAWNED_CLIENT, Request, Response, Security, SecurityError};
    use security_server::broker::NOTICE_PAGE;
    use security_server::{Audit, Broker, ClientId, Closed};
    use userlib::ipc::{self, Cptr};
    use userlib::rpc::{self, CapabilitySlot, Incoming, Reply, Server};
    use userlib::{object, println};

    /// Slots of this server's CNode it hands out (the loader's reserved ones are below).
    const SLOTS: usize = 1 << 12;
    /// Where a capability sent with a request arrives.
    const RECEIVED: usize = at::FIRST_FREE;
    /// The reply object it serves with.
    const REPLY: usize = at::FIRST_FREE + 1;
    /// The first slot of the free list.
    const FIRST_SLOT: usize = at::FIRST_FREE + 2;
    /// Most connections one `ListConnections` answer carries (fewer if they do not fit).
    const LIST_PAGE: usize = 12;
    /// Audit records kept for `ReadAudit` (the oldest go first).
    const AUDIT_KEPT: usize = 256;
    /// Most audit records one answer carries (fewer if they do not fit).
    const AUDIT_PAGE: usize = 8;
    /// Rights of a session capability: send and call, with capabilities.
    const SESSION_RIGHTS: Rights = Rights(Rights::WRITE.0 | Rights::GRANT.0);

    /// The security server's world: the broker and the capabilities behind its books.
    struct World {
        broker: Broker,
        donor: DonorClient,
        free: Vec<usize>,
        /// Registered servers: their endpoint (all rights, as they sent it).
        endpoints: BTreeMap<ClientId, Cptr>,
        /// Subscribed servers: the notification to signal.
        notifications: BTreeMap<ClientId, Cptr>,
        /// Live connections: the root of each session capability.
        connections: BTreeMap<u64, Cptr>,
        /// Admitted processes: the root of each security session capability.
        clients: BTreeMap<ClientId, Cptr>,
        /// The latest audit records, and the next sequence number.
        trail: VecDeque<AuditRecord>,
        next_seq: u64,
    }

    pub(crate) fn main() -> i32 {
        let _ = userlib::trace::init("security", tracing::Level::INFO);
        let Some(archive) = userlib::server_boot_archive().and_then(|bytes| BootArchive::parse(bytes).ok())
        else {
            println!("security: no boot archive (the manifest must say boot_archive = true)");
            return 1;
        };
        let policy = match archive.find("policy").map(|entry| Policy::from_bytes(entry.data)) {
            Some(Ok(policy)) => policy,
            Some(Err(error)) => {
                println!("security: the boot archive's policy is unreadable: {error}");
                return 1;
            }
            None => {
                println!("security: the boot archive has no policy (the manifest's [system] policy)");
                return 1;
            }
        };
        let hash = policy.content_hash_hex();
        let mut broker = Broker::new(policy);
        let Some(manifest) = archive.find("manifest").and_then(|entry| core::str::from_utf8(entry.data).ok())
        else {
            println!("security: the boot archive has no manifest");
            return 1;
        };
        let mut boot_servers = 0;
        for (index, line) in manifest.lines().skip(1).enumerate() {
            let mut words = line.split_ascii_whitespace().skip(1);
            let (Some(name), Some(provides)) = (words.next(), words.nth(2)) else { continue };
            let path = if provides == "-" { format!("/bin/{name}") } else { format!("/sbin/{name}") };
            if broker.admit(index as ClientId + 1, &path, None).is_ok() {
                boot_servers += 1;
            }
        }
        tracing::info!(target: "audit", policy = hash.as_str(), boot_servers, "policy load at boot");
        if object::retype(at::MEMORY, ObjectType::Reply, 0, at::CNODE, REPLY, 1).is_err() {
            println!("security: cannot make a reply object");
            return 1;
        }
        let mut security = World {
            broker,
            donor: DonorClient::new(at::FIRST_CLIENT),
            free: (FIRST_SLOT..SLOTS).rev().collect(),
            endpoints: BTreeMap::new(),
            notifications: BTreeMap::new(),
            connections: BTreeMap::new(),
            clients: BTreeMap::new(),
            // The trail starts with the boot policy's load (its event is the one above).
            trail: VecDeque::from([AuditRecord {
                seq: 1,
                event: Audit::PolicyLoad { hash, kept: 0, revoked: 0 },
            }]),
            next_seq: 2,
        };
        let mut server =
            Server::new(at::SERVICE, REPLY).receiving(CapabilitySlot { cnode: at::CNODE, index: RECEIVED });
        let error = server.serve::<Security>(|incoming, request| {
            let reply = security.handle(incoming, request);
            security.signal();
            reply
        });
        println!("security: stopped serving: {error}");
        1
    }

    impl World {
        fn take_slot(&mut self) -> Result<usize, SecurityError> {
            self.free.pop().ok_or(SecurityError::OutOfResources)
        }

        fn give_slot(&mut self, slot: usize) {
            let _ = object::delete(at::CNODE, slot);
            self.free.push(slot);
        }

        /// Moves the capability that came with the request into a free slot.
        fn keep_received(&mut self, incoming: &Incoming<'_>) -> Result<usize, SecurityError> {
            let received = incoming.capability().ok_or(SecurityError::MissingCapability)?;
            let slot = self.take_slot()?;
            if object::move_capability(at::CNODE, slot, received.cnode, received.index).is_err() {
                self.free.push(slot);
                return Err(SecurityError::MissingCapability);
            }
            Ok(slot)
        }

        fn handle(&mut self, incoming: &Incoming<'_>, request: Request) -> Reply<Security> {
            let client = incoming.badge() as ClientId;
            match request {
                Request::Connect { service, rights } => match self.connect(client, &service, rights) {
                    Ok((connection, root)) => {
                        Reply::WithCapability(Ok(Response::Connected { connection }), root)
                    }
                    Err(error) => Reply::Now(Err(error)),
                },
                Request::Register { service, session_bytes } => {
                    Reply::Now(self.register(incoming, client, &service, session_bytes))
                }
                Request::Subscribe => Reply::Now(self.subscribe(incoming, client)),
                Request::Revoke { connection } => Reply::Now(self.revoke(client, connection)),
                Request::ListConnections { after } => {
                    let (mut connections, mut more) = self.broker.list(client, after, LIST_PAGE);
                    loop {
                        let response = Response::Connections { connections, more };
                        if rpc::reply_fits::<Security>(&response) {
                            return Reply::Now(Ok(response));
                        }
                        let Response::Connections { connections: mut page, .. } = response else {
                            return Reply::Now(Err(SecurityError::OutOfResources));
                        };
                        page.pop();
                        (connections, more) = (page, true);
                    }
                }
                Request::LoadPolicy { source } => Reply::Now(self.load_policy(client, &source)),
                Request::Admit { program, parent_connection } => {
                    match self.admit(client, &program, parent_connection) {
                        Ok((id, label, root)) => {
                            Reply::WithCapability(Ok(Response::Admitted { client: id, label }), root)
                        }
                        Err(error) => Reply::Now(Err(error)),
                    }
                }
                Request::Depart { client: departed } => Reply::Now(self.depart(client, departed)),
                Request::ReadAudit { after } => Reply::Now(self.read_audit(client, after)),
                Request::Notices => {
                    let (mut notices, mut more) = self.broker.take_notices(client, NOTICE_PAGE);
                    // Notices that do not fit go back to wait for the next call.
                    let mut kept = Vec::new();
                    while !rpc::reply_fits::<Security>(&Response::Notices { notices: notices.clone(), more })
                    {
                        let Some(last) = notices.pop() else { break };
                        kept.push(last);
                        more = true;
                    }
                    self.broker.requeue_notices(client, kept);
                    Reply::Now(Ok(Response::Notices { notices, more }))
                }
            }
        }

        fn connect(
            &mut self,
            client: ClientId,
            service: &str,
            rights: policy::Rights,
        ) -> Result<(u64, Cptr), SecurityError> {
            let path = self.broker.path_of(client).unwrap_or_default().to_string();
            let donor = self.donor;
            let pay = |payer: ClientId, connection: u64, bytes: u64, server: ClientId| {
                if bytes == 0 {
                    return Ok(());
                }
                donor.charge(payer, &path, connection, bytes, server).map_err(|error| match error {
                    DonorError::QuotaExceeded { free } => {
                        SecurityError::QuotaExceeded { needed: bytes, free }
                    }
                    _ => SecurityError::OutOfResources,
                })
            };
            let granted = match self.broker.connect(client, service, rights, pay) {
                Ok(granted) => granted,
                Err(refused) => {
                    let (error, audit) = *refused;
                    self.record(&audit);
                    return Err(error);
                }
            };
            match self.mint_session(granted.server, granted.id) {
                Ok(root) => {
                    self.record(&granted.audit);
                    self.connections.insert(granted.id, root);
                    Ok((granted.id, root))
                }
                Err(error) => {
                    // Undo the booking: nobody holds a capability yet.
                    if let Ok((closed, _)) = self.broker.revoke(client, granted.id) {
                        self.undo(closed);
                    }
                    Err(error)
                }
            }
        }

        /// Mints the root of connection `id`'s session capability: a copy of `server`'s
        /// endpoint badged `id`, in a free slot.
        fn mint_session(&mut self, server: ClientId, id: u64) -> Result<Cptr, SecurityError> {
            let endpoint = *self.endpoints.get(&server).ok_or(SecurityError::UnknownService)?;
            let badge = usize::try_from(id).map_err(|_| SecurityError::OutOfResources)?;
            let slot = self.take_slot()?;
            if object::mint(at::CNODE, slot, at::CNODE, endpoint, SESSION_RIGHTS, badge).is_err() {
                self.free.push(slot);
                return Err(SecurityError::OutOfResources);
            }
            Ok(slot)
        }

        fn register(
            &mut self,
            incoming: &Incoming<'_>,
            client: ClientId,
            service: &str,
            session_bytes: u64,
        ) -> Result<Response, SecurityError> {
            let endpoint = self.keep_received(incoming)?;
            if let Err(error) = self.broker.register(client, service, session_bytes) {
                self.give_slot(endpoint);
                return Err(error);
            }
            // One endpoint per server: a server of two services registers the same one.
            if let Some(old) = self.endpoints.insert(client, endpoint) {
                self.give_slot(old);
            }
            tracing::info!(service, client, session_bytes, "registered");
            Ok(Response::Registered)
        }

        fn subscribe(
            &mut self,
            incoming: &Incoming<'_>,
            client: ClientId,
        ) -> Result<Response, SecurityError> {
            let notification = self.keep_received(incoming)?;
            if let Err(error) = self.broker.subscribe(client) {
                self.give_slot(notification);
                return Err(error);
            }
            if let Some(old) = self.notifications.insert(client, notification) {
                self.give_slot(old);
            }
            Ok(Response::Subscribed)
        }

        fn revoke(&mut self, client: ClientId, connection: u64) -> Result<Response, SecurityError> {
            let (closed, audit) = self.broker.revoke(client, connection)?;
            self.record(&audit);
            self.undo(closed);
            Ok(Response::Revoked)
        }

        /// A connection the broker forgot: its capabilities go (the client's copy and every
        /// copy made from it) and its donation returns.
        fn undo(&mut self, closed: Closed) {
            if let Some(root) = self.connections.remove(&closed.id) {
                let _ = object::revoke(at::CNODE, root);
                self.give_slot(root);
            }
            if closed.donation > 0 {
                let _ = self.donor.reclaim(closed.id);
            }
        }

        fn load_policy(&mut self, client: ClientId, source: &str) -> Result<Response, SecurityError> {
            let start = userlib::syscall::instructions_retired();
            let compiled = policy::compile(source).map_err(|errors| {
                let first = errors.errors.first();
                let line = first.map_or(0, |error| error.pos.line);
                let message = first.map_or_else(|| errors.to_string(), |error| error.message.clone());
                tracing::info!(target: "audit", client, line, message = message.as_str(), "policy load refused");
                SecurityError::InvalidPolicy { line, message }
            })?;
            let swap = self.broker.swap_policy(client, compiled.policy)?;
            for closed in swap.revoked {
                self.undo(closed);
            }
            for audit in &swap.audit {
                self.record(audit);
            }
            let mut loaded = swap.loaded;
            loaded.instructions = userlib::syscall::instructions_retired() - start;
            Ok(Response::PolicyLoaded(loaded))
        }

        fn admit(
            &mut self,
            admitter: ClientId,
            program: &str,
            parent_connection: u64,
        ) -> Result<(ClientId, String, Cptr), SecurityError> {
            let slot = self.take_slot()?;
            let (client, label) = match self.broker.admit_spawned(admitter, program, parent_connection) {
                Ok(admitted) => admitted,
                Err(error) => {
                    self.free.push(slot);
                    return Err(error);
                }
            };
            let badge = usize::try_from(client).unwrap_or(0);
            if badge == 0
                || object::mint(at::CNODE, slot, at::CNODE, at::SERVICE, SESSION_RIGHTS, badge).is_err()
            {
                self.free.push(slot);
                self.broker.depart_now(client);
                return Err(SecurityError::OutOfResources);
            }
            let label = self.broker.policy().label_text(label).to_string();
            tracing::debug!(client, program, label = label.as_str(), "admitted");
            self.clients.insert(client, slot);
            Ok((client, label, slot))
        }

        fn depart(&mut self, departer: ClientId, client: ClientId) -> Result<Response, SecurityError> {
            if client < FIRST_SPAWNED_CLIENT {
                return Err(SecurityError::NotPermitted);
            }
            let path = self.broker.path_of(client).unwrap_or_default().to_string();
            let closed = self.broker.depart(departer, client)?;
            let count = u32::try_from(closed.len()).unwrap_or(u32::MAX);
            for connection in closed {
                self.record(&Audit::End { connection: connection.id, client: path.clone() });
                self.undo(connection);
            }
            if let Some(root) = self.clients.remove(&client) {
                let _ = object::revoke(at::CNODE, root);
                self.give_slot(root);
            }
            if let Some(endpoint) = self.endpoints.remove(&client) {
                self.give_slot(endpoint);
            }
            if let Some(notification) = self.notifications.remove(&client) {
                self.give_slot(notification);
            }
            Ok(Response::Departed { closed: count })
        }

        /// Writes an audit record as an `audit` event and keeps it in the trail.
        fn record(&mut self, audit: &Audit) {
            record(audit);
            if self.trail.len() == AUDIT_KEPT {
                self.trail.pop_front();
            }
            self.trail.push_back(AuditRecord { seq: self.next_seq, event: audit.clone() });
            self.next_seq += 1;
        }

        fn read_audit(&self, client: ClientId, after: u64) -> Result<Response, SecurityError> {
            if !self.broker.may_read_audit(client) {
                return Err(SecurityError::NotPermitted);
            }
            let mut records: Vec<AuditRecord> =
                self.trail.iter().filter(|record| record.seq > after).take(AUDIT_PAGE).cloned().collect();
            let mut more =
                self.trail.back().is_some_and(|last| records.last().is_some_and(|mine| mine.seq < last.seq));
            while !rpc::reply_fits::<Security>(&Response::Audit { records: records.clone(), more }) {
                records.pop();
                more = true;
            }
            Ok(Response::Audit { records, more })
        }

        /// Signals every server with new session notices.
        fn signal(&mut self) {
            for server in self.broker.servers_to_signal() {
                if let Some(&notification) = self.notifications.get(&server) {
                    let _ = ipc::signal(notification);
                }
            }
        }
    }

    /// Writes an audit record as an `audit` event: grants and ends (routine, and many) at
    /// `debug`, the rest at `info`. `audit` in the shell reads every kind back.
    fn record(audit: &Audit) {
        match audit {
            Audit::Grant { connection, client, label, service, rule } => {
                tracing::debug!(target: "audit", connection, client = client.as_str(), label = label.as_str(), service = service.as_str(), rule = rule.as_str(), "grant");
            }
            Audit::Deny { client, label, service, rule } => {
                tracing::info!(target: "audit", client = client.as_str(), label = label.as_str(), service = service.as_str(), rule = rule.as_str(), "deny");
            }
            Audit::Revoke { connection, why } => {
                tracing::info!(target: "audit", connection, why = why.as_str(), "revoke");
            }
            Audit::End { connection, client } => {
                tracing::debug!(target: "audit", connection, client = client.as_str(), "end");
            }
            Audit::PolicyLoad { hash, kept, revoked } => {
                tracing::info!(target: "audit", hash = hash.as_str(), kept, revoked, "policy load");
            }
        }
    }
}
