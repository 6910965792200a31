//! Checking what a script declared and building the policy tables from it.
//!
//! Every check reports at the line and column of the declaration at fault (for a
//! contradiction: the later of the two, naming where the earlier one is). Checks carry on
//! after an error so one run reports as many problems as it can.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::script::{Declarations, LabelValue};
use super::{Diagnostic, DiagnosticKind, did_you_mean};
use crate::label::{Categories, Label, Level, MAX_CATEGORIES, MAX_LEVELS};
use crate::policy::{
    Declassification, Grant, MAX_DECLASSIFICATIONS, MAX_GRANTS, MAX_PARENT_RULES, MAX_PROGRAMS, MAX_SERVICES,
    ParentRule, Policy, Program, ProgramId, Service, ServiceId, SourcePos, Tables,
};
use crate::{FsPath, ProgramPattern, Scope};

struct Checker {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Checker {
    fn error(&mut self, pos: SourcePos, kind: DiagnosticKind, message: String) {
        self.errors.push(Diagnostic { pos, kind, message });
    }

    fn warn(&mut self, pos: SourcePos, message: String) {
        self.warnings.push(Diagnostic { pos, kind: DiagnosticKind::Ineffective, message });
    }

    /// The one list of names the declarations agree on (`levels` or `categories`).
    fn names(&mut self, what: &str, declared: &[(Vec<String>, SourcePos)], max: usize) -> Vec<String> {
        let Some((names, first)) = declared.first() else { return Vec::new() };
        for (again, pos) in declared.iter().skip(1) {
            if again != names {
                self.error(
                    *pos,
                    DiagnosticKind::Contradiction,
                    alloc::format!("{what} declared again, differently (first at {first})"),
                );
            }
        }
        for (index, name) in names.iter().enumerate() {
            if names.iter().take(index).any(|earlier| earlier == name) {
                self.error(
                    *first,
                    DiagnosticKind::Contradiction,
                    alloc::format!("{what}: `{name}` is listed twice"),
                );
            }
        }
        if names.len() > max {
            self.error(
                *first,
                DiagnosticKind::TooMany,
                alloc::format!("{} {what}, over the limit of {max}", names.len()),
            );
        }
        names.clone()
    }
}

struct Names<'a> {
    levels: &'a [String],
    categories: &'a [String],
}

impl Names<'_> {
    fn label(&self, checker: &mut Checker, value: &LabelValue) -> Option<Label> {
        let level = self.levels.iter().position(|name| *name == value.level);
        let Some(level) = level.and_then(|index| u8::try_from(index).ok()) else {
            let hint = did_you_mean(&value.level, self.levels.iter().map(String::as_str));
            checker.error(
                value.pos,
                DiagnosticKind::UnknownLevel,
                alloc::format!(
                    "unknown level `{}`{hint}; the levels are {}",
                    value.level,
                    self.levels.join(", ")
                ),
            );
            return None;
        };
        let mut categories = Categories::EMPTY;
        let mut known = true;
        for name in &value.categories {
            match self.categories.iter().position(|category| category == name).and_then(Categories::single) {
                Some(one) => categories = categories.union(one),
                None => {
                    let hint = did_you_mean(name, self.categories.iter().map(String::as_str));
                    checker.error(
                        value.pos,
                        DiagnosticKind::UnknownCategory,
                        alloc::format!(
                            "unknown category `{name}`{hint}; the categories are {}",
                            if self.categories.is_empty() {
                                String::from("(none)")
                            } else {
                                self.categories.join(", ")
                            }
                        ),
                    );
                    known = false;
                }
            }
        }
        known.then_some(Label::new(Level::new(level), categories))
    }
}

struct ProgramEntry {
    label: Option<(Label, SourcePos)>,
    origin: SourcePos,
}

/// Checks the declarations and builds the policy, or returns every error found.
pub(super) fn build(declared: Declarations) -> Result<(Policy, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut checker = Checker { errors: Vec::new(), warnings: Vec::new() };
    let c = &mut checker;

    // Levels and categories.
    let levels = c.names("levels", &declared.levels, MAX_LEVELS);
    if levels.is_empty() {
        let pos = declared.levels.first().map(|(_, pos)| *pos).unwrap_or_default();
        c.error(
            pos,
            DiagnosticKind::Missing,
            String::from("no levels declared: start the policy with levels([\"lowest\", ..., \"highest\"])"),
        );
        return Err(checker.errors);
    }
    let categories = c.names("categories", &declared.categories, MAX_CATEGORIES);
    let names = Names { levels: &levels, categories: &categories };

    // Programs: one entry per path; two different fixed labels contradict.
    let mut programs: BTreeMap<FsPath, ProgramEntry> = BTreeMap::new();
    for decl in &declared.programs {
        let label = decl.label.as_ref().and_then(|value| names.label(c, value));
        let entry =
            programs.entry(decl.path.clone()).or_insert(ProgramEntry { label: None, origin: decl.pos });
        match (label, entry.label) {
            (Some(label), None) => entry.label = Some((label, decl.pos)),
            (Some(label), Some((existing, at))) if label != existing => c.error(
                decl.pos,
                DiagnosticKind::Contradiction,
                alloc::format!("program {} is labelled differently at {at}", decl.path),
            ),
            _ => {}
        }
    }
    if programs.len() > MAX_PROGRAMS {
        c.error(
            SourcePos::default(),
            DiagnosticKind::TooMany,
            alloc::format!("{} programs, over the limit of {MAX_PROGRAMS}", programs.len()),
        );
    }
    let program_ids: BTreeMap<&FsPath, ProgramId> = programs.keys().zip(ids(ProgramId::from_index)).collect();
    let program_hint = |path: &FsPath| did_you_mean(path.as_str(), programs.keys().map(FsPath::as_str));
    let fixed_label =
        |path: &FsPath| programs.get(path).and_then(|entry| entry.label).map(|(label, _)| label);

    // Services.
    let mut services: BTreeMap<&str, &super::script::ServiceDecl> = BTreeMap::new();
    for decl in &declared.services {
        if !programs.contains_key(&decl.server) {
            c.error(
                decl.pos,
                DiagnosticKind::UnknownProgram,
                alloc::format!(
                    "service `{}`: its server {} is not a declared program{}",
                    decl.name,
                    decl.server,
                    program_hint(&decl.server)
                ),
            );
            continue;
        }
        if !decl.trusted && fixed_label(&decl.server).is_none() {
            c.error(decl.pos, DiagnosticKind::Missing, alloc::format!(
                "service `{}` is not trusted, so its server {} needs a fixed label (program(\"{}\", \"level\"))",
                decl.name, decl.server, decl.server
            ));
            continue;
        }
        match services.get(decl.name.as_str()) {
            Some(first)
                if (first.kind, &first.server, first.trusted) != (decl.kind, &decl.server, decl.trusted) =>
            {
                c.error(
                    decl.pos,
                    DiagnosticKind::Contradiction,
                    alloc::format!("service `{}` is declared differently at {}", decl.name, first.pos),
                );
            }
            Some(_) => {}
            None => {
                services.insert(decl.name.as_str(), decl);
            }
        }
    }
    if services.len() > MAX_SERVICES {
        c.error(
            SourcePos::default(),
            DiagnosticKind::TooMany,
            alloc::format!("{} services, over the limit of {MAX_SERVICES}", services.len()),
        );
    }
    let service_ids: BTreeMap<&str, ServiceId> =
        services.keys().copied().zip(ids(ServiceId::from_index)).collect();
    let service_hint = |name: &str| did_you_mean(name, services.keys().copied());
    let find_service = |c: &mut Checker, name: &str, pos: SourcePos, what: &str| {
        let found = service_ids.get(name).copied().zip(services.get(name).copied());
        if found.is_none() {
            c.error(
                pos,
                DiagnosticKind::UnknownService,
                alloc::format!("{what} names service `{name}`, which is not declared{}", service_hint(name)),
            );
        }
        found
    };
    let find_program = |c: &mut Checker, path: &FsPath, pos: SourcePos, what: &str| {
        let found = program_ids.get(path).copied();
        if found.is_none() {
            c.error(
                pos,
                DiagnosticKind::UnknownProgram,
                alloc::format!("{what} names program {path}, which is not declared{}", program_hint(path)),
            );
        }
        found
    };

    // Parent rules.
    let mut parent_rules: BTreeMap<Label, (Label, SourcePos)> = BTreeMap::new();
    for decl in &declared.parent_rules {
        let (Some(parent), Some(child)) = (names.label(c, &decl.parent), names.label(c, &decl.child)) else {
            continue;
        };
        if !parent.flows_to(child) {
            c.error(
                decl.pos,
                DiagnosticKind::Contradiction,
                alloc::format!(
                    "spawned_by({}, {}) would lower the label: a child could pass on what its parent knows",
                    decl.parent,
                    decl.child
                ),
            );
            continue;
        }
        match parent_rules.get(&parent) {
            Some((existing, at)) if *existing != child => c.error(
                decl.pos,
                DiagnosticKind::Contradiction,
                alloc::format!("children of {} are labelled differently at {at}", decl.parent),
            ),
            Some(_) => {}
            None => {
                parent_rules.insert(parent, (child, decl.pos));
            }
        }
    }
    if parent_rules.len() > MAX_PARENT_RULES {
        c.error(SourcePos::default(), DiagnosticKind::TooMany, String::from("too many spawned_by rules"));
    }

    // Grants: every grant call for one (program, service) merges into one scope.
    let mut grants: BTreeMap<(ProgramId, ServiceId), (Scope, SourcePos)> = BTreeMap::new();
    for decl in &declared.grants {
        let program = find_program(c, &decl.program, decl.pos, "grant");
        let service = find_service(c, &decl.service, decl.pos, "grant");
        let (Some(program), Some((service, service_decl))) = (program, service) else { continue };
        if decl.scope.kind() != service_decl.kind {
            c.error(
                decl.pos,
                DiagnosticKind::BadScope,
                alloc::format!(
                    "service `{}` is a {} service, but this is a {} scope",
                    decl.service,
                    service_decl.kind,
                    decl.scope.kind()
                ),
            );
            continue;
        }
        for pattern in decl.scope.spawn_patterns() {
            if let ProgramPattern::Exact(path) = pattern {
                find_program(c, path, decl.pos, "spawn");
            }
        }
        match grants.get_mut(&(program, service)) {
            Some((scope, first)) => {
                if let Err(error) = scope.merge(&decl.scope) {
                    c.error(
                        decl.pos,
                        DiagnosticKind::Contradiction,
                        alloc::format!(
                            "grant of `{}` to {}: {error} (the first grant is at {first})",
                            decl.service,
                            decl.program
                        ),
                    );
                }
            }
            None => {
                grants.insert((program, service), (decl.scope.clone(), decl.pos));
            }
        }
    }
    if grants.len() > MAX_GRANTS {
        c.error(SourcePos::default(), DiagnosticKind::TooMany, String::from("too many grants"));
    }

    // Declassifications.
    let mut declassifications: BTreeMap<&str, (ProgramId, ServiceId, SourcePos)> = BTreeMap::new();
    let mut declassified: BTreeMap<(ProgramId, ServiceId), &str> = BTreeMap::new();
    for decl in &declared.declassifications {
        let program = find_program(c, &decl.program, decl.pos, "declassification");
        let service = find_service(c, &decl.service, decl.pos, "declassification");
        let (Some(program), Some((service, service_decl))) = (program, service) else { continue };
        if !grants.contains_key(&(program, service)) {
            c.error(decl.pos, DiagnosticKind::Missing, alloc::format!(
                "declassification `{}`: {} has no grant of `{}`; a declassification only lets a granted connection past the flow check",
                decl.name, decl.program, decl.service
            ));
            continue;
        }
        match declassifications.get(decl.name.as_str()) {
            Some((p, s, at)) if (*p, *s) != (program, service) => {
                c.error(
                    decl.pos,
                    DiagnosticKind::Contradiction,
                    alloc::format!(
                        "declassification `{}` is declared for another program or service at {at}",
                        decl.name
                    ),
                );
                continue;
            }
            Some(_) => continue,
            None => {}
        }
        if let Some(other) = declassified.get(&(program, service)) {
            c.error(
                decl.pos,
                DiagnosticKind::Contradiction,
                alloc::format!("{} on `{}` is already declassified as `{other}`", decl.program, decl.service),
            );
            continue;
        }
        if service_decl.trusted {
            c.warn(decl.pos, alloc::format!(
                "declassification `{}` has no effect: `{}` is trusted multi-level, so labels are not checked",
                decl.name, decl.service
            ));
        } else if fixed_label(&decl.program).is_some()
            && fixed_label(&decl.program) == fixed_label(&service_decl.server)
        {
            c.warn(
                decl.pos,
                alloc::format!(
                    "declassification `{}` is not needed: {} and the server of `{}` have the same label",
                    decl.name,
                    decl.program,
                    decl.service
                ),
            );
        }
        declassifications.insert(decl.name.as_str(), (program, service, decl.pos));
        declassified.insert((program, service), decl.name.as_str());
    }
    if declassifications.len() > MAX_DECLASSIFICATIONS {
        c.error(SourcePos::default(), DiagnosticKind::TooMany, String::from("too many declassifications"));
    }

    // Grants that labels make useless.
    let paths: Vec<&FsPath> = programs.keys().collect();
    let service_decls: Vec<_> = services.values().copied().collect();
    for ((program, service), (_, pos)) in &grants {
        let (Some(path), Some(service_decl)) =
            (paths.get(program.index()), service_decls.get(service.index()))
        else {
            continue;
        };
        if service_decl.trusted || declassified.contains_key(&(*program, *service)) {
            continue;
        }
        if let (Some(client), Some(server)) = (fixed_label(path), fixed_label(&service_decl.server))
            && !client.flows_both_ways(server)
        {
            c.warn(*pos, alloc::format!(
                "grant of `{}` to {path} can never be used: the labels of {path} and {} differ and `{}` is not trusted (declassify it or change a label)",
                service_decl.name, service_decl.server, service_decl.name
            ));
        }
    }

    if !checker.errors.is_empty() {
        return Err(checker.errors);
    }

    let tables = Tables {
        levels: levels.clone(),
        categories: categories.clone(),
        programs: programs
            .iter()
            .map(|(path, entry)| Program {
                path: path.clone(),
                label: entry.label.map(|(label, _)| label),
                origin: entry.origin,
            })
            .collect(),
        services: services
            .values()
            .filter_map(|decl| {
                Some(Service {
                    name: decl.name.clone(),
                    kind: decl.kind,
                    server: program_ids.get(&decl.server).copied()?,
                    trusted: decl.trusted,
                    origin: decl.pos,
                })
            })
            .collect(),
        parent_rules: parent_rules
            .iter()
            .map(|(parent, (child, origin))| ParentRule { parent: *parent, child: *child, origin: *origin })
            .collect(),
        grants: grants
            .into_iter()
            .map(|((program, service), (scope, origin))| Grant {
                program,
                service,
                scope,
                declassification: None,
                origin,
            })
            .collect(),
        declassifications: declassifications
            .iter()
            .map(|(name, (program, service, origin))| Declassification {
                name: String::from(*name),
                program: *program,
                service: *service,
                origin: *origin,
            })
            .collect(),
    };
    let mut warnings = checker.warnings;
    warnings.sort_by_key(|warning| warning.pos);
    match Policy::from_tables(tables) {
        Ok(policy) => Ok((policy, warnings)),
        Err(error) => Err(alloc::vec![Diagnostic {
            pos: SourcePos::default(),
            kind: DiagnosticKind::Internal,
            message: alloc::format!("the checked tables were refused ({error}); please report this"),
        }]),
    }
}

/// Ids 0, 1, 2, ... made by `make` (which stops at the id type's limit; the limits on
/// table sizes are far below it).
fn ids<T>(make: fn(usize) -> Option<T>) -> impl Iterator<Item = T> {
    (0..).map_while(make)
}
