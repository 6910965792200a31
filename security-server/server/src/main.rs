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
//! Capabilities it holds, each in a kit [`kit::Slot`] of its own CNode: each registered
//! server's endpoint and notification; for each live connection, the root of its session
//! capability (a badged copy of the server's endpoint: the client got a child of it, so
//! revoking the root takes every copy the client made); for each admitted process, the
//! root of its security session capability. It runs on the server kit's loop; the donor is
//! the service `"donor"` of its start info.
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

    use alloc::collections::BTreeMap;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    use donor_api::{DonorClient, DonorError};
    use kernel_abi::Rights;
    use kernel_abi::bootarchive::BootArchive;
    use kit::{Answer, Call, Config, Kit, Slot};
    use loader::server_slots as at;
    use policy::Policy;
    use security_api::{FIRST_SPAWNED_CLIENT, Request, Response, Security, SecurityError};
    use security_server::broker::NOTICE_PAGE;
    use security_server::{Audit, AuditTrail, Broker, ClientId, Closed};
    use userlib::ipc::{self, Cptr};
    use userlib::rpc;
    use userlib::{object, println};

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
        /// Registered servers: their endpoint (all rights, as they sent it).
        endpoints: BTreeMap<ClientId, Slot>,
        /// Subscribed servers: the notification to signal.
        notifications: BTreeMap<ClientId, Slot>,
        /// Live connections: the root of each session capability.
        connections: BTreeMap<u64, Slot>,
        /// Admitted processes: the root of each security session capability.
        clients: BTreeMap<ClientId, Slot>,
        /// The latest audit records.
        trail: AuditTrail,
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
        let boot_servers = security_server::boot_servers(manifest)
            .into_iter()
            .filter(|server| broker.admit(server.client, &server.path, None).is_ok())
            .count();
        tracing::info!(target: "audit", policy = hash.as_str(), boot_servers, "policy load at boot");
        let kit = match Kit::<()>::start(Config::new("security").receiving_capabilities()) {
            Ok(kit) => kit,
            Err(error) => {
                println!("security: cannot start: {error}");
                return 1;
            }
        };
        let Some(donor) = kit.donor() else {
            println!("security: the manifest must give it the donor");
            return 1;
        };
        // The trail starts with the boot policy's load (its event is the one above).
        let mut trail = AuditTrail::new(AUDIT_KEPT);
        trail.record(Audit::PolicyLoad { hash, kept: 0, revoked: 0 });
        let mut security = World {
            broker,
            donor,
            endpoints: BTreeMap::new(),
            notifications: BTreeMap::new(),
            connections: BTreeMap::new(),
            clients: BTreeMap::new(),
            trail,
        };
        let error = kit.run(&mut security);
        println!("security: stopped serving: {error:?}");
        1
    }

    impl kit::Server for World {
        type Protocol = Security;
        type Session = ();

        fn request(&mut self, _kit: &mut Kit<()>, call: &Call<'_>, request: Request) -> Answer<Security> {
            let answer = self.handle(call, request);
            self.signal();
            answer
        }
    }

    impl World {
        /// Moves the capability that came with the request into a slot of its own.
        fn keep_received(&mut self, call: &Call<'_>) -> Result<Slot, SecurityError> {
            let received = call.capability().ok_or(SecurityError::MissingCapability)?;
            Slot::take_from(received).map_err(|_| SecurityError::MissingCapability)
        }

        fn handle(&mut self, call: &Call<'_>, request: Request) -> Answer<Security> {
            let client = call.badge() as ClientId;
            match request {
                Request::Connect { service, rights } => match self.connect(client, &service, rights) {
                    Ok((connection, root)) => {
                        Answer::WithCapability(Ok(Response::Connected { connection }), root)
                    }
                    Err(error) => Answer::Now(Err(error)),
                },
                Request::Register { service, session_bytes } => {
                    Answer::Now(self.register(call, client, &service, session_bytes))
                }
                Request::Subscribe => Answer::Now(self.subscribe(call, client)),
                Request::Revoke { connection } => Answer::Now(self.revoke(client, connection)),
                Request::ListConnections { after } => {
                    let (mut connections, mut more) = self.broker.list(client, after, LIST_PAGE);
                    loop {
                        let response = Response::Connections { connections, more };
                        if rpc::reply_fits::<Security>(&response) {
                            return Answer::Now(Ok(response));
                        }
                        let Response::Connections { connections: mut page, .. } = response else {
                            return Answer::Now(Err(SecurityError::OutOfResources));
                        };
                        page.pop();
                        (connections, more) = (page, true);
                    }
                }
                Request::LoadPolicy { source } => Answer::Now(self.load_policy(client, &source)),
                Request::Admit { program, parent_connection } => {
                    match self.admit(client, &program, parent_connection) {
                        Ok((id, label, root)) => {
                            Answer::WithCapability(Ok(Response::Admitted { client: id, label }), root)
                        }
                        Err(error) => Answer::Now(Err(error)),
                    }
                }
                Request::Depart { client: departed } => Answer::Now(self.depart(client, departed)),
                Request::ReadAudit { after } => Answer::Now(self.read_audit(client, after)),
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
                    Answer::Now(Ok(Response::Notices { notices, more }))
                }
            }
        }

        fn connect(
            &mut self,
            client: ClientId,
            service: &str,
            rights: policy::Rights,
        ) -> Result<(u64, Cptr), SecurityError> {
            let donor = self.donor;
            let pay = |payer: ClientId, path: &str, connection: u64, bytes: u64, server: ClientId| {
                if bytes == 0 {
                    return Ok(());
                }
                donor.charge(payer, path, connection, bytes, server).map_err(|error| match error {
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
                    self.record(audit);
                    return Err(error);
                }
            };
            match self.mint_session(granted.server, granted.id) {
                Ok(root) => {
                    self.record(granted.audit);
                    let index = root.index();
                    self.connections.insert(granted.id, root);
                    Ok((granted.id, index))
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
        fn mint_session(&mut self, server: ClientId, id: u64) -> Result<Slot, SecurityError> {
            let endpoint = self.endpoints.get(&server).ok_or(SecurityError::UnknownService)?.index();
            let badge = usize::try_from(id).map_err(|_| SecurityError::OutOfResources)?;
            Slot::mint(endpoint, SESSION_RIGHTS, badge).map_err(|_| SecurityError::OutOfResources)
        }

        fn register(
            &mut self,
            call: &Call<'_>,
            client: ClientId,
            service: &str,
            session_bytes: u64,
        ) -> Result<Response, SecurityError> {
            let endpoint = self.keep_received(call)?;
            self.broker.register(client, service, session_bytes)?;
            // One endpoint per server: a server of two services registers the same one
            // (the old slot goes).
            self.endpoints.insert(client, endpoint);
            tracing::info!(service, client, session_bytes, "registered");
            Ok(Response::Registered)
        }

        fn subscribe(&mut self, call: &Call<'_>, client: ClientId) -> Result<Response, SecurityError> {
            let notification = self.keep_received(call)?;
            self.broker.subscribe(client)?;
            self.notifications.insert(client, notification);
            Ok(Response::Subscribed)
        }

        fn revoke(&mut self, client: ClientId, connection: u64) -> Result<Response, SecurityError> {
            let (closed, audit) = self.broker.revoke(client, connection)?;
            self.record(audit);
            self.undo(closed);
            Ok(Response::Revoked)
        }

        /// A connection the broker forgot: its capabilities go (the client's copy and every
        /// copy made from it) and its donation returns.
        fn undo(&mut self, closed: Closed) {
            if let Some(root) = self.connections.remove(&closed.id) {
                let _ = object::revoke(at::CNODE, root.index());
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
            for audit in swap.audit {
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
            let (client, label) = self.broker.admit_spawned(admitter, program, parent_connection)?;
            let badge = usize::try_from(client).unwrap_or(0);
            let minted = if badge == 0 { None } else { Slot::mint(at::SERVICE, SESSION_RIGHTS, badge).ok() };
            let Some(slot) = minted else {
                self.broker.depart_now(client);
                return Err(SecurityError::OutOfResources);
            };
            let label = self.broker.policy().label_text(label).to_string();
            tracing::debug!(client, program, label = label.as_str(), "admitted");
            let index = slot.index();
            self.clients.insert(client, slot);
            Ok((client, label, index))
        }

        fn depart(&mut self, departer: ClientId, client: ClientId) -> Result<Response, SecurityError> {
            if client < FIRST_SPAWNED_CLIENT {
                return Err(SecurityError::NotPermitted);
            }
            let path = self.broker.path_of(client).unwrap_or_default().to_string();
            let closed = self.broker.depart(departer, client)?;
            let count = u32::try_from(closed.len()).unwrap_or(u32::MAX);
            for connection in closed {
                self.record(Audit::End { connection: connection.id, client: path.clone() });
                self.undo(connection);
            }
            if let Some(root) = self.clients.remove(&client) {
                let _ = object::revoke(at::CNODE, root.index());
            }
            self.endpoints.remove(&client);
            self.notifications.remove(&client);
            Ok(Response::Departed { closed: count })
        }

        /// Writes an audit record as an `audit` event and keeps it in the trail.
        fn record(&mut self, audit: Audit) {
            record(&audit);
            self.trail.record(audit);
        }

        fn read_audit(&self, client: ClientId, after: u64) -> Result<Response, SecurityError> {
            if !self.broker.may_read_audit(client) {
                return Err(SecurityError::NotPermitted);
            }
            let (records, more) = self.trail.page(after, AUDIT_PAGE, |records, more| {
                rpc::reply_fits::<Security>(&Response::Audit { records: records.to_vec(), more })
            });
            Ok(Response::Audit { records, more })
        }

        /// Signals every server with new session notices.
        fn signal(&mut self) {
            for server in self.broker.servers_to_signal() {
                if let Some(notification) = self.notifications.get(&server) {
                    let _ = ipc::signal(notification.index());
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
