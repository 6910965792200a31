//! `readline`: reads one line from the terminal through its own console session (opened
//! through the security server, the one capability it starts with) and says what it read.
//! The shell gives a foreground program the terminal, so what is typed comes here. It
//! echoes what is typed (the console does not), takes backspace, ends the line at Enter,
//! and exits 0; Ctrl-C ends it with status 130.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;

use console_api::{ConsoleClient, ConsoleError};
use grant::Rights;
use security_api::SecurityClient;
use userlib::println;
use userlib::rpc::CapabilitySlot;

userlib::entry!(main);

/// Where the console session goes: CNode 0 is the thread's own CSpace root.
const CONSOLE: CapabilitySlot = CapabilitySlot { cnode: 0, index: 32 };
/// Longest line kept.
const MAX_LINE: usize = 200;

fn main() -> i32 {
    let Some(security) = SecurityClient::from_start_info() else {
        println!("readline: started without a session with the security server");
        return 1;
    };
    if let Err(error) = security.connect("console", Rights::READ.union(Rights::WRITE), CONSOLE) {
        println!("readline: cannot connect to the console: {error}");
        return 1;
    }
    let console = ConsoleClient::new(CONSOLE.index);
    let _ = console.write(b"readline: type a line> ");
    let mut line = String::new();
    loop {
        let bytes = match console.read(16) {
            Ok(bytes) => bytes,
            Err(ConsoleError::Interrupted) => return 130,
            Err(error) => {
                println!("readline: reading the terminal failed: {error}");
                return 1;
            }
        };
        for byte in bytes {
            match byte {
                b'\r' | b'\n' => {
                    let _ = console.write(b"\r\n");
                    let _ = console.write(alloc::format!("readline: you typed `{line}`\n").as_bytes());
                    return 0;
                }
                0x7f | 0x08 if line.pop().is_some() => {
                    let _ = console.write(b"\x08 \x08");
                }
                byte if (0x20..0x7f).contains(&byte) && line.len() < MAX_LINE => {
                    line.push(char::from(byte));
                    let _ = console.write(&[byte]);
                }
                _ => {}
            }
        }
    }
}
