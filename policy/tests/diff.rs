//! The dry run: re-deciding live connections under a new policy says kept, narrowed (to
//! what) or revoked (why); connection lists parse with line-numbered errors.

use policy::diff::{
    Connection, Outcome, Revocation, Tally, assumed_label, format_connections, parse_connections, redecide,
    redecide_all, sample_connections,
};
use policy::{DenyReason, Policy, Rights, compile};

const OLD: &str = r#"
levels(["public", "internal", "secret"]);
categories(["web"]);
for name in ["fs", "net"] { program(`/sbin/${name}`); trusted_service(name, name, `/sbin/${name}`); }
program("/bin/web", "public{web}");
program("/bin/tool");
program("/bin/kvd", "public");
service("kv", "ipc", "/bin/kvd");
grant("/bin/web", "fs", fs("/www", "read write"));
grant("/bin/web", "net", [tcp_listen(80), tcp_listen(443)]);
grant("/bin/tool", "kv", ipc());
grant("/bin/tool", "fs", fs("/", "read"));
grant("/bin/gone", "fs", fs("/", "read"));
"#;

const NEW: &str = r#"
levels(["public", "secret"]);
categories(["web"]);
for name in ["fs", "net"] { program(`/sbin/${name}`); trusted_service(name, name, `/sbin/${name}`); }
program("/bin/web", "public{web}");
program("/bin/tool");
program("/bin/kvd", "secret");
service("kv", "ipc", "/bin/kvd");
grant("/bin/web", "fs", fs("/www", "read"));
grant("/bin/web", "net", tcp_listen(80));
grant("/bin/tool", "kv", ipc());
grant("/bin/tool", "fs", fs("/", "read write"));
"#;

fn policy(source: &str) -> Policy {
    match compile(source) {
        Ok(compiled) => compiled.policy,
        Err(errors) => panic!("test policy does not compile:\n{errors}"),
    }
}

fn old_and_new() -> (Policy, Policy) {
    // `/bin/gone` is granted but never declared in OLD: declare it so OLD compiles.
    (policy(&OLD.replace("grant(\"/bin/gone\"", "program(\"/bin/gone\");\ngrant(\"/bin/gone\"")), policy(NEW))
}

fn connection(old: &Policy, id: u64, program: &str, label: &str, service: &str, rights: &str) -> Connection {
    Connection {
        id,
        program: program.into(),
        label: old.parse_label(label).expect("label of the old policy"),
        service: service.into(),
        rights: Rights::parse(rights).expect("valid rights"),
    }
}

#[test]
fn losing_a_right_narrows_to_what_is_left() {
    let (old, new) = old_and_new();
    let verdict = redecide(&old, &new, &connection(&old, 1, "/bin/web", "public{web}", "fs", "read,write"));
    let Outcome::Narrowed { from, to, lost, .. } = &verdict.outcome else { panic!("{verdict:?}") };
    assert_eq!(from.to_string(), "fs /www read,write");
    assert_eq!(to.to_string(), "fs /www read");
    assert_eq!(lost.iter().map(ToString::to_string).collect::<Vec<_>>(), ["fs /www write"]);
    assert!(verdict.must_revoke());
    assert!(
        verdict
            .reason(&old, &new)
            .to_string()
            .starts_with("to fs /www read (grant at 9:1); loses fs /www write")
    );
}

#[test]
fn losing_reach_narrows_with_the_same_rights() {
    let (old, new) = old_and_new();
    let verdict = redecide(&old, &new, &connection(&old, 2, "/bin/web", "public{web}", "net", "listen"));
    let Outcome::Narrowed { to, lost, .. } = &verdict.outcome else { panic!("{verdict:?}") };
    assert_eq!(to.to_string(), "tcp listen 80");
    assert_eq!(lost.iter().map(ToString::to_string).collect::<Vec<_>>(), ["tcp listen 443"]);
}

#[test]
fn a_connection_that_keeps_its_scope_is_kept_even_if_the_grant_grows() {
    let (old, new) = old_and_new();
    let verdict = redecide(&old, &new, &connection(&old, 3, "/bin/tool", "public", "fs", "read"));
    assert!(matches!(verdict.outcome, Outcome::Kept { widened: false, .. }), "{verdict:?}");
    assert!(!verdict.must_revoke());
    // The new grant gives write too, but this connection asked only for read: the same
    // connection opened under the new policy would get exactly what it has.
    let (old_same, new_same) = old_and_new();
    let write_old = compile(&OLD.replace(
        "grant(\"/bin/gone\"",
        "program(\"/bin/gone\");\ngrant(\"/bin/tool\", \"net\", tcp_listen(80));\ngrant(\"/bin/gone\"",
    ))
    .expect("compiles")
    .policy;
    let wider_new = compile(&NEW.replace(
        "tcp_listen(80));",
        "tcp_listen(80));\ngrant(\"/bin/tool\", \"net\", tcp_listen(\"80-90\"));",
    ))
    .expect("compiles")
    .policy;
    let verdict =
        redecide(&write_old, &wider_new, &connection(&write_old, 4, "/bin/tool", "public", "net", "listen"));
    assert!(matches!(verdict.outcome, Outcome::Kept { widened: true, .. }), "{verdict:?}");
    assert!(verdict.reason(&old_same, &new_same).to_string().contains("would give a new connection more"));
}

#[test]
fn a_label_change_of_the_server_revokes_by_flow() {
    let (old, new) = old_and_new();
    let verdict = redecide(&old, &new, &connection(&old, 5, "/bin/tool", "public", "kv", "call"));
    assert!(
        matches!(verdict.outcome, Outcome::Revoked(Revocation::Denied(DenyReason::FlowDenied { .. }))),
        "{verdict:?}"
    );
    assert!(
        verdict.reason(&old, &new).to_string().contains("labels public and secret do not flow both ways")
    );
}

#[test]
fn labels_missing_from_the_new_policy_revoke() {
    let (old, new) = old_and_new();
    let verdict = redecide(&old, &new, &connection(&old, 6, "/bin/tool", "internal", "fs", "read"));
    assert!(matches!(verdict.outcome, Outcome::Revoked(Revocation::LabelGone(_))), "{verdict:?}");
    assert!(verdict.reason(&old, &new).to_string().contains("unknown level `internal`"));
    // A program with a fixed label in the new policy takes that label instead.
    let verdict = redecide(&old, &new, &connection(&old, 7, "/bin/web", "internal", "fs", "read"));
    assert_eq!(verdict.new_label, new.parse_label("public{web}").ok());
}

#[test]
fn undeclared_programs_and_services_revoke_and_say_so() {
    let (old, new) = old_and_new();
    let verdict = redecide(&old, &new, &connection(&old, 8, "/bin/gone", "public", "fs", "read"));
    assert!(matches!(verdict.outcome, Outcome::Revoked(Revocation::Denied(DenyReason::UndeclaredProgram))));
    assert_eq!(
        verdict.reason(&old, &new).to_string(),
        "/bin/gone is not declared in the new policy, so it has no grants"
    );
}

#[test]
fn connections_the_old_policy_denies_are_flagged_not_live() {
    let (old, new) = old_and_new();
    let verdict = redecide(&old, &new, &connection(&old, 9, "/bin/web", "public{web}", "fs", "delete"));
    assert!(matches!(verdict.outcome, Outcome::NotLive(DenyReason::RightsNotGranted { .. })), "{verdict:?}");
    assert!(!verdict.must_revoke());
}

#[test]
fn every_policy_keeps_all_of_its_own_sample_connections() {
    for file in ["default.rhai", "strict.rhai", "lockdown.rhai"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let policy = policy(&std::fs::read_to_string(path).expect("readable"));
        let sample = sample_connections(&policy);
        assert_eq!(sample.len(), policy.grants().len());
        let tally = Tally::of(&redecide_all(&policy, &policy, &sample));
        assert_eq!(tally, Tally { kept: sample.len(), ..Tally::default() }, "{file}");
    }
}

#[test]
fn connection_lists_parse_and_round_trip() {
    let (old, _) = old_and_new();
    let text = "# id program label service rights\n\n1 /bin/web - fs read,write   # trailing comment\n2\t/bin/tool  public  kv  call\n";
    let list = parse_connections(text, &old).expect("valid list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].label, old.parse_label("public{web}").expect("valid"));
    assert_eq!(list[1].rights, Rights::CALL);
    let again = parse_connections(&format_connections(&old, &list), &old).expect("round trip");
    assert_eq!(again, list);
    // `-` for a program without a fixed label: the label its spawner or the root gives it.
    assert_eq!(assumed_label(&old, "/bin/tool"), policy::Label::BOTTOM);
}

#[test]
fn connection_list_errors_name_the_line() {
    let (old, _) = old_and_new();
    let cases = [
        ("1 /bin/web - fs\n", 1, "expected 5 fields"),
        ("# ok\nx /bin/web - fs read\n", 2, "bad id `x`"),
        ("1 /bin/web - fs read\n1 /bin/web - fs read\n", 2, "id 1 is used twice"),
        ("\n\n3 bin/web - fs read\n", 3, "not an absolute path"),
        ("4 /bin/web top fs read\n", 1, "unknown level `top`"),
        ("5 /bin/web public{x fs read\n", 1, "bad label"),
        ("6 /bin/web - fs raed\n", 1, "unknown right `raed`"),
    ];
    for (text, line, fragment) in cases {
        let error = parse_connections(text, &old).expect_err(text);
        assert_eq!(error.line, line, "{text:?}: {error}");
        assert!(error.message.contains(fragment), "{text:?}: `{error}` lacks `{fragment}`");
    }
}

#[test]
fn the_report_for_default_to_lockdown_lists_every_outcome() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = policy::host::diff_files(&root.join("default.rhai"), &root.join("lockdown.rhai"), None)
        .expect("both shipped policies compile");
    for expected in [
        "/bin/httpd   public{web}     net       listen",
        "revoked   no grant of net to /bin/httpd",
        "narrowed  to fs / read; fs /tmp write,create,delete",
        "loses fs /home write,create,delete",
        "kept      security load_policy,audit",
        "service `kv` does not exist in the new policy",
        "83 connections: 19 kept, 30 narrowed, 34 revoked",
    ] {
        // Column widths follow the longest program path; compare words, not spaces.
        let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words(&report).contains(&words(expected)), "report lacks `{expected}`:\n{report}");
    }
}

#[test]
fn the_report_reads_a_connection_file_and_the_checker_renders_errors() {
    let dir = std::env::temp_dir().join(format!("policy-diff-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let connections = dir.join("conns.txt");
    std::fs::write(&connections, "7 /bin/httpd - net listen\n8 /bin/shell - fs read\n").expect("write");
    let report =
        policy::host::diff_files(&root.join("default.rhai"), &root.join("strict.rhai"), Some(&connections))
            .expect("compiles");
    assert!(report.contains("7   /bin/httpd"), "{report}");
    assert!(report.contains("narrowed  to fs /home read (grant at 51:1); loses fs / read"), "{report}");
    assert!(report.contains("2 connections: 1 kept, 1 narrowed, 0 revoked"), "{report}");

    let broken = dir.join("broken.rhai");
    std::fs::write(&broken, "levels([\"low\"]);\n\nprogram(\"/bin/a\", \"lwo\");\n").expect("write");
    let errors = policy::host::check_file(&broken).expect_err("does not compile");
    assert!(
        errors.contains("broken.rhai:3:1: error[unknown-level]: unknown level `lwo` (did you mean `low`?)"),
        "{errors}"
    );
    assert!(errors.contains("3 | program(\"/bin/a\", \"lwo\");\n  | ^"), "{errors}");
    assert!(errors.ends_with("1 error; the policy was not compiled"), "{errors}");
    let summary = policy::host::check_file(&root.join("strict.rhai")).expect("compiles");
    assert!(summary.contains("levels      public < internal < secret"), "{summary}");
    assert!(summary.contains("signatures-are-public  /bin/sign -> vault"), "{summary}");
    std::fs::remove_dir_all(&dir).ok();
}
