//! The broker: who is who, which services exist, which connections are live, and what
//! the policy says about each.
//!
//! Every operation checks everything first and changes nothing when it refuses, so a
//! refused request leaves the broker as it was.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use policy::diff::{self, Outcome};
use policy::{Decision, Label, Policy, Rights, Scope};
pub use security_api::Audit;
use security_api::{ConnectionInfo, PolicyLoaded, SecurityError, SessionNotice};

/// The name the policy gives the security server's own service.
pub const SECURITY_SERVICE: &str = "security";

/// A client of the security server: the badge of its session capability, one per process.
/// Boot servers are numbered by the manifest (1 onwards, below [`FIRST_SPAWNED_CLIENT`]);
/// processes the process manager admits get ids from [`FIRST_SPAWNED_CLIENT`] on.
pub type ClientId = u64;

pub use security_api::{FIRST_CONNECTION, FIRST_SPAWNED_CLIENT};

/// The service of the process manager, the one server that may admit processes.
pub const PROC_SERVICE: &str = "proc";

/// Most notices one `Notices` answer carries.
pub const NOTICE_PAGE: usize = 8;

/// A program the broker knows (the process manager tells it at spawn).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Client {
    /// The program's path (its identity in the policy).
    path: String,
    /// Its label in the policy in force.
    label: Label,
    /// The label as the policy writes it (for notices, listings and audit records; kept
    /// so that a connection does not format it again).
    label_text: String,
}

/// A live connection.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Connection {
    client: ClientId,
    service: String,
    rights: Rights,
    /// The scope granted: the grant's, narrowed to `rights`.
    scope: Scope,
    /// Bytes of the client's quota the session was charged.
    donation: u64,
}

/// A registered service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Registered {
    server: ClientId,
    /// What a session costs its client.
    session_bytes: u64,
}

/// A connection that ended: the program revokes its capability and gives its donation back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The connection id.
    pub id: u64,
    /// Bytes it was charged.
    pub donation: u64,
}

/// A connection the broker granted: the program mints a session capability badged `id`
/// from the service's endpoint and tells the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The connection id (the session capability's badge).
    pub id: u64,
    /// The service's server.
    pub server: ClientId,
    /// Bytes the session was charged.
    pub donation: u64,
    /// The audit record of the grant.
    pub audit: Audit,
}

/// What a policy swap did: connections to revoke, and the audit records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySwap {
    /// The connections the new policy denies or narrows, already forgotten by the
    /// broker (their servers' notices queued); the program revokes their capabilities.
    pub revoked: Vec<Closed>,
    /// What the swap did, for the answer.
    pub loaded: PolicyLoaded,
    /// One record per revoked connection, then the load itself.
    pub audit: Vec<Audit>,
}

/// The broker.
pub struct Broker {
    policy: Policy,
    clients: BTreeMap<ClientId, Client>,
    /// Registered services by name.
    services: BTreeMap<String, Registered>,
    connections: BTreeMap<u64, Connection>,
    next_connection: u64,
    next_client: ClientId,
    /// Session notices waiting, per server that takes them (subscribed).
    notices: BTreeMap<ClientId, VecDeque<SessionNotice>>,
    /// Servers with notices queued since [`Broker::servers_to_signal`] last asked.
    to_signal: BTreeSet<ClientId>,
}

impl Broker {
    /// A broker enforcing `policy`, knowing nobody yet.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            clients: BTreeMap::new(),
            services: BTreeMap::new(),
            connections: BTreeMap::new(),
            next_connection: FIRST_CONNECTION,
            next_client: FIRST_SPAWNED_CLIENT,
            notices: BTreeMap::new(),
            to_signal: BTreeSet::new(),
        }
    }

    /// The program path of `client`, if the broker knows it.
    pub fn path_of(&self, client: ClientId) -> Option<&str> {
        self.clients.get(&client).map(|c| c.path.as_str())
    }

    /// `admitter` (the registered process manager) built a process of `program` (a boot
    /// archive name means `/bin/NAME`) for the client of its session `parent_connection`
    /// (0: for itself). The new client gets the next id and its label from the policy.
    pub fn admit_spawned(
        &mut self,
        admitter: ClientId,
        program: &str,
        parent_connection: u64,
    ) -> Result<(ClientId, Label), SecurityError> {
        if self.services.get(PROC_SERVICE).map(|s| s.server) != Some(admitter) {
            return Err(SecurityError::NotPermitted);
        }
        let parent = if parent_connection == 0 {
            admitter
        } else {
            let connection =
                self.connections.get(&parent_connection).ok_or(SecurityError::NoSuchConnection)?;
            if connection.service != PROC_SERVICE {
                return Err(SecurityError::NotPermitted);
            }
            connection.client
        };
        let path = if program.starts_with('/') { program.to_string() } else { format!("/bin/{program}") };
        let client = self.next_client;
        let label = self.admit(client, &path, Some(parent))?;
        self.next_client += 1;
        Ok((client, label))
    }

    /// The notices waiting for `server`, at most `limit`, and whether more wait.
    pub fn take_notices(&mut self, server: ClientId, limit: usize) -> (Vec<SessionNotice>, bool) {
        let Some(queue) = self.notices.get_mut(&server) else { return (Vec::new(), false) };
        let page: Vec<SessionNotice> = queue.drain(..limit.min(queue.len())).collect();
        (page, !queue.is_empty())
    }

    /// Puts notices taken from `server`'s queue back at its front (the answer could not
    /// carry them), in the order given reversed: the last taken first.
    pub fn requeue_notices(&mut self, server: ClientId, taken_last_first: Vec<SessionNotice>) {
        if let Some(queue) = self.notices.get_mut(&server) {
            for notice in taken_last_first {
                queue.push_front(notice);
            }
        }
    }

    /// Servers that have notices to act on queued since the last call (a session closed):
    /// the program signals their notifications.
    pub fn servers_to_signal(&mut self) -> BTreeSet<ClientId> {
        core::mem::take(&mut self.to_signal)
    }

    /// `server` takes session notices from now on (those of sessions opened before are
    /// not queued). Only a registered server may.
    pub fn subscribe(&mut self, server: ClientId) -> Result<(), SecurityError> {
        if !self.services.values().any(|registered| registered.server == server) {
            return Err(SecurityError::NotPermitted);
        }
        self.notices.entry(server).or_default();
        Ok(())
    }

    /// Queues `notice` for the server of `service`, if it takes notices. A `Closed` notice
    /// marks the server to be signalled (it must drop the session's state now); an
    /// `Opened` one only waits: the server takes it before it serves the connection's first
    /// request (the kit does), so opening a connection costs the client no work of the
    /// server's.
    fn notify(&mut self, service: &str, notice: SessionNotice) {
        if let Some(registered) = self.services.get(service)
            && let Some(queue) = self.notices.get_mut(&registered.server)
        {
            if !matches!(notice, SessionNotice::Opened { .. }) {
                self.to_signal.insert(registered.server);
            }
            queue.push_back(notice);
        }
    }

    /// Forgets connection `id`, telling its server; what the program must undo.
    fn close(&mut self, id: u64) -> Option<Closed> {
        let connection = self.connections.remove(&id)?;
        self.notify(&connection.service, SessionNotice::Closed { connection: id });
        Some(Closed { id, donation: connection.donation })
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A process of program `path` started, spawned by `parent` (`None`: by the system).
    /// Its label comes from the policy (its own, by parent rule, or inherited). Returns
    /// the label, or `NotPermitted` if `client` is taken.
    pub fn admit(
        &mut self,
        client: ClientId,
        path: &str,
        parent: Option<ClientId>,
    ) -> Result<Label, SecurityError> {
        if self.clients.contains_key(&client) {
            return Err(SecurityError::NotPermitted);
        }
        let parent_label =
            parent.and_then(|parent| self.clients.get(&parent)).map_or(Label::BOTTOM, |p| p.label);
        let label = self.policy.label_for(path, parent_label).label;
        let label_text = self.policy.label_text(label).to_string();
        self.clients.insert(client, Client { path: path.to_string(), label, label_text });
        Ok(label)
    }

    /// `client` serves `service` from now on; each session costs its client
    /// `session_bytes`. Only the program the policy names as the service's server may,
    /// once.
    pub fn register(
        &mut self,
        client: ClientId,
        service: &str,
        session_bytes: u64,
    ) -> Result<(), SecurityError> {
        let program = self.clients.get(&client).ok_or(SecurityError::NotPermitted)?;
        let declared = self.policy.service_id(service).and_then(|id| self.policy.service(id));
        let Some(declared) = declared else { return Err(SecurityError::UnknownService) };
        let server_path = self.policy.program(declared.server).map(|p| p.path.as_str());
        if server_path != Some(program.path.as_str()) {
            return Err(SecurityError::NotPermitted);
        }
        if self.services.contains_key(service) {
            return Err(SecurityError::AlreadyRegistered);
        }
        self.services.insert(service.to_string(), Registered { server: client, session_bytes });
        Ok(())
    }

    /// `client` asks for `service` with `rights`. Allowed: `pay` charges the session's
    /// cost to the client (client, connection id, bytes, the service's server); if it pays, the connection is
    /// live and booked and its server's notice queued. Denied (or unpaid): the error names
    /// the rule (or the quota), and the audit record says the same; nothing is booked.
    pub fn connect(
        &mut self,
        client: ClientId,
        service: &str,
        rights: Rights,
        pay: impl FnOnce(ClientId, &str, u64, u64, ClientId) -> Result<(), SecurityError>,
    ) -> Result<Granted, Box<(SecurityError, Audit)>> {
        let Some(program) = self.clients.get(&client) else {
            let rule = String::from("the caller is not a process the security server admitted");
            return Err(Box::new((
                SecurityError::NotPermitted,
                deny(&format!("client {client}"), "", service, &rule),
            )));
        };
        let label_text = &program.label_text;
        let Some(&registered) = self.services.get(service) else {
            let rule = String::from("no server has registered the service");
            return Err(Box::new((
                SecurityError::UnknownService,
                deny(&program.path, label_text, service, &rule),
            )));
        };
        match self.policy.decide_named(&program.path, program.label, service, rights) {
            Decision::Allow(allowed) => {
                let rule =
                    format!("the grant of {service} to {} at {}", program.path, allowed.grant().origin);
                let scope = allowed.scope();
                let id = self.next_connection;
                let donation = registered.session_bytes;
                if let Err(error) = pay(client, &program.path, id, donation, registered.server) {
                    let why = format!("{error}");
                    return Err(Box::new((error, deny(&program.path, label_text, service, &why))));
                }
                self.next_connection += 1;
                let audit = Audit::Grant {
                    connection: id,
                    client: program.path.clone(),
                    label: label_text.clone(),
                    service: service.to_string(),
                    rule,
                };
                let notice = SessionNotice::Opened {
                    connection: id,
                    client_id: client,
                    rights,
                    client: program.path.clone(),
                    label: label_text.clone(),
                    scope: scope.clone(),
                    donation_bytes: donation,
                };
                self.connections
                    .insert(id, Connection { client, service: service.to_string(), rights, scope, donation });
                self.notify(service, notice);
                Ok(Granted { id, server: registered.server, donation, audit })
            }
            Decision::Deny(reason) => {
                let rule = self.policy.explain(&reason).to_string();
                Err(Box::new((
                    SecurityError::Denied { rule: rule.clone() },
                    deny(&program.path, label_text, service, &rule),
                )))
            }
        }
    }

    /// Revokes `connection` at `client`'s request: its own connections, or any for a
    /// program the policy lets manage connections (the shell). Its server's notice is
    /// queued; returns what to undo.
    pub fn revoke(&mut self, client: ClientId, connection: u64) -> Result<(Closed, Audit), SecurityError> {
        let live = self.connections.get(&connection).ok_or(SecurityError::NoSuchConnection)?;
        if live.client != client && !self.may_manage(client) {
            return Err(SecurityError::NotPermitted);
        }
        let asked_by = self.clients.get(&client).map_or("an unknown client", |c| c.path.as_str());
        let audit = Audit::Revoke { connection, why: format!("revoked at the request of {asked_by}") };
        let closed = self.close(connection).ok_or(SecurityError::NoSuchConnection)?;
        Ok((closed, audit))
    }

    /// Process `client` ended, as `departer` (the process manager) says: its connections
    /// close (their servers' notices queued; returned to undo), and services it served
    /// are unregistered.
    pub fn depart(&mut self, departer: ClientId, client: ClientId) -> Result<Vec<Closed>, SecurityError> {
        if self.services.get(PROC_SERVICE).map(|s| s.server) != Some(departer) {
            return Err(SecurityError::NotPermitted);
        }
        if !self.clients.contains_key(&client) {
            return Err(SecurityError::NoSuchConnection);
        }
        Ok(self.depart_now(client))
    }

    /// Process `client` is gone: see [`Broker::depart`].
    pub fn depart_now(&mut self, client: ClientId) -> Vec<Closed> {
        self.clients.remove(&client);
        let ended: Vec<u64> =
            self.connections.iter().filter(|(_, c)| c.client == client).map(|(&id, _)| id).collect();
        let closed = ended.into_iter().filter_map(|id| self.close(id)).collect();
        self.services.retain(|_, registered| registered.server != client);
        self.notices.remove(&client);
        closed
    }

    /// Live connections with ids above `after`, at most `limit`, and whether more follow,
    /// as `viewer` may see them: every connection for a program the policy lets read the
    /// audit trail or manage connections, its own connections for anyone else.
    pub fn list(&self, viewer: ClientId, after: u64, limit: usize) -> (Vec<ConnectionInfo>, bool) {
        let everything = self.may_read_audit(viewer);
        let mut page = self
            .connections
            .range(after.saturating_add(1)..)
            .filter(|(_, connection)| everything || connection.client == viewer);
        let connections: Vec<ConnectionInfo> = page
            .by_ref()
            .take(limit)
            .map(|(&id, connection)| {
                let client = self.clients.get(&connection.client);
                ConnectionInfo {
                    id,
                    client: client.map_or_else(String::new, |c| c.path.clone()),
                    client_label: client.map_or_else(String::new, |c| c.label_text.clone()),
                    service: connection.service.clone(),
                    rights: connection.rights,
                    scope: connection.scope.clone(),
                    donation_bytes: connection.donation,
                }
            })
            .collect();
        (connections, page.next().is_some())
    }

    /// Replaces the policy with `new` (already compiled) at `client`'s request: every live
    /// connection is decided again; those the new policy denies or narrows are forgotten
    /// and returned for revocation (so are any the old policy did not allow either);
    /// clients' labels move to the new policy. The answer's `instructions` is 0: the
    /// program around the broker measures the swap and fills it in.
    pub fn swap_policy(&mut self, client: ClientId, new: Policy) -> Result<PolicySwap, SecurityError> {
        if !self.may_load_policy(client) {
            return Err(SecurityError::NotPermitted);
        }
        let live: Vec<diff::Connection> = self
            .connections
            .iter()
            .filter_map(|(&id, connection)| {
                let client = self.clients.get(&connection.client)?;
                Some(diff::Connection {
                    id,
                    program: client.path.clone(),
                    label: client.label,
                    service: connection.service.clone(),
                    rights: connection.rights,
                })
            })
            .collect();
        let verdicts = diff::redecide_all(&self.policy, &new, &live);
        let mut revoked = Vec::new();
        let mut audit = Vec::new();
        for verdict in &verdicts {
            let id = verdict.connection.id;
            if verdict.must_revoke() || matches!(verdict.outcome, Outcome::NotLive(_)) {
                let reason = verdict.reason(&self.policy, &new).to_string();
                if let Some(closed) = self.close(id) {
                    revoked.push(closed);
                }
                audit.push(Audit::Revoke { connection: id, why: format!("policy swap: {reason}") });
            }
        }
        // Labels move to the new policy; a label the new policy cannot express falls to
        // what the new policy gives the program from the bottom.
        for client in self.clients.values_mut() {
            client.label = diff::label_in_new_policy(&self.policy, &new, &client.path, client.label)
                .unwrap_or_else(|_| new.label_for(&client.path, Label::BOTTOM).label);
            client.label_text = new.label_text(client.label).to_string();
        }
        let kept = u32::try_from(self.connections.len()).unwrap_or(u32::MAX);
        let count = u32::try_from(revoked.len()).unwrap_or(u32::MAX);
        audit.push(Audit::PolicyLoad { hash: new.content_hash_hex(), kept, revoked: count });
        self.policy = new;
        Ok(PolicySwap { revoked, loaded: PolicyLoaded { kept, revoked: count, instructions: 0 }, audit })
    }

    /// Whether `client`'s program may read the audit trail (and see every connection): the
    /// policy gives it `audit` or `load_policy` on the `security` service.
    pub fn may_read_audit(&self, client: ClientId) -> bool {
        self.may_manage(client) || self.may(client, Rights::AUDIT)
    }

    /// Whether `client`'s program may revoke others' connections: the same programs that
    /// may load policies manage the system's connections.
    fn may_manage(&self, client: ClientId) -> bool {
        self.may_load_policy(client)
    }

    /// Whether `client`'s program may load policies: the policy would give it a
    /// connection to the `security` service with the load-policy right.
    fn may_load_policy(&self, client: ClientId) -> bool {
        self.may(client, Rights::LOAD_POLICY)
    }

    /// Whether the policy would give `client` a connection to the `security` service with
    /// `rights`.
    fn may(&self, client: ClientId, rights: Rights) -> bool {
        self.clients.get(&client).is_some_and(|program| {
            self.policy.decide_named(&program.path, program.label, SECURITY_SERVICE, rights).is_allowed()
        })
    }
}

fn deny(client: &str, label: &str, service: &str, rule: &str) -> Audit {
    Audit::Deny {
        client: client.to_string(),
        label: label.to_string(),
        service: service.to_string(),
        rule: rule.to_string(),
    }
}
