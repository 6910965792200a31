//! Host tools: the checker summary, errors shown with their source line, and the dry-run
//! report; what `cargo xtask policy check` and `cargo xtask policy diff` print.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;
use std::path::Path;

use crate::compiler::{CompileErrors, Compiled, Diagnostic, compile};
use crate::diff::{Connection, Tally, Verdict, parse_connections, redecide_all, sample_connections};
use crate::policy::{Policy, SourcePos};

/// Reads and compiles the script at `path`; on failure, the errors shown with their
/// source lines, ready to print.
pub fn compile_file(path: &Path) -> Result<(String, Compiled), String> {
    let name = path.display().to_string();
    let source =
        std::fs::read_to_string(path).map_err(|error| alloc::format!("{name}: cannot read: {error}"))?;
    match compile(&source) {
        Ok(compiled) => Ok((source, compiled)),
        Err(errors) => Err(render_errors(&name, &source, &errors)),
    }
}

/// `cargo xtask policy check FILE`: the summary of the policy, or its errors.
pub fn check_file(path: &Path) -> Result<String, String> {
    let name = path.display().to_string();
    let (source, compiled) = compile_file(path)?;
    let mut text = summary(&name, &compiled.policy);
    if !compiled.warnings.is_empty() {
        text.push('\n');
        for warning in &compiled.warnings {
            text.push_str(&render_diagnostic(&name, &source, "warning", warning));
        }
    }
    if !compiled.output.is_empty() {
        text.push_str("\nscript output\n");
        for line in &compiled.output {
            let _ = writeln!(text, "  {line}");
        }
    }
    Ok(text)
}

/// `cargo xtask policy diff OLD NEW [CONNECTIONS]`: the dry-run report. Without a
/// connection list, one connection per grant of the old policy is assumed.
pub fn diff_files(old_path: &Path, new_path: &Path, connections: Option<&Path>) -> Result<String, String> {
    let (_, old) = compile_file(old_path)?;
    let (_, new) = compile_file(new_path)?;
    let (connections, origin) = match connections {
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|error| alloc::format!("{name}: cannot read: {error}"))?;
            let list =
                parse_connections(&text, &old.policy).map_err(|error| alloc::format!("{name}:{error}"))?;
            (list, alloc::format!("from {name}"))
        }
        None => (
            sample_connections(&old.policy),
            alloc::format!(
                "one per grant of {} (a sample; give a connection list file as a third argument to use your own)",
                old_path.display()
            ),
        ),
    };
    Ok(dry_run_report(
        (&old_path.display().to_string(), &old.policy),
        (&new_path.display().to_string(), &new.policy),
        &connections,
        &origin,
    ))
}

/// Every error as `file:line:column: error[kind]: message`, with the source line and a
/// caret under the column.
pub fn render_errors(name: &str, source: &str, errors: &CompileErrors) -> String {
    let mut text = String::new();
    for error in &errors.errors {
        text.push_str(&render_diagnostic(name, source, "error", error));
    }
    if !errors.output.is_empty() {
        text.push_str("script output before the errors:\n");
        for line in &errors.output {
            let _ = writeln!(text, "  {line}");
        }
    }
    // The summary stays the last line: `cargo xtask` prints it as the command's error.
    let _ = write!(
        text,
        "{name}: {} error{}; the policy was not compiled",
        errors.errors.len(),
        if errors.errors.len() == 1 { "" } else { "s" }
    );
    text
}

fn render_diagnostic(name: &str, source: &str, severity: &str, diagnostic: &Diagnostic) -> String {
    let mut text = String::new();
    let SourcePos { line, column } = diagnostic.pos;
    if line == 0 {
        let _ = writeln!(text, "{name}: {severity}[{}]: {}", diagnostic.kind.name(), diagnostic.message);
        return text;
    }
    let _ = writeln!(
        text,
        "{name}:{line}:{column}: {severity}[{}]: {}",
        diagnostic.kind.name(),
        diagnostic.message
    );
    let index = usize::try_from(line).unwrap_or(usize::MAX).saturating_sub(1);
    if let Some(code) = source.lines().nth(index) {
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let caret: String = code
            .chars()
            .take(usize::try_from(column).unwrap_or(0).saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(text, "{pad} |\n{line} | {code}\n{pad} | {caret}^");
    }
    text
}

/// Lays out rows as columns separated by two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter().filter_map(|row| row.get(column)).map(|cell| cell.chars().count()).max().unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (column, cell) in row.iter().enumerate() {
            let width = widths.get(column).copied().unwrap_or(0);
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:width$}  ");
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn short_hash(policy: &Policy) -> String {
    policy.content_hash_hex().chars().take(16).collect()
}

/// The checker's summary: levels, categories, labels, services, grants,
/// declassifications, and the content hash.
pub fn summary(name: &str, policy: &Policy) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{name}: ok");
    let _ = writeln!(
        text,
        "  sha256 {}  (format {}, {} bytes encoded)",
        policy.content_hash_hex(),
        crate::FORMAT_VERSION,
        policy.to_bytes().len()
    );
    let _ = writeln!(text, "  levels      {}  (lowest first)", policy.levels().join(" < "));
    let categories =
        if policy.categories().is_empty() { String::from("(none)") } else { policy.categories().join(", ") };
    let _ = writeln!(text, "  categories  {categories}");

    let labelled: Vec<Vec<String>> = policy
        .programs()
        .iter()
        .map(|program| {
            let label = program.label.map_or_else(
                || String::from("(inherits its parent's)"),
                |label| policy.label_text(label).to_string(),
            );
            alloc::vec![program.path.to_string(), label, alloc::format!("at {}", program.origin)]
        })
        .collect();
    let _ = writeln!(text, "\nprograms ({})", labelled.len());
    text.push_str(&table(&labelled));
    if !policy.parent_rules().is_empty() {
        let _ = writeln!(
            text,
            "\nlabels by parent (a program with no label of its own, spawned by a parent labelled ...)"
        );
        let rows: Vec<Vec<String>> = policy
            .parent_rules()
            .iter()
            .map(|rule| {
                alloc::vec![
                    policy.label_text(rule.parent).to_string(),
                    alloc::format!("-> {}", policy.label_text(rule.child)),
                    alloc::format!("at {}", rule.origin),
                ]
            })
            .collect();
        text.push_str(&table(&rows));
    }

    let _ = writeln!(text, "\nservices ({})", policy.services().len());
    let rows: Vec<Vec<String>> = policy
        .services()
        .iter()
        .enumerate()
        .map(|(index, service)| {
            let server = policy.program(service.server).map_or("?", |program| program.path.as_str());
            let trust = if service.trusted {
                String::from("trusted multi-level")
            } else {
                let label = crate::ServiceId::from_index(index).and_then(|id| policy.server_label(id));
                label.map_or_else(
                    || String::from("label ?"),
                    |label| alloc::format!("label {}", policy.label_text(label)),
                )
            };
            alloc::vec![
                service.name.clone(),
                service.kind.to_string(),
                server.into(),
                trust,
                alloc::format!("at {}", service.origin)
            ]
        })
        .collect();
    text.push_str(&table(&rows));

    let _ = writeln!(text, "\ngrants ({})", policy.grants().len());
    let rows: Vec<Vec<String>> = policy
        .grants()
        .iter()
        .map(|grant| {
            let program = policy.program(grant.program).map_or("?", |program| program.path.as_str());
            let service = policy.service(grant.service).map_or("?", |service| service.name.as_str());
            let mut scope = grant.scope.to_string();
            if let Some(declassification) = grant.declassification.and_then(|id| policy.declassification(id))
            {
                let _ = write!(scope, "  [declassified: {}]", declassification.name);
            }
            alloc::vec![program.into(), service.into(), alloc::format!("at {}", grant.origin), scope]
        })
        .collect();
    text.push_str(&table(&rows));

    if !policy.declassifications().is_empty() {
        let _ = writeln!(text, "\ndeclassifications ({})", policy.declassifications().len());
        let rows: Vec<Vec<String>> = policy
            .declassifications()
            .iter()
            .map(|declassification| {
                let program = policy.program(declassification.program).map_or("?", |p| p.path.as_str());
                let service = policy.service(declassification.service).map_or("?", |s| s.name.as_str());
                alloc::vec![
                    declassification.name.clone(),
                    alloc::format!("{program} -> {service}"),
                    alloc::format!("at {}", declassification.origin),
                ]
            })
            .collect();
        text.push_str(&table(&rows));
    }
    text
}

/// The dry-run report: for each connection, kept, narrowed or revoked, and why.
pub fn dry_run_report(
    (old_name, old): (&str, &Policy),
    (new_name, new): (&str, &Policy),
    connections: &[Connection],
    origin: &str,
) -> String {
    let verdicts = redecide_all(old, new, connections);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "dry run: {old_name} (sha256 {}) -> {new_name} (sha256 {})",
        short_hash(old),
        short_hash(new)
    );
    let _ = writeln!(text, "connections: {}, {origin}\n", connections.len());
    let mut rows: Vec<Vec<String>> = alloc::vec![
        ["id", "program", "label", "service", "rights", "outcome", "why"].map(String::from).to_vec()
    ];
    rows.extend(verdicts.iter().map(|verdict| verdict_row(old, new, verdict)));
    text.push_str(&table(&rows));
    let tally = Tally::of(&verdicts);
    let _ = write!(
        text,
        "\n{} connections: {} kept, {} narrowed, {} revoked",
        verdicts.len(),
        tally.kept,
        tally.narrowed,
        tally.revoked
    );
    if tally.not_live > 0 {
        let _ = write!(text, ", {} not allowed by the old policy either (not live)", tally.not_live);
    }
    text.push('\n');
    if tally.narrowed + tally.revoked > 0 {
        text.push_str("on a real swap, narrowed and revoked connections are revoked in the kernel; narrowed clients may reconnect with the new scope\n");
    }
    text
}

fn verdict_row(old: &Policy, new: &Policy, verdict: &Verdict) -> Vec<String> {
    let connection = &verdict.connection;
    let mut label = old.label_text(connection.label).to_string();
    if let Some(new_label) = verdict.new_label {
        let renamed = new.label_text(new_label).to_string();
        if renamed != label {
            let _ = write!(label, " -> {renamed}");
        }
    }
    alloc::vec![
        connection.id.to_string(),
        connection.program.clone(),
        label,
        connection.service.clone(),
        connection.rights.to_string(),
        String::from(verdict.word()),
        verdict.reason(old, new).to_string(),
    ]
}
