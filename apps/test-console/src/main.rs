//! `test-console`: the console server's in-system test, and an echo of typed lines.
//!
//! Started from the manifest `image/systems/test-console.toml` with `uses = ["console"]`
//! (the console's endpoint, named `console` in its start info) and `--session N`, the badge the
//! root task gave its session (the nth server of the manifest gets badge n; with no
//! security server in that system, the console takes a session's badge as its process, see
//! `console::Terminal`). Everything
//! it prints goes through the console. Each check has an id and a sentence; then it echoes
//! every line typed (`echo: LINE`) until `quit`, and exits with the number of failed checks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

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

struct Checks {
    console: ConsoleClient,
    failed: usize,
}

impl Checks {
    fn say(&self, text: &str) {
        if self.console.write(format!("test-console: {text}\n").as_bytes()).is_err() {
            println!("test-console: (console write failed) {text}");
        }
    }

    fn check(&mut self, id: &str, sentence: &str, passed: bool, detail: impl core::fmt::Debug) {
        if passed {
            self.say(&format!("ok   {id} {sentence}"));
        } else {
            self.failed += 1;
            self.say(&format!("FAIL {id} {sentence}: got {detail:?}"));
        }
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
    let mut checks = Checks { console, failed: 0 };

    let written = console.write(b"test-console: hello through the console\n");
    checks.check("CONSOLE0001", "a write reaches the terminal", written.is_ok(), &written);

    // Length word says 100 bytes, one payload word follows.
    let malformed = raw_call(&Message::new(Console::LABEL, &[100, 1]));
    checks.check(
        "CONSOLE0002",
        "a malformed request gets the typed error Malformed",
        malformed == Err(ConsoleError::Rpc(RpcError::Malformed)),
        &malformed,
    );
    let wrong = raw_call(&Message::new(rpc::label(*b"NOPE"), &[0]));
    let zero = raw_call(&Message::new(0, &[]));
    checks.check(
        "CONSOLE0003",
        "another protocol's label, or label 0, gets WrongProtocol",
        wrong == Err(ConsoleError::Rpc(RpcError::WrongProtocol)) && wrong == zero,
        (&wrong, &zero),
    );
    let bad_variant = raw_call(&{
        let mut message = Message::new(Console::LABEL, &[]);
        message.length = rpc::pack(&[9], &mut message.words).unwrap_or(1);
        message
    });
    checks.check(
        "CONSOLE0004",
        "an unknown request variant gets Malformed and the server goes on",
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
    checks.check(
        "CONSOLE0005",
        "only the foreground reads; the controlling session moves the foreground",
        made.is_ok() && other.is_ok() && refused == Err(ConsoleError::NotForeground) && mine.is_ok(),
        (&made, &other, &refused, &mine),
    );

    checks.say("press Ctrl-C");
    let interrupted = console.read(16);
    let word = ipc::poll(NOTIFICATION);
    checks.check(
        "CONSOLE0006",
        "Ctrl-C ends the foreground's read with Interrupted and signals its notification",
        interrupted == Err(ConsoleError::Interrupted) && word == Ok(INTERRUPT_BADGE),
        (&interrupted, &word),
    );

    checks.say("type lines; `quit` ends");
    let mut line = Vec::new();
    loop {
        let bytes = match console.read(64) {
            Ok(bytes) => bytes,
            Err(ConsoleError::Interrupted) => {
                line.clear();
                checks.say("^C");
                continue;
            }
            Err(error) => {
                checks.check("CONSOLE0007", "reads go on", false, &error);
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
                checks.say(&format!("done, {} checks failed", checks.failed));
                return i32::try_from(checks.failed).unwrap_or(i32::MAX);
            }
            let _ = console.write(format!("echo: {text}\r\n").as_bytes());
        }
    }
    checks.say(&format!("done, {} checks failed", checks.failed));
    i32::try_from(checks.failed.max(1)).unwrap_or(i32::MAX)
}
