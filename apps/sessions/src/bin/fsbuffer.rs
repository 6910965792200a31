//! `fsbuffer`: checks the filesystem session's shared buffer from a program the process
//! manager starts, as the file tools use it. It connects to `fs`, attaches the buffer (its
//! pages' frames arrive in slots 33 onwards and are mapped in the program's mapping
//! window), writes a file of 100 000 bytes through it under `/tmp`, reads it back and
//! compares, removes it, then revokes its own session and touches the buffer: the session's
//! donation went back to the donor, which deleted the buffer's frames, so the access must
//! fault (the process manager reports a page fault at the window's address). Exit status 3
//! means the buffer was still mapped after the revoke; a fault is the expected ending.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use fs_api::{FsClient, OpenFlags};
use grant::Rights;
use security_api::SecurityClient;
use userlib::println;
use userlib::rpc::CapabilitySlot;

userlib::entry!(main);

/// The fs session's slot, and the buffer's: CNode 0 is the thread's own CSpace root.
const SESSION: CapabilitySlot = CapabilitySlot { cnode: 0, index: 32 };
const BUFFER_SLOTS: core::ops::Range<usize> = 33..49;
/// The file it writes and reads back, and its size (more than a buffer-full).
const FILE: &str = "/tmp/fsbuffer.bin";
const BYTES: usize = 100_000;

fn main() -> i32 {
    let Some(security) = SecurityClient::from_start_info() else {
        println!("fsbuffer: started without a session with the security server");
        return 1;
    };
    let rights = Rights::READ.union(Rights::WRITE).union(Rights::CREATE).union(Rights::DELETE);
    let connection = match security.connect("fs", rights, SESSION) {
        Ok(connection) => connection,
        Err(error) => {
            println!("fsbuffer: connect to fs: {error}");
            return 1;
        }
    };
    let mut fs = FsClient::new(SESSION.index);
    let mut slots = BUFFER_SLOTS;
    match fs.attach_buffer(|| slots.next().map(|index| CapabilitySlot { cnode: 0, index })) {
        Ok(bytes) => println!("fsbuffer: attached a shared buffer of {bytes} bytes"),
        Err(error) => {
            println!("fsbuffer: attach the shared buffer: {error}");
            return 1;
        }
    }
    let data: Vec<u8> = (0..BYTES).map(|index| u8::try_from(index % 253).unwrap_or(0)).collect();
    let create = OpenFlags::WRITE.union(OpenFlags::CREATE).union(OpenFlags::TRUNCATE);
    let written = fs.open(FILE, create).and_then(|(handle, _)| {
        let result = fs.write(handle, &data);
        fs.close(handle).and(result)
    });
    let mut back = alloc::vec![0u8; BYTES + 1];
    let read = written.and_then(|()| fs.open(FILE, OpenFlags::READ)).and_then(|(handle, _)| {
        let result = fs.read(handle, &mut back);
        fs.close(handle).and(result)
    });
    match read {
        Ok(count) if count == BYTES && back[..BYTES] == data[..] => {
            println!("fsbuffer: {BYTES} bytes written and read back through the buffer are equal");
        }
        Ok(count) => {
            println!("fsbuffer: read back {count} bytes, not the {BYTES} written");
            return 1;
        }
        Err(error) => {
            println!("fsbuffer: write and read {FILE}: {error}");
            return 1;
        }
    }
    if let Err(error) = fs.unlink(FILE) {
        println!("fsbuffer: remove {FILE}: {error}");
        return 1;
    }
    if let Err(error) = security.revoke(connection) {
        println!("fsbuffer: revoke connection {connection}: {error}");
        return 1;
    }
    let address = userlib::shared::WINDOW_ADDRESS;
    println!("fsbuffer: session revoked; touching the buffer at {address:#x}");
    match userlib::memory::read_word(address) {
        Some(_) => {
            println!("fsbuffer: the buffer is still mapped after the revoke");
            3
        }
        None => {
            println!("fsbuffer: the window's address was refused as program memory");
            1
        }
    }
}
