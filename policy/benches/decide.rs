//! Decisions per second: a policy of 100 programs and 20 services (half trusted, half
//! ordinary), deciding a fixed mix of allowed and denied requests.
//!
//! Run with `cargo bench -p policy` (release build). Prints the median and best rate over
//! several samples, criterion-style, without criterion's dependencies.

use std::hint::black_box;
use std::time::{Duration, Instant};

use policy::{Categories, Client, Label, Level, Policy, ProgramId, Rights, ServiceId, compile};

const POLICY: &str = r#"
levels(["low", "mid", "high"]);
categories(["a", "b", "c", "d"]);
for s in 0..20 {
    let server = `/sbin/s${s}`;
    if s % 2 == 0 {
        program(server);
        trusted_service(`s${s}`, "fs", server);
    } else {
        program(server, "mid{a}");
        service(`s${s}`, "ipc", server);
    }
}
for p in 0..100 {
    let path = `/bin/p${p}`;
    if p % 3 == 0 { program(path, "mid{a}"); } else { program(path, "low"); }
    for s in 0..20 {
        if (p + s) % 3 != 0 {
            if s % 2 == 0 {
                grant(path, `s${s}`, [fs(`/data/${p}`, "read write"), fs("/", "read")]);
            } else {
                grant(path, `s${s}`, ipc());
            }
        }
    }
}
"#;

/// A fixed pseudo-random mix of requests (some for undeclared programs, unknown services,
/// missing rights and mismatched labels).
fn requests(policy: &Policy, count: usize) -> Vec<(Client, ServiceId, Rights)> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    let mid_a = policy.parse_label("mid{a}").expect("declared");
    let low = Label::new(Level::new(0), Categories::EMPTY);
    let other = Label::new(Level::new(2), Categories::from_bits(0b11));
    (0..count)
        .map(|_| {
            let program = usize::try_from(next(110)).ok().and_then(ProgramId::from_index);
            let program = program.filter(|id| id.index() < policy.programs().len());
            let label = [mid_a, low, other][usize::try_from(next(3)).unwrap_or(0)];
            let service = usize::try_from(next(21)).ok().and_then(ServiceId::from_index).expect("small");
            let rights = [Rights::READ, Rights::READ.union(Rights::WRITE), Rights::CALL, Rights::DELETE]
                [usize::try_from(next(4)).unwrap_or(0)];
            (Client { program, label }, service, rights)
        })
        .collect()
}

fn main() {
    let started = Instant::now();
    let policy = match compile(POLICY) {
        Ok(compiled) => compiled.policy,
        Err(errors) => panic!("bench policy does not compile:\n{errors}"),
    };
    let compile_time = started.elapsed();
    let requests = requests(&policy, 4096);

    // Warm up, and count how many of the mix are allowed.
    let allowed = requests.iter().filter(|(c, s, r)| policy.decide(*c, *s, *r).is_allowed()).count();

    let mut rates = Vec::new();
    for _ in 0..10 {
        let mut decisions = 0u64;
        let mut allowed_count = 0u64;
        let sample = Instant::now();
        while sample.elapsed() < Duration::from_millis(200) {
            for (client, service, rights) in &requests {
                let decision = policy.decide(black_box(*client), black_box(*service), black_box(*rights));
                allowed_count += u64::from(black_box(decision).is_allowed());
            }
            decisions += requests.len() as u64;
        }
        black_box(allowed_count);
        rates.push(decisions as f64 / sample.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let best = rates[rates.len() - 1];

    // By name: what a tool pays when it looks the program and service up each time.
    let named: Vec<(String, Label, String, Rights)> = requests
        .iter()
        .take(1024)
        .map(|(client, service, rights)| {
            let program = client
                .program
                .and_then(|id| policy.program(id))
                .map_or_else(|| "/bin/unknown".to_string(), |p| p.path.to_string());
            let service = policy.service(*service).map_or_else(|| "nope".to_string(), |s| s.name.clone());
            (program, client.label, service, *rights)
        })
        .collect();
    let sample = Instant::now();
    let mut decisions = 0u64;
    while sample.elapsed() < Duration::from_millis(500) {
        for (program, label, service, rights) in &named {
            black_box(
                policy.decide_named(black_box(program), *label, black_box(service), *rights).is_allowed(),
            );
        }
        decisions += named.len() as u64;
    }
    let named_rate = decisions as f64 / sample.elapsed().as_secs_f64();

    println!(
        "policy: {} programs, {} services, {} grants; compiled in {compile_time:?}",
        policy.programs().len(),
        policy.services().len(),
        policy.grants().len()
    );
    println!("request mix: {} requests, {allowed} allowed", requests.len());
    println!(
        "decide (ids):          median {:>6.1} M decisions/s  ({:.1} ns each), best {:.1} M/s",
        median / 1e6,
        1e9 / median,
        best / 1e6
    );
    println!(
        "decide_named (names):  {:>6.1} M decisions/s  ({:.1} ns each)",
        named_rate / 1e6,
        1e9 / named_rate
    );
}
