//! The tests, one module per kernel object (and one for the syscall layer). Each test is
//! `fn(&mut Context) -> Outcome` with an id and a sentence saying what must hold.
//!
//! Threads synchronise only through IPC, notifications, `yield` and priorities: a thread
//! spawned at priority 255 runs when the root task (also 255) yields or blocks, and runs
//! until it blocks; one spawned at a lower priority runs only once the root task blocks.

mod cnode;
mod ipc;
mod notification;
mod syscall;
mod thread;
mod timer;
mod untyped;
mod vspace;

use crate::context::Test;

/// Every group of tests, in the order they run.
pub const GROUPS: &[&[Test]] = &[
    untyped::ALL,
    cnode::ALL,
    ipc::ALL,
    &[ipc::REPLY_DELETED_WHILE_RECEIVING],
    notification::ALL,
    timer::ALL,
    thread::ALL,
    vspace::ALL,
    syscall::ALL,
    crate::sched::ALL,
];

/// Tests that reproduce kernel bugs not fixed yet. They run after the others and are
/// reported, but do not count as failures; when one passes, move it into its group.
pub const KNOWN_BUGS: &[Test] = &[];

/// Sends label 7 with words 1..=4 on the endpoint in the argument (shared by several tests).
fn send_one(endpoint: usize) -> usize {
    let _ = userlib::ipc::send(endpoint, &userlib::ipc::Message::new(7, &[1, 2, 3, 4]));
    0
}
