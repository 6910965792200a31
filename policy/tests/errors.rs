//! Bad scripts: each error is reported with its kind, line and column, and the limits stop
//! hostile scripts (endless loops, deep recursion, huge strings) with a clear error.

use policy::{Diagnostic, DiagnosticKind, Limits, compile, compile_with};

/// Four lines every case below starts with, so the case itself is on line 5.
const PREAMBLE: &str = r#"levels(["low", "high"]);
categories(["a", "b"]);
program("/bin/x", "low");
trusted_service("fs", "fs", "/bin/x");
"#;

fn errors_of(source: &str) -> Vec<Diagnostic> {
    match compile(source) {
        Ok(_) => panic!("expected errors, the script compiled:\n{source}"),
        Err(errors) => errors.errors,
    }
}

/// The case compiles to exactly one error, of `kind`, at `line:column`, whose message
/// contains `fragment`.
fn expect_error(case: &str, kind: DiagnosticKind, line: u32, column: u32, fragment: &str) {
    let source = format!("{PREAMBLE}{case}");
    let errors = errors_of(&source);
    let [error] = errors.as_slice() else { panic!("expected one error for {case:?}, got {errors:#?}") };
    assert_eq!((error.kind, error.pos.line, error.pos.column), (kind, line, column), "for {case:?}: {error}");
    assert!(error.message.contains(fragment), "for {case:?}: `{}` lacks `{fragment}`", error.message);
}

#[test]
fn the_preamble_itself_compiles() {
    assert!(compile(PREAMBLE).is_ok());
}

#[test]
fn syntax_errors_name_the_line() {
    use DiagnosticKind::Syntax;
    expect_error(r#"grant("/bin/x", "fs", fs("/", "read")"#, Syntax, 5, 38, "Expecting ')'");
    expect_error("\n\nlet = 3;", Syntax, 7, 5, "");
    expect_error(r#"import "other";"#, Syntax, 5, 1, "import");
    expect_error(r#"eval("1");"#, Syntax, 5, 1, "eval");
    expect_error("undefined_variable + 1;", Syntax, 5, 1, "Undefined variable");
}

#[test]
fn unknown_names_are_errors_with_suggestions() {
    use DiagnosticKind::*;
    expect_error(r#"program("/bin/y", label("hgh"));"#, UnknownLevel, 5, 19, "did you mean `high`");
    expect_error(r#"program("/bin/y", "hihg{a}");"#, UnknownLevel, 5, 1, "unknown level `hihg`");
    expect_error(
        r#"program("/bin/y", label("low", ["c"]));"#,
        UnknownCategory,
        5,
        19,
        "unknown category `c`",
    );
    expect_error(r#"grant("/bin/z", "fs", fs("/", "read"));"#, UnknownProgram, 5, 1, "did you mean `/bin/x`");
    expect_error(r#"grant("/bin/x", "fss", fs("/", "read"));"#, UnknownService, 5, 1, "did you mean `fs`");
    expect_error(r#"service("kv", "rpc", "/bin/x");"#, UnknownKind, 5, 1, "unknown service kind `rpc`");
    expect_error(r#"trusted_service("kv", "ipc", "/bin/kvd");"#, UnknownProgram, 5, 1, "/bin/kvd");
    expect_error(
        r#"trusted_service("proc", "proc", "/bin/x"); grant("/bin/x", "proc", spawn_programs("/bin/nope"));"#,
        UnknownProgram,
        5,
        44,
        "/bin/nope",
    );
    expect_error(r#"grnat("/bin/x", "fs", fs("/", "read"));"#, Script, 5, 1, "did you mean `grant`");
    expect_error("program(42);", Script, 5, 1, "wrong argument types in program (i64)");
}

#[test]
fn scopes_that_do_not_parse_or_fit_are_errors_at_the_scope() {
    use DiagnosticKind::BadScope;
    expect_error(r#"grant("/bin/x", "fs", fs("www", "read"));"#, BadScope, 5, 23, "not absolute");
    expect_error(r#"grant("/bin/x", "fs", fs("/a/../etc", "read"));"#, BadScope, 5, 23, "`..`");
    expect_error(r#"grant("/bin/x", "fs", fs("/", "read,listen"));"#, BadScope, 5, 23, "cannot hold listen");
    expect_error(r#"grant("/bin/x", "fs", fs("/", "reed"));"#, BadScope, 5, 23, "unknown right `reed`");
    expect_error("let s = tcp_listen(70000);", BadScope, 5, 9, "bad ports `70000`");
    expect_error(r#"let s = tcp_listen("90-80");"#, BadScope, 5, 9, "bad ports");
    expect_error(r#"let s = tcp_connect("10.0.0.1");"#, BadScope, 5, 9, "ADDRESS:PORTS");
    expect_error(r#"let s = udp("10.0.0.300:53");"#, BadScope, 5, 9, "bad address");
    expect_error(r#"let s = memory("0");"#, BadScope, 5, 9, "bad memory amount");
    expect_error("let s = memory(-5);", BadScope, 5, 9, "bad memory amount");
    expect_error(r#"let s = console("spawn");"#, BadScope, 5, 9, "cannot hold spawn");
    expect_error(r#"let s = spawn_programs("/bin/c*t");"#, BadScope, 5, 9, "bad program pattern");
    // A scope of the wrong kind for its service is reported at the grant.
    expect_error(r#"grant("/bin/x", "fs", tcp_listen(80));"#, BadScope, 5, 1, "`fs` is a fs service");
}

#[test]
fn contradictions_name_both_places() {
    use DiagnosticKind::*;
    expect_error(r#"program("/bin/x", "high");"#, Contradiction, 5, 1, "labelled differently at 3:1");
    expect_error(r#"service("fs", "fs", "/bin/x");"#, Contradiction, 5, 1, "declared differently at 4:1");
    expect_error(r#"levels(["low", "mid", "high"]);"#, Contradiction, 5, 1, "first at 1:1");
    expect_error(r#"spawned_by("high", "low");"#, Contradiction, 5, 1, "would lower the label");
    expect_error(
        "trusted_service(\"donor\", \"donor\", \"/bin/x\");\ngrant(\"/bin/x\", \"donor\", memory(\"1M\"));\ngrant(\"/bin/x\", \"donor\", memory(\"2M\"));",
        Contradiction,
        7,
        1,
        "two different memory quotas (1M and 2M) (the first grant is at 6:1)",
    );
    expect_error(
        "spawned_by(\"low\", \"high\");\nspawned_by(\"low\", \"high{a}\");",
        Contradiction,
        6,
        1,
        "labelled differently at 5:1",
    );
    // The same thing said twice is not a contradiction.
    let again = format!(
        "{PREAMBLE}program(\"/bin/x\", \"low\");\nlevels([\"low\", \"high\"]);\nprogram(\"/bin/x\");"
    );
    assert!(compile(&again).is_ok());
}

#[test]
fn missing_and_malformed_declarations() {
    use DiagnosticKind::*;
    let errors = errors_of(r#"program("/bin/x");"#);
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].kind, errors[0].pos.line), (Missing, 0));
    expect_error(
        r#"service("kv", "ipc", "/bin/x"); program("/bin/kvd"); service("kv2", "ipc", "/bin/kvd");"#,
        Missing,
        5,
        54,
        "needs a fixed label",
    );
    expect_error(r#"declassify("leak", "/bin/x", "fs");"#, Missing, 5, 1, "has no grant");
    expect_error(r#"levels(["low", "high", "no spaces"]);"#, BadName, 5, 1, "bad level name");
    expect_error(r#"program("bin/y");"#, BadName, 5, 1, "bad program path");
    expect_error(r#"program("/bin/y", "low{a");"#, BadLabel, 5, 1, "bad label");
}

#[test]
fn runtime_errors_point_into_functions() {
    let source = format!(
        "{PREAMBLE}fn helper(who) {{\n    grant(who, \"fs\", fs(\"/\", \"read\"));\n}}\nhelper(\"/bin/q\");"
    );
    let errors = errors_of(&source);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].kind, errors[0].pos.line, errors[0].pos.column),
        (DiagnosticKind::UnknownProgram, 6, 5)
    );
    expect_error("fn f(a) { a[3] }\nf([1]);", DiagnosticKind::Script, 5, 13, "in `f` called at 6:1");
}

#[test]
fn several_errors_are_all_reported_in_order() {
    let case = "grant(\"/bin/x\", \"fs\", fs(\"www\", \"read\"));\nprogram(\"/bin/y\", \"top\");\ngrant(\"/bin/z\", \"fs\", fs(\"/\", \"read\"));";
    let errors = errors_of(&format!("{PREAMBLE}{case}"));
    let found: Vec<(u32, DiagnosticKind)> = errors.iter().map(|e| (e.pos.line, e.kind)).collect();
    assert_eq!(
        found,
        [
            (5, DiagnosticKind::BadScope),
            (6, DiagnosticKind::UnknownLevel),
            (7, DiagnosticKind::UnknownProgram)
        ]
    );
}

#[test]
fn warnings_flag_rules_that_never_take_effect() {
    let source = format!(
        "{PREAMBLE}program(\"/bin/kvd\", \"high\");\nservice(\"kv\", \"ipc\", \"/bin/kvd\");\ngrant(\"/bin/x\", \"kv\", ipc());\ngrant(\"/bin/x\", \"fs\", fs(\"/\", \"read\"));\ndeclassify(\"pointless\", \"/bin/x\", \"fs\");"
    );
    let compiled = compile(&source).expect("warnings do not stop compiling");
    let warnings: Vec<(u32, &str)> =
        compiled.warnings.iter().map(|w| (w.pos.line, w.message.as_str())).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].0 == 7 && warnings[0].1.contains("can never be used"), "{warnings:?}");
    assert!(warnings[1].0 == 9 && warnings[1].1.contains("has no effect"), "{warnings:?}");
}

/// Compiles `case` after the preamble and expects it to stop at a limit.
fn expect_limit(case: &str, fragment: &str) {
    let source = format!("{PREAMBLE}{case}");
    let started = std::time::Instant::now();
    let errors = errors_of(&source);
    let elapsed = started.elapsed();
    let limit = errors.iter().find(|e| e.kind == DiagnosticKind::Limit);
    let Some(limit) = limit else { panic!("{case:?}: no limit error in {errors:#?}") };
    assert!(limit.message.contains(fragment), "{case:?}: `{}` lacks `{fragment}`", limit.message);
    assert!(limit.pos.line >= 5, "{case:?}: the limit error names no line: {limit}");
    // Debug builds are slow; this only catches a limit that does not work at all.
    assert!(elapsed.as_secs() < 20, "{case:?} took {elapsed:?}");
}

#[test]
fn hostile_scripts_stop_at_limits() {
    expect_limit("loop {}", "too many operations");
    expect_limit("while true { let x = 1; }", "too many operations");
    expect_limit("for i in 0..1000000000 { }", "too many operations");
    expect_limit("fn f(n) { f(n + 1) }\nf(0);", "nested too deeply");
    expect_limit("fn f() { f() + f() }\nf();", "nested too deeply");
    // A 100 MB string is refused long before it exists.
    expect_limit(r#"let s = "x"; loop { s += s; }"#, "Length of string too large");
    expect_limit(r#"let s = pad("", 100000000, "x");"#, "Length of string too large");
    expect_limit("let a = [0]; loop { a += a; }", "array");
    expect_limit("let a = []; loop { push(a, 1); }", "array");
    expect_limit(&format!("let x = {}1{};", "(".repeat(5000), ")".repeat(5000)), "nested too deeply");
    expect_limit(&format!("let x = {};", "[".repeat(5000)), "nested too deeply");
    expect_limit("for i in 0..100000 { program(`/bin/p${i}`); }", "");
}

#[test]
fn declaration_and_source_limits() {
    let limits = Limits { max_declarations: 10, ..Limits::DEFAULT };
    let source = format!("{PREAMBLE}for i in 0..20 {{ program(`/bin/p${{i}}`); }}");
    let errors = compile_with(&source, &limits).expect_err("over the declaration limit");
    assert_eq!(errors.errors[0].kind, DiagnosticKind::Limit);
    assert!(errors.errors[0].message.contains("more than 10 declarations"));

    let huge = format!("{PREAMBLE}//{}", "x".repeat(Limits::DEFAULT.max_source_size));
    let errors = compile(&huge).expect_err("over the source limit");
    assert_eq!(errors.errors[0].kind, DiagnosticKind::Limit);

    // More programs than a policy may hold is reported, not truncated.
    let limits = Limits { max_operations: 5_000_000, ..Limits::DEFAULT };
    let source = format!("{PREAMBLE}for i in 0..1100 {{ program(`/bin/p${{i}}`); }}");
    let errors = compile_with(&source, &limits).expect_err("over the program limit");
    assert!(errors.errors.iter().any(|e| e.kind == DiagnosticKind::TooMany), "{errors}");
}

#[test]
fn too_many_errors_stop_the_script() {
    let source = format!("{PREAMBLE}for i in 0..1000 {{ let s = fs(\"bad\", \"read\"); }}");
    let errors = errors_of(&source);
    assert!(errors.len() <= Limits::DEFAULT.max_errors + 1, "{} errors", errors.len());
    assert!(errors.iter().any(|e| e.kind == DiagnosticKind::Limit && e.message.contains("stopping")));
}

#[test]
fn print_output_is_kept_and_bounded() {
    let compiled =
        compile(&format!("{PREAMBLE}print(\"hello\"); for i in 0..500 {{ print(i); }}")).expect("compiles");
    assert_eq!(compiled.output.first().map(String::as_str), Some("hello"));
    assert_eq!(compiled.output.len(), Limits::DEFAULT.max_output_lines);
}
