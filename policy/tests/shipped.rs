//! The shipped policies (`default.rhai`, `strict.rhai`, `lockdown.rhai`): each compiles
//! without warnings, and decides a table of cases (program, label, service, rights) as
//! expected.

use policy::{Decision, DenyReason, Label, Policy, Rights, compile};

/// What a case expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Allowed, with this session scope (as `Scope` displays it).
    Allow(&'static str),
    /// Allowed through the named declassification, with this scope.
    Declassified(&'static str, &'static str),
    /// Denied: the program has no grant for the service.
    NoGrant,
    /// Denied: the grant lacks some of the rights asked for.
    Rights,
    /// Denied: labels do not flow both ways and nothing declassifies.
    Flow,
    /// Denied: the program is not declared.
    Undeclared,
    /// Denied: no such service.
    NoService,
}

use Expect::*;

/// (program, label or "-" for the program's fixed label, service, rights, expected).
type Case = (&'static str, &'static str, &'static str, &'static str, Expect);

fn load(file: &str) -> Policy {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let source = std::fs::read_to_string(&path).expect("shipped policy is readable");
    match compile(&source) {
        Ok(compiled) => {
            assert!(compiled.warnings.is_empty(), "{file} has warnings: {:?}", compiled.warnings);
            compiled.policy
        }
        Err(errors) => panic!("{file} does not compile:\n{errors}"),
    }
}

fn check_cases(file: &str, cases: &[Case]) {
    let policy = load(file);
    let mut failures = Vec::new();
    for (index, &(program, label, service, rights, expect)) in cases.iter().enumerate() {
        let label = if label == "-" {
            let id = policy.program_id(program).expect("a `-` label needs a declared program");
            policy.program(id).and_then(|p| p.label).expect("a `-` label needs a fixed label")
        } else {
            policy.parse_label(label).expect("case labels exist in the policy")
        };
        let rights = Rights::parse(rights).expect("case rights parse");
        let decision = policy.decide_named(program, label, service, rights);
        let ok = match (expect, &decision) {
            (Allow(scope), Decision::Allow(allowed)) => {
                allowed.declassification().is_none() && allowed.scope().to_string() == scope
            }
            (Declassified(scope, name), Decision::Allow(allowed)) => {
                allowed.declassification().is_some_and(|d| d.name == name)
                    && allowed.scope().to_string() == scope
            }
            (NoGrant, Decision::Deny(DenyReason::NoGrant { .. }))
            | (Rights, Decision::Deny(DenyReason::RightsNotGranted { .. }))
            | (Flow, Decision::Deny(DenyReason::FlowDenied { .. }))
            | (Undeclared, Decision::Deny(DenyReason::UndeclaredProgram))
            | (NoService, Decision::Deny(DenyReason::UnknownService)) => true,
            _ => false,
        };
        if !ok {
            let got = match &decision {
                Decision::Allow(allowed) => format!(
                    "allow `{}`{}",
                    allowed.scope(),
                    allowed.declassification().map(|d| format!(" via {}", d.name)).unwrap_or_default()
                ),
                Decision::Deny(reason) => format!("deny: {}", policy.explain(reason)),
            };
            failures.push(format!(
                "case {index}: {program} {} -> {service} {rights}: expected {expect:?}, got {got}",
                policy.label_text(label)
            ));
        }
    }
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
}

#[test]
fn strict_policy_decides_its_cases() {
    check_cases(
        "strict.rhai",
        &[
            // httpd reads /www and listens on TCP 80, nothing more.
            ("/bin/httpd", "-", "fs", "read", Allow("fs /www read")),
            ("/bin/httpd", "-", "fs", "read,write", Rights),
            ("/bin/httpd", "-", "fs", "create", Rights),
            ("/bin/httpd", "-", "net", "listen", Allow("tcp listen 80")),
            ("/bin/httpd", "-", "net", "connect", Rights),
            ("/bin/httpd", "-", "net", "udp", Rights),
            ("/bin/httpd", "-", "console", "write", Allow("console write")),
            ("/bin/httpd", "-", "console", "read", Rights),
            ("/bin/httpd", "-", "proc", "spawn", NoGrant),
            ("/bin/httpd", "-", "security", "load_policy", NoGrant),
            ("/bin/httpd", "-", "vault", "call", NoGrant),
            // The vault is secret and cannot reach the network.
            ("/bin/vault", "-", "net", "connect", NoGrant),
            ("/bin/vault", "-", "net", "listen", NoGrant),
            ("/bin/vault", "-", "net", "udp", NoGrant),
            ("/bin/vault", "-", "console", "write", NoGrant),
            ("/bin/vault", "-", "fs", "read,write,create", Allow("fs /var/vault read,write,create")),
            ("/bin/vault", "-", "fs", "delete", Rights),
            ("/bin/vault", "-", "donor", "memory", Allow("memory 1M")),
            // Only `sign` reaches the vault, through its named declassification.
            (
                "/bin/sign",
                "internal{user}",
                "vault",
                "call",
                Declassified("ipc call", "signatures-are-public"),
            ),
            ("/bin/shell", "internal{user}", "vault", "call", NoGrant),
            ("/bin/cat", "internal{user}", "vault", "call", NoGrant),
            // The session: console, read /home, spawn the tools; only `policy` loads policies.
            ("/bin/shell", "-", "console", "read,write", Allow("console read,write")),
            ("/bin/shell", "-", "fs", "read", Allow("fs /home read")),
            ("/bin/shell", "-", "fs", "write", Rights),
            (
                "/bin/shell",
                "-",
                "proc",
                "spawn",
                Allow("spawn /bin/cat, /bin/edit, /bin/ls, /bin/policy, /bin/sign"),
            ),
            ("/bin/shell", "-", "net", "connect", NoGrant),
            ("/bin/shell", "-", "security", "load_policy", NoGrant),
            // The process manager reads /bin, where every program the shell may start is.
            ("/sbin/proc", "public", "fs", "read", Allow("fs /bin read")),
            ("/sbin/proc", "public", "fs", "write", Rights),
            ("/bin/policy", "internal{user}", "security", "load_policy", Allow("security load_policy")),
            (
                "/bin/policy",
                "internal{user}",
                "security",
                "load_policy,audit",
                Allow("security load_policy,audit"),
            ),
            ("/bin/edit", "internal{user}", "fs", "write,create", Allow("fs /home write,create")),
            ("/bin/edit", "internal{user}", "fs", "delete", Rights),
            ("/bin/ls", "internal{user}", "fs", "read", Allow("fs /home read")),
            // Programs the policy does not know get nothing; services it does not know do
            // not exist; asking for nothing is refused.
            ("/home/user/a.out", "internal{user}", "console", "write", Undeclared),
            ("/bin/httpd", "-", "printer", "call", NoService),
        ],
    );
}

#[test]
fn default_policy_decides_its_cases() {
    check_cases(
        "default.rhai",
        &[
            ("/bin/shell", "-", "fs", "read", Allow("fs / read")),
            ("/bin/shell", "-", "fs", "read,write", Allow("fs / read; fs /home write; fs /tmp write")),
            ("/bin/shell", "-", "proc", "spawn", Allow("spawn /bin/*, /home/*")),
            ("/bin/shell", "-", "security", "load_policy", Allow("security load_policy")),
            // The process manager reads program files anywhere, and changes nothing.
            ("/sbin/proc", "public", "fs", "read", Allow("fs / read")),
            ("/sbin/proc", "public", "fs", "read,write", Rights),
            ("/sbin/proc", "public", "fs", "create", Rights),
            ("/bin/shell", "-", "net", "connect", NoGrant),
            ("/bin/nc", "internal{user}", "net", "connect,udp", Allow("tcp connect *:*; udp *:*")),
            ("/bin/nc", "internal{user}", "net", "listen", Rights),
            ("/bin/httpd", "-", "net", "listen", Allow("tcp listen 80")),
            ("/bin/httpd", "-", "fs", "write", Rights),
            ("/bin/echod", "-", "net", "listen,udp", Allow("tcp listen 7; udp *:*")),
            // kv is an ordinary service at internal{user}: equal labels pass, others do not.
            ("/bin/kv-cli", "internal{user}", "kv", "call", Allow("ipc call")),
            ("/bin/kv-cli", "internal", "kv", "call", Flow),
            ("/bin/kv-cli", "secret{user}", "kv", "call", Flow),
            ("/bin/kv-cli", "internal{user,web}", "kv", "call", Flow),
            ("/bin/kvd", "-", "net", "listen", Allow("tcp listen 7000-7001")),
            ("/bin/kvd", "-", "donor", "memory", Allow("memory 32M")),
            // The shell signs through the vault by declassification; nobody else can.
            ("/bin/shell", "-", "vault", "call", Declassified("ipc call", "signatures-are-public")),
            ("/bin/cat", "internal{user}", "vault", "call", NoGrant),
            ("/bin/vault", "-", "net", "connect", NoGrant),
            ("/bin/edit", "internal{user}", "fs", "delete", Allow("fs /home delete; fs /tmp delete")),
            // The file tools get the session's fs grant, and ask for less.
            ("/bin/ls", "internal{user}", "fs", "read", Allow("fs / read")),
            (
                "/bin/cp",
                "internal{user}",
                "fs",
                "read,write,create",
                Allow("fs / read; fs /home write,create; fs /tmp write,create"),
            ),
            ("/bin/rmdir", "internal{user}", "fs", "delete", Allow("fs /home delete; fs /tmp delete")),
            ("/bin/df", "internal{user}", "net", "connect", NoGrant),
        ],
    );
}

#[test]
fn lockdown_policy_decides_its_cases() {
    check_cases(
        "lockdown.rhai",
        &[
            ("/bin/httpd", "-", "net", "listen", NoGrant),
            ("/bin/nc", "internal{user}", "net", "connect", NoGrant),
            ("/bin/shell", "-", "net", "connect", NoGrant),
            ("/bin/httpd", "-", "fs", "read", NoGrant),
            ("/bin/shell", "-", "fs", "read", Allow("fs / read")),
            ("/bin/shell", "-", "fs", "write", Allow("fs /tmp write")),
            (
                "/bin/shell",
                "-",
                "proc",
                "spawn",
                Allow(
                    "spawn /bin/cat, /bin/conns, /bin/cp, /bin/df, /bin/ls, /bin/mkdir, /bin/mv, /bin/policy, /bin/rm, /bin/rmdir, /bin/stat, /bin/sync, /bin/touch",
                ),
            ),
            // The file tools work in /tmp and only read elsewhere.
            ("/bin/rm", "internal{user}", "fs", "read,delete", Allow("fs / read; fs /tmp delete")),
            ("/bin/ls", "internal{user}", "fs", "read", Allow("fs / read")),
            ("/bin/policy", "internal{user}", "security", "load_policy", Allow("security load_policy")),
            ("/bin/edit", "internal{user}", "fs", "read", Undeclared),
            ("/sbin/proc", "public", "fs", "read", Allow("fs / read")),
            ("/sbin/proc", "public", "fs", "write", Rights),
            ("/bin/shell", "-", "kv", "call", NoService),
            ("/bin/shell", "-", "vault", "call", NoGrant),
        ],
    );
}

/// The process manager loads every program a spawn grant lets anyone start: its fs grant
/// reads each spawn pattern's path (a directory's subtree, an exact file), read-only.
#[test]
fn the_process_manager_reads_every_program_a_spawn_grant_names() {
    use policy::{FsOp, FsPath, ProgramPattern};
    for file in ["default.rhai", "strict.rhai", "lockdown.rhai"] {
        let policy = load(file);
        let reads = match policy.decide_named("/sbin/proc", Label::BOTTOM, "fs", Rights::READ) {
            Decision::Allow(allowed) => allowed.scope(),
            Decision::Deny(reason) => {
                panic!("{file}: the process manager reads no files: {}", policy.explain(&reason))
            }
        };
        assert!(
            !policy.decide_named("/sbin/proc", Label::BOTTOM, "fs", Rights::WRITE).is_allowed(),
            "{file}: the process manager may write files"
        );
        let proc = policy.service_id("proc").expect("every shipped policy has proc");
        for grant in policy.grants().iter().filter(|grant| grant.service == proc) {
            for pattern in grant.scope.spawn_patterns() {
                let path = match pattern {
                    ProgramPattern::Exact(path) | ProgramPattern::Under(path) => path.clone(),
                    ProgramPattern::Any => FsPath::root(),
                };
                assert!(
                    reads.allows(&path, FsOp::Read),
                    "{file}: spawn grant `{pattern}` names programs the process manager cannot read"
                );
            }
        }
    }
}

#[test]
fn the_default_shell_starts_the_persons_programs_but_not_the_systems_data() {
    let policy = load("default.rhai");
    let shell = policy.program_id("/bin/shell").expect("declared");
    let user = policy.program(shell).and_then(|program| program.label).expect("a label");
    let Decision::Allow(spawn) = policy.decide_named("/bin/shell", user, "proc", Rights::SPAWN) else {
        panic!("the shell spawns")
    };
    let scope = spawn.scope();
    for (program, allowed) in [
        ("/bin/ls", true),
        ("/home/user/tool", true),
        ("/home/user/bin/tool", true),
        ("/etc/policy/default.rhai", false),
        ("/tmp/x", false),
        ("/sbin/fs", false),
    ] {
        assert_eq!(scope.allows_spawn(program), allowed, "spawn {program}");
    }
}

#[test]
fn lockdown_grants_no_network_at_all() {
    let policy = load("lockdown.rhai");
    let net = policy.service_id("net").expect("lockdown keeps the net service so denials name it");
    assert!(policy.grants().iter().all(|grant| grant.service != net));
    for program in policy.programs() {
        for label in [Label::BOTTOM, program.label.unwrap_or(Label::BOTTOM)] {
            let decision = policy.decide_named(program.path.as_str(), label, "net", Rights::CONNECT);
            assert!(!decision.is_allowed(), "{} reaches the network", program.path);
        }
    }
}

#[test]
fn strict_vault_cannot_reach_the_network_with_any_label() {
    let policy = load("strict.rhai");
    for level in policy.levels() {
        for category in policy.categories() {
            let label = policy.label(level, &[category]).expect("declared names");
            for rights in ["listen", "connect", "udp"] {
                let rights = Rights::parse(rights).expect("valid");
                assert!(!policy.decide_named("/bin/vault", label, "net", rights).is_allowed());
            }
        }
    }
}

#[test]
fn labels_come_from_path_then_parent_rule_then_inheritance() {
    use policy::LabelSource;
    let policy = load("default.rhai");
    let user = policy.parse_label("internal{user}").expect("valid");
    let public = policy.parse_label("public").expect("valid");
    let internal = policy.parse_label("internal").expect("valid");
    // A fixed label wins whoever the parent is.
    let httpd = policy.label_for("/bin/httpd", user);
    assert_eq!(policy.label_text(httpd.label).to_string(), "public{web}");
    assert!(matches!(httpd.source, LabelSource::Program(_)));
    // A tool spawned by the shell inherits the shell's label.
    let cat = policy.label_for("/bin/cat", user);
    assert_eq!((cat.label, cat.source), (user, LabelSource::Inherited));
    // spawned_by("public", "internal"): unlabelled children of a public parent.
    let child = policy.label_for("/bin/cat", public);
    assert_eq!(child.label, internal);
    assert!(matches!(child.source, LabelSource::ParentRule(_)));
    // An unknown program inherits too.
    assert_eq!(policy.label_for("/home/a.out", user).label, user);
}

#[test]
fn shipped_policies_encode_decode_and_hash_deterministically() {
    for file in ["default.rhai", "strict.rhai", "lockdown.rhai"] {
        let policy = load(file);
        let again = load(file);
        assert_eq!(policy.content_hash(), again.content_hash(), "{file}: compiling twice gives another hash");
        let bytes = policy.to_bytes();
        let decoded = Policy::from_bytes(&bytes).expect("a policy decodes what it encodes");
        assert_eq!(decoded, policy);
        assert_eq!(decoded.to_bytes(), bytes);
    }
    assert_ne!(load("default.rhai").content_hash(), load("strict.rhai").content_hash());
}
