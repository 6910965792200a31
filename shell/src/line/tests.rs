//! Line editor tests: byte sequences against the resulting line, cursor and echo; events;
//! history; and a fuzz test that checks the module invariants after every byte.

use super::*;
use crate::testing::{Random, Screen};
use alloc::vec;

/// Feeds `input`; returns the echo and the events.
fn feed_all(editor: &mut LineEditor, input: &[u8]) -> (Vec<u8>, Vec<Event>) {
    let mut output = Vec::new();
    let mut events = Vec::new();
    for &byte in input {
        events.extend(editor.feed(byte, &mut output));
    }
    (output, events)
}

/// Shows control bytes readably in assertion messages.
fn visible(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[test]
fn editing_keys() {
    // (input, line afterwards, cursor afterwards, echo)
    let cases: &[(&[u8], &str, usize, &[u8])] = &[
        (b"abc", "abc", 3, b"abc"),
        (b"abc\x7f", "ab", 2, b"abc\x08\x1b[K"),
        (b"abc\x08", "ab", 2, b"abc\x08\x1b[K"),
        (b"\x7f\x08", "", 0, b""),
        (b"abc\x1b[D\x1b[DX", "aXbc", 2, b"abc\x1b[D\x1b[DXbc\x1b[2D"),
        (b"ab\x1b[D\x1b[C\x1b[C", "ab", 2, b"ab\x1b[D\x1b[C"),
        (b"\x1b[D\x1b[Da", "a", 1, b"a"),
        (b"abc\x1b[D\x7f", "ac", 1, b"abc\x1b[D\x08\x1b[Kc\x1b[D"),
        (b"abc\x01X", "Xabc", 1, b"abc\x1b[3DXabc\x1b[3D"),
        (b"abc\x1b[H\x1b[F", "abc", 3, b"abc\x1b[3D\x1b[3C"),
        (b"abc\x1b[1~\x1b[4~", "abc", 3, b"abc\x1b[3D\x1b[3C"),
        (b"abc\x1bOH\x1bOF", "abc", 3, b"abc\x1b[3D\x1b[3C"),
        (b"abc\x1bOD\x1bOC", "abc", 3, b"abc\x1b[D\x1b[C"),
        (b"abc\x02\x02\x06", "abc", 2, b"abc\x1b[D\x1b[D\x1b[C"),
        (b"abc\x01\x1b[3~", "bc", 0, b"abc\x1b[3D\x1b[Kbc\x1b[2D"),
        (b"abc\x1b[3~", "abc", 3, b"abc"),
        (b"ab\x1b[D\x04", "a", 1, b"ab\x1b[D\x1b[K"),
        (b"abc\x1b[D\x1b[D\x0b", "a", 1, b"abc\x1b[D\x1b[D\x1b[K"),
        (b"abc\x1b[D\x15", "c", 0, b"abc\x1b[D\x1b[2D\x1b[Kc\x1b[D"),
        (b"echo hello  \x17", "echo ", 5, b"echo hello  \x1b[7D\x1b[K"),
        (b"echo\x17\x17", "", 0, b"echo\x1b[4D\x1b[K"),
        // Modified arrows move like plain ones.
        (b"ab\x1b[1;5D", "ab", 1, b"ab\x1b[D"),
        // Unknown sequences, Alt-keys, overlong parameters: ignored.
        (b"a\x1b[99Zb", "ab", 2, b"ab"),
        (b"a\x1b[5~b", "ab", 2, b"ab"),
        (b"a\x1bxb", "ab", 2, b"ab"),
        (b"a\x1bOZb", "ab", 2, b"ab"),
        (b"a\x1b[123456789012345Ab", "ab", 2, b"ab"),
        (b"a\x1b\x1b[Db", "ba", 1, b"a\x1b[Dba\x1b[D"),
        // Tab, other control bytes and non-ASCII bytes are dropped.
        (b"a\tb\xc3\xa9c\x00\x1f", "abc", 3, b"abc"),
    ];
    for (input, line, cursor, echo) in cases {
        let mut editor = LineEditor::new();
        let (output, events) = feed_all(&mut editor, input);
        let input = visible(input);
        assert_eq!(events, vec![], "events for {input}");
        assert_eq!(editor.line(), *line, "line for {input}");
        assert_eq!(editor.cursor(), *cursor, "cursor for {input}");
        assert_eq!(visible(&output), visible(echo), "echo for {input}");
    }
}

/// Input, the events it makes, the line left in the editor, the echo.
type EventCase = (&'static [u8], Vec<Event>, &'static str, &'static [u8]);

#[test]
fn events() {
    let line = |text: &str| Event::Line(text.into());
    let cases: &[EventCase] = &[
        (b"ls\r", vec![line("ls")], "", b"ls\r\n"),
        (b"ls\r\n", vec![line("ls")], "", b"ls\r\n"),
        (b"ls\n", vec![line("ls")], "", b"ls\r\n"),
        (b"\r\r", vec![line(""), line("")], "", b"\r\n\r\n"),
        (b"a\n\nb", vec![line("a"), line("")], "b", b"a\r\n\r\nb"),
        (b"ab\x1b[D\r", vec![line("ab")], "", b"ab\x1b[D\r\n"),
        (b"ab\x03", vec![Event::Interrupt], "", b"ab^C\r\n"),
        (b"ab\x1b\x03", vec![Event::Interrupt], "", b"ab^C\r\n"),
        (b"ab\x1b[1\x03", vec![Event::Interrupt], "", b"ab^C\r\n"),
        (b"ab\x1b[1\r", vec![line("ab")], "", b"ab\r\n"),
        (b"\x04", vec![Event::EndOfInput], "", b""),
        (b"a\x0c", vec![Event::ClearScreen], "a", b"a"),
        (b"ab\x1b[A\x1b[B\r", vec![line("ab")], "", b"ab\r\n"),
    ];
    for (input, expected, rest, echo) in cases {
        let mut editor = LineEditor::new();
        let (output, events) = feed_all(&mut editor, input);
        let input = visible(input);
        assert_eq!(&events, expected, "events for {input}");
        assert_eq!(editor.line(), *rest, "line left for {input}");
        assert_eq!(visible(&output), visible(echo), "echo for {input}");
    }
}

#[test]
fn history_browsing() {
    let mut editor = LineEditor::new();
    feed_all(&mut editor, b"one\rtwo\r");
    feed_all(&mut editor, b"dr");
    // (keys, line shown afterwards)
    let steps: &[(&[u8], &str)] = &[
        (b"\x1b[A", "two"),
        (b"\x1b[A", "one"),
        (b"\x1b[A", "one"),
        (b"\x1b[B", "two"),
        (b"\x1b[B", "dr"),
        (b"\x1b[B", "dr"),
        (b"\x10\x10", "one"),
        (b"\x0e", "two"),
    ];
    for (keys, shown) in steps {
        feed_all(&mut editor, keys);
        assert_eq!(editor.line(), *shown, "after {}", visible(keys));
        assert_eq!(editor.cursor(), shown.len());
    }
}

#[test]
fn recalling_replaces_the_line_on_screen() {
    let mut editor = LineEditor::new();
    feed_all(&mut editor, b"hello\r");
    let (output, _) = feed_all(&mut editor, b"abc\x1b[D\x1b[A");
    assert_eq!(visible(&output), visible(b"abc\x1b[D\x1b[2D\x1b[Khello"));
    let (output, _) = feed_all(&mut editor, b"\x1b[B");
    assert_eq!(visible(&output), visible(b"\x1b[5D\x1b[Kabc"));
}

#[test]
fn editing_a_recalled_line_adds_a_new_entry() {
    let mut editor = LineEditor::new();
    feed_all(&mut editor, b"echo one\r");
    let (_, events) = feed_all(&mut editor, b"\x1b[A\x7fX\r");
    assert_eq!(events, vec![Event::Line("echo onX".into())]);
    assert_eq!(editor.history().iter().collect::<Vec<_>>(), ["echo one", "echo onX"]);
}

#[test]
fn history_skips_blank_lines_and_repeats() {
    let mut editor = LineEditor::new();
    feed_all(&mut editor, b"a\ra\r\r   \rb\ra\r\x1b[A\r");
    assert_eq!(editor.history().iter().collect::<Vec<_>>(), ["a", "b", "a"]);
}

#[test]
fn history_is_bounded() {
    let mut editor = LineEditor::new();
    for number in 0..HISTORY_CAPACITY + 50 {
        feed_all(&mut editor, format!("line {number}\r").as_bytes());
    }
    assert_eq!(editor.history().len(), HISTORY_CAPACITY);
    assert_eq!(editor.history().iter().next(), Some("line 50"));
    assert_eq!(editor.history().iter().last(), Some("line 149"));
}

#[test]
fn interrupt_stops_browsing() {
    let mut editor = LineEditor::new();
    feed_all(&mut editor, b"one\rtwo\r\x1b[A\x1b[A\x03");
    feed_all(&mut editor, b"\x1b[A");
    assert_eq!(editor.line(), "two");
}

#[test]
fn long_lines_are_capped() {
    let mut editor = LineEditor::new();
    let (output, _) = feed_all(&mut editor, &[b'x'; MAX_LINE_LENGTH + 10]);
    assert_eq!(editor.line().len(), MAX_LINE_LENGTH);
    assert_eq!(output.iter().filter(|&&byte| byte == BELL).count(), 10);
    // Editing still works at the limit, and the line still completes.
    let (_, events) = feed_all(&mut editor, b"\x7fy\r");
    let Some(Event::Line(line)) = events.first() else { panic!("no line: {events:?}") };
    assert_eq!(line.len(), MAX_LINE_LENGTH);
    assert!(line.ends_with("xy"));
}

#[test]
fn redraw_puts_the_cursor_back() {
    let mut editor = LineEditor::new();
    feed_all(&mut editor, b"abcd\x1b[D\x1b[D");
    let mut output = Vec::new();
    editor.redraw(&mut output);
    assert_eq!(visible(&output), visible(b"abcd\x1b[2D"));
}

/// Bytes a terminal sends, weighted towards the ones that drive the editor's states.
fn random_input_byte(random: &mut Random) -> u8 {
    const INTERESTING: &[u8] =
        b"\x1b\x1b\x1b[[[OABCDHF~~13478;\x7f\x08\r\n\x01\x02\x03\x04\x05\x06\x0b\x0c\x0e\x10\x15\x17 ";
    match random.below(4) {
        0 => u8::try_from(random.below(256)).unwrap(),
        1 => b'a' + u8::try_from(random.below(26)).unwrap(),
        _ => INTERESTING[random.below(INTERESTING.len())],
    }
}

#[test]
fn random_input_keeps_the_invariants() {
    for seed in 1..=300 {
        let mut random = Random::new(seed);
        let mut editor = LineEditor::new();
        let mut screen = Screen::default();
        for step in 0..2000 {
            let byte = random_input_byte(&mut random);
            let mut output = Vec::new();
            let event = editor.feed(byte, &mut output);
            screen.write(&output);
            match event {
                Some(Event::ClearScreen) => {
                    // What the shell does: a fresh row, then the redraw.
                    let mut redraw = Vec::from(*b"\r\n");
                    editor.redraw(&mut redraw);
                    screen.write(&redraw);
                }
                Some(Event::Line(line)) => assert!(line.len() <= MAX_LINE_LENGTH),
                _ => {}
            }
            let context = format!("seed {seed}, step {step}, byte {byte:#x}");
            assert!(editor.line().len() <= MAX_LINE_LENGTH, "{context}");
            assert!(editor.line().bytes().all(|byte| (0x20..0x7f).contains(&byte)), "{context}");
            assert!(editor.cursor() <= editor.line().len(), "{context}");
            assert_eq!(screen.current_line(), editor.line().trim_end(), "screen line, {context}");
            assert_eq!(screen.column(), editor.cursor(), "screen cursor, {context}");
            assert!(editor.history().len() <= HISTORY_CAPACITY, "{context}");
            let entries: Vec<&str> = editor.history().iter().collect();
            assert!(entries.windows(2).all(|pair| pair[0] != pair[1]), "{context}");
            assert!(entries.iter().all(|entry| !entry.trim().is_empty()), "{context}");
        }
    }
}
