//! Re-deciding live connections under a new policy: what a policy swap keeps, narrows and
//! revokes, and why. The security server runs this on a swap; `cargo xtask policy diff`
//! runs it as a dry run over a list of connections.
//!
//! A live connection is re-decided with the client's label in the new policy: the
//! program's fixed label there if it has one, else its current label carried over by
//! name ([`Policy::translate_label`]). The new scope is compared with the one the
//! connection has now:
//! - **kept**: the new policy allows at least what the connection has;
//! - **narrowed**: the new policy allows less (fewer rights, or the same rights over less),
//!   but not nothing; the server must drop the session and the client reconnect;
//! - **revoked**: the new policy denies the connection.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::decide::{Decision, DenyReason};
use crate::label::Label;
use crate::policy::{GrantId, LabelError, Policy};
use crate::{Rights, Scope, ScopeItem, ServiceKind};

/// A live connection: who, to what, with which rights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The connection id (the badge of its capability).
    pub id: u64,
    /// The client's program path.
    pub program: String,
    /// The client's label, in the old policy.
    pub label: Label,
    /// The service name.
    pub service: String,
    /// The rights the connection was opened with.
    pub rights: Rights,
}

/// What a new policy does to one live connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The new policy allows at least what the connection has.
    Kept {
        /// The connection's scope (unchanged).
        scope: Scope,
        /// The grant in the new policy that allows it.
        grant: GrantId,
        /// Whether a new connection would get more than this one has.
        widened: bool,
    },
    /// The new policy allows less than the connection has, but not nothing.
    Narrowed {
        /// The scope the connection has now.
        from: Scope,
        /// The scope the new policy gives (to the rights it still grants).
        to: Scope,
        /// What the connection loses.
        lost: Vec<ScopeItem>,
        /// The grant in the new policy that gives the narrower scope.
        grant: GrantId,
    },
    /// The new policy denies the connection.
    Revoked(Revocation),
    /// The old policy does not allow the connection either, so it cannot be live; listed
    /// so a mistaken connection list is noticed.
    NotLive(DenyReason),
}

/// Why a connection is revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The new policy denies it; ids refer to the new policy.
    Denied(DenyReason),
    /// The client's label does not exist in the new policy.
    LabelGone(LabelError),
}

/// One connection and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The connection re-decided.
    pub connection: Connection,
    /// The client's label in the new policy, if it has one.
    pub new_label: Option<Label>,
    /// What happens to it.
    pub outcome: Outcome,
}

impl Verdict {
    /// A short word for the outcome: `kept`, `narrowed`, `revoked` or `not-live`.
    pub const fn word(&self) -> &'static str {
        match self.outcome {
            Outcome::Kept { .. } => "kept",
            Outcome::Narrowed { .. } => "narrowed",
            Outcome::Revoked(_) => "revoked",
            Outcome::NotLive(_) => "not-live",
        }
    }

    /// Whether the security server must revoke the connection (narrowed or revoked).
    pub const fn must_revoke(&self) -> bool {
        matches!(self.outcome, Outcome::Narrowed { .. } | Outcome::Revoked(_))
    }

    /// A sentence saying why, with the old and new policies' names and rule lines.
    pub fn reason<'a>(&'a self, old: &'a Policy, new: &'a Policy) -> VerdictReason<'a> {
        VerdictReason { verdict: self, old, new }
    }
}

/// The client's label in `new`: the program's fixed label there, else `label` (from
/// `old`) carried over by name.
pub fn label_in_new_policy(
    old: &Policy,
    new: &Policy,
    program: &str,
    label: Label,
) -> Result<Label, LabelError> {
    let fixed = new.program_id(program).and_then(|id| new.program(id)).and_then(|program| program.label);
    match fixed {
        Some(label) => Ok(label),
        None => new.translate_label(old, label),
    }
}

/// Re-decides one live connection under `new`.
pub fn redecide(old: &Policy, new: &Policy, connection: &Connection) -> Verdict {
    let verdict = |new_label, outcome| Verdict { connection: connection.clone(), new_label, outcome };
    let before =
        old.decide_named(&connection.program, connection.label, &connection.service, connection.rights);
    let from = match before {
        Decision::Allow(allowed) => allowed.scope(),
        Decision::Deny(reason) => return verdict(None, Outcome::NotLive(reason)),
    };
    let label = match label_in_new_policy(old, new, &connection.program, connection.label) {
        Ok(label) => label,
        Err(error) => return verdict(None, Outcome::Revoked(Revocation::LabelGone(error))),
    };
    let mut after = new.decide_named(&connection.program, label, &connection.service, connection.rights);
    // A grant that keeps some of the rights narrows the connection rather than revoking it.
    if let Decision::Deny(DenyReason::RightsNotGranted { missing, .. }) = after {
        let still = connection.rights.difference(missing);
        if !still.is_empty() {
            let retry = new.decide_named(&connection.program, label, &connection.service, still);
            if retry.is_allowed() {
                after = retry;
            }
        }
    }
    let outcome = match after {
        Decision::Deny(reason) => Outcome::Revoked(Revocation::Denied(reason)),
        Decision::Allow(allowed) => {
            let to = allowed.scope();
            let lost = from.uncovered(&to);
            if lost.is_empty() {
                let widened = !from.covers(&allowed.grant().scope.restricted_to(connection.rights));
                Outcome::Kept { scope: from, grant: allowed.grant_id(), widened }
            } else {
                Outcome::Narrowed { from, to, lost, grant: allowed.grant_id() }
            }
        }
    };
    verdict(Some(label), outcome)
}

/// Re-decides every connection; the verdicts are in the same order.
pub fn redecide_all(old: &Policy, new: &Policy, connections: &[Connection]) -> Vec<Verdict> {
    connections.iter().map(|connection| redecide(old, new, connection)).collect()
}

/// How many connections each outcome got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Kept.
    pub kept: usize,
    /// Narrowed.
    pub narrowed: usize,
    /// Revoked.
    pub revoked: usize,
    /// Not allowed by the old policy either.
    pub not_live: usize,
}

impl Tally {
    /// Counts the outcomes of `verdicts`.
    pub fn of(verdicts: &[Verdict]) -> Tally {
        let mut tally = Tally::default();
        for verdict in verdicts {
            match verdict.outcome {
                Outcome::Kept { .. } => tally.kept += 1,
                Outcome::Narrowed { .. } => tally.narrowed += 1,
                Outcome::Revoked(_) => tally.revoked += 1,
                Outcome::NotLive(_) => tally.not_live += 1,
            }
        }
        tally
    }
}

/// The reason of a verdict, explained; see [`Verdict::reason`].
pub struct VerdictReason<'a> {
    verdict: &'a Verdict,
    old: &'a Policy,
    new: &'a Policy,
}

impl fmt::Display for VerdictReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = |grant: GrantId| self.new.grant(grant).map(|grant| grant.origin).unwrap_or_default();
        match &self.verdict.outcome {
            Outcome::Kept { scope, grant, widened } => {
                write!(f, "{scope} (grant at {})", origin(*grant))?;
                if *widened {
                    f.write_str("; the new policy would give a new connection more")?;
                }
                Ok(())
            }
            Outcome::Narrowed { to, lost, grant, .. } => {
                write!(f, "to {to} (grant at {}); loses ", origin(*grant))?;
                for (index, item) in lost.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                Ok(())
            }
            Outcome::Revoked(Revocation::Denied(DenyReason::UndeclaredProgram)) => write!(
                f,
                "{} is not declared in the new policy, so it has no grants",
                self.verdict.connection.program
            ),
            Outcome::Revoked(Revocation::Denied(DenyReason::UnknownService)) => {
                write!(f, "service `{}` does not exist in the new policy", self.verdict.connection.service)
            }
            Outcome::Revoked(Revocation::Denied(reason)) => write!(f, "{}", self.new.explain(reason)),
            Outcome::Revoked(Revocation::LabelGone(error)) => {
                write!(f, "the client's label has no equivalent in the new policy: {error}")
            }
            Outcome::NotLive(reason) => {
                write!(f, "the old policy denies it too: {}", self.old.explain(reason))
            }
        }
    }
}

/// A line of a connection list that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionsError {
    /// The line, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConnectionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl core::error::Error for ConnectionsError {}

/// The most connections a list may hold.
pub const MAX_CONNECTIONS: usize = 100_000;

/// Parses a connection list: one connection per line, `ID PROGRAM LABEL SERVICE RIGHTS`,
/// separated by spaces or tabs; `#` starts a comment. `LABEL` is written in `old`'s names
/// (`secret{keys}`), or `-` for the program's [`assumed_label`] in `old`. `RIGHTS` is a comma-separated list with no spaces. Ids must be unique.
///
/// ```text
/// # id  program     label        service  rights
/// 1     /bin/httpd  -            net      listen
/// 2     /bin/shell  internal     fs       read,write
/// ```
pub fn parse_connections(text: &str, old: &Policy) -> Result<Vec<Connection>, ConnectionsError> {
    let mut connections: Vec<Connection> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let error = |message: String| ConnectionsError { line, message };
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        if connections.len() >= MAX_CONNECTIONS {
            return Err(error(alloc::format!("more than {MAX_CONNECTIONS} connections")));
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        let [id, program, label, service, rights] = fields[..] else {
            return Err(error(alloc::format!(
                "expected 5 fields `ID PROGRAM LABEL SERVICE RIGHTS`, found {}",
                fields.len()
            )));
        };
        let id: u64 = id.parse().map_err(|_| error(alloc::format!("bad id `{id}`")))?;
        if connections.iter().any(|connection| connection.id == id) {
            return Err(error(alloc::format!("id {id} is used twice")));
        }
        if !program.starts_with('/') {
            return Err(error(alloc::format!("program `{program}` is not an absolute path")));
        }
        let label = if label == "-" {
            assumed_label(old, program)
        } else {
            old.parse_label(label).map_err(|e| error(e.to_string()))?
        };
        let rights = Rights::parse(rights).map_err(|e| error(e.to_string()))?;
        connections.push(Connection { id, program: program.into(), label, service: service.into(), rights });
    }
    Ok(connections)
}

/// The label a process of `program` most likely has under `policy`, for connection lists
/// that do not say: the program's fixed label; else the label it gets when spawned by the
/// first program with a fixed label that may spawn it (a proc grant); else the label it
/// gets when spawned by the root task (which runs at the lowest label).
pub fn assumed_label(policy: &Policy, program: &str) -> Label {
    if let Some(label) = policy.program_id(program).and_then(|id| policy.program(id)).and_then(|p| p.label) {
        return label;
    }
    let spawner = policy.grants().iter().find_map(|grant| {
        let service = policy.service(grant.service)?;
        let parent = policy.program(grant.program)?.label?;
        (service.kind == ServiceKind::Proc && grant.scope.allows_spawn(program)).then_some(parent)
    });
    policy.label_for(program, spawner.unwrap_or(Label::BOTTOM)).label
}

/// A plausible set of live connections under `policy`: one per grant, by the grant's
/// program with its [`assumed_label`], asking for every right the grant gives. Used when
/// a dry run is given no connection list.
pub fn sample_connections(policy: &Policy) -> Vec<Connection> {
    policy
        .grants()
        .iter()
        .zip(1u64..)
        .filter_map(|(grant, id)| {
            let program = policy.program(grant.program)?;
            let service = policy.service(grant.service)?;
            Some(Connection {
                id,
                program: program.path.as_str().into(),
                label: assumed_label(policy, program.path.as_str()),
                service: service.name.clone(),
                rights: grant.scope.rights(),
            })
        })
        .collect()
}

/// Writes `connections` in the format [`parse_connections`] reads.
pub fn format_connections(policy: &Policy, connections: &[Connection]) -> String {
    use core::fmt::Write;
    let mut text = String::from("# id program label service rights\n");
    for connection in connections {
        let _ = writeln!(
            text,
            "{} {} {} {} {}",
            connection.id,
            connection.program,
            policy.label_text(connection.label),
            connection.service,
            connection.rights
        );
    }
    text
}
