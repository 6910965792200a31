//! The compiled policy: plain tables, their checks, postcard encoding and content hash.
//!
//! Invariants, checked by [`Policy::from_tables`] (the only constructor, used by the
//! compiler and by [`Policy::from_bytes`] alike): at least one level; names unique and
//! well formed; programs sorted by path and services by name (so an id is an index and a
//! name lookup is a binary search); every id and label in range; an ordinary service's
//! server has a fixed label; at most one grant per (program, service), of the service's
//! kind and not empty (a scope is normal by its type: `grant` refuses to decode one that
//! is not); every declassification names an existing grant.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::label::{Categories, Label, Level, MAX_CATEGORIES, MAX_LEVELS};
use crate::{FsPath, Scope, ServiceKind};

/// The version of the encoding [`Policy::to_bytes`] writes; bumped on any change to it
/// (2: a scope is encoded as the sum of its kind's part, `grant::Scope`).
pub const FORMAT_VERSION: u16 = 2;

/// The most programs a policy can declare.
pub const MAX_PROGRAMS: usize = 1024;
/// The most services a policy can declare.
pub const MAX_SERVICES: usize = 64;
/// The most (program, service) grants a policy can hold.
pub const MAX_GRANTS: usize = 65_535;
/// The most parent-label rules a policy can hold.
pub const MAX_PARENT_RULES: usize = 1024;
/// The most declassifications a policy can hold.
pub const MAX_DECLASSIFICATIONS: usize = 1024;
/// The longest name (of a level, category, service or declassification).
pub const MAX_NAME_LEN: usize = 32;

/// Where in the script a rule was written (1-based; 0 when unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePos {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 { f.write_str("?") } else { write!(f, "{}:{}", self.line, self.column) }
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(u16);

        impl $name {
            /// The index of the entry in its table.
            pub const fn index(self) -> usize {
                self.0 as usize
            }

            /// The id of entry `index`; `None` past the id range. An id names nothing by
            /// itself: every lookup checks it against its policy's tables.
            pub fn from_index(index: usize) -> Option<Self> {
                u16::try_from(index).ok().map($name)
            }
        }
    };
}

id_type!(
    /// A program of the policy: an index into [`Policy::programs`].
    ProgramId
);
id_type!(
    /// A service of the policy: an index into [`Policy::services`].
    ServiceId
);
id_type!(
    /// A grant of the policy: an index into [`Policy::grants`].
    GrantId
);
id_type!(
    /// A declassification of the policy: an index into [`Policy::declassifications`].
    DeclassificationId
);

/// A program the policy knows, by path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Where the program's executable lives; its identity.
    pub path: FsPath,
    /// The label every process of this program gets; `None` when it is derived from the
    /// parent's label.
    pub label: Option<Label>,
    /// Where the program was declared.
    pub origin: SourcePos,
}

/// A service clients connect to by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// The name clients ask for.
    pub name: String,
    /// What kind of service it is (which rights and scopes apply).
    pub kind: ServiceKind,
    /// The program that serves it.
    pub server: ProgramId,
    /// Whether the server is trusted multi-level: it keeps sessions apart, so the label
    /// flow check is skipped (a grant is still needed).
    pub trusted: bool,
    /// Where the service was declared.
    pub origin: SourcePos,
}

/// A rule labelling the children of a parent: a program with no label of its own spawned
/// by a process labelled `parent` gets `child` instead of inheriting `parent`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentRule {
    /// The parent's label the rule applies to (exactly).
    pub parent: Label,
    /// The label the child gets.
    pub child: Label,
    /// Where the rule was written.
    pub origin: SourcePos,
}

/// The permission for a program to connect to a service, and what it may reach there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Who may connect.
    pub program: ProgramId,
    /// To what.
    pub service: ServiceId,
    /// What sessions may reach (all the grant calls for this pair, merged).
    pub scope: Scope,
    /// The declassification that lets the connection past the flow check, if any (filled
    /// in from the declassifications when the policy is built).
    #[serde(skip)]
    pub declassification: Option<DeclassificationId>,
    /// Where the first grant call for this pair was written.
    pub origin: SourcePos,
}

/// An explicit exception to the flow rule for one (program, service) pair, named so the
/// audit trail can say which exception let a connection through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declassification {
    /// The name the audit trail shows.
    pub name: String,
    /// The program it applies to.
    pub program: ProgramId,
    /// The service it applies to.
    pub service: ServiceId,
    /// Where it was written.
    pub origin: SourcePos,
}

/// Everything a policy says, as plain tables; what the compiler produces and what is
/// encoded. See the module invariants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tables {
    /// Level names, lowest first.
    pub levels: Vec<String>,
    /// Category names; category `i` is bit `i` of [`Categories`].
    pub categories: Vec<String>,
    /// Programs, sorted by path.
    pub programs: Vec<Program>,
    /// Services, sorted by name.
    pub services: Vec<Service>,
    /// Parent-label rules, sorted by parent label.
    pub parent_rules: Vec<ParentRule>,
    /// Grants, sorted by (program, service).
    pub grants: Vec<Grant>,
    /// Declassifications, sorted by name.
    pub declassifications: Vec<Declassification>,
}

/// Why tables do not make a policy, or bytes do not decode to one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The encoding is of another format version.
    UnsupportedVersion(u16),
    /// The bytes are not a postcard-encoded policy.
    Decode,
    /// The content hash does not match the tables.
    HashMismatch,
    /// The tables break an invariant; says which.
    Invalid(&'static str),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::UnsupportedVersion(version) => {
                write!(f, "policy format version {version}, expected {FORMAT_VERSION}")
            }
            LoadError::Decode => f.write_str("not an encoded policy"),
            LoadError::HashMismatch => f.write_str("content hash does not match the policy"),
            LoadError::Invalid(why) => write!(f, "invalid policy: {why}"),
        }
    }
}

impl core::error::Error for LoadError {}

/// Marks an empty cell of the grant table.
const NO_GRANT: u16 = u16::MAX;

/// A compiled, checked policy: what the security server decides with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    tables: Tables,
    hash: [u8; 32],
    /// `programs × services` cells, row by program: the grant for the pair or [`NO_GRANT`].
    grant_table: Vec<u16>,
}

/// Whether `name` is a valid name: 1 to 32 characters, a letter then letters, digits,
/// `_` or `-`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn unique_sorted<T, K: Ord>(items: &[T], key: impl Fn(&T) -> K) -> bool {
    items.windows(2).all(|pair| match pair {
        [a, b] => key(a) < key(b),
        _ => true,
    })
}

impl Policy {
    /// Checks `tables` against the module invariants and builds the policy.
    pub fn from_tables(mut tables: Tables) -> Result<Policy, LoadError> {
        use LoadError::Invalid;
        let levels = tables.levels.len();
        let categories = tables.categories.len();
        if levels == 0 {
            return Err(Invalid("no levels"));
        }
        if levels > MAX_LEVELS || categories > MAX_CATEGORIES {
            return Err(Invalid("too many levels or categories"));
        }
        let names_ok = |names: &[String]| {
            names.iter().all(|name| is_valid_name(name))
                && names.iter().enumerate().all(|(i, a)| names.iter().skip(i + 1).all(|b| a != b))
        };
        if !names_ok(&tables.levels) || !names_ok(&tables.categories) {
            return Err(Invalid("level or category names are not unique valid names"));
        }
        let category_mask = Categories::from_bits(if categories == MAX_CATEGORIES {
            u64::MAX
        } else {
            (1u64 << categories) - 1
        });
        let label_ok =
            |label: &Label| label.level().index() < levels && label.categories().is_subset_of(category_mask);

        let programs = tables.programs.len();
        let services = tables.services.len();
        if programs > MAX_PROGRAMS
            || services > MAX_SERVICES
            || tables.grants.len() > MAX_GRANTS
            || tables.parent_rules.len() > MAX_PARENT_RULES
            || tables.declassifications.len() > MAX_DECLASSIFICATIONS
        {
            return Err(Invalid("too many entries"));
        }
        if !unique_sorted(&tables.programs, |p| p.path.clone()) {
            return Err(Invalid("programs not sorted by unique path"));
        }
        if !tables.programs.iter().filter_map(|p| p.label.as_ref()).all(label_ok) {
            return Err(Invalid("program label out of range"));
        }
        if !unique_sorted(&tables.services, |s| s.name.clone())
            || !tables.services.iter().all(|s| is_valid_name(&s.name))
        {
            return Err(Invalid("services not sorted by unique valid name"));
        }
        for service in &tables.services {
            let server = tables.programs.get(service.server.index()).ok_or(Invalid("server out of range"))?;
            if !service.trusted && server.label.is_none() {
                return Err(Invalid("ordinary service whose server has no fixed label"));
            }
        }
        if !unique_sorted(&tables.parent_rules, |r| r.parent)
            || !tables.parent_rules.iter().all(|r| label_ok(&r.parent) && label_ok(&r.child))
        {
            return Err(Invalid("parent rules not sorted by unique parent, or label out of range"));
        }
        if !unique_sorted(&tables.grants, |g| (g.program, g.service)) {
            return Err(Invalid("grants not sorted by unique (program, service)"));
        }
        let cells = programs.checked_mul(services).ok_or(Invalid("too many entries"))?;
        let mut grant_table = alloc::vec![NO_GRANT; cells];
        for (index, grant) in tables.grants.iter_mut().enumerate() {
            let service =
                tables.services.get(grant.service.index()).ok_or(Invalid("grant service out of range"))?;
            if grant.program.index() >= programs {
                return Err(Invalid("grant program out of range"));
            }
            if grant.scope.kind() != service.kind || grant.scope.is_empty() {
                return Err(Invalid("grant scope malformed, empty or of the wrong kind"));
            }
            let cell = grant.program.index() * services + grant.service.index();
            let id = u16::try_from(index).map_err(|_| Invalid("too many grants"))?;
            *grant_table.get_mut(cell).ok_or(Invalid("grant cell out of range"))? = id;
            grant.declassification = None;
        }
        if !unique_sorted(&tables.declassifications, |d| d.name.clone())
            || !tables.declassifications.iter().all(|d| is_valid_name(&d.name))
        {
            return Err(Invalid("declassifications not sorted by unique valid name"));
        }
        for (index, declassification) in tables.declassifications.iter().enumerate() {
            let cell = declassification
                .program
                .index()
                .checked_mul(services)
                .and_then(|row| row.checked_add(declassification.service.index()))
                .filter(|_| declassification.service.index() < services);
            let grant = cell
                .and_then(|cell| grant_table.get(cell))
                .and_then(|&id| tables.grants.get_mut(usize::from(id)))
                .ok_or(Invalid("declassification without a grant"))?;
            if grant.declassification.is_some() {
                return Err(Invalid("two declassifications for one grant"));
            }
            grant.declassification = DeclassificationId::from_index(index);
        }

        let hash = Self::hash_tables(&tables)?;
        Ok(Policy { tables, hash, grant_table })
    }

    fn hash_tables(tables: &Tables) -> Result<[u8; 32], LoadError> {
        let bytes = postcard::to_allocvec(tables).map_err(|_| LoadError::Invalid("tables do not encode"))?;
        Ok(Sha256::digest(&bytes).into())
    }

    /// Encodes the policy: format version, content hash, tables (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Encoding into a Vec fails only when the allocator does, which aborts anyway.
        postcard::to_allocvec(&(FORMAT_VERSION, &self.hash, &self.tables)).unwrap_or_default()
    }

    /// Decodes and checks a policy written by [`Policy::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Policy, LoadError> {
        let (version, rest) = postcard::take_from_bytes::<u16>(bytes).map_err(|_| LoadError::Decode)?;
        if version != FORMAT_VERSION {
            return Err(LoadError::UnsupportedVersion(version));
        }
        let (hash, tables): ([u8; 32], Tables) = postcard::from_bytes(rest).map_err(|_| LoadError::Decode)?;
        let policy = Policy::from_tables(tables)?;
        if policy.hash != hash {
            return Err(LoadError::HashMismatch);
        }
        Ok(policy)
    }

    /// The SHA-256 of the encoded tables: names this exact policy in the audit trail.
    pub const fn content_hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The content hash in hex.
    pub fn content_hash_hex(&self) -> String {
        use core::fmt::Write;
        let mut hex = String::with_capacity(64);
        for byte in self.hash {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }

    /// The tables.
    pub const fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Level names, lowest first.
    pub fn levels(&self) -> &[String] {
        &self.tables.levels
    }

    /// Category names.
    pub fn categories(&self) -> &[String] {
        &self.tables.categories
    }

    /// Programs, sorted by path.
    pub fn programs(&self) -> &[Program] {
        &self.tables.programs
    }

    /// Services, sorted by name.
    pub fn services(&self) -> &[Service] {
        &self.tables.services
    }

    /// Parent-label rules.
    pub fn parent_rules(&self) -> &[ParentRule] {
        &self.tables.parent_rules
    }

    /// Grants, sorted by (program, service).
    pub fn grants(&self) -> &[Grant] {
        &self.tables.grants
    }

    /// Declassifications, sorted by name.
    pub fn declassifications(&self) -> &[Declassification] {
        &self.tables.declassifications
    }

    /// The program with id `id`.
    pub fn program(&self, id: ProgramId) -> Option<&Program> {
        self.tables.programs.get(id.index())
    }

    /// The service with id `id`.
    pub fn service(&self, id: ServiceId) -> Option<&Service> {
        self.tables.services.get(id.index())
    }

    /// The grant with id `id`.
    pub fn grant(&self, id: GrantId) -> Option<&Grant> {
        self.tables.grants.get(id.index())
    }

    /// The declassification with id `id`.
    pub fn declassification(&self, id: DeclassificationId) -> Option<&Declassification> {
        self.tables.declassifications.get(id.index())
    }

    /// The program at `path`, if the policy declares it.
    pub fn program_id(&self, path: &str) -> Option<ProgramId> {
        let index = self.tables.programs.binary_search_by(|p| p.path.as_str().cmp(path)).ok()?;
        ProgramId::from_index(index)
    }

    /// The service named `name`, if the policy declares it.
    pub fn service_id(&self, name: &str) -> Option<ServiceId> {
        let index = self.tables.services.binary_search_by(|s| s.name.as_str().cmp(name)).ok()?;
        ServiceId::from_index(index)
    }

    /// The grant for (`program`, `service`), if any: one table lookup.
    pub fn grant_id(&self, program: ProgramId, service: ServiceId) -> Option<GrantId> {
        let services = self.tables.services.len();
        if service.index() >= services {
            return None;
        }
        let cell = program.index().checked_mul(services)?.checked_add(service.index())?;
        match self.grant_table.get(cell) {
            Some(&NO_GRANT) | None => None,
            Some(&id) => Some(GrantId(id)),
        }
    }

    /// The label of the service's server: the label sessions of an ordinary service must
    /// match. `None` for a trusted server without a fixed label, or an unknown service.
    pub fn server_label(&self, service: ServiceId) -> Option<Label> {
        let service = self.service(service)?;
        self.program(service.server)?.label
    }

    /// The label for a new process of the program at `path` spawned by a parent labelled
    /// `parent`: the program's fixed label if it has one, else the parent rule for
    /// `parent` if there is one, else `parent` itself (inherited).
    pub fn label_for(&self, path: &str, parent: Label) -> Labelling {
        if let Some(id) = self.program_id(path)
            && let Some(label) = self.program(id).and_then(|program| program.label)
        {
            return Labelling { label, source: LabelSource::Program(id) };
        }
        match self.tables.parent_rules.binary_search_by(|rule| rule.parent.cmp(&parent)) {
            Ok(index) => match self.tables.parent_rules.get(index) {
                Some(rule) => Labelling { label: rule.child, source: LabelSource::ParentRule(index) },
                None => Labelling { label: parent, source: LabelSource::Inherited },
            },
            Err(_) => Labelling { label: parent, source: LabelSource::Inherited },
        }
    }

    /// Parses a label written `level` or `level{category,category}` (as [`Policy::label_text`]
    /// writes it).
    pub fn parse_label(&self, text: &str) -> Result<Label, LabelError> {
        let text = text.trim();
        let (level, categories) = match text.split_once('{') {
            Some((level, rest)) => {
                let inside = rest.strip_suffix('}').ok_or_else(|| LabelError::Syntax(text.into()))?;
                let names: Vec<&str> =
                    inside.split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
                (level.trim(), names)
            }
            None => (text, Vec::new()),
        };
        if level.is_empty() || level.contains(['}', ',', ' ']) {
            return Err(LabelError::Syntax(text.into()));
        }
        self.label(level, &categories)
    }

    /// The label with the named level and categories.
    pub fn label(&self, level: &str, categories: &[&str]) -> Result<Label, LabelError> {
        let level_index = self
            .tables
            .levels
            .iter()
            .position(|name| name == level)
            .ok_or_else(|| LabelError::UnknownLevel(level.into()))?;
        let mut set = Categories::EMPTY;
        for name in categories {
            let one = self
                .tables
                .categories
                .iter()
                .position(|category| category == name)
                .and_then(Categories::single)
                .ok_or_else(|| LabelError::UnknownCategory((*name).into()))?;
            set = set.union(one);
        }
        let level = u8::try_from(level_index).map_err(|_| LabelError::UnknownLevel(level.into()))?;
        Ok(Label::new(Level::new(level), set))
    }

    /// Writes `label` with this policy's names: `secret{keys,web}`, or `public` with no
    /// categories. Indices the policy does not have print as `#N`.
    pub fn label_text(&self, label: Label) -> LabelText<'_> {
        LabelText { policy: self, label }
    }

    /// The label in this policy with the same names as `label` has in `from`: how a live
    /// process keeps its label across a policy swap.
    pub fn translate_label(&self, from: &Policy, label: Label) -> Result<Label, LabelError> {
        let level = from
            .tables
            .levels
            .get(label.level().index())
            .ok_or_else(|| LabelError::UnknownLevel(alloc::format!("#{}", label.level().index())))?;
        let mut names = Vec::new();
        for index in label.categories().indices() {
            let name = from
                .tables
                .categories
                .get(index)
                .ok_or_else(|| LabelError::UnknownCategory(alloc::format!("#{index}")))?;
            names.push(name.as_str());
        }
        self.label(level, &names)
    }
}

/// A label written with its policy's names; see [`Policy::label_text`].
pub struct LabelText<'p> {
    policy: &'p Policy,
    label: Label,
}

impl fmt::Display for LabelText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = self.label.level().index();
        match self.policy.tables.levels.get(level) {
            Some(name) => f.write_str(name)?,
            None => write!(f, "#{level}")?,
        }
        if self.label.categories().is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (position, index) in self.label.categories().indices().enumerate() {
            if position > 0 {
                f.write_str(",")?;
            }
            match self.policy.tables.categories.get(index) {
                Some(name) => f.write_str(name)?,
                None => write!(f, "#{index}")?,
            }
        }
        f.write_str("}")
    }
}

/// Why a label does not parse or does not exist in a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelError {
    /// Not `level` or `level{category,...}`.
    Syntax(String),
    /// The policy has no level of this name.
    UnknownLevel(String),
    /// The policy has no category of this name.
    UnknownCategory(String),
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelError::Syntax(text) => {
                write!(f, "bad label `{text}` (expected level or level{{category,...}})")
            }
            LabelError::UnknownLevel(name) => write!(f, "unknown level `{name}`"),
            LabelError::UnknownCategory(name) => write!(f, "unknown category `{name}`"),
        }
    }
}

impl core::error::Error for LabelError {}

/// The label a new process gets, and which rule gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Labelling {
    /// The label.
    pub label: Label,
    /// Where it came from.
    pub source: LabelSource,
}

/// Which rule labelled a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSource {
    /// The program's own fixed label.
    Program(ProgramId),
    /// The parent rule at this index of [`Policy::parent_rules`].
    ParentRule(usize),
    /// No rule: the parent's label.
    Inherited,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rights;
    use crate::decide::{Client, Decision, DenyReason};
    use alloc::string::ToString;

    fn low() -> Label {
        Label::new(Level::new(0), Categories::EMPTY)
    }

    fn high() -> Label {
        Label::new(Level::new(1), Categories::EMPTY)
    }

    fn id<T>(make: fn(usize) -> Option<T>, index: usize) -> T {
        make(index).expect("small index")
    }

    /// Two programs (`/bin/client` at low, `/bin/server` at high), an ordinary `ipc`
    /// service and a trusted `fs` service, both served by `/bin/server`, and a grant of
    /// each to the client.
    fn tables() -> Tables {
        let path = |text| FsPath::parse(text).expect("valid path");
        let origin = SourcePos { line: 1, column: 1 };
        Tables {
            levels: ["low", "high"].map(String::from).to_vec(),
            categories: ["a"].map(String::from).to_vec(),
            programs: alloc::vec![
                Program { path: path("/bin/client"), label: Some(low()), origin },
                Program { path: path("/bin/server"), label: Some(high()), origin },
            ],
            services: alloc::vec![
                Service {
                    name: "files".into(),
                    kind: ServiceKind::Fs,
                    server: id(ProgramId::from_index, 1),
                    trusted: true,
                    origin
                },
                Service {
                    name: "svc".into(),
                    kind: ServiceKind::Ipc,
                    server: id(ProgramId::from_index, 1),
                    trusted: false,
                    origin
                },
            ],
            parent_rules: Vec::new(),
            grants: alloc::vec![
                Grant {
                    program: id(ProgramId::from_index, 0),
                    service: id(ServiceId::from_index, 0),
                    scope: Scope::fs(path("/data"), Rights::READ).expect("valid scope"),
                    declassification: None,
                    origin: SourcePos { line: 7, column: 3 },
                },
                Grant {
                    program: id(ProgramId::from_index, 0),
                    service: id(ServiceId::from_index, 1),
                    scope: Scope::plain(ServiceKind::Ipc, Rights::CALL).expect("valid scope"),
                    declassification: None,
                    origin,
                },
            ],
            declassifications: Vec::new(),
        }
    }

    fn client(label: Label) -> Client {
        Client { program: ProgramId::from_index(0), label }
    }

    #[test]
    fn valid_tables_build_and_look_up() {
        let policy = Policy::from_tables(tables()).expect("valid tables");
        assert_eq!(policy.program_id("/bin/server"), ProgramId::from_index(1));
        assert_eq!(policy.program_id("/bin/nope"), None);
        assert_eq!(policy.service_id("svc"), ServiceId::from_index(1));
        let (client_id, svc) = (id(ProgramId::from_index, 0), id(ServiceId::from_index, 1));
        assert_eq!(policy.grant_id(client_id, svc), GrantId::from_index(1));
        assert_eq!(policy.grant_id(id(ProgramId::from_index, 1), svc), None);
        assert_eq!(policy.grant_id(id(ProgramId::from_index, 900), svc), None);
        assert_eq!(policy.server_label(svc), Some(high()));
        assert_eq!(
            policy.parse_label("high{a}").map(|l| policy.label_text(l).to_string()),
            Ok("high{a}".into())
        );
        assert!(matches!(policy.parse_label("high{b}"), Err(LabelError::UnknownCategory(_))));
        assert!(matches!(policy.parse_label("{a}"), Err(LabelError::Syntax(_))));
    }

    #[test]
    fn broken_tables_are_refused() {
        type Break = fn(&mut Tables);
        let cases: [(Break, &str); 9] = [
            (|t| t.levels.clear(), "no levels"),
            (|t| t.levels.push("low".into()), "level or category names"),
            (|t| t.programs.swap(0, 1), "programs not sorted"),
            (
                |t| t.programs[0].label = Some(Label::new(Level::new(5), Categories::EMPTY)),
                "program label out of range",
            ),
            (|t| t.programs[1].label = None, "ordinary service whose server"),
            (|t| t.grants[1].program = ProgramId(9), "grant program out of range"),
            (|t| t.grants[0].scope = Scope::tcp_listen(crate::PortRange::ANY), "wrong kind"),
            (|t| t.grants.swap(0, 1), "grants not sorted"),
            (
                |t| {
                    t.declassifications.push(Declassification {
                        name: "x".into(),
                        program: ProgramId(1),
                        service: ServiceId(1),
                        origin: SourcePos::default(),
                    })
                },
                "declassification without a grant",
            ),
        ];
        for (index, (corrupt, expected)) in cases.iter().enumerate() {
            let mut broken = tables();
            corrupt(&mut broken);
            match Policy::from_tables(broken) {
                Err(LoadError::Invalid(why)) => assert!(why.contains(expected), "case {index}: {why}"),
                other => panic!("case {index}: expected `{expected}`, got {other:?}"),
            }
        }
    }

    #[test]
    fn decide_follows_the_rule_in_order() {
        let policy = Policy::from_tables(tables()).expect("valid tables");
        let (files, svc) = (id(ServiceId::from_index, 0), id(ServiceId::from_index, 1));
        // Trusted service: any label, rights must be granted.
        let allowed = policy.decide(client(high()), files, Rights::READ);
        assert_eq!(allowed.allowed().map(|a| a.scope().to_string()), Some("fs /data read".into()));
        assert!(matches!(
            policy.decide(client(low()), files, Rights::READ.union(Rights::WRITE)),
            Decision::Deny(DenyReason::RightsNotGranted { missing: Rights::WRITE, .. })
        ));
        // Ordinary service: labels must be equal.
        assert!(matches!(
            policy.decide(client(low()), svc, Rights::CALL),
            Decision::Deny(DenyReason::FlowDenied { .. })
        ));
        assert!(policy.decide(client(high()), svc, Rights::CALL).is_allowed());
        // The other reasons.
        assert_eq!(
            policy.decide(client(low()), id(ServiceId::from_index, 2), Rights::CALL).denied(),
            Some(&DenyReason::UnknownService)
        );
        assert_eq!(
            policy.decide(client(low()), svc, Rights::NONE).denied(),
            Some(&DenyReason::NothingRequested)
        );
        let stranger = Client { program: None, label: high() };
        assert_eq!(policy.decide(stranger, svc, Rights::CALL).denied(), Some(&DenyReason::UndeclaredProgram));
        let server = Client { program: ProgramId::from_index(1), label: high() };
        assert!(matches!(
            policy.decide(server, svc, Rights::CALL),
            Decision::Deny(DenyReason::NoGrant { .. })
        ));
        let explained = policy.explain(&DenyReason::RightsNotGranted {
            grant: id(GrantId::from_index, 0),
            missing: Rights::WRITE,
        });
        assert_eq!(
            explained.to_string(),
            "the grant of files to /bin/client at 7:3 gives fs /data read, not write"
        );
    }

    #[test]
    fn a_declassification_lets_its_grant_past_the_flow_check() {
        let mut with = tables();
        with.declassifications.push(Declassification {
            name: "exception".into(),
            program: ProgramId(0),
            service: ServiceId(1),
            origin: SourcePos::default(),
        });
        let policy = Policy::from_tables(with).expect("valid tables");
        let decision = policy.decide(client(low()), id(ServiceId::from_index, 1), Rights::CALL);
        let allowed = decision.allowed().expect("declassified");
        assert_eq!(allowed.declassification().map(|d| d.name.as_str()), Some("exception"));
        assert_eq!(policy.declassification_id(allowed), DeclassificationId::from_index(0));
    }

    #[test]
    fn encoding_checks_version_and_hash() {
        let policy = Policy::from_tables(tables()).expect("valid tables");
        let bytes = policy.to_bytes();
        assert_eq!(Policy::from_bytes(&bytes), Ok(policy.clone()));
        let mut other_version = bytes.clone();
        // The previous version (its scopes were structs of every kind's lists) and the next.
        for version in [FORMAT_VERSION - 1, FORMAT_VERSION + 1] {
            other_version[0] = u8::try_from(version).expect("a one-byte varint");
            assert_eq!(Policy::from_bytes(&other_version), Err(LoadError::UnsupportedVersion(version)));
        }
        let mut other_hash = bytes.clone();
        other_hash[1] ^= 0xff;
        assert_eq!(Policy::from_bytes(&other_hash), Err(LoadError::HashMismatch));
        assert_eq!(Policy::from_bytes(&bytes[..bytes.len() - 1]), Err(LoadError::Decode));
        assert_eq!(policy.content_hash_hex().len(), 64);
    }

    #[test]
    fn labels_translate_between_policies_by_name() {
        let old = Policy::from_tables(tables()).expect("valid tables");
        let mut renamed = tables();
        renamed.levels = ["bottom", "low", "high"].map(String::from).to_vec();
        let new = Policy::from_tables(renamed).expect("valid tables");
        let high_a = old.parse_label("high{a}").expect("valid");
        assert_eq!(
            new.translate_label(&old, high_a).map(|l| new.label_text(l).to_string()),
            Ok("high{a}".into())
        );
        let mut fewer = tables();
        fewer.levels = ["low"].map(String::from).to_vec();
        fewer.programs[1].label = Some(low());
        let new = Policy::from_tables(fewer).expect("valid tables");
        assert_eq!(new.translate_label(&old, high_a), Err(LabelError::UnknownLevel("high".into())));
    }
}
