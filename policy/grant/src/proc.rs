//! Process-manager scopes: which programs a session may spawn, and the process manager's
//! question, [`Scope::allows_spawn`].
//!
//! Invariants: a proc scope's patterns are sorted, with no pattern another covers.

use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::scope::{Part, drop_covered, is_without_covered};
use crate::{FsPath, Rights, Scope, ScopeError, ScopeItem};

/// Which programs a spawn scope names: one path, every program under a directory, or all.
///
/// On the wire: the variant and its path (no text to parse again); `Under("/")`, which
/// [`ProgramPattern::parse`] writes as [`ProgramPattern::Any`], does not decode.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "PatternOnTheWire")]
pub enum ProgramPattern {
    /// Exactly this program.
    Exact(FsPath),
    /// Every program under this directory, at any depth (written `DIR/*`).
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

/// A pattern as it decodes, before the one check its type cannot make.
#[derive(Deserialize)]
#[serde(rename = "ProgramPattern")]
enum PatternOnTheWire {
    Exact(FsPath),
    Under(FsPath),
    Any,
}

/// A pattern as it encodes: the same variants, borrowing the path.
#[derive(Serialize)]
#[serde(rename = "ProgramPattern")]
enum PatternToTheWire<'a> {
    Exact(&'a FsPath),
    Under(&'a FsPath),
    Any,
}

impl TryFrom<PatternOnTheWire> for ProgramPattern {
    type Error = ScopeError;
    fn try_from(wire: PatternOnTheWire) -> Result<Self, ScopeError> {
        match wire {
            PatternOnTheWire::Exact(path) => Ok(ProgramPattern::Exact(path)),
            PatternOnTheWire::Under(directory) if directory.as_str() == "/" => {
                Err(ScopeError::BadPattern("/* (written *)".into()))
            }
            PatternOnTheWire::Under(directory) => Ok(ProgramPattern::Under(directory)),
            PatternOnTheWire::Any => Ok(ProgramPattern::Any),
        }
    }
}

impl Serialize for ProgramPattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ProgramPattern::Exact(path) => PatternToTheWire::Exact(path),
            ProgramPattern::Under(directory) => PatternToTheWire::Under(directory),
            ProgramPattern::Any => PatternToTheWire::Any,
        }
        .serialize(serializer)
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

/// The proc part of a scope (see the module invariants).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpawnScope {
    patterns: Vec<ProgramPattern>,
}

impl SpawnScope {
    /// A part with these patterns as they are, normal or not (tests of the normal form).
    #[cfg(test)]
    pub(crate) fn from_patterns(patterns: Vec<ProgramPattern>) -> Self {
        SpawnScope { patterns }
    }

    pub(crate) fn rights(&self) -> Rights {
        if self.patterns.is_empty() { Rights::NONE } else { Rights::SPAWN }
    }

    pub(crate) fn merge(&mut self, other: &SpawnScope) {
        self.patterns.extend(other.patterns.iter().cloned());
        self.normalize();
    }

    pub(crate) fn restricted_to(&self, rights: Rights) -> SpawnScope {
        if rights.contains(Rights::SPAWN) { self.clone() } else { SpawnScope::default() }
    }

    /// Pushes onto `lost` the patterns of `self` that `by` does not cover.
    pub(crate) fn uncovered(&self, by: &SpawnScope, lost: &mut Vec<ScopeItem>) {
        for pattern in &self.patterns {
            if !by.patterns.iter().any(|theirs| theirs.covers(pattern)) {
                lost.push(ScopeItem::Spawn(pattern.clone()));
            }
        }
    }

    pub(crate) fn items(&self, items: &mut Vec<ScopeItem>) {
        items.extend(self.patterns.iter().cloned().map(ScopeItem::Spawn));
    }

    pub(crate) fn normalize(&mut self) {
        drop_covered(&mut self.patterns, ProgramPattern::covers);
    }

    /// Whether the part is normal (see the module invariants), checked without copying.
    pub(crate) fn is_normal(&self) -> bool {
        is_without_covered(&self.patterns, ProgramPattern::covers)
    }
}

/// Process-manager scopes and the process manager's question.
impl Scope {
    /// proc: spawn the programs `pattern` matches.
    pub fn spawn(pattern: ProgramPattern) -> Scope {
        let mut part = SpawnScope { patterns: alloc::vec![pattern] };
        part.normalize();
        Scope::from_part(Part::Proc(part))
    }

    /// proc: whether the program at `path` may be spawned (a normal absolute path, as the
    /// policy names programs; any other text is refused).
    pub fn allows_spawn(&self, path: &str) -> bool {
        let Ok(path) = FsPath::parse(path) else { return false };
        self.spawn_patterns().iter().any(|pattern| pattern.matches(&path))
    }

    /// proc: the programs that may be spawned (none for other kinds).
    pub fn spawn_patterns(&self) -> &[ProgramPattern] {
        match self.part() {
            Part::Proc(proc) => &proc.patterns,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    fn pattern(text: &str) -> ProgramPattern {
        ProgramPattern::parse(text).expect("test patterns are valid")
    }

    use crate::testing::path;

    #[test]
    fn patterns_parse_and_print_back() {
        for text in ["/bin/cat", "/bin/*", "*", "/usr/local/bin/*"] {
            assert_eq!(pattern(text).to_string(), text);
        }
        for bad in ["/bin/c*t", "bin/*", "/bin/**", "/bin/../sbin/*", "", "/bin//cat"] {
            assert!(ProgramPattern::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn patterns_match_and_cover() {
        let matches = [
            ("/bin/*", "/bin/cat", true),
            ("/bin/*", "/bin/sub/tool", true),
            ("/bin/*", "/bin", false),
            ("/bin/*", "/binx/cat", false),
            ("/bin/*", "/sbin/x", false),
            ("/bin/cat", "/bin/cat", true),
            ("/bin/cat", "/bin/cats", false),
            ("*", "/sbin/fs", true),
        ];
        for (text, program, expected) in matches {
            assert_eq!(pattern(text).matches(&path(program)), expected, "{text} matches {program}");
        }
        let covers = [
            ("*", "/bin/*", true),
            ("/bin/*", "/bin/cat", true),
            ("/bin/*", "/bin/sub/*", true),
            ("/bin/cat", "/bin/*", false),
            ("/bin/*", "*", false),
            ("/bin/*", "/sbin/*", false),
        ];
        for (mine, theirs, expected) in covers {
            assert_eq!(pattern(mine).covers(&pattern(theirs)), expected, "{mine} covers {theirs}");
        }
    }

    #[test]
    fn the_process_manager_asks_the_scope() {
        let mut scope = Scope::spawn(pattern("/bin/*"));
        scope.merge(&Scope::spawn(pattern("/sbin/fsck"))).expect("same kind");
        let cases = [
            ("/bin/ls", true),
            ("/bin/hello", true),
            ("/sbin/fsck", true),
            ("/sbin/fs", false),
            ("/bin", false),
            ("/binx/ls", false),
            ("/bin/../sbin/fs", false),
            ("bin/ls", false),
            ("hello", false),
        ];
        for (program, expected) in cases {
            assert_eq!(scope.allows_spawn(program), expected, "spawn {program}");
        }
        // Exact programs sort before directories.
        assert_eq!(scope.to_string(), "spawn /sbin/fsck, /bin/*");
        assert!(!scope.restricted_to(Rights::READ).allows_spawn("/bin/ls"));
        assert!(!Scope::plain(crate::ServiceKind::Ipc, Rights::CALL).expect("valid").allows_spawn("/bin/ls"));
    }

    #[test]
    fn patterns_travel_as_their_variant_and_path() {
        for text in ["/bin/cat", "/bin/*", "*"] {
            let bytes = postcard::to_allocvec(&pattern(text)).expect("serializes");
            assert_eq!(postcard::from_bytes::<ProgramPattern>(&bytes), Ok(pattern(text)), "{text}");
        }
        // Variant 1 (`Under`), the path "/": the root directory, which is `*`.
        assert!(postcard::from_bytes::<ProgramPattern>(&[1, 1, b'/']).is_err());
        // Variant 0 (`Exact`), a path that is not normal.
        assert!(postcard::from_bytes::<ProgramPattern>(&[0, 3, b'/', b'.', b'.']).is_err());
        assert_eq!(postcard::to_allocvec(&pattern("*")).expect("serializes"), [2]);
    }

    #[test]
    fn covered_patterns_are_dropped() {
        let mut scope = Scope::spawn(pattern("/bin/cat"));
        scope.merge(&Scope::spawn(pattern("/bin/*"))).expect("same kind");
        assert_eq!(scope.spawn_patterns(), [pattern("/bin/*")]);
        let narrower = Scope::spawn(pattern("/bin/cat"));
        assert_eq!(scope.uncovered(&narrower), [ScopeItem::Spawn(pattern("/bin/*"))]);
    }
}
