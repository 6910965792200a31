//! `test-console`: the console server's in-system test, and an echo of typed lines.
//!
//! Started from the manifest `image/systems/test-console.toml` with `uses = ["console"]`
//! (the console's endpoint, named `console` in its start info) and `--session N`, the badge the
//! root task gave its session (the nth server of the manifest gets badge n; with no
//! security server in that system, the console takes a session's badge as its process, see
//! `console::Terminal`). Everything
//! it prints goes through the console. Each check has an id and a sentence (its table is
//! [`CHECKS`]) and prints one line (`test-console: ok   CONSOLE0001 ...`, the `checks`
//! crate's form); then it echoes every line typed (`echo: LINE`) until `quit`, and exits
//! with the number of failed checks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use checks::{Check, Report};
use console_api::{Console, ConsoleClient, ConsoleError, Response};
use kernel_abi::{ObjectType, Rights};
use loader::server_slots as at;
use userlib::ipc::{self, Message};
use userlib::rpc::{self, Protocol, RpcError};
use userlib::{object, println};

userlib::entry!(main);

/// The console: the manifest's `uses = ["console"]`, by its name in the start info.
fn console_slot() -> usize {
    userlib::start::service("console").expect("the manifest gives test-console the console")
}
const NOTIFICATION: usize = at::FIRST_FREE;
const NOTIFICATION_TO_SEND: usize = at::FIRST_FREE + 1;
/// The badge of the notification the console signals on Ctrl-C.
const INTERRUPT_BADGE: usize = 0x10;

const WRITE: Check = Check::new("CONSOLE0001", "a write reaches the terminal");
const MALFORMED: Check = Check::new("CONSOLE0002", "a malformed request gets the typed error Malformed");
const WRONG_PROTOCOL: Check =
    Check::new("CONSOLE0003", "another protocol's label, or label 0, gets WrongProtocol");
const UNKNOWN_VARIANT: Check =
    Check::new("CONSOLE0004", "an unknown request variant gets Malformed and the server goes on");
const FOREGROUND: Check =
    Check::new("CONSOLE0005", "only the foreground reads; the controlling session moves the foreground");
const CTRL_C: Check = Check::new(
    "CONSOLE0006",
    "Ctrl-C ends the foreground's read with Interrupted and signals its notification",
);
const READS_GO_ON: Check = Check::new("CONSOLE0007", "reads go on, line after line, until `quit` is typed");
/// Every check, in the order they run.
static CHECKS: [Check; 7] =
    [WRITE, MALFORMED, WRONG_PROTOCOL, UNKNOWN_VARIANT, FOREGROUND, CTRL_C, READS_GO_ON];

/// Writes `test-console: TEXT` and a line break through the console.
fn say(console: ConsoleClient, text: impl core::fmt::Display) {
    if console.write(format!("test-console: {text}\n").as_bytes()).is_err() {
        println!("test-console: (console write failed) {text}");
    }
}

/// Writes one line (a check line, which starts with the program's name) through the console.
fn print_line(console: ConsoleClient, line: core::fmt::Arguments<'_>) {
    if console.write(format!("{line}\n").as_bytes()).is_err() {
        println!("(console write failed) {line}");
    }
}

fn session_badge() -> usize {
    let Some(info) = userlib::start::info() else { return 0 };
    let mut arguments = info.arguments();
    while let Some(argument) = arguments.next() {
        if argument == "--session" {
            return arguments.next().and_then(|word| word.parse().ok()).unwrap_or(0);
        }
    }
    0
}

/// Sends `message` to the console as is and decodes the answer.
fn raw_call(message: &Message) -> Result<Response, ConsoleError> {
    match ipc::call(console_slot(), message) {
        Ok(reply) => rpc::decode_reply::<Console>(&reply),
        Err(error) => Err(ConsoleError::Rpc(RpcError::from_kernel(error))),
    }
}

fn main() -> i32 {
    if userlib::start::info().is_none() {
        println!("test-console: must be started from a manifest");
        return 1;
    }
    let session = session_badge();
    let console = ConsoleClient::new(console_slot());
    let mut report = Report::new("test-console", &CHECKS, |line| print_line(console, line));

    let written = console.write(b"test-console: hello through the console\n");
    report.check(&WRITE, written.is_ok(), &written);

    // Length word says 100 bytes, one payload word follows.
    let malformed = raw_call(&Message::new(Console::LABEL, &[100, 1]));
    report.check_eq(&MALFORMED, &malformed, &Err(ConsoleError::Rpc(RpcError::Malformed)));
    let wrong = raw_call(&Message::new(rpc::label(*b"NOPE"), &[0]));
    let zero = raw_call(&Message::new(0, &[]));
    report.check(
        &WRONG_PROTOCOL,
        wrong == Err(ConsoleError::Rpc(RpcError::WrongProtocol)) && wrong == zero,
        (&wrong, &zero),
    );
    let bad_variant = raw_call(&{
        let mut message = Message::new(Console::LABEL, &[]);
        message.length = rpc::pack(&[9], &mut message.words).unwrap_or(1);
        message
    });
    report.check(
        &UNKNOWN_VARIANT,
        bad_variant == Err(ConsoleError::Rpc(RpcError::Malformed)) && console.write(b"").is_ok(),
        &bad_variant,
    );

    let made =
        object::retype(at::MEMORY, ObjectType::Notification, 0, at::CNODE, NOTIFICATION, 1).and_then(|()| {
            object::mint(
                at::CNODE,
                NOTIFICATION_TO_SEND,
                at::CNODE,
                NOTIFICATION,
                Rights::WRITE,
                INTERRUPT_BADGE,
            )
        });
    let other = console.set_foreground(99, None);
    let refused = console.read(16);
    let mine = console.set_foreground(u64::try_from(session).unwrap_or(0), Some(NOTIFICATION_TO_SEND));
    report.check(
        &FOREGROUND,
        made.is_ok() && other.is_ok() && refused == Err(ConsoleError::NotForeground) && mine.is_ok(),
        (&made, &other, &refused, &mine),
    );

    say(console, "press Ctrl-C");
    let interrupted = console.read(16);
    let word = ipc::poll(NOTIFICATION);
    report.check(
        &CTRL_C,
        interrupted == Err(ConsoleError::Interrupted) && word == Ok(INTERRUPT_BADGE),
        (&interrupted, &word),
    );

    say(console, "type lines; `quit` ends");
    let mut line = Vec::new();
    loop {
        let bytes = match console.read(64) {
            Ok(bytes) => bytes,
            Err(ConsoleError::Interrupted) => {
                line.clear();
                say(console, "^C");
                continue;
            }
            Err(error) => {
                report.check(&READS_GO_ON, false, &error);
                break;
            }
        };
        for byte in bytes {
            if byte != b'\r' && byte != b'\n' {
                line.push(byte);
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            if text == "quit" {
                report.check(&READS_GO_ON, true, ());
                return i32::try_from(report.finish()).unwrap_or(i32::MAX);
            }
            let _ = console.write(format!("echo: {text}\r\n").as_bytes());
        }
    }
    // A read failed (CONSOLE0007 says so): the report counts it.
    i32::try_from(report.finish()).unwrap_or(i32::MAX)
}
