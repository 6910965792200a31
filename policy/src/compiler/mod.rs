//! The compiler: runs a policy script once, under limits, and checks what it declared.
//!
//! Compiling is three steps: parse (syntax errors), run (the script calls the functions in
//! `script.rs` which only record declarations, each with its line and column), then check
//! and build the tables (`build.rs`). Every problem found is reported, sorted by position;
//! a script with any error produces no policy. Nothing the script does can escape the
//! limits in [`Limits`]: operations, call depth, expression depth, string and array sizes,
//! live variables, and the number of declarations. There is no `import` (rhai is built without
//! modules), no `eval`, no clock and no file or network access.

mod build;
mod script;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::policy::{Policy, SourcePos};

/// How much a script may do before it is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Script operations (rhai counts roughly one per expression evaluated).
    pub max_operations: u64,
    /// Nested function calls (recursion depth).
    pub max_call_levels: usize,
    /// Nesting depth of expressions at the top level.
    pub max_expr_depth: usize,
    /// Nesting depth of expressions inside functions.
    pub max_function_expr_depth: usize,
    /// Bytes in one string, and in all the strings of one array together.
    pub max_string_size: usize,
    /// Elements in one array (nested arrays count their elements too).
    pub max_array_size: usize,
    /// Variables alive at once.
    pub max_variables: usize,
    /// Functions a script may define.
    pub max_functions: usize,
    /// Bytes of script source.
    pub max_source_size: usize,
    /// Declarations (each call of `program`, `grant`, ... counts one per rule it makes).
    pub max_declarations: usize,
    /// Errors reported before giving up.
    pub max_errors: usize,
    /// Lines of `print` and `debug` output kept.
    pub max_output_lines: usize,
}

impl Limits {
    /// The limits policies are compiled with, on the host and in the system. They are far
    /// above what a policy of a thousand programs needs, and low enough that a hostile
    /// script stops within a fraction of a second (release build) and some tens of
    /// megabytes: every value is at most 16 KiB of text and 4096 elements, at most 256
    /// variables live at once, and at most 50 000 declarations are recorded.
    pub const DEFAULT: Limits = Limits {
        max_operations: 500_000,
        max_call_levels: 16,
        max_expr_depth: 32,
        max_function_expr_depth: 16,
        max_string_size: 16 * 1024,
        max_array_size: 4096,
        max_variables: 256,
        max_functions: 256,
        max_source_size: 256 * 1024,
        max_declarations: 50_000,
        max_errors: 50,
        max_output_lines: 100,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// What kind of problem a diagnostic reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiagnosticKind {
    /// The script does not parse.
    Syntax,
    /// The script hit a limit (operations, depth, sizes, declarations).
    Limit,
    /// The script failed while running (wrong types, unknown function, index out of range).
    Script,
    /// A required declaration is missing (no levels).
    Missing,
    /// A name that is not a valid name.
    BadName,
    /// A label that does not parse.
    BadLabel,
    /// A scope that does not parse or does not fit its service.
    BadScope,
    /// A level that is not declared.
    UnknownLevel,
    /// A category that is not declared.
    UnknownCategory,
    /// A program that is not declared.
    UnknownProgram,
    /// A service that is not declared.
    UnknownService,
    /// A service kind that does not exist.
    UnknownKind,
    /// Two rules that say different things about the same thing.
    Contradiction,
    /// More entries than a policy may hold.
    TooMany,
    /// (Warning) a rule that can never take effect.
    Ineffective,
    /// A bug in the compiler: the checked tables were refused by the model.
    Internal,
}

impl DiagnosticKind {
    /// A short name for the kind (`unknown-level`).
    pub const fn name(self) -> &'static str {
        match self {
            DiagnosticKind::Syntax => "syntax",
            DiagnosticKind::Limit => "limit",
            DiagnosticKind::Script => "script",
            DiagnosticKind::Missing => "missing",
            DiagnosticKind::BadName => "bad-name",
            DiagnosticKind::BadLabel => "bad-label",
            DiagnosticKind::BadScope => "bad-scope",
            DiagnosticKind::UnknownLevel => "unknown-level",
            DiagnosticKind::UnknownCategory => "unknown-category",
            DiagnosticKind::UnknownProgram => "unknown-program",
            DiagnosticKind::UnknownService => "unknown-service",
            DiagnosticKind::UnknownKind => "unknown-kind",
            DiagnosticKind::Contradiction => "contradiction",
            DiagnosticKind::TooMany => "too-many",
            DiagnosticKind::Ineffective => "ineffective",
            DiagnosticKind::Internal => "internal",
        }
    }
}

/// An error or warning, at a line and column of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where (0:0 when the problem is the whole script).
    pub pos: SourcePos,
    /// What kind of problem.
    pub kind: DiagnosticKind,
    /// What is wrong, for a person.
    pub message: String,
}

/// `line:column: kind: message`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.pos, self.kind.name(), self.message)
    }
}

/// Why a script did not compile: every error found, sorted by position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileErrors {
    /// The errors; never empty.
    pub errors: Vec<Diagnostic>,
    /// What the script printed before it failed.
    pub output: Vec<String>,
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl core::error::Error for CompileErrors {}

/// A compiled policy, with the warnings and output of its script.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The policy.
    pub policy: Policy,
    /// Rules that can never take effect; the policy is valid anyway.
    pub warnings: Vec<Diagnostic>,
    /// What the script printed (`print`, `debug`).
    pub output: Vec<String>,
}

/// Compiles `source` with [`Limits::DEFAULT`].
pub fn compile(source: &str) -> Result<Compiled, CompileErrors> {
    compile_with(source, &Limits::DEFAULT)
}

/// Compiles `source` with `limits`.
pub fn compile_with(source: &str, limits: &Limits) -> Result<Compiled, CompileErrors> {
    if source.len() > limits.max_source_size {
        return Err(CompileErrors {
            errors: alloc::vec![Diagnostic {
                pos: SourcePos::default(),
                kind: DiagnosticKind::Limit,
                message: alloc::format!(
                    "the script is {} bytes, over the limit of {}",
                    source.len(),
                    limits.max_source_size
                ),
            }],
            output: Vec::new(),
        });
    }
    let mut declarations = script::run(source, limits);
    let output = core::mem::take(&mut declarations.output);
    let mut errors = core::mem::take(&mut declarations.errors);
    // After an abort the declarations are incomplete: checking them would only report
    // the consequences (undeclared programs, ...) of the error that stopped the script.
    if !declarations.aborted {
        match build::build(declarations) {
            Ok((policy, warnings)) if errors.is_empty() => return Ok(Compiled { policy, warnings, output }),
            Ok(_) => {}
            Err(more) => errors.extend(more),
        }
    }
    errors.sort_by_key(|error| error.pos);
    errors.dedup();
    if errors.is_empty() {
        errors.push(Diagnostic {
            pos: SourcePos::default(),
            kind: DiagnosticKind::Internal,
            message: "the script stopped without an error".into(),
        });
    }
    Err(CompileErrors { errors, output })
}

/// The name among `candidates` closest to `name`, if one is close enough to be a typo.
pub(crate) fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// ` (did you mean `x`?)` or nothing.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match suggest(name, candidates) {
        Some(candidate) => alloc::format!(" (did you mean `{candidate}`?)"),
        None => String::new(),
    }
}

/// Edit distance counting a swap of two neighbouring characters as one edit (optimal
/// string alignment), on characters; names are short (at most 256 characters are compared).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(256).collect();
    let b: Vec<char> = b.chars().take(256).collect();
    let width = b.len() + 1;
    // rows[i * width + j]: distance between a[..i] and b[..j].
    let mut rows = alloc::vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            let value = if i == 0 || j == 0 {
                i.max(j)
            } else {
                let get = |i, j| rows.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
                let differ = usize::from(a.get(i - 1) != b.get(j - 1));
                let mut best = (get(i - 1, j) + 1).min(get(i, j - 1) + 1).min(get(i - 1, j - 1) + differ);
                if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                    best = best.min(get(i - 2, j - 2) + 1);
                }
                best
            };
            if let Some(cell) = rows.get_mut(at(i, j)) {
                *cell = value;
            }
        }
    }
    rows.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("secrett", ["public", "secret"]), Some("secret"));
        assert_eq!(suggest("/bin/htpd", ["/bin/httpd", "/bin/sh"]), Some("/bin/httpd"));
        assert_eq!(suggest("zzz", ["public", "secret"]), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("grnat", "grant"), 1);
        assert_eq!(suggest("grnat", ["grant", "program"]), Some("grant"));
    }
}
