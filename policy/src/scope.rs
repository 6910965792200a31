//! Scopes: what one session may reach, per service kind, and how scopes compare.
//!
//! A grant holds a [`Scope`]; a session gets the grant's scope narrowed to the rights the
//! client asked for ([`Scope::restricted_to`]), and the server enforces it
//! ([`Scope::allows_fs`], [`Scope::allows_listen`], ...). A policy swap compares the old and
//! new scope of each live connection with [`Scope::covers`] and [`Scope::uncovered`].
//!
//! Invariants: a scope is *normal*: lists sorted, duplicates and entries covered by other
//! entries removed, port ranges merged, and `rights` is exactly the union of what the
//! entries allow. Every constructor and operation keeps it so; deserialized parts are
//! checked by their `TryFrom` conversions and whole scopes by [`Scope::is_well_formed`].

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::Rights;

/// The kind of a service: which rights it understands and what its scopes hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ServiceKind {
    /// A filesystem: subtrees with read / write / create / delete.
    Fs,
    /// The network: TCP listen ports, TCP connect destinations, UDP destinations.
    Net,
    /// The console: read input, write output.
    Console,
    /// The process manager: which programs may be spawned.
    Proc,
    /// The resource donor: a memory quota.
    Donor,
    /// The security server itself: loading policies, reading the audit trail.
    Security,
    /// Any other service: the right to call it.
    Ipc,
}

impl ServiceKind {
    /// Every kind, with the name scripts use for it.
    pub const NAMED: [(ServiceKind, &'static str); 7] = [
        (ServiceKind::Fs, "fs"),
        (ServiceKind::Net, "net"),
        (ServiceKind::Console, "console"),
        (ServiceKind::Proc, "proc"),
        (ServiceKind::Donor, "donor"),
        (ServiceKind::Security, "security"),
        (ServiceKind::Ipc, "ipc"),
    ];

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<ServiceKind> {
        ServiceKind::NAMED.iter().find(|(_, n)| *n == name).map(|(kind, _)| *kind)
    }

    /// The name scripts use for this kind.
    pub fn name(self) -> &'static str {
        ServiceKind::NAMED.iter().find(|(kind, _)| *kind == self).map_or("?", |(_, name)| name)
    }

    /// The rights a service of this kind understands.
    pub const fn rights(self) -> Rights {
        match self {
            ServiceKind::Fs => Rights::READ.union(Rights::WRITE).union(Rights::CREATE).union(Rights::DELETE),
            ServiceKind::Net => Rights::LISTEN.union(Rights::CONNECT).union(Rights::UDP),
            ServiceKind::Console => Rights::READ.union(Rights::WRITE),
            ServiceKind::Proc => Rights::SPAWN,
            ServiceKind::Donor => Rights::MEMORY,
            ServiceKind::Security => Rights::LOAD_POLICY.union(Rights::AUDIT),
            ServiceKind::Ipc => Rights::CALL,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a piece of a scope does not parse or does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeError {
    /// A path that is not absolute and normal (`/www`, not `www`, `/a//b` or `/a/../b`).
    BadPath {
        /// The text given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A port or port range that does not parse (`80`, `8000-8080`, `*`).
    BadPorts(String),
    /// An address or network that does not parse (`10.0.2.2`, `10.0.0.0/8`, `*`).
    BadAddress(String),
    /// A destination that is not `ADDRESS:PORTS`.
    BadDestination(String),
    /// A program pattern that is not a path, `DIR/*` or `*`.
    BadPattern(String),
    /// A list of rights that does not parse.
    BadRights(String),
    /// Rights that a service of this kind does not understand.
    RightsNotForKind {
        /// The kind of scope.
        kind: ServiceKind,
        /// The rights it does not understand.
        rights: Rights,
    },
    /// A memory amount that is zero, does not parse, or is too large.
    BadMemory(String),
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::BadPath { text, why } => write!(f, "bad path `{text}`: {why}"),
            ScopeError::BadPorts(text) => {
                write!(f, "bad ports `{text}` (expected a port 1-65535, a range like 8000-8080, or *)")
            }
            ScopeError::BadAddress(text) => {
                write!(f, "bad address `{text}` (expected an IPv4 address, a network like 10.0.0.0/8, or *)")
            }
            ScopeError::BadDestination(text) => {
                write!(f, "bad destination `{text}` (expected ADDRESS:PORTS, like 10.0.2.2:80 or *:443)")
            }
            ScopeError::BadPattern(text) => {
                write!(f, "bad program pattern `{text}` (expected /path, /dir/* or *)")
            }
            ScopeError::BadRights(why) => write!(f, "bad rights: {why}"),
            ScopeError::RightsNotForKind { kind, rights } => write!(
                f,
                "a {kind} scope cannot hold {rights} (a {kind} service understands {})",
                kind.rights()
            ),
            ScopeError::BadMemory(text) => write!(
                f,
                "bad memory amount `{text}` (expected bytes or a number with K, M or G, at most 1T, not 0)"
            ),
        }
    }
}

impl core::error::Error for ScopeError {}

/// The longest path a scope accepts.
pub const MAX_PATH_LEN: usize = 1024;

/// An absolute, normal path: starts with `/`, no empty, `.` or `..` components, no
/// trailing `/` (except the root itself).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FsPath(String);

impl FsPath {
    /// Parses `text`; a trailing `/` is dropped (`/www/` is `/www`).
    pub fn parse(text: &str) -> Result<FsPath, ScopeError> {
        let bad = |why| Err(ScopeError::BadPath { text: text.into(), why });
        if text.len() > MAX_PATH_LEN {
            return bad("longer than 1024 bytes");
        }
        if text.chars().any(char::is_control) {
            return bad("contains a control character");
        }
        let Some(rest) = text.strip_prefix('/') else {
            return bad("not absolute (must start with /)");
        };
        if rest.is_empty() {
            return Ok(FsPath("/".into()));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        for component in rest.split('/') {
            match component {
                "" => return bad("empty component (//)"),
                "." | ".." => return bad("`.` and `..` are not allowed"),
                _ => {}
            }
        }
        Ok(FsPath(alloc::format!("/{rest}")))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` is this path or lies under it, component by component (`/www`
    /// contains `/www/a` but not `/wwwx`). `path` must be normal (see [`FsPath::parse`]).
    pub fn contains(&self, path: &FsPath) -> bool {
        if self.0 == "/" {
            return true;
        }
        match path.0.strip_prefix(self.0.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

impl TryFrom<String> for FsPath {
    type Error = ScopeError;
    fn try_from(text: String) -> Result<Self, ScopeError> {
        let path = FsPath::parse(&text)?;
        if path.0 == text { Ok(path) } else { Err(ScopeError::BadPath { text, why: "not normal" }) }
    }
}

impl From<FsPath> for String {
    fn from(path: FsPath) -> String {
        path.0
    }
}

impl fmt::Display for FsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An inclusive range of ports, never containing port 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "(u16, u16)", into = "(u16, u16)")]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// Every port.
    pub const ANY: PortRange = PortRange { first: 1, last: u16::MAX };

    /// The ports `first..=last`; `None` if the range is empty or holds port 0.
    pub const fn new(first: u16, last: u16) -> Option<PortRange> {
        if first == 0 || first > last { None } else { Some(PortRange { first, last }) }
    }

    /// Parses `80`, `8000-8080` or `*`.
    pub fn parse(text: &str) -> Result<PortRange, ScopeError> {
        let bad = || ScopeError::BadPorts(text.into());
        let text = text.trim();
        if text == "*" {
            return Ok(PortRange::ANY);
        }
        let port = |part: &str| part.trim().parse::<u16>().map_err(|_| bad());
        let (first, last) = match text.split_once('-') {
            Some((first, last)) => (port(first)?, port(last)?),
            None => {
                let one = port(text)?;
                (one, one)
            }
        };
        PortRange::new(first, last).ok_or_else(bad)
    }

    /// The first port.
    pub const fn first(self) -> u16 {
        self.first
    }

    /// The last port.
    pub const fn last(self) -> u16 {
        self.last
    }

    /// Whether `port` is in the range.
    pub const fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// Whether every port of `other` is in `self`.
    pub const fn covers(self, other: PortRange) -> bool {
        self.first <= other.first && other.last <= self.last
    }
}

impl TryFrom<(u16, u16)> for PortRange {
    type Error = ScopeError;
    fn try_from((first, last): (u16, u16)) -> Result<Self, ScopeError> {
        PortRange::new(first, last).ok_or_else(|| ScopeError::BadPorts(alloc::format!("{first}-{last}")))
    }
}

impl From<PortRange> for (u16, u16) {
    fn from(range: PortRange) -> (u16, u16) {
        (range.first, range.last)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == PortRange::ANY {
            f.write_str("*")
        } else if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// An IPv4 network: an address and a prefix length, with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "([u8; 4], u8)", into = "([u8; 4], u8)")]
pub struct Ipv4Net {
    address: [u8; 4],
    prefix: u8,
}

impl Ipv4Net {
    /// Every address.
    pub const ANY: Ipv4Net = Ipv4Net { address: [0; 4], prefix: 0 };

    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32u32.saturating_sub(u32::from(prefix))).unwrap_or(0)
    }

    /// The network `address/prefix`; `None` if the prefix is over 32 or host bits are set.
    pub fn new(address: [u8; 4], prefix: u8) -> Option<Ipv4Net> {
        let bits = u32::from_be_bytes(address);
        (prefix <= 32 && bits & !Self::mask(prefix) == 0).then_some(Ipv4Net { address, prefix })
    }

    /// Parses `10.0.2.2`, `10.0.0.0/8` or `*`.
    pub fn parse(text: &str) -> Result<Ipv4Net, ScopeError> {
        let bad = || ScopeError::BadAddress(text.into());
        let text = text.trim();
        if text == "*" {
            return Ok(Ipv4Net::ANY);
        }
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, prefix.parse::<u8>().map_err(|_| bad())?),
            None => (text, 32),
        };
        let mut octets = [0u8; 4];
        let mut parts = address.split('.');
        for octet in &mut octets {
            let part = parts.next().ok_or_else(bad)?;
            if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *octet = part.parse::<u8>().map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ipv4Net::new(octets, prefix).ok_or_else(bad)
    }

    /// Whether `address` is in the network.
    pub fn contains(self, address: [u8; 4]) -> bool {
        let mask = Self::mask(self.prefix);
        u32::from_be_bytes(address) & mask == u32::from_be_bytes(self.address)
    }

    /// Whether every address of `other` is in `self`.
    pub fn covers(self, other: Ipv4Net) -> bool {
        self.prefix <= other.prefix && self.contains(other.address)
    }
}

impl TryFrom<([u8; 4], u8)> for Ipv4Net {
    type Error = ScopeError;
    fn try_from((address, prefix): ([u8; 4], u8)) -> Result<Self, ScopeError> {
        Ipv4Net::new(address, prefix)
            .ok_or_else(|| ScopeError::BadAddress(alloc::format!("{address:?}/{prefix}")))
    }
}

impl From<Ipv4Net> for ([u8; 4], u8) {
    fn from(net: Ipv4Net) -> ([u8; 4], u8) {
        (net.address, net.prefix)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.address;
        match self.prefix {
            0 => f.write_str("*"),
            32 => write!(f, "{a}.{b}.{c}.{d}"),
            prefix => write!(f, "{a}.{b}.{c}.{d}/{prefix}"),
        }
    }
}

/// Where a client may send: a network and a port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// The addresses.
    pub network: Ipv4Net,
    /// The ports.
    pub ports: PortRange,
}

impl Destination {
    /// Parses `ADDRESS:PORTS`: `10.0.2.2:80`, `10.0.0.0/8:1-1024`, `*:443`, `*:*`.
    pub fn parse(text: &str) -> Result<Destination, ScopeError> {
        let (address, ports) =
            text.rsplit_once(':').ok_or_else(|| ScopeError::BadDestination(text.into()))?;
        Ok(Destination { network: Ipv4Net::parse(address)?, ports: PortRange::parse(ports)? })
    }

    /// Whether `address:port` is a destination here.
    pub fn contains(self, address: [u8; 4], port: u16) -> bool {
        self.network.contains(address) && self.ports.contains(port)
    }

    /// Whether every destination of `other` is in `self`.
    pub fn covers(self, other: Destination) -> bool {
        self.network.covers(other.network) && self.ports.covers(other.ports)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.network, self.ports)
    }
}

/// Which programs a spawn scope names: one path, every program under a directory, or all.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ProgramPattern {
    /// Exactly this program.
    Exact(FsPath),
    /// Every program under this directory (written `DIR/*`).
    Under(FsPath),
    /// Every program (written `*`).
    Any,
}

impl ProgramPattern {
    /// Parses `/bin/cat`, `/bin/*` or `*`.
    pub fn parse(text: &str) -> Result<ProgramPattern, ScopeError> {
        if text == "*" {
            return Ok(ProgramPattern::Any);
        }
        let bad = |_| ScopeError::BadPattern(text.into());
        match text.strip_suffix("/*") {
            Some("") => Ok(ProgramPattern::Any),
            Some(directory) => FsPath::parse(directory).map(ProgramPattern::Under).map_err(bad),
            None if text.contains('*') => Err(ScopeError::BadPattern(text.into())),
            None => FsPath::parse(text).map(ProgramPattern::Exact).map_err(bad),
        }
    }

    /// Whether the program at `path` matches.
    pub fn matches(&self, path: &FsPath) -> bool {
        match self {
            ProgramPattern::Exact(exact) => exact == path,
            ProgramPattern::Under(directory) => directory != path && directory.contains(path),
            ProgramPattern::Any => true,
        }
    }

    /// Whether every program `other` matches, `self` matches too.
    pub fn covers(&self, other: &ProgramPattern) -> bool {
        match (self, other) {
            (ProgramPattern::Any, _) => true,
            (_, ProgramPattern::Any) => false,
            (ProgramPattern::Under(mine), ProgramPattern::Under(theirs)) => mine.contains(theirs),
            (ProgramPattern::Exact(_), ProgramPattern::Under(_)) => false,
            (_, ProgramPattern::Exact(path)) => self.matches(path),
        }
    }
}

impl TryFrom<String> for ProgramPattern {
    type Error = ScopeError;
    fn try_from(text: String) -> Result<Self, ScopeError> {
        let pattern = ProgramPattern::parse(&text)?;
        if pattern.to_string() == text { Ok(pattern) } else { Err(ScopeError::BadPattern(text)) }
    }
}

impl From<ProgramPattern> for String {
    fn from(pattern: ProgramPattern) -> String {
        pattern.to_string()
    }
}

impl fmt::Display for ProgramPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramPattern::Exact(path) => write!(f, "{path}"),
            ProgramPattern::Under(directory) if directory.as_str() == "/" => f.write_str("/*"),
            ProgramPattern::Under(directory) => write!(f, "{directory}/*"),
            ProgramPattern::Any => f.write_str("*"),
        }
    }
}

/// The largest memory quota a scope can hold: 1 TiB.
pub const MAX_MEMORY: u64 = 1 << 40;

/// Parses a memory amount: bytes (`65536`) or a number with a binary suffix (`64K`,
/// `4M`, `1G`, `1T`; `KiB`, `MiB`, ... also accepted). Zero and amounts over
/// [`MAX_MEMORY`] are errors.
pub fn parse_memory(text: &str) -> Result<u64, ScopeError> {
    let bad = || ScopeError::BadMemory(text.into());
    let trimmed = text.trim();
    let digits_end = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(digits_end);
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match suffix.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(1u64 << shift).ok_or_else(bad)?;
    if bytes == 0 || bytes > MAX_MEMORY { Err(bad()) } else { Ok(bytes) }
}

/// Writes `bytes` the way [`parse_memory`] reads it back, in the largest exact unit.
pub fn format_memory(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return alloc::format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A subtree of a filesystem and the rights that apply in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subtree {
    /// The root of the subtree.
    pub path: FsPath,
    /// What may be done in it (a subset of the fs rights).
    pub rights: Rights,
}

/// One entry of a scope, as listed by [`Scope::items`] and [`Scope::uncovered`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeItem {
    /// Rights with no finer structure (console, security, ipc).
    Rights(ServiceKind, Rights),
    /// Rights in a filesystem subtree.
    Fs(Subtree),
    /// Listening on TCP ports.
    Listen(PortRange),
    /// Opening TCP connections to a destination.
    Connect(Destination),
    /// Exchanging UDP datagrams with a destination.
    Udp(Destination),
    /// Spawning programs.
    Spawn(ProgramPattern),
    /// A memory quota in bytes.
    Memory(u64),
}

impl fmt::Display for ScopeItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeItem::Rights(kind, rights) => write!(f, "{kind} {rights}"),
            ScopeItem::Fs(subtree) => write!(f, "fs {} {}", subtree.path, subtree.rights),
            ScopeItem::Listen(ports) => write!(f, "tcp listen {ports}"),
            ScopeItem::Connect(destination) => write!(f, "tcp connect {destination}"),
            ScopeItem::Udp(destination) => write!(f, "udp {destination}"),
            ScopeItem::Spawn(pattern) => write!(f, "spawn {pattern}"),
            ScopeItem::Memory(bytes) => write!(f, "memory {}", format_memory(*bytes)),
        }
    }
}

/// What a session may reach in one service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    kind: ServiceKind,
    /// Everything the entries below allow, cached for the decision path.
    rights: Rights,
    /// Rights with no finer structure (console, security, ipc).
    plain: Rights,
    subtrees: Vec<Subtree>,
    listen: Vec<PortRange>,
    connect: Vec<Destination>,
    udp: Vec<Destination>,
    spawn: Vec<ProgramPattern>,
    memory: u64,
}

impl Scope {
    /// A scope of `kind` that allows nothing.
    pub const fn empty(kind: ServiceKind) -> Scope {
        Scope {
            kind,
            rights: Rights::NONE,
            plain: Rights::NONE,
            subtrees: Vec::new(),
            listen: Vec::new(),
            connect: Vec::new(),
            udp: Vec::new(),
            spawn: Vec::new(),
            memory: 0,
        }
    }

    fn check_rights(kind: ServiceKind, rights: Rights) -> Result<(), ScopeError> {
        let foreign = rights.difference(kind.rights());
        if rights.is_empty() {
            Err(ScopeError::BadRights("no rights named".into()))
        } else if !foreign.is_empty() {
            Err(ScopeError::RightsNotForKind { kind, rights: foreign })
        } else {
            Ok(())
        }
    }

    /// fs: `rights` (read, write, create, delete) in the subtree at `path`.
    pub fn fs(path: FsPath, rights: Rights) -> Result<Scope, ScopeError> {
        Self::check_rights(ServiceKind::Fs, rights)?;
        let mut scope = Scope::empty(ServiceKind::Fs);
        scope.subtrees.push(Subtree { path, rights });
        Ok(scope.normalized())
    }

    /// net: listen for TCP connections on `ports`.
    pub fn tcp_listen(ports: PortRange) -> Scope {
        let mut scope = Scope::empty(ServiceKind::Net);
        scope.listen.push(ports);
        scope.normalized()
    }

    /// net: open TCP connections to `destination`.
    pub fn tcp_connect(destination: Destination) -> Scope {
        let mut scope = Scope::empty(ServiceKind::Net);
        scope.connect.push(destination);
        scope.normalized()
    }

    /// net: exchange UDP datagrams with `destination`.
    pub fn udp(destination: Destination) -> Scope {
        let mut scope = Scope::empty(ServiceKind::Net);
        scope.udp.push(destination);
        scope.normalized()
    }

    /// proc: spawn the programs `pattern` matches.
    pub fn spawn(pattern: ProgramPattern) -> Scope {
        let mut scope = Scope::empty(ServiceKind::Proc);
        scope.spawn.push(pattern);
        scope.normalized()
    }

    /// donor: a memory quota of `bytes` (1 to [`MAX_MEMORY`]).
    pub fn memory(bytes: u64) -> Result<Scope, ScopeError> {
        if bytes == 0 || bytes > MAX_MEMORY {
            return Err(ScopeError::BadMemory(bytes.to_string()));
        }
        let mut scope = Scope::empty(ServiceKind::Donor);
        scope.memory = bytes;
        Ok(scope.normalized())
    }

    /// console, security or ipc: `rights` with no finer structure.
    pub fn plain(kind: ServiceKind, rights: Rights) -> Result<Scope, ScopeError> {
        if !matches!(kind, ServiceKind::Console | ServiceKind::Security | ServiceKind::Ipc) {
            return Err(ScopeError::RightsNotForKind { kind, rights });
        }
        Self::check_rights(kind, rights)?;
        let mut scope = Scope::empty(kind);
        scope.plain = rights;
        Ok(scope.normalized())
    }

    /// The kind of service this scope is for.
    pub const fn kind(&self) -> ServiceKind {
        self.kind
    }

    /// Every right the scope allows somewhere.
    pub const fn rights(&self) -> Rights {
        self.rights
    }

    /// The filesystem subtrees, sorted by path.
    pub fn subtrees(&self) -> &[Subtree] {
        &self.subtrees
    }

    /// The TCP ports that may be listened on, as sorted disjoint ranges.
    pub fn listen_ports(&self) -> &[PortRange] {
        &self.listen
    }

    /// The TCP connect destinations.
    pub fn connect_destinations(&self) -> &[Destination] {
        &self.connect
    }

    /// The UDP destinations.
    pub fn udp_destinations(&self) -> &[Destination] {
        &self.udp
    }

    /// The programs that may be spawned.
    pub fn spawn_patterns(&self) -> &[ProgramPattern] {
        &self.spawn
    }

    /// The memory quota in bytes (0 when the scope grants none).
    pub const fn memory_quota(&self) -> u64 {
        self.memory
    }

    /// Whether the scope allows nothing.
    pub const fn is_empty(&self) -> bool {
        self.rights.is_empty()
    }

    /// fs: whether every right of `rights` applies at `path` (a normal absolute path; any
    /// other path is refused). Each right may come from a different subtree.
    pub fn allows_fs(&self, path: &str, rights: Rights) -> bool {
        let Ok(path) = FsPath::parse(path) else { return false };
        !rights.is_empty() && self.fs_rights_at(&path).contains(rights)
    }

    fn fs_rights_at(&self, path: &FsPath) -> Rights {
        self.subtrees
            .iter()
            .filter(|subtree| subtree.path.contains(path))
            .fold(Rights::NONE, |acc, subtree| acc.union(subtree.rights))
    }

    /// net: whether listening on TCP `port` is allowed.
    pub fn allows_listen(&self, port: u16) -> bool {
        self.listen.iter().any(|range| range.contains(port))
    }

    /// net: whether a TCP connection to `address:port` is allowed.
    pub fn allows_connect(&self, address: [u8; 4], port: u16) -> bool {
        self.connect.iter().any(|destination| destination.contains(address, port))
    }

    /// net: whether UDP datagrams to and from `address:port` are allowed.
    pub fn allows_udp(&self, address: [u8; 4], port: u16) -> bool {
        self.udp.iter().any(|destination| destination.contains(address, port))
    }

    /// proc: whether the program at `path` may be spawned.
    pub fn allows_spawn(&self, path: &str) -> bool {
        let Ok(path) = FsPath::parse(path) else { return false };
        self.spawn.iter().any(|pattern| pattern.matches(&path))
    }

    /// Adds everything `other` allows. Scopes of different kinds do not merge, and neither
    /// do two different memory quotas (a policy must say which one it means).
    pub fn merge(&mut self, other: &Scope) -> Result<(), MergeError> {
        if self.kind != other.kind {
            return Err(MergeError::KindMismatch(self.kind, other.kind));
        }
        if self.memory != 0 && other.memory != 0 && self.memory != other.memory {
            return Err(MergeError::MemoryConflict(self.memory, other.memory));
        }
        self.plain = self.plain.union(other.plain);
        self.subtrees.extend(other.subtrees.iter().cloned());
        self.listen.extend_from_slice(&other.listen);
        self.connect.extend_from_slice(&other.connect);
        self.udp.extend_from_slice(&other.udp);
        self.spawn.extend(other.spawn.iter().cloned());
        self.memory = self.memory.max(other.memory);
        *self = core::mem::replace(self, Scope::empty(self.kind)).normalized();
        Ok(())
    }

    /// The part of this scope that `rights` reach: what a session gets when the client
    /// asks for `rights`.
    #[must_use]
    pub fn restricted_to(&self, rights: Rights) -> Scope {
        let keep = |right: Rights| rights.contains(right);
        Scope {
            kind: self.kind,
            rights: Rights::NONE,
            plain: self.plain.intersection(rights),
            subtrees: self
                .subtrees
                .iter()
                .map(|subtree| Subtree {
                    path: subtree.path.clone(),
                    rights: subtree.rights.intersection(rights),
                })
                .filter(|subtree| !subtree.rights.is_empty())
                .collect(),
            listen: if keep(Rights::LISTEN) { self.listen.clone() } else { Vec::new() },
            connect: if keep(Rights::CONNECT) { self.connect.clone() } else { Vec::new() },
            udp: if keep(Rights::UDP) { self.udp.clone() } else { Vec::new() },
            spawn: if keep(Rights::SPAWN) { self.spawn.clone() } else { Vec::new() },
            memory: if keep(Rights::MEMORY) { self.memory } else { 0 },
        }
        .normalized()
    }

    /// Every entry of the scope.
    pub fn items(&self) -> Vec<ScopeItem> {
        let mut items = Vec::new();
        if !self.plain.is_empty() {
            items.push(ScopeItem::Rights(self.kind, self.plain));
        }
        items.extend(self.subtrees.iter().cloned().map(ScopeItem::Fs));
        items.extend(self.listen.iter().copied().map(ScopeItem::Listen));
        items.extend(self.connect.iter().copied().map(ScopeItem::Connect));
        items.extend(self.udp.iter().copied().map(ScopeItem::Udp));
        items.extend(self.spawn.iter().cloned().map(ScopeItem::Spawn));
        if self.memory != 0 {
            items.push(ScopeItem::Memory(self.memory));
        }
        items
    }

    /// What `self` allows that `by` does not: the empty list when `by` covers `self`.
    /// Used to say what a connection loses when a policy narrows it.
    pub fn uncovered(&self, by: &Scope) -> Vec<ScopeItem> {
        let mut lost = Vec::new();
        if by.kind != self.kind {
            return self.items();
        }
        let plain = self.plain.difference(by.plain);
        if !plain.is_empty() {
            lost.push(ScopeItem::Rights(self.kind, plain));
        }
        for subtree in &self.subtrees {
            let missing = subtree.rights.difference(by.fs_rights_at(&subtree.path));
            if !missing.is_empty() {
                lost.push(ScopeItem::Fs(Subtree { path: subtree.path.clone(), rights: missing }));
            }
        }
        // `by` is normal, so its port ranges are merged and one range covers a covered one.
        for range in &self.listen {
            if !by.listen.iter().any(|theirs| theirs.covers(*range)) {
                lost.push(ScopeItem::Listen(*range));
            }
        }
        for destination in &self.connect {
            if !by.connect.iter().any(|theirs| theirs.covers(*destination)) {
                lost.push(ScopeItem::Connect(*destination));
            }
        }
        for destination in &self.udp {
            if !by.udp.iter().any(|theirs| theirs.covers(*destination)) {
                lost.push(ScopeItem::Udp(*destination));
            }
        }
        for pattern in &self.spawn {
            if !by.spawn.iter().any(|theirs| theirs.covers(pattern)) {
                lost.push(ScopeItem::Spawn(pattern.clone()));
            }
        }
        if self.memory > by.memory {
            lost.push(ScopeItem::Memory(self.memory));
        }
        lost
    }

    /// Whether `self` allows everything `other` allows.
    pub fn covers(&self, other: &Scope) -> bool {
        other.is_empty() || other.uncovered(self).is_empty()
    }

    /// Whether the scope is normal and holds only what its kind understands; every scope
    /// made by this crate is, and a deserialized one must be.
    pub fn is_well_formed(&self) -> bool {
        let fits = match self.kind {
            ServiceKind::Fs => self.structure_is_only(true, false, false),
            ServiceKind::Net => self.structure_is_only(false, true, false),
            ServiceKind::Proc => self.structure_is_only(false, false, true),
            ServiceKind::Donor => self.structure_is_only(false, false, false),
            ServiceKind::Console | ServiceKind::Security | ServiceKind::Ipc => {
                self.structure_is_only(false, false, false) && self.memory == 0
            }
        };
        let memory_fits = self.memory <= MAX_MEMORY && (self.kind == ServiceKind::Donor || self.memory == 0);
        fits && memory_fits && self.kind.rights().contains(self.rights) && self.clone().normalized() == *self
    }

    fn structure_is_only(&self, fs: bool, net: bool, proc: bool) -> bool {
        (fs || self.subtrees.is_empty())
            && (net || (self.listen.is_empty() && self.connect.is_empty() && self.udp.is_empty()))
            && (proc || self.spawn.is_empty())
            && (!(fs || net || proc || self.kind == ServiceKind::Donor) || self.plain.is_empty())
    }

    /// Brings the scope to normal form (see the module invariants).
    fn normalized(mut self) -> Scope {
        // Subtrees: one entry per path, then drop each right an enclosing subtree already gives.
        self.subtrees.sort();
        let mut merged: Vec<Subtree> = Vec::with_capacity(self.subtrees.len());
        for subtree in self.subtrees.drain(..) {
            match merged.last_mut() {
                Some(last) if last.path == subtree.path => last.rights = last.rights.union(subtree.rights),
                _ => merged.push(subtree),
            }
        }
        let enclosing: Vec<Rights> = merged
            .iter()
            .map(|inner| {
                merged
                    .iter()
                    .filter(|outer| outer.path != inner.path && outer.path.contains(&inner.path))
                    .fold(Rights::NONE, |acc, outer| acc.union(outer.rights))
            })
            .collect();
        self.subtrees = merged
            .into_iter()
            .zip(enclosing)
            .map(|(subtree, given)| Subtree { rights: subtree.rights.difference(given), path: subtree.path })
            .filter(|subtree| !subtree.rights.is_empty())
            .collect();

        // Ports: sorted, overlapping and adjacent ranges merged.
        self.listen.sort();
        let mut ranges: Vec<PortRange> = Vec::with_capacity(self.listen.len());
        for range in self.listen.drain(..) {
            match ranges.last_mut() {
                Some(last) if u32::from(range.first) <= u32::from(last.last) + 1 => {
                    last.last = last.last.max(range.last);
                }
                _ => ranges.push(range),
            }
        }
        self.listen = ranges;

        drop_covered(&mut self.connect, |a, b| a.covers(*b));
        drop_covered(&mut self.udp, |a, b| a.covers(*b));
        drop_covered(&mut self.spawn, ProgramPattern::covers);

        let mut rights = self.plain;
        for subtree in &self.subtrees {
            rights = rights.union(subtree.rights);
        }
        for (present, right) in [
            (!self.listen.is_empty(), Rights::LISTEN),
            (!self.connect.is_empty(), Rights::CONNECT),
            (!self.udp.is_empty(), Rights::UDP),
            (!self.spawn.is_empty(), Rights::SPAWN),
            (self.memory != 0, Rights::MEMORY),
        ] {
            if present {
                rights = rights.union(right);
            }
        }
        self.rights = rights;
        self
    }
}

/// Sorts `list`, removes duplicates and every entry another entry covers.
fn drop_covered<T: Ord>(list: &mut Vec<T>, covers: impl Fn(&T, &T) -> bool) {
    list.sort();
    list.dedup();
    let keep: Vec<bool> = (0..list.len())
        .map(|index| {
            let Some(item) = list.get(index) else { return false };
            !list.iter().enumerate().any(|(other, by)| other != index && covers(by, item))
        })
        .collect();
    let mut flags = keep.into_iter();
    list.retain(|_| flags.next().unwrap_or(false));
}

/// Why two scopes do not merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeError {
    /// The scopes are for different kinds of service.
    KindMismatch(ServiceKind, ServiceKind),
    /// Two different memory quotas.
    MemoryConflict(u64, u64),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::KindMismatch(a, b) => write!(f, "a {a} scope and a {b} scope do not merge"),
            MergeError::MemoryConflict(a, b) => {
                write!(f, "two different memory quotas ({} and {})", format_memory(*a), format_memory(*b))
            }
        }
    }
}

/// Entries separated by `; `, or `nothing`; consecutive ports, destinations and programs
/// of one kind share their heading (`tcp listen 80, 443`).
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items = self.items();
        if items.is_empty() {
            return f.write_str("nothing");
        }
        let mut previous: Option<&'static str> = None;
        for (index, item) in items.iter().enumerate() {
            let heading = match item {
                ScopeItem::Listen(_) => Some("tcp listen"),
                ScopeItem::Connect(_) => Some("tcp connect"),
                ScopeItem::Udp(_) => Some("udp"),
                ScopeItem::Spawn(_) => Some("spawn"),
                _ => None,
            };
            match (heading, previous) {
                (Some(now), Some(before)) if now == before => {
                    f.write_str(", ")?;
                    match item {
                        ScopeItem::Listen(ports) => write!(f, "{ports}")?,
                        ScopeItem::Connect(destination) | ScopeItem::Udp(destination) => {
                            write!(f, "{destination}")?
                        }
                        ScopeItem::Spawn(pattern) => write!(f, "{pattern}")?,
                        other => write!(f, "{other}")?,
                    }
                }
                _ => {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{item}")?;
                }
            }
            previous = heading;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> FsPath {
        FsPath::parse(text).expect("test paths are valid")
    }

    fn rights(text: &str) -> Rights {
        Rights::parse(text).expect("test rights are valid")
    }

    fn fs(p: &str, r: &str) -> Scope {
        Scope::fs(path(p), rights(r)).expect("test scopes are valid")
    }

    fn merged(parts: &[Scope]) -> Scope {
        let mut scope = Scope::empty(parts.first().map_or(ServiceKind::Fs, Scope::kind));
        for part in parts {
            scope.merge(part).expect("test scopes merge");
        }
        scope
    }

    #[test]
    fn paths_must_be_absolute_and_normal() {
        assert_eq!(path("/www/").as_str(), "/www");
        assert_eq!(path("/").as_str(), "/");
        for bad in ["www", "", "/a//b", "/a/../b", "/a/./b", "/a\n"] {
            assert!(FsPath::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(path("/www").contains(&path("/www/index.html")));
        assert!(path("/www").contains(&path("/www")));
        assert!(!path("/www").contains(&path("/wwwx")));
        assert!(path("/").contains(&path("/etc")));
    }

    #[test]
    fn ports_addresses_and_destinations_parse() {
        assert_eq!(PortRange::parse("80").map(|r| (r.first(), r.last())), Ok((80, 80)));
        assert_eq!(PortRange::parse("8000-8080").map(|r| (r.first(), r.last())), Ok((8000, 8080)));
        for bad in ["0", "81-80", "65536", "x", "", "-1"] {
            assert!(PortRange::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(Ipv4Net::parse("10.0.0.0/8").is_ok_and(|net| net.contains([10, 9, 8, 7])));
        for bad in ["10.0.0.1/8", "10.0.0", "10.0.0.0.0", "300.0.0.1", "1.2.3.4/33", "+1.2.3.4"] {
            assert!(Ipv4Net::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let destination = Destination::parse("10.0.2.2:80").expect("valid");
        assert!(destination.contains([10, 0, 2, 2], 80));
        assert!(!destination.contains([10, 0, 2, 2], 81));
        assert_eq!(Destination::parse("*:*").map(|d| d.to_string()), Ok("*:*".into()));
        assert!(Destination::parse("10.0.2.2").is_err());
    }

    #[test]
    fn memory_amounts() {
        assert_eq!(parse_memory("64K"), Ok(64 << 10));
        assert_eq!(parse_memory("4 MiB"), Ok(4 << 20));
        assert_eq!(parse_memory("4096"), Ok(4096));
        for bad in ["0", "2T", "4X", "", "M", "99999999999999999999G"] {
            assert!(parse_memory(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(format_memory(4 << 20), "4M");
        assert_eq!(format_memory(1000), "1000");
    }

    #[test]
    fn fs_scope_merges_and_drops_what_an_enclosing_subtree_gives() {
        let scope = merged(&[fs("/www", "read"), fs("/", "read"), fs("/www", "write"), fs("/www/a", "read")]);
        assert_eq!(scope.to_string(), "fs / read; fs /www write");
        assert!(scope.allows_fs("/www/a/b", Rights::READ.union(Rights::WRITE)));
        assert!(!scope.allows_fs("/etc", Rights::WRITE));
        assert!(!scope.allows_fs("/www/../etc", Rights::READ));
        assert!(scope.is_well_formed());
    }

    #[test]
    fn restricting_and_covering() {
        let scope = merged(&[fs("/www", "read"), fs("/tmp", "read,write,create")]);
        let read_only = scope.restricted_to(Rights::READ);
        assert_eq!(read_only.to_string(), "fs /tmp read; fs /www read");
        assert!(scope.covers(&read_only));
        assert!(!read_only.covers(&scope));
        assert_eq!(
            scope.uncovered(&read_only).iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["fs /tmp write,create"]
        );
        assert!(scope.covers(&Scope::empty(ServiceKind::Net)));
    }

    #[test]
    fn net_scope_merges_ranges_and_covered_destinations() {
        let parts = [
            Scope::tcp_listen(PortRange::parse("80").expect("valid")),
            Scope::tcp_listen(PortRange::parse("81-90").expect("valid")),
            Scope::tcp_connect(Destination::parse("10.0.0.0/8:443").expect("valid")),
            Scope::tcp_connect(Destination::parse("10.0.2.2:443").expect("valid")),
            Scope::udp(Destination::parse("*:53").expect("valid")),
        ];
        let scope = merged(&parts);
        assert_eq!(scope.to_string(), "tcp listen 80-90; tcp connect 10.0.0.0/8:443; udp *:53");
        assert!(scope.allows_listen(85) && !scope.allows_listen(91));
        assert!(scope.allows_connect([10, 1, 1, 1], 443) && !scope.allows_connect([11, 0, 0, 1], 443));
        assert!(scope.allows_udp([8, 8, 8, 8], 53));
        let listen_only = scope.restricted_to(Rights::LISTEN);
        assert_eq!(listen_only.rights(), Rights::LISTEN);
        let narrower = Scope::tcp_listen(PortRange::parse("80").expect("valid"));
        assert_eq!(
            listen_only.uncovered(&narrower).iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["tcp listen 80-90"]
        );
    }

    #[test]
    fn spawn_patterns() {
        let pattern = |text| ProgramPattern::parse(text).expect("valid");
        assert!(pattern("/bin/*").matches(&path("/bin/cat")));
        assert!(!pattern("/bin/*").matches(&path("/bin")));
        assert!(!pattern("/bin/*").matches(&path("/sbin/x")));
        assert!(pattern("*").covers(&pattern("/bin/*")));
        assert!(pattern("/bin/*").covers(&pattern("/bin/cat")));
        assert!(!pattern("/bin/cat").covers(&pattern("/bin/*")));
        assert!(ProgramPattern::parse("/bin/c*t").is_err());
        let scope = merged(&[Scope::spawn(pattern("/bin/cat")), Scope::spawn(pattern("/bin/*"))]);
        assert_eq!(scope.to_string(), "spawn /bin/*");
        assert!(scope.allows_spawn("/bin/ls") && !scope.allows_spawn("/sbin/fs"));
    }

    #[test]
    fn merge_refuses_other_kinds_and_conflicting_quotas() {
        let mut memory = Scope::memory(4 << 20).expect("valid");
        assert_eq!(memory.merge(&Scope::memory(4 << 20).expect("valid")), Ok(()));
        assert!(matches!(
            memory.merge(&Scope::memory(1 << 20).expect("valid")),
            Err(MergeError::MemoryConflict(..))
        ));
        assert!(matches!(memory.merge(&fs("/", "read")), Err(MergeError::KindMismatch(..))));
        assert!(Scope::plain(ServiceKind::Console, Rights::LISTEN).is_err());
        assert!(Scope::plain(ServiceKind::Fs, Rights::READ).is_err());
        assert!(Scope::fs(path("/"), Rights::NONE).is_err());
    }

    #[test]
    fn serde_rejects_abnormal_parts() {
        let scope = fs("/www", "read");
        let bytes = postcard::to_allocvec(&scope).expect("serializes");
        let back: Scope = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(back, scope);
        let bad_path = postcard::to_allocvec(&String::from("/a/../b")).expect("serializes");
        assert!(postcard::from_bytes::<FsPath>(&bad_path).is_err());
        let bad_ports = postcard::to_allocvec(&(0u16, 5u16)).expect("serializes");
        assert!(postcard::from_bytes::<PortRange>(&bad_ports).is_err());
    }
}
