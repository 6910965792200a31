//! The broker: who is who, which services exist, which connections are live, and what
//! the policy says about each.
//!
//! Every operation checks everything first and changes nothing when it refuses, so a
//! refused request leaves the broker as it was.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use policy::diff::{self, Outcome};
use policy::{Decision, Label, Policy, Rights};
use security_api::{ConnectionInfo, PolicyLoaded, SecurityError};

/// The name the policy gives the security server's own service.
pub const SECURITY_SERVICE: &str = "security";

/// A client of the security server: the badge of its session capability, one per process.
pub type ClientId = u64;

/// A program the broker knows (the process manager tells it at spawn).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Client {
    /// The program's path (its identity in the policy).
    path: String,
    /// Its label in the policy in force.
    label: Label,
}

/// A live connection.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Connection {
    client: ClientId,
    service: String,
    rights: Rights,
    /// The scope granted, as the policy prints it.
    scope: String,
}

/// A connection the broker granted: the program mints a session capability badged `id`
/// from the service's endpoint and tells the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The connection id (the session capability's badge).
    pub id: u64,
    /// The service's server.
    pub server: ClientId,
    /// The scope the policy granted, as the policy prints it.
    pub scope: String,
    /// The audit record of the grant.
    pub audit: Audit,
}

/// What a policy swap did: connections to revoke, and the audit records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySwap {
    /// The connections the new policy denies or narrows, already forgotten by the
    /// broker; the program revokes their capabilities and tells their servers.
    pub revoked: Vec<(u64, ClientId)>,
    /// What the swap did, for the answer.
    pub loaded: PolicyLoaded,
    /// One record per revoked connection, then the load itself.
    pub audit: Vec<Audit>,
}

/// An audit record: every grant, denial, revocation and policy load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audit {
    /// A connection was granted.
    Grant {
        /// The connection id.
        connection: u64,
        /// The client program.
        client: String,
        /// The service.
        service: String,
        /// The rule that allowed it (`the grant of ... at line:col`).
        rule: String,
    },
    /// A connection was refused.
    Deny {
        /// The client program.
        client: String,
        /// The service.
        service: String,
        /// Why, naming the rule.
        rule: String,
    },
    /// A connection was revoked.
    Revoke {
        /// The connection id.
        connection: u64,
        /// Why (asked for by whom, or the policy swap's reason).
        why: String,
    },
    /// A policy came into force.
    PolicyLoad {
        /// Its content hash.
        hash: String,
        /// Connections kept and revoked.
        kept: u32,
        /// Connections revoked.
        revoked: u32,
    },
}

/// The broker.
pub struct Broker {
    policy: Policy,
    clients: BTreeMap<ClientId, Client>,
    /// Registered services: name to the client that serves it.
    services: BTreeMap<String, ClientId>,
    connections: BTreeMap<u64, Connection>,
    next_connection: u64,
}

impl Broker {
    /// A broker enforcing `policy`, knowing nobody yet.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            clients: BTreeMap::new(),
            services: BTreeMap::new(),
            connections: BTreeMap::new(),
            next_connection: 1,
        }
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
        self.clients.insert(client, Client { path: path.to_string(), label });
        Ok(label)
    }

    /// `client` serves `service` from now on. Only the program the policy names as the
    /// service's server may, once.
    pub fn register(&mut self, client: ClientId, service: &str) -> Result<(), SecurityError> {
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
        self.services.insert(service.to_string(), client);
        Ok(())
    }

    /// `client` asks for `service` with `rights`. Allowed: the connection is live and
    /// booked. Denied: the error names the rule, and the audit record says the same.
    pub fn connect(
        &mut self,
        client: ClientId,
        service: &str,
        rights: u32,
    ) -> Result<Granted, (SecurityError, Audit)> {
        let Some(program) = self.clients.get(&client) else {
            let rule = String::from("the caller is not a process the security server admitted");
            return Err((SecurityError::NotPermitted, deny(&format!("client {client}"), service, &rule)));
        };
        let Some(&server) = self.services.get(service) else {
            let rule = String::from("no server has registered the service");
            return Err((SecurityError::UnknownService, deny(&program.path, service, &rule)));
        };
        let Some(rights) = Rights::from_bits(rights) else {
            let rule = format!("rights {rights:#x} are not rights the policy knows");
            return Err((SecurityError::Denied { rule: rule.clone() }, deny(&program.path, service, &rule)));
        };
        match self.policy.decide_named(&program.path, program.label, service, rights) {
            Decision::Allow(allowed) => {
                let rule = format!("the grant at line {}", allowed.grant().origin);
                let scope = allowed.scope().to_string();
                let id = self.next_connection;
                self.next_connection += 1;
                let audit = Audit::Grant {
                    connection: id,
                    client: program.path.clone(),
                    service: service.to_string(),
                    rule,
                };
                self.connections.insert(
                    id,
                    Connection { client, service: service.to_string(), rights, scope: scope.clone() },
                );
                Ok(Granted { id, server, scope, audit })
            }
            Decision::Deny(reason) => {
                let rule = self.policy.explain(&reason).to_string();
                Err((SecurityError::Denied { rule: rule.clone() }, deny(&program.path, service, &rule)))
            }
        }
    }

    /// Revokes `connection` at `client`'s request: its own connections, or any for a
    /// program the policy lets manage connections (the shell). Returns the server to tell.
    pub fn revoke(&mut self, client: ClientId, connection: u64) -> Result<(ClientId, Audit), SecurityError> {
        let live = self.connections.get(&connection).ok_or(SecurityError::NoSuchConnection)?;
        if live.client != client && !self.may_manage(client) {
            return Err(SecurityError::NotPermitted);
        }
        let server = self.services.get(&live.service).copied().unwrap_or(0);
        let asked_by = self.clients.get(&client).map_or("an unknown client", |c| c.path.as_str());
        let audit = Audit::Revoke { connection, why: format!("revoked at the request of {asked_by}") };
        self.connections.remove(&connection);
        Ok((server, audit))
    }

    /// A process ended: its connections close (returned with their servers, for notices),
    /// and services it served are unregistered.
    pub fn depart(&mut self, client: ClientId) -> Vec<(u64, ClientId)> {
        self.clients.remove(&client);
        self.services.retain(|_, server| *server != client);
        let ended: Vec<u64> =
            self.connections.iter().filter(|(_, c)| c.client == client).map(|(&id, _)| id).collect();
        ended
            .into_iter()
            .filter_map(|id| {
                let connection = self.connections.remove(&id)?;
                Some((id, self.services.get(&connection.service).copied().unwrap_or(0)))
            })
            .collect()
    }

    /// Live connections with ids above `after`, at most `limit`, and whether more follow.
    pub fn list(&self, after: u64, limit: usize) -> (Vec<ConnectionInfo>, bool) {
        let mut page = self.connections.range(after.saturating_add(1)..);
        let connections: Vec<ConnectionInfo> = page
            .by_ref()
            .take(limit)
            .map(|(&id, connection)| {
                let client = self.clients.get(&connection.client);
                ConnectionInfo {
                    id,
                    client: client.map_or_else(String::new, |c| c.path.clone()),
                    client_label: client
                        .map_or_else(String::new, |c| self.policy.label_text(c.label).to_string()),
                    service: connection.service.clone(),
                    rights: connection.rights.bits(),
                    scope: connection.scope.clone(),
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
                if let Some(connection) = self.connections.remove(&id) {
                    revoked.push((id, self.services.get(&connection.service).copied().unwrap_or(0)));
                }
                audit.push(Audit::Revoke { connection: id, why: format!("policy swap: {reason}") });
            }
        }
        // Labels move to the new policy; a label the new policy cannot express falls to
        // what the new policy gives the program from the bottom.
        for client in self.clients.values_mut() {
            client.label = diff::label_in_new_policy(&self.policy, &new, &client.path, client.label)
                .unwrap_or_else(|_| new.label_for(&client.path, Label::BOTTOM).label);
        }
        let kept = u32::try_from(self.connections.len()).unwrap_or(u32::MAX);
        let count = u32::try_from(revoked.len()).unwrap_or(u32::MAX);
        audit.push(Audit::PolicyLoad { hash: new.content_hash_hex(), kept, revoked: count });
        self.policy = new;
        Ok(PolicySwap { revoked, loaded: PolicyLoaded { kept, revoked: count, instructions: 0 }, audit })
    }

    /// Whether `client`'s program may revoke others' connections: the same programs that
    /// may load policies manage the system's connections.
    fn may_manage(&self, client: ClientId) -> bool {
        self.may_load_policy(client)
    }

    /// Whether `client`'s program may load policies: the policy would give it a
    /// connection to the `security` service with the load-policy right.
    fn may_load_policy(&self, client: ClientId) -> bool {
        self.clients.get(&client).is_some_and(|program| {
            self.policy
                .decide_named(&program.path, program.label, SECURITY_SERVICE, Rights::LOAD_POLICY)
                .is_allowed()
        })
    }
}

fn deny(client: &str, service: &str, rule: &str) -> Audit {
    Audit::Deny { client: client.to_string(), service: service.to_string(), rule: rule.to_string() }
}
