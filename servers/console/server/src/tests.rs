//! The terminal logic against the protocol's promises: reads answer at once or wait, only
//! the foreground reads, Ctrl-C interrupts, overflow is counted, newlines are translated.

use alloc::vec;

use super::*;

type T = Terminal<u32>;

fn data(bytes: &[u8]) -> Result<Response, ConsoleError> {
    Ok(Response::Data(bytes.to_vec()))
}

#[test]
fn a_read_with_input_answers_at_once() {
    let mut terminal = T::new();
    assert!(terminal.input(b"ls\r").is_empty());
    assert_eq!(terminal.read(1, 2), ReadNow::Answer(data(b"ls")));
    assert_eq!(terminal.read(1, 100), ReadNow::Answer(data(b"\r")));
    assert_eq!(terminal.read(1, 100), ReadNow::Wait);
    assert_eq!(terminal.read(1, 0), ReadNow::Answer(data(b"")));
}

#[test]
fn a_waiting_read_is_answered_by_input() {
    let mut terminal = T::new();
    assert_eq!(terminal.read(1, 8), ReadNow::Wait);
    terminal.wait(1, 8, 40);
    assert_eq!(terminal.read(1, 8), ReadNow::Answer(Err(ConsoleError::Busy)));
    assert_eq!(terminal.input(b"x"), vec![Action::Answer { reply: 40, result: data(b"x") }]);
    assert_eq!(terminal.waiting(), 0);
    assert_eq!(terminal.buffered(), 0);
}

#[test]
fn reads_are_served_oldest_first_and_input_is_split() {
    let mut terminal = T::new();
    terminal.wait(1, 2, 40);
    terminal.wait(2, 8, 41);
    assert_eq!(
        terminal.input(b"abcd"),
        vec![
            Action::Answer { reply: 40, result: data(b"ab") },
            Action::Answer { reply: 41, result: data(b"cd") },
        ]
    );
}

#[test]
fn only_the_foreground_reads() {
    let mut terminal = T::new();
    assert_eq!(terminal.set_foreground(1, 7), Ok(vec![]));
    assert_eq!(terminal.foreground(), Foreground::Session(7));
    assert_eq!(terminal.read(1, 8), ReadNow::Answer(Err(ConsoleError::NotForeground)));
    assert_eq!(terminal.read(7, 8), ReadNow::Wait);
    // Only the controller (the first to set it) may change it.
    assert_eq!(terminal.set_foreground(7, 7), Err(ConsoleError::NotPermitted));
    assert_eq!(terminal.set_foreground(1, 1), Ok(vec![]));
}

#[test]
fn pid_zero_gives_the_foreground_back_to_the_controller() {
    let mut terminal = T::new();
    terminal.set_foreground(3, 7).unwrap();
    assert_eq!(terminal.read(3, 8), ReadNow::Answer(Err(ConsoleError::NotForeground)));
    assert_eq!(terminal.set_foreground(3, 0), Ok(vec![]));
    assert_eq!(terminal.foreground(), Foreground::Session(3));
    assert_eq!(terminal.read(3, 8), ReadNow::Wait);
    assert_eq!(terminal.set_foreground(7, 0), Err(ConsoleError::NotPermitted));
}

#[test]
fn losing_the_foreground_ends_a_waiting_read() {
    let mut terminal = T::new();
    terminal.wait(7, 8, 40);
    terminal.wait(1, 8, 41);
    assert_eq!(
        terminal.set_foreground(1, 1),
        Ok(vec![Action::Answer { reply: 40, result: Err(ConsoleError::NotForeground) }])
    );
    assert_eq!(terminal.waiting(), 1);
}

#[test]
fn control_c_interrupts_and_is_not_input() {
    let mut terminal = T::new();
    terminal.set_foreground(1, 1).unwrap();
    terminal.input(b"typed ahead");
    assert_eq!(terminal.input(&[CONTROL_C]), vec![Action::SignalForeground]);
    assert_eq!(terminal.buffered(), 0, "Ctrl-C discards what was typed ahead");
    terminal.wait(1, 8, 40);
    assert_eq!(
        terminal.input(&[CONTROL_C, b'z']),
        vec![Action::SignalForeground, Action::Answer { reply: 40, result: Err(ConsoleError::Interrupted) }]
    );
    assert_eq!(terminal.read(1, 8), ReadNow::Answer(data(b"z")));
    assert_eq!(terminal.interrupts(), 2);
}

#[test]
fn control_c_without_a_foreground_only_ends_reads() {
    let mut terminal = T::new();
    terminal.wait(3, 8, 40);
    assert_eq!(
        terminal.input(&[CONTROL_C]),
        vec![Action::Answer { reply: 40, result: Err(ConsoleError::Interrupted) }]
    );
}

#[test]
fn overflow_is_dropped_and_counted() {
    let mut terminal = T::new();
    terminal.input(&vec![b'a'; INPUT_CAPACITY + 10]);
    assert_eq!(terminal.buffered(), INPUT_CAPACITY);
    assert_eq!(terminal.dropped(), 10);
    let ReadNow::Answer(Ok(Response::Data(bytes))) = terminal.read(1, u32::MAX as usize) else { panic!() };
    assert_eq!(bytes.len(), MAX_CHUNK_BYTES, "one answer carries at most a chunk");
}

#[test]
fn lone_newlines_become_crlf_across_writes() {
    let mut out = vec![];
    let mut last = 0;
    translate(b"a\nb\r\n", &mut last, |byte| out.push(byte));
    assert_eq!(out, b"a\r\nb\r\n");
    out.clear();
    translate(b"x\r", &mut last, |byte| out.push(byte));
    translate(b"\n\n", &mut last, |byte| out.push(byte));
    assert_eq!(out, b"x\r\n\r\n");
}

#[test]
fn a_closed_session_loses_its_read_and_control() {
    let mut terminal = T::new();
    terminal.set_foreground(5, 0).expect("the first controller");
    terminal.wait(5, 8, 40);
    assert_eq!(terminal.set_foreground(6, 0), Err(ConsoleError::NotPermitted));
    assert_eq!(
        terminal.close(5),
        vec![Action::Answer { reply: 40, result: Err(ConsoleError::NotPermitted) }]
    );
    assert_eq!(terminal.waiting(), 0);
    assert_eq!(terminal.foreground(), Foreground::Open);
    assert!(terminal.set_foreground(6, 0).is_ok(), "another session may take the terminal");
    assert!(terminal.close(9).is_empty(), "an unknown session changes nothing");
    assert_eq!(terminal.foreground(), Foreground::Session(6));
}
