//! A deterministic fuzz run: thousands of random and mutated scripts, encodings and
//! connection lists. Nothing panics, every script ends (compiled or with errors that have
//! positions inside the script) within its operation budget, and every policy that
//! compiles round-trips through its encoding and decides exactly as a naive reference
//! of the decision rule does.

use std::panic::{AssertUnwindSafe, catch_unwind};

use policy::diff::parse_connections;
use policy::{
    Categories, Client, Decision, Label, Level, Limits, Policy, ProgramId, Rights, ServiceId, compile_with,
};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { usize::try_from(self.next() % n as u64).unwrap_or(0) }
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|value| value.parse().ok())
}

/// Fragments that exercise the parser, the limits and the policy functions.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ";",
    ".",
    "\"",
    "`",
    "${",
    "#",
    "//",
    "/*",
    "*/",
    "\n",
    " ",
    "0",
    "-1",
    "9999999999999999999999",
    "1..100",
    "loop {}",
    "while true {}",
    "fn f(n) { f(n) }",
    "f(1);",
    "let x = ",
    "x",
    "+",
    "+=",
    "*",
    "==",
    "if",
    "else",
    "for",
    "in",
    "return",
    "break",
    "throw",
    "\u{0}",
    "é",
    "\u{202e}",
    "levels([\"a\", \"b\"]);",
    "categories([\"c\"]);",
    "program(\"/p\", \"a\");",
    "program(\"/p\");",
    "label(\"a\", [\"c\"])",
    "\"b{c}\"",
    "trusted_service(\"s\", \"fs\", \"/p\");",
    "service(\"t\", \"ipc\", \"/p\");",
    "grant(\"/p\", \"s\", fs(\"/\", \"read\"));",
    "grant(\"/p\", \"t\", ipc());",
    "grant([\"/p\"], \"s\", [fs(\"/a\", \"write\"), fs(\"/\", \"read\")]);",
    "declassify(\"d\", \"/p\", \"t\");",
    "spawned_by(\"a\", \"b\");",
    "tcp_listen(80)",
    "tcp_connect(\"*:*\")",
    "udp(\"1.2.3.4/8:1-2\")",
    "memory(\"4M\")",
    "spawn_programs(\"/*\")",
    "console(\"read\")",
    "load_policy()",
    "read_audit()",
    "programs()",
    "pad(\"\", 100000, \"x\")",
    "import \"m\";",
    "eval(\"1\")",
    "print(x);",
    "debug(1);",
    "[1, [2, [3]]]",
    "to_string(1)",
    "len(\"x\")",
    "push(x, 1);",
    "exit();",
    "|| 1",
    "Fn(\"f\")",
];

fn mutate(rng: &mut Rng, source: &str) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(6) {
            0 => {
                let end = (at + rng.below(40)).min(chars.len());
                chars.drain(at..end);
            }
            1 | 2 => {
                let token: Vec<char> = (*rng.pick(TOKENS)).chars().collect();
                chars.splice(at..at, token);
            }
            3 => {
                if let Some(c) = chars.get_mut(at) {
                    *c = u32::try_from(rng.below(0x250)).ok().and_then(char::from_u32).unwrap_or('?');
                }
            }
            4 => {
                // Duplicate a slice somewhere else.
                let end = (at + rng.below(80)).min(chars.len());
                let piece: Vec<char> = chars[at..end].to_vec();
                let to = rng.below(chars.len() + 1);
                chars.splice(to..to, piece);
            }
            _ => {
                let digit = char::from(b'0' + rng.byte() % 10);
                chars.insert(at, digit);
            }
        }
    }
    chars.into_iter().collect()
}

fn random_script(rng: &mut Rng) -> String {
    let mut script = String::from("levels([\"a\", \"b\"]);\ncategories([\"c\"]);\n");
    for _ in 0..rng.below(30) {
        let token: &&str = rng.pick(TOKENS);
        script.push_str(token);
        if rng.below(3) == 0 {
            script.push('\n');
        }
    }
    script
}

fn shipped() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    ["default.rhai", "strict.rhai", "lockdown.rhai"]
        .iter()
        .map(|file| std::fs::read_to_string(root.join(file)).expect("shipped policy is readable"))
        .collect()
}

/// The decision rule of DESIGN.md §5, written as plainly as possible.
fn reference_allows(policy: &Policy, client: Client, service: ServiceId, rights: Rights) -> bool {
    let Some(service_entry) = policy.service(service) else { return false };
    let Some(program) = client.program else { return false };
    let Some(grant) = policy.grants().iter().find(|g| g.program == program && g.service == service) else {
        return false;
    };
    let server = policy.program(service_entry.server).and_then(|p| p.label);
    !rights.is_empty()
        && grant.scope.rights().contains(rights)
        && (service_entry.trusted || server == Some(client.label) || grant.declassification.is_some())
}

fn check_policy(rng: &mut Rng, policy: &Policy) {
    let bytes = policy.to_bytes();
    let decoded = Policy::from_bytes(&bytes).expect("a policy decodes its own encoding");
    assert_eq!(&decoded, policy);
    for _ in 0..50 {
        let program = ProgramId::from_index(rng.below(policy.programs().len() + 2));
        let program = if rng.below(8) == 0 { None } else { program };
        let label = Label::new(
            Level::new(u8::try_from(rng.below(policy.levels().len() + 1)).unwrap_or(u8::MAX)),
            Categories::from_bits(rng.next() & 0b111),
        );
        let service = ServiceId::from_index(rng.below(policy.services().len() + 1)).expect("small index");
        let bits = (u32::from(rng.byte()) << 8 | u32::from(rng.byte())) & Rights::ALL.bits();
        let rights = Rights::from_bits(bits).expect("masked to valid bits");
        let client = Client { program, label };
        let decision = policy.decide(client, service, rights);
        assert_eq!(
            decision.is_allowed(),
            reference_allows(policy, client, service, rights),
            "decide disagrees with the reference for {client:?} {service:?} {rights}"
        );
        if let Decision::Allow(allowed) = decision {
            assert_eq!(
                allowed.scope().rights(),
                rights,
                "the session scope has exactly the rights asked for"
            );
        } else if let Decision::Deny(reason) = decision {
            let _ = policy.explain(&reason).to_string();
        }
    }
}

/// Compiles `source` and checks the result; says whether it compiled.
fn run_one(rng: &mut Rng, source: &str, limits: &Limits) -> bool {
    let outcome = catch_unwind(AssertUnwindSafe(|| compile_with(source, limits)));
    let Ok(result) = outcome else { panic!("compile panicked on this script:\n{source:?}") };
    let lines = u32::try_from(source.lines().count()).unwrap_or(u32::MAX).saturating_add(1);
    match result {
        Ok(compiled) => {
            let checked = catch_unwind(AssertUnwindSafe(|| check_policy(rng, &compiled.policy)));
            assert!(checked.is_ok(), "checking the compiled policy failed for:\n{source:?}");
            true
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            for error in &errors.errors {
                assert!(error.pos.line <= lines, "error past the end of the script: {error}\n{source:?}");
                assert!(!error.message.is_empty());
            }
            false
        }
    }
}

#[test]
fn random_and_mutated_scripts_never_panic_and_always_end() {
    // A small operation budget keeps the run fast in debug builds; the limits are tested
    // at their real values in errors.rs.
    let limits = Limits { max_operations: 20_000, ..Limits::DEFAULT };
    // A longer run: POLICY_FUZZ_ROUNDS=200000 POLICY_FUZZ_SEED=7 cargo test --release -p policy --test fuzz
    let rounds = env_number("POLICY_FUZZ_ROUNDS").unwrap_or(2000);
    let mut rng = Rng(env_number("POLICY_FUZZ_SEED").map_or(0x5eed_1a77_1ce5_0001, |seed| seed as u64 | 1));
    let seeds = shipped();
    let mut compiled = 0;
    for round in 0..rounds {
        let source = if round % 4 == 3 {
            random_script(&mut rng)
        } else {
            let seed = rng.pick(&seeds).clone();
            mutate(&mut rng, &seed)
        };
        compiled += usize::from(run_one(&mut rng, &source, &limits));
    }
    // The mutations must leave some scripts valid, or the checks on compiled policies
    // above never ran.
    assert!(compiled > 50, "only {compiled} mutated scripts compiled");
    println!("{compiled} of {rounds} scripts compiled");
}

#[test]
fn corrupted_encodings_are_refused_without_panicking() {
    let mut rng = Rng(0x5eed_b17e_5000_0002);
    let limits = Limits::DEFAULT;
    let policies: Vec<Policy> = shipped()
        .iter()
        .map(|s| compile_with(s, &limits).expect("shipped policies compile").policy)
        .collect();
    let mut refused = 0;
    for _ in 0..3000 {
        let mut bytes = rng.pick(&policies).to_bytes();
        match rng.below(3) {
            0 => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            1 => bytes.truncate(rng.below(bytes.len())),
            _ => {
                let at = rng.below(bytes.len());
                bytes[at] = rng.byte();
            }
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| Policy::from_bytes(&bytes)));
        match outcome {
            Ok(Ok(policy)) => {
                assert_eq!(policy.to_bytes(), bytes, "a changed encoding decoded to another policy")
            }
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("from_bytes panicked on {bytes:?}"),
        }
    }
    assert!(refused > 2900, "only {refused} corrupted encodings refused");
}

#[test]
fn random_connection_lists_never_panic() {
    let mut rng = Rng(0x5eed_c0de_0000_0003);
    let policy = compile_with(&shipped()[0], &Limits::DEFAULT).expect("compiles").policy;
    let words = [
        "1",
        "2",
        "/bin/shell",
        "/bin/httpd",
        "-",
        "internal{user}",
        "fs",
        "net",
        "read,write",
        "#",
        "\n",
        "x{",
        "\t",
    ];
    for _ in 0..2000 {
        let mut text = String::new();
        for _ in 0..rng.below(20) {
            let word: &&str = rng.pick(&words);
            text.push_str(word);
            text.push(if rng.below(4) == 0 { '\n' } else { ' ' });
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| parse_connections(&text, &policy)));
        match outcome {
            Ok(Ok(list)) => {
                let verdicts = policy::diff::redecide_all(&policy, &policy, &list);
                assert_eq!(verdicts.len(), list.len());
            }
            Ok(Err(error)) => assert!(error.line >= 1),
            Err(_) => panic!("parse_connections panicked on {text:?}"),
        }
    }
}
