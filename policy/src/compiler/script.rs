//! The functions a policy script can call, and running the script under limits.
//!
//! Every function only records a declaration with the line and column of its call; the
//! checks that need the whole policy (does this level, program or service exist?) run
//! after the script, in [`super::build`]. Checks that need nothing else (does this path,
//! port or label parse?) run at the call, so the error points at it. The README lists
//! every function with an example.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, NativeCallContext, Position};

use super::{Diagnostic, DiagnosticKind, Limits, did_you_mean};
use crate::policy::{SourcePos, is_valid_name};
use crate::{
    Destination, FsPath, PortRange, ProgramPattern, Rights, Scope, ScopeError, ServiceKind, parse_memory,
};

/// A label as the script wrote it: names, checked against the declared levels and
/// categories after the script has run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LabelValue {
    pub level: String,
    pub categories: Vec<String>,
    pub pos: SourcePos,
}

impl fmt::Display for LabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.level)?;
        if !self.categories.is_empty() {
            write!(f, "{{{}}}", self.categories.join(","))?;
        }
        Ok(())
    }
}

/// A scope value in the script; `None` when it did not parse (the error is recorded).
#[derive(Clone, Debug)]
pub(super) struct ScopeValue {
    pub scope: Option<Scope>,
}

impl fmt::Display for ScopeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Some(scope) => write!(f, "{} scope: {scope}", scope.kind()),
            None => f.write_str("invalid scope"),
        }
    }
}

/// `program(path)` or `program(path, label)`.
#[derive(Clone, Debug)]
pub(super) struct ProgramDecl {
    pub path: FsPath,
    pub label: Option<LabelValue>,
    pub pos: SourcePos,
}

/// `spawned_by(parent, child)`.
#[derive(Clone, Debug)]
pub(super) struct ParentDecl {
    pub parent: LabelValue,
    pub child: LabelValue,
    pub pos: SourcePos,
}

/// `service(...)` or `trusted_service(...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ServiceDecl {
    pub name: String,
    pub kind: ServiceKind,
    pub server: FsPath,
    pub trusted: bool,
    pub pos: SourcePos,
}

/// One (program, scope) of a `grant(...)` call.
#[derive(Clone, Debug)]
pub(super) struct GrantDecl {
    pub program: FsPath,
    pub service: String,
    pub scope: Scope,
    pub pos: SourcePos,
}

/// `declassify(name, program, service)`.
#[derive(Clone, Debug)]
pub(super) struct DeclassifyDecl {
    pub name: String,
    pub program: FsPath,
    pub service: String,
    pub pos: SourcePos,
}

/// Everything a script declared, in call order, and the errors found while it ran.
#[derive(Debug, Default)]
pub(super) struct Declarations {
    pub levels: Vec<(Vec<String>, SourcePos)>,
    pub categories: Vec<(Vec<String>, SourcePos)>,
    pub programs: Vec<ProgramDecl>,
    pub parent_rules: Vec<ParentDecl>,
    pub services: Vec<ServiceDecl>,
    pub grants: Vec<GrantDecl>,
    pub declassifications: Vec<DeclassifyDecl>,
    pub errors: Vec<Diagnostic>,
    pub output: Vec<String>,
    /// The script stopped before its end (a fatal error or a limit).
    pub aborted: bool,
    /// The error that stopped the script, when one of our functions stopped it.
    fatal: Option<Diagnostic>,
    count: usize,
    limits: Limits,
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// What stops the script when one of our functions records a fatal error; the
/// diagnostic itself is in `Declarations::fatal`.
fn stop() -> Box<EvalAltResult> {
    EvalAltResult::ErrorTerminated(Dynamic::UNIT, Position::NONE).into()
}

impl Declarations {
    /// Records an error and carries on, unless there are too many.
    fn error(&mut self, pos: SourcePos, kind: DiagnosticKind, message: String) -> Fallible<()> {
        self.errors.push(Diagnostic { pos, kind, message });
        if self.errors.len() >= self.limits.max_errors {
            return Err(self.fatal(
                pos,
                DiagnosticKind::Limit,
                alloc::format!("{} errors; stopping here", self.errors.len()),
            ));
        }
        Ok(())
    }

    /// Records an error that stops the script.
    fn fatal(&mut self, pos: SourcePos, kind: DiagnosticKind, message: String) -> Box<EvalAltResult> {
        self.fatal = Some(Diagnostic { pos, kind, message });
        stop()
    }

    /// Counts one declaration against the limit.
    fn declare(&mut self, pos: SourcePos) -> Fallible<()> {
        self.count += 1;
        if self.count > self.limits.max_declarations {
            return Err(self.fatal(
                pos,
                DiagnosticKind::Limit,
                alloc::format!("more than {} declarations", self.limits.max_declarations),
            ));
        }
        Ok(())
    }

    fn name(&mut self, pos: SourcePos, what: &str, name: &str) -> Fallible<Option<String>> {
        if is_valid_name(name) {
            return Ok(Some(name.into()));
        }
        self.error(
            pos,
            DiagnosticKind::BadName,
            alloc::format!(
                "bad {what} name `{}`: names are 1 to 32 letters, digits, `_` or `-`, starting with a letter",
                clip(name)
            ),
        )?;
        Ok(None)
    }

    fn program_path(&mut self, pos: SourcePos, path: &str) -> Fallible<Option<FsPath>> {
        match FsPath::parse(path) {
            Ok(path) => Ok(Some(path)),
            Err(error) => {
                self.error(pos, DiagnosticKind::BadName, alloc::format!("bad program path: {error}"))?;
                Ok(None)
            }
        }
    }

    /// A label argument: a `label(...)` value or a string `level{category,...}`.
    fn label(&mut self, pos: SourcePos, value: Dynamic) -> Fallible<Option<LabelValue>> {
        if value.is::<LabelValue>() {
            return Ok(value.try_cast::<LabelValue>());
        }
        let type_name = value.type_name();
        let Ok(text) = value.into_immutable_string() else {
            return Err(self.fatal(pos, DiagnosticKind::Script, alloc::format!(
                "expected a label (label(\"level\", [\"category\"]) or \"level{{category}}\"), found {type_name}"
            )));
        };
        match parse_label_text(&text) {
            Some((level, categories)) => Ok(Some(LabelValue { level, categories, pos })),
            None => {
                self.error(
                    pos,
                    DiagnosticKind::BadLabel,
                    alloc::format!("bad label `{}` (expected level or level{{category,...}})", clip(&text)),
                )?;
                Ok(None)
            }
        }
    }

    fn scope(&mut self, pos: SourcePos, made: Result<Scope, ScopeError>) -> Fallible<ScopeValue> {
        match made {
            Ok(scope) => Ok(ScopeValue { scope: Some(scope) }),
            Err(error) => {
                self.error(pos, DiagnosticKind::BadScope, error.to_string())?;
                Ok(ScopeValue { scope: None })
            }
        }
    }

    fn strings(&mut self, pos: SourcePos, what: &str, value: Dynamic) -> Fallible<Vec<String>> {
        let items =
            if value.is_array() { value.into_array().unwrap_or_default() } else { alloc::vec![value] };
        let mut strings = Vec::with_capacity(items.len());
        for item in items {
            let type_name = item.type_name();
            match item.into_string() {
                Ok(text) => strings.push(text),
                Err(_) => {
                    return Err(self.fatal(
                        pos,
                        DiagnosticKind::Script,
                        alloc::format!("{what}: expected a string or an array of strings, found {type_name}"),
                    ));
                }
            }
        }
        Ok(strings)
    }
}

/// Shortens text quoted in an error, so a hostile 4 KB name does not flood the report.
fn clip(text: &str) -> String {
    clip_to(text, 64)
}

fn clip_to(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => alloc::format!("{}...", text.get(..end).unwrap_or("")),
        None => text.into(),
    }
}

/// Splits `level{a,b}` into names; `None` if it is not that shape.
fn parse_label_text(text: &str) -> Option<(String, Vec<String>)> {
    let text = text.trim();
    let (level, categories) = match text.split_once('{') {
        Some((level, rest)) => {
            let inside = rest.strip_suffix('}')?;
            let names =
                inside.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect();
            (level.trim(), names)
        }
        None => (text, Vec::new()),
    };
    let plain = |name: &str| !name.is_empty() && !name.contains(['{', '}', ',', ' ']);
    (plain(level)).then(|| (level.into(), categories))
}

fn position(pos: Position) -> SourcePos {
    let number = |value: Option<usize>| value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    SourcePos { line: number(pos.line()), column: number(pos.position()) }
}

fn at(context: &NativeCallContext) -> SourcePos {
    position(context.call_position())
}

/// The names of the functions below, for "did you mean" on unknown functions.
const FUNCTIONS: [&str; 21] = [
    "levels",
    "categories",
    "label",
    "program",
    "programs",
    "spawned_by",
    "service",
    "trusted_service",
    "grant",
    "declassify",
    "fs",
    "tcp_listen",
    "tcp_connect",
    "udp",
    "console",
    "spawn_programs",
    "memory",
    "load_policy",
    "read_audit",
    "ipc",
    "print",
];

type State = Rc<RefCell<Declarations>>;

/// Borrows the state. The functions never call back into the script while holding it,
/// so the borrow cannot fail; if it ever did, the script stops with an error instead of
/// a panic.
fn with<T>(state: &State, f: impl FnOnce(&mut Declarations) -> Fallible<T>) -> Fallible<T> {
    match state.try_borrow_mut() {
        Ok(mut declarations) => f(&mut declarations),
        Err(_) => Err("policy compiler state busy".into()),
    }
}

fn register(engine: &mut Engine, state: &State) {
    engine.register_type_with_name::<LabelValue>("Label");
    engine.register_type_with_name::<ScopeValue>("Scope");
    engine.register_fn("to_string", |label: &mut LabelValue| label.to_string());
    engine.register_fn("to_debug", |label: &mut LabelValue| label.to_string());
    engine.register_fn("to_string", |scope: &mut ScopeValue| scope.to_string());
    engine.register_fn("to_debug", |scope: &mut ScopeValue| scope.to_string());

    // Levels and categories.
    for (function, what) in [("levels", "level"), ("categories", "category")] {
        let s = state.clone();
        engine.register_fn(function, move |context: NativeCallContext, names: Array| -> Fallible<()> {
            let pos = at(&context);
            with(&s, |d| {
                d.declare(pos)?;
                let mut valid = Vec::with_capacity(names.len());
                for name in d.strings(pos, function, Dynamic::from_array(names))? {
                    if let Some(name) = d.name(pos, what, &name)? {
                        valid.push(name);
                    }
                }
                if what == "level" {
                    d.levels.push((valid, pos))
                } else {
                    d.categories.push((valid, pos))
                }
                Ok(())
            })
        });
    }

    // Labels.
    engine.register_fn("label", |context: NativeCallContext, level: ImmutableString| -> LabelValue {
        LabelValue { level: level.into(), categories: Vec::new(), pos: at(&context) }
    });
    let s = state.clone();
    engine.register_fn(
        "label",
        move |context: NativeCallContext,
              level: ImmutableString,
              categories: Array|
              -> Fallible<LabelValue> {
            let pos = at(&context);
            let categories = with(&s, |d| d.strings(pos, "label", Dynamic::from_array(categories)))?;
            Ok(LabelValue { level: level.into(), categories, pos })
        },
    );

    // Programs.
    let s = state.clone();
    engine.register_fn("program", move |context: NativeCallContext, path: ImmutableString| -> Fallible<()> {
        let pos = at(&context);
        with(&s, |d| {
            d.declare(pos)?;
            if let Some(path) = d.program_path(pos, &path)? {
                d.programs.push(ProgramDecl { path, label: None, pos });
            }
            Ok(())
        })
    });
    let s = state.clone();
    engine.register_fn(
        "program",
        move |context: NativeCallContext, path: ImmutableString, label: Dynamic| -> Fallible<()> {
            let pos = at(&context);
            with(&s, |d| {
                d.declare(pos)?;
                let path = d.program_path(pos, &path)?;
                let label = d.label(pos, label)?;
                if let (Some(path), Some(label)) = (path, label) {
                    d.programs.push(ProgramDecl { path, label: Some(label), pos });
                }
                Ok(())
            })
        },
    );
    let s = state.clone();
    engine.register_fn("programs", move || -> Fallible<Array> {
        with(&s, |d| {
            let mut paths: Vec<&str> = Vec::new();
            for program in &d.programs {
                if !paths.contains(&program.path.as_str()) {
                    paths.push(program.path.as_str());
                }
            }
            Ok(paths.into_iter().map(|path| Dynamic::from(String::from(path))).collect())
        })
    });
    let s = state.clone();
    engine.register_fn(
        "spawned_by",
        move |context: NativeCallContext, parent: Dynamic, child: Dynamic| -> Fallible<()> {
            let pos = at(&context);
            with(&s, |d| {
                d.declare(pos)?;
                let parent = d.label(pos, parent)?;
                let child = d.label(pos, child)?;
                if let (Some(parent), Some(child)) = (parent, child) {
                    d.parent_rules.push(ParentDecl { parent, child, pos });
                }
                Ok(())
            })
        },
    );

    // Services.
    for (function, trusted) in [("service", false), ("trusted_service", true)] {
        let s = state.clone();
        engine.register_fn(
            function,
            move |context: NativeCallContext,
                  name: ImmutableString,
                  kind: ImmutableString,
                  server: ImmutableString|
                  -> Fallible<()> {
                let pos = at(&context);
                with(&s, |d| {
                    d.declare(pos)?;
                    let name = d.name(pos, "service", &name)?;
                    let server = d.program_path(pos, &server)?;
                    let parsed = ServiceKind::parse(&kind);
                    if parsed.is_none() {
                        let kinds = ServiceKind::NAMED.iter().map(|(_, name)| *name);
                        d.error(pos, DiagnosticKind::UnknownKind, alloc::format!(
                            "unknown service kind `{}`{}; kinds are fs, net, console, proc, donor, security, ipc",
                            clip(&kind),
                            did_you_mean(&kind, kinds)
                        ))?;
                    }
                    if let (Some(name), Some(kind), Some(server)) = (name, parsed, server) {
                        d.services.push(ServiceDecl { name, kind, server, trusted, pos });
                    }
                    Ok(())
                })
            },
        );
    }

    // Grants.
    let s = state.clone();
    engine.register_fn(
        "grant",
        move |context: NativeCallContext, who: Dynamic, service: ImmutableString, scopes: Dynamic| -> Fallible<()> {
            let pos = at(&context);
            with(&s, |d| {
                let programs = d.strings(pos, "grant: the programs", who)?;
                let items = if scopes.is_array() { scopes.into_array().unwrap_or_default() } else { alloc::vec![scopes] };
                let mut valid_scopes = Vec::with_capacity(items.len());
                for item in items {
                    let type_name = item.type_name();
                    match item.try_cast::<ScopeValue>() {
                        Some(value) => valid_scopes.extend(value.scope),
                        None => {
                            return Err(d.fatal(pos, DiagnosticKind::Script, alloc::format!(
                                "grant: expected a scope (fs(...), tcp_listen(...), ...) or an array of scopes, found {type_name}"
                            )));
                        }
                    }
                }
                for program in programs {
                    let Some(program) = d.program_path(pos, &program)? else { continue };
                    for scope in &valid_scopes {
                        d.declare(pos)?;
                        d.grants.push(GrantDecl { program: program.clone(), service: service.to_string(), scope: scope.clone(), pos });
                    }
                }
                Ok(())
            })
        },
    );
    let s = state.clone();
    engine.register_fn(
        "declassify",
        move |context: NativeCallContext,
              name: ImmutableString,
              program: ImmutableString,
              service: ImmutableString|
              -> Fallible<()> {
            let pos = at(&context);
            with(&s, |d| {
                d.declare(pos)?;
                let name = d.name(pos, "declassification", &name)?;
                let program = d.program_path(pos, &program)?;
                if let (Some(name), Some(program)) = (name, program) {
                    d.declassifications.push(DeclassifyDecl {
                        name,
                        program,
                        service: service.to_string(),
                        pos,
                    });
                }
                Ok(())
            })
        },
    );

    register_scopes(engine, state);
}

/// The scope constructors: `fs`, `tcp_listen`, `tcp_connect`, `udp`, `console`, `spawn_programs`,
/// `memory`, `load_policy`, `read_audit`, `ipc`.
fn register_scopes(engine: &mut Engine, state: &State) {
    let s = state.clone();
    engine.register_fn(
        "fs",
        move |context: NativeCallContext,
              path: ImmutableString,
              rights: ImmutableString|
              -> Fallible<ScopeValue> {
            let pos = at(&context);
            let made = FsPath::parse(&path).and_then(|path| {
                let rights = Rights::parse(&rights).map_err(|e| ScopeError::BadRights(e.to_string()))?;
                Scope::fs(path, rights)
            });
            with(&s, |d| d.scope(pos, made))
        },
    );
    let s = state.clone();
    engine.register_fn(
        "tcp_listen",
        move |context: NativeCallContext, ports: Dynamic| -> Fallible<ScopeValue> {
            let pos = at(&context);
            let made = match ports.as_int() {
                Ok(port) => u16::try_from(port)
                    .ok()
                    .and_then(|port| PortRange::new(port, port))
                    .ok_or_else(|| ScopeError::BadPorts(port.to_string())),
                Err(_) => match ports.into_immutable_string() {
                    Ok(text) => PortRange::parse(&text),
                    Err(type_name) => Err(ScopeError::BadPorts(alloc::format!("<{type_name}>"))),
                },
            };
            with(&s, |d| d.scope(pos, made.map(Scope::tcp_listen)))
        },
    );
    for (function, make) in
        [("tcp_connect", Scope::tcp_connect as fn(Destination) -> Scope), ("udp", Scope::udp)]
    {
        let s = state.clone();
        engine.register_fn(
            function,
            move |context: NativeCallContext, destination: ImmutableString| -> Fallible<ScopeValue> {
                let pos = at(&context);
                with(&s, |d| d.scope(pos, Destination::parse(&destination).map(make)))
            },
        );
    }
    let s = state.clone();
    engine.register_fn(
        "console",
        move |context: NativeCallContext, rights: ImmutableString| -> Fallible<ScopeValue> {
            let pos = at(&context);
            let made = Rights::parse(&rights)
                .map_err(|e| ScopeError::BadRights(e.to_string()))
                .and_then(|rights| Scope::plain(ServiceKind::Console, rights));
            with(&s, |d| d.scope(pos, made))
        },
    );
    let s = state.clone();
    engine.register_fn(
        "spawn_programs",
        move |context: NativeCallContext, patterns: Dynamic| -> Fallible<ScopeValue> {
            let pos = at(&context);
            with(&s, |d| {
                let patterns = d.strings(pos, "spawn_programs", patterns)?;
                let mut scope = Scope::empty(ServiceKind::Proc);
                for pattern in patterns {
                    match ProgramPattern::parse(&pattern) {
                        Ok(pattern) => {
                            // Merging two proc scopes cannot fail: same kind, no memory.
                            let _ = scope.merge(&Scope::spawn(pattern));
                        }
                        Err(error) => return d.scope(pos, Err(error)),
                    }
                }
                if scope.is_empty() {
                    return d.scope(pos, Err(ScopeError::BadPattern(String::new())));
                }
                Ok(ScopeValue { scope: Some(scope) })
            })
        },
    );
    let s = state.clone();
    engine.register_fn(
        "memory",
        move |context: NativeCallContext, amount: Dynamic| -> Fallible<ScopeValue> {
            let pos = at(&context);
            let bytes = match amount.as_int() {
                Ok(bytes) => u64::try_from(bytes).map_err(|_| ScopeError::BadMemory(bytes.to_string())),
                Err(_) => match amount.into_immutable_string() {
                    Ok(text) => parse_memory(&text),
                    Err(type_name) => Err(ScopeError::BadMemory(alloc::format!("<{type_name}>"))),
                },
            };
            with(&s, |d| d.scope(pos, bytes.and_then(Scope::memory)))
        },
    );
    for (function, kind, rights) in [
        ("load_policy", ServiceKind::Security, Rights::LOAD_POLICY),
        ("read_audit", ServiceKind::Security, Rights::AUDIT),
        ("ipc", ServiceKind::Ipc, Rights::CALL),
    ] {
        let s = state.clone();
        engine.register_fn(function, move |context: NativeCallContext| -> Fallible<ScopeValue> {
            let pos = at(&context);
            with(&s, |d| d.scope(pos, Scope::plain(kind, rights)))
        });
    }
}

fn engine(limits: &Limits, state: &State) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions)
        .set_strict_variables(true);
    engine.disable_symbol("eval");
    let s = state.clone();
    engine.on_print(move |text| record_output(&s, text));
    let s = state.clone();
    engine.on_debug(move |text, _, pos| {
        record_output(&s, &alloc::format!("{}: {text}", position(pos)));
    });
    register(&mut engine, state);
    engine
}

fn record_output(state: &State, text: &str) {
    if let Ok(mut d) = state.try_borrow_mut()
        && d.output.len() < d.limits.max_output_lines
    {
        let line = clip_to(text, 300);
        d.output.push(line);
    }
}

/// Runs `source` and returns what it declared, with every error found.
pub(super) fn run(source: &str, limits: &Limits) -> Declarations {
    let state: State = Rc::new(RefCell::new(Declarations { limits: *limits, ..Declarations::default() }));
    let result = {
        let engine = engine(limits, &state);
        engine.compile(source).map_err(|error| syntax_error(&error, limits)).and_then(|ast| {
            engine.run_ast(&ast).map_err(|error| {
                let fatal = state.try_borrow_mut().ok().and_then(|mut d| d.fatal.take());
                fatal.unwrap_or_else(|| script_error(&error, limits))
            })
        })
        // The engine (and the state clones its functions hold) is dropped here.
    };
    let mut declarations = match Rc::try_unwrap(state) {
        Ok(cell) => cell.into_inner(),
        Err(_) => Declarations {
            errors: alloc::vec![Diagnostic {
                pos: SourcePos::default(),
                kind: DiagnosticKind::Internal,
                message: "script state still shared after the run".into(),
            }],
            aborted: true,
            ..Declarations::default()
        },
    };
    if let Err(error) = result {
        declarations.errors.push(error);
        declarations.aborted = true;
    }
    declarations
}

fn syntax_error(error: &rhai::ParseError, limits: &Limits) -> Diagnostic {
    use rhai::ParseErrorType;
    let (kind, message) = match error.err_type() {
        ParseErrorType::ExprTooDeep => (
            DiagnosticKind::Limit,
            alloc::format!(
                "expressions nested too deeply (limits: {} levels at the top, {} in functions)",
                limits.max_expr_depth,
                limits.max_function_expr_depth
            ),
        ),
        ParseErrorType::LiteralTooLarge(..) | ParseErrorType::TooManyFunctions => {
            (DiagnosticKind::Limit, error.err_type().to_string())
        }
        other => (DiagnosticKind::Syntax, other.to_string()),
    };
    Diagnostic { pos: position(error.position()), kind, message }
}

fn script_error(error: &EvalAltResult, limits: &Limits) -> Diagnostic {
    // Walk down the chain of calls to the error itself, remembering where each call was.
    let mut calls: Vec<(String, Position)> = Vec::new();
    let mut inner = error;
    while let EvalAltResult::ErrorInFunctionCall(name, _, next, pos) = inner {
        calls.push((name.clone(), *pos));
        inner = next;
    }
    let pos = if inner.position().is_none() {
        calls.last().map_or(Position::NONE, |(_, pos)| *pos)
    } else {
        inner.position()
    };
    let (kind, mut message) = match inner {
        EvalAltResult::ErrorTooManyOperations(_) => (
            DiagnosticKind::Limit,
            alloc::format!(
                "too many operations (the limit is {}): the script runs too long (an endless loop?)",
                limits.max_operations
            ),
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            DiagnosticKind::Limit,
            alloc::format!(
                "function calls nested too deeply (the limit is {}): endless recursion?",
                limits.max_call_levels
            ),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (
            DiagnosticKind::Limit,
            alloc::format!(
                "{what} too large (limits: {} bytes of text and {} elements per value)",
                limits.max_string_size,
                limits.max_array_size
            ),
        ),
        EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_) => {
            (DiagnosticKind::Limit, without_position(inner))
        }
        EvalAltResult::ErrorParsing(error, _) => (DiagnosticKind::Syntax, error.to_string()),
        EvalAltResult::ErrorFunctionNotFound(signature, _) => {
            let signature = signature.replace("&str | ImmutableString | String", "string");
            let name = signature.split(" (").next().unwrap_or(&signature).trim();
            let message = if FUNCTIONS.contains(&name) {
                alloc::format!(
                    "wrong argument types in {} (see policy/README.md for this function)",
                    clip_to(&signature, 200)
                )
            } else {
                alloc::format!("no function {}{}", clip_to(&signature, 200), did_you_mean(name, FUNCTIONS))
            };
            (DiagnosticKind::Script, message)
        }
        _ => (DiagnosticKind::Script, without_position(inner)),
    };
    for (name, pos) in calls.iter().rev() {
        message.push_str(&alloc::format!(" (in `{name}` called at {})", position(*pos)));
    }
    Diagnostic { pos: position(pos), kind, message }
}

fn without_position(error: &EvalAltResult) -> String {
    let text = error.to_string();
    let position = alloc::format!(" ({})", error.position());
    let text = if error.position().is_none() { &text } else { text.strip_suffix(&position).unwrap_or(&text) };
    clip_to(text, 300)
}
