//! Scopes: what one session may reach in one service, the sum of the per-kind parts in
//! [`fs`](crate::fs), [`net`](crate::net), [`proc`](crate::proc),
//! [`console`](crate::console) and [`memory`](crate::memory), and what applies to every
//! kind: merging, narrowing, comparing, listing, displaying.
//!
//! A grant holds a [`Scope`]; a session gets the grant's scope narrowed to the rights the
//! client asked for ([`Scope::restricted_to`]), and the server asks it ([`Scope::allows`],
//! [`Scope::allows_listen`], ...). A policy swap compares the old and new scope of each
//! live connection with [`Scope::covers`] and [`Scope::uncovered`].
//!
//! Invariants: a scope is of one kind and holds only what that kind understands (the type
//! is a sum: an fs scope has no ports); it is *normal*: lists sorted, duplicates and
//! entries covered by other entries removed, port ranges merged. Every constructor and
//! operation keeps it so, and a deserialized scope that is not is refused
//! ([`ScopeError::NotNormal`]), so two scopes that allow the same are equal.

use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fs::FsScope;
use crate::net::NetScope;
use crate::proc::SpawnScope;
use crate::{
    Destination, PortRange, ProgramPattern, Rights, ScopeError, ServiceKind, Subtree, format_memory,
};

/// The parts of a scope, one variant per kind, in [`ServiceKind`]'s order.
///
/// Variants are only ever added at the end (postcard numbers them by position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Part {
    /// Subtrees.
    Fs(FsScope),
    /// Listen ports, connect and UDP destinations.
    Net(NetScope),
    /// Read input, write output.
    Console(Rights),
    /// Program patterns.
    Proc(SpawnScope),
    /// A memory quota in bytes (0: none).
    Donor(u64),
    /// Load policies, read the audit trail.
    Security(Rights),
    /// Call the service.
    Ipc(Rights),
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

/// What a session may reach in one service (see the module invariants).
///
/// On the wire: the kind's variant number, then its part (subtrees; ports and
/// destinations; patterns; rights; a quota).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    part: Part,
}

impl Scope {
    /// A scope of `kind` that allows nothing.
    pub fn empty(kind: ServiceKind) -> Scope {
        let part = match kind {
            ServiceKind::Fs => Part::Fs(FsScope::default()),
            ServiceKind::Net => Part::Net(NetScope::default()),
            ServiceKind::Console => Part::Console(Rights::NONE),
            ServiceKind::Proc => Part::Proc(SpawnScope::default()),
            ServiceKind::Donor => Part::Donor(0),
            ServiceKind::Security => Part::Security(Rights::NONE),
            ServiceKind::Ipc => Part::Ipc(Rights::NONE),
        };
        Scope { part }
    }

    /// A scope of a part already normal (the per-kind constructors).
    pub(crate) const fn from_part(part: Part) -> Scope {
        Scope { part }
    }

    /// The part, for the per-kind questions.
    pub(crate) const fn part(&self) -> &Part {
        &self.part
    }

    /// `rights` are some, and all of them ones `kind` understands.
    pub(crate) fn check_rights(kind: ServiceKind, rights: Rights) -> Result<(), ScopeError> {
        let foreign = rights.difference(kind.rights());
        if rights.is_empty() {
            Err(ScopeError::BadRights("no rights named".into()))
        } else if !foreign.is_empty() {
            Err(ScopeError::RightsNotForKind { kind, rights: foreign })
        } else {
            Ok(())
        }
    }

    /// The kind of service this scope is for.
    pub const fn kind(&self) -> ServiceKind {
        match self.part {
            Part::Fs(_) => ServiceKind::Fs,
            Part::Net(_) => ServiceKind::Net,
            Part::Console(_) => ServiceKind::Console,
            Part::Proc(_) => ServiceKind::Proc,
            Part::Donor(_) => ServiceKind::Donor,
            Part::Security(_) => ServiceKind::Security,
            Part::Ipc(_) => ServiceKind::Ipc,
        }
    }

    /// Every right the scope allows somewhere (an fs right in some subtree, `listen` when
    /// some port may be listened on, ...).
    pub fn rights(&self) -> Rights {
        match &self.part {
            Part::Fs(fs) => fs.rights(),
            Part::Net(net) => net.rights(),
            Part::Proc(proc) => proc.rights(),
            Part::Donor(bytes) => {
                if *bytes == 0 {
                    Rights::NONE
                } else {
                    Rights::MEMORY
                }
            }
            Part::Console(rights) | Part::Security(rights) | Part::Ipc(rights) => *rights,
        }
    }

    /// Whether the scope allows nothing.
    pub fn is_empty(&self) -> bool {
        self.rights().is_empty()
    }

    /// Adds everything `other` allows. Scopes of different kinds do not merge, and neither
    /// do two different memory quotas (a policy must say which one it means).
    pub fn merge(&mut self, other: &Scope) -> Result<(), MergeError> {
        match (&mut self.part, &other.part) {
            (Part::Fs(mine), Part::Fs(theirs)) => mine.merge(theirs),
            (Part::Net(mine), Part::Net(theirs)) => mine.merge(theirs),
            (Part::Proc(mine), Part::Proc(theirs)) => mine.merge(theirs),
            (Part::Donor(mine), Part::Donor(theirs)) => {
                if *mine != 0 && *theirs != 0 && mine != theirs {
                    return Err(MergeError::MemoryConflict(*mine, *theirs));
                }
                *mine = (*mine).max(*theirs);
            }
            (Part::Console(mine), Part::Console(theirs))
            | (Part::Security(mine), Part::Security(theirs))
            | (Part::Ipc(mine), Part::Ipc(theirs)) => *mine = mine.union(*theirs),
            _ => return Err(MergeError::KindMismatch(self.kind(), other.kind())),
        }
        Ok(())
    }

    /// The part of this scope that `rights` reach: what a session gets when the client
    /// asks for `rights`.
    #[must_use]
    pub fn restricted_to(&self, rights: Rights) -> Scope {
        let part = match &self.part {
            Part::Fs(fs) => Part::Fs(fs.restricted_to(rights)),
            Part::Net(net) => Part::Net(net.restricted_to(rights)),
            Part::Proc(proc) => Part::Proc(proc.restricted_to(rights)),
            Part::Donor(bytes) => Part::Donor(if rights.contains(Rights::MEMORY) { *bytes } else { 0 }),
            Part::Console(mine) => Part::Console(mine.intersection(rights)),
            Part::Security(mine) => Part::Security(mine.intersection(rights)),
            Part::Ipc(mine) => Part::Ipc(mine.intersection(rights)),
        };
        Scope { part }
    }

    /// Every entry of the scope.
    pub fn items(&self) -> Vec<ScopeItem> {
        let mut items = Vec::new();
        match &self.part {
            Part::Fs(fs) => fs.items(&mut items),
            Part::Net(net) => net.items(&mut items),
            Part::Proc(proc) => proc.items(&mut items),
            Part::Donor(bytes) => {
                if *bytes != 0 {
                    items.push(ScopeItem::Memory(*bytes));
                }
            }
            Part::Console(rights) | Part::Security(rights) | Part::Ipc(rights) => {
                if !rights.is_empty() {
                    items.push(ScopeItem::Rights(self.kind(), *rights));
                }
            }
        }
        items
    }

    /// What `self` allows that `by` does not: the empty list when `by` covers `self`.
    /// Used to say what a connection loses when a policy narrows it.
    pub fn uncovered(&self, by: &Scope) -> Vec<ScopeItem> {
        let mut lost = Vec::new();
        match (&self.part, &by.part) {
            (Part::Fs(mine), Part::Fs(theirs)) => mine.uncovered(theirs, &mut lost),
            (Part::Net(mine), Part::Net(theirs)) => mine.uncovered(theirs, &mut lost),
            (Part::Proc(mine), Part::Proc(theirs)) => mine.uncovered(theirs, &mut lost),
            (Part::Donor(mine), Part::Donor(theirs)) => {
                if mine > theirs {
                    lost.push(ScopeItem::Memory(*mine));
                }
            }
            (Part::Console(mine), Part::Console(theirs))
            | (Part::Security(mine), Part::Security(theirs))
            | (Part::Ipc(mine), Part::Ipc(theirs)) => {
                let missing = mine.difference(*theirs);
                if !missing.is_empty() {
                    lost.push(ScopeItem::Rights(self.kind(), missing));
                }
            }
            _ => return self.items(),
        }
        lost
    }

    /// Whether `self` allows everything `other` allows.
    pub fn covers(&self, other: &Scope) -> bool {
        other.is_empty() || other.uncovered(self).is_empty()
    }

    /// Whether the scope holds only rights its kind understands and is normal: true for
    /// every scope made by this crate, checked for a deserialized one (without copying
    /// it: a server decodes one with every session notice).
    fn is_well_formed(&self) -> bool {
        match &self.part {
            Part::Fs(fs) => fs.is_normal(),
            Part::Net(net) => net.is_normal(),
            Part::Proc(proc) => proc.is_normal(),
            Part::Donor(bytes) => *bytes <= crate::MAX_MEMORY,
            Part::Console(rights) | Part::Security(rights) | Part::Ipc(rights) => {
                self.kind().rights().contains(*rights)
            }
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.part.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scope, D::Error> {
        let scope = Scope { part: Part::deserialize(deserializer)? };
        if scope.is_well_formed() {
            Ok(scope)
        } else {
            Err(serde::de::Error::custom(ScopeError::NotNormal(scope.kind())))
        }
    }
}

/// Whether `list` is what [`drop_covered`] makes of it: strictly sorted, and no entry
/// covered by another.
pub(crate) fn is_without_covered<T: Ord>(list: &[T], covers: impl Fn(&T, &T) -> bool) -> bool {
    list.iter().zip(list.iter().skip(1)).all(|(a, b)| a < b)
        && list.iter().enumerate().all(|(index, item)| {
            list.iter().enumerate().all(|(other, by)| other == index || !covers(by, item))
        })
}

/// Sorts `list`, removes duplicates and every entry another entry covers.
pub(crate) fn drop_covered<T: Ord>(list: &mut Vec<T>, covers: impl Fn(&T, &T) -> bool) {
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
    use alloc::string::{String, ToString};

    use super::*;

    use crate::testing::{fs, path, rights};

    fn merged(parts: &[Scope]) -> Scope {
        let mut scope = Scope::empty(parts.first().map_or(ServiceKind::Fs, Scope::kind));
        for part in parts {
            scope.merge(part).expect("test scopes merge");
        }
        scope
    }

    fn texts(items: &[ScopeItem]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn fs_scope_merges_and_drops_what_an_enclosing_subtree_gives() {
        let scope = merged(&[fs("/www", "read"), fs("/", "read"), fs("/www", "write"), fs("/www/a", "read")]);
        assert_eq!(scope.to_string(), "fs / read; fs /www write");
        assert_eq!(scope.subtrees().len(), 2);
        assert_eq!(scope.rights(), rights("read write"));
        assert!(scope.is_well_formed());
    }

    #[test]
    fn restricting_and_covering() {
        let scope = merged(&[fs("/www", "read"), fs("/tmp", "read,write,create")]);
        let read_only = scope.restricted_to(Rights::READ);
        assert_eq!(read_only.to_string(), "fs /tmp read; fs /www read");
        assert!(scope.covers(&read_only));
        assert!(!read_only.covers(&scope));
        assert_eq!(texts(&scope.uncovered(&read_only)), ["fs /tmp write,create"]);
        assert!(scope.covers(&Scope::empty(ServiceKind::Net)));
        assert!(scope.restricted_to(Rights::LISTEN).is_empty());
    }

    #[test]
    fn scopes_of_other_kinds_cover_nothing() {
        let console = Scope::plain(ServiceKind::Console, Rights::READ).expect("valid");
        let fs_read = fs("/", "read");
        assert!(!fs_read.covers(&console));
        assert_eq!(texts(&console.uncovered(&fs_read)), ["console read"]);
        let write = Scope::plain(ServiceKind::Console, rights("read write")).expect("valid");
        assert_eq!(texts(&write.uncovered(&console)), ["console write"]);
        assert_eq!(
            texts(&Scope::memory(2 << 20).expect("valid").uncovered(&Scope::memory(1 << 20).expect("valid"))),
            ["memory 2M"]
        );
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
        let mut empty = Scope::empty(ServiceKind::Donor);
        assert_eq!(empty.merge(&memory), Ok(()));
        assert_eq!(empty.memory_quota(), 4 << 20);
        assert!(Scope::fs(path("/"), Rights::NONE).is_err());
        assert!(Scope::fs(path("/"), Rights::LISTEN).is_err());
    }

    #[test]
    fn every_kind_has_an_empty_scope() {
        for (kind, _) in ServiceKind::NAMED {
            let empty = Scope::empty(kind);
            assert_eq!(empty.kind(), kind);
            assert!(empty.is_empty() && empty.items().is_empty());
            assert_eq!(empty.to_string(), "nothing");
            assert!(empty.is_well_formed());
        }
    }

    #[test]
    fn the_display_groups_consecutive_entries() {
        let net = merged(&[
            Scope::tcp_listen(PortRange::parse("443").expect("valid")),
            Scope::tcp_listen(PortRange::parse("80").expect("valid")),
            Scope::udp(Destination::parse("*:53").expect("valid")),
            Scope::udp(Destination::parse("10.0.2.2:123").expect("valid")),
        ]);
        assert_eq!(net.to_string(), "tcp listen 80, 443; udp *:53, 10.0.2.2:123");
        let console = Scope::plain(ServiceKind::Console, rights("write read")).expect("valid");
        assert_eq!(console.to_string(), "console read,write");
        assert_eq!(Scope::plain(ServiceKind::Ipc, Rights::CALL).expect("valid").to_string(), "ipc call");
    }

    #[test]
    fn every_kind_round_trips_on_the_wire() {
        let scopes = [
            merged(&[fs("/www", "read"), fs("/tmp", "read write create delete")]),
            merged(&[
                Scope::tcp_listen(PortRange::parse("80").expect("valid")),
                Scope::tcp_connect(Destination::parse("10.0.0.0/8:443").expect("valid")),
                Scope::udp(Destination::parse("*:53").expect("valid")),
            ]),
            Scope::plain(ServiceKind::Console, rights("read write")).expect("valid"),
            Scope::spawn(ProgramPattern::parse("/bin/*").expect("valid")),
            Scope::memory(16 << 20).expect("valid"),
            Scope::plain(ServiceKind::Security, rights("load_policy audit")).expect("valid"),
            Scope::plain(ServiceKind::Ipc, Rights::CALL).expect("valid"),
            Scope::empty(ServiceKind::Fs),
        ];
        for scope in scopes {
            let bytes = postcard::to_allocvec(&scope).expect("serializes");
            assert_eq!(postcard::from_bytes::<Scope>(&bytes), Ok(scope.clone()), "{scope}");
            // The kind is the first byte: the variant number, in ServiceKind's order.
            let kind = ServiceKind::NAMED.iter().position(|(kind, _)| *kind == scope.kind());
            assert_eq!(bytes.first().map(|&b| usize::from(b)), kind);
        }
        // Smaller than its text: httpd's fs scope is 8 bytes (kind, count, path, rights),
        // its text (`fs /www read`) 12.
        let httpd = fs("/www", "read");
        assert_eq!(postcard::to_allocvec(&httpd).expect("serializes").len(), 8);
    }

    /// Every list of at most `longest` of `items`, in every order, repeats included.
    fn lists<T: Clone>(items: &[T], longest: usize) -> Vec<Vec<T>> {
        let mut all = alloc::vec![Vec::new()];
        let mut last = all.clone();
        for _ in 0..longest {
            last = last
                .iter()
                .flat_map(|list| {
                    items.iter().map(move |item| {
                        let mut longer = list.clone();
                        longer.push(item.clone());
                        longer
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn the_normal_form_check_accepts_exactly_what_normalising_makes() {
        let subtrees: Vec<Subtree> = ["/", "/a", "/a/b", "/c"]
            .iter()
            .flat_map(|p| {
                [Rights::READ, Rights::WRITE, rights("read write"), Rights::NONE]
                    .map(|rights| Subtree { path: path(p), rights })
            })
            .collect();
        for list in lists(&subtrees, 3) {
            let part = FsScope::from_subtrees(list);
            let mut normal = part.clone();
            normal.normalize();
            assert!(normal.is_normal(), "{normal:?}");
            assert_eq!(part.is_normal(), normal == part, "{part:?}");
        }
        let ranges: Vec<PortRange> = [(1, 1), (1, 2), (2, 3), (3, 3), (4, 4), (5, 9)]
            .iter()
            .map(|&(first, last)| PortRange::new(first, last).expect("valid"))
            .collect();
        let destinations: Vec<Destination> =
            ["10.0.0.0/8:443", "10.0.0.1:443", "*:443", "10.0.0.1:1-1024", "*:*"]
                .iter()
                .map(|text| Destination::parse(text).expect("valid"))
                .collect();
        for (listen, connect) in
            lists(&ranges, 3).into_iter().zip(lists(&destinations, 3).into_iter().cycle())
        {
            let part = NetScope::from_lists(listen, connect.clone(), connect);
            let mut normal = part.clone();
            normal.normalize();
            assert!(normal.is_normal(), "{normal:?}");
            assert_eq!(part.is_normal(), normal == part, "{part:?}");
        }
        for list in lists(&destinations, 3) {
            let part = NetScope::from_lists(Vec::new(), list, Vec::new());
            let mut normal = part.clone();
            normal.normalize();
            assert_eq!(part.is_normal(), normal == part, "{part:?}");
        }
        let patterns: Vec<ProgramPattern> = ["/bin/*", "/bin/cat", "*", "/bin/sub/*", "/sbin/fs"]
            .iter()
            .map(|text| ProgramPattern::parse(text).expect("valid"))
            .collect();
        for list in lists(&patterns, 3) {
            let part = SpawnScope::from_patterns(list);
            let mut normal = part.clone();
            normal.normalize();
            assert!(normal.is_normal(), "{normal:?}");
            assert_eq!(part.is_normal(), normal == part, "{part:?}");
        }
    }

    #[test]
    fn serde_refuses_scopes_that_are_not_normal() {
        let subtree = |p: &str, r: Rights| Subtree { path: path(p), rights: r };
        let refused = [
            // Unsorted subtrees.
            Part::Fs(FsScope::from_subtrees(alloc::vec![
                subtree("/www", Rights::READ),
                subtree("/tmp", Rights::READ)
            ])),
            // A subtree whose rights an enclosing one already gives.
            Part::Fs(FsScope::from_subtrees(alloc::vec![
                subtree("/", Rights::READ),
                subtree("/www", Rights::READ)
            ])),
            // An fs subtree with a right fs does not understand.
            Part::Fs(FsScope::from_subtrees(alloc::vec![subtree("/", Rights::LISTEN)])),
            // A subtree with no rights.
            Part::Fs(FsScope::from_subtrees(alloc::vec![subtree("/", Rights::NONE)])),
            // A console scope with a net right.
            Part::Console(Rights::LISTEN),
            // A quota over the largest.
            Part::Donor(crate::MAX_MEMORY + 1),
        ];
        for part in refused {
            let bytes = postcard::to_allocvec(&part).expect("serializes");
            assert!(postcard::from_bytes::<Scope>(&bytes).is_err(), "{part:?} should not decode");
        }
        // An unknown kind.
        assert!(postcard::from_bytes::<Scope>(&[7, 0]).is_err());
    }
}
