//! Test support: a small terminal that interprets what the shell echoes, and a seeded
//! random source for the fuzz tests (so every failure repeats).

use alloc::string::String;
use alloc::vec::Vec;

/// A terminal of unbounded width that understands exactly the control sequences the
/// editor and the shell may send; anything else fails the test.
#[derive(Default)]
pub struct Screen {
    rows: Vec<Vec<u8>>,
    row: usize,
    column: usize,
}

impl Screen {
    /// Interprets `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        let mut index = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            index += 1;
            match byte {
                b'\r' => self.column = 0,
                b'\n' => self.row += 1,
                0x08 => self.column = self.column.saturating_sub(1),
                0x07 => {}
                0x1b => {
                    assert_eq!(bytes.get(index), Some(&b'['), "escape without [ in {bytes:?}");
                    index += 1;
                    let start = index;
                    while bytes.get(index).is_some_and(u8::is_ascii_digit) {
                        index += 1;
                    }
                    let count: usize =
                        core::str::from_utf8(&bytes[start..index]).unwrap().parse().unwrap_or(1);
                    let final_byte = bytes[index];
                    index += 1;
                    match final_byte {
                        b'D' => {
                            self.column = self.column.checked_sub(count).expect("cursor moved past column 0")
                        }
                        b'C' => self.column += count,
                        b'K' => {
                            let column = self.column;
                            self.current_row().truncate(column);
                        }
                        b'J' | b'H' => {}
                        other => panic!("unexpected control sequence final byte {:?}", char::from(other)),
                    }
                }
                0x20..=0x7e => {
                    let column = self.column;
                    let row = self.current_row();
                    if row.len() <= column {
                        row.resize(column + 1, b' ');
                    }
                    row[column] = byte;
                    self.column += 1;
                }
                other => panic!("unexpected byte {other:#x} sent to the terminal"),
            }
        }
    }

    fn current_row(&mut self) -> &mut Vec<u8> {
        if self.rows.len() <= self.row {
            self.rows.resize(self.row + 1, Vec::new());
        }
        &mut self.rows[self.row]
    }

    /// The text of the cursor's row, trailing blanks removed.
    pub fn current_line(&self) -> String {
        let row = self.rows.get(self.row).cloned().unwrap_or_default();
        String::from_utf8(row).unwrap().trim_end().into()
    }

    /// The cursor column.
    pub fn column(&self) -> usize {
        self.column
    }
}

/// xorshift64*: a deterministic random source for fuzz tests.
pub struct Random(u64);

impl Random {
    /// A generator from `seed` (any value but 0 works; 0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `bound` (not 0).
    pub fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(bound).unwrap()).unwrap()
    }
}
