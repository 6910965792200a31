//! Text tables and human-readable sizes for the builtins' output.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// How a column lines up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// A table with a header row; columns are as wide as their widest cell, two spaces apart,
/// and no line has trailing spaces.
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Self { columns: columns.to_vec(), rows: Vec::new() }
    }

    /// Adds a row (one cell per column; missing cells are blank, extra cells dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table, each line ending in `\n`.
    pub fn render(&self, output: &mut impl Write) -> fmt::Result {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(index, (header, _))| {
                let cells =
                    self.rows.iter().filter_map(|row| row.get(index)).map(|cell| cell.chars().count());
                cells.fold(header.chars().count(), usize::max)
            })
            .collect();
        let headers: Vec<String> = self.columns.iter().map(|(header, _)| String::from(*header)).collect();
        for row in core::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (index, ((_, align), width)) in self.columns.iter().zip(&widths).enumerate() {
                let cell = row.get(index).map_or("", String::as_str);
                if index > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Left => write!(line, "{cell:<width$}")?,
                    Align::Right => write!(line, "{cell:>width$}")?,
                }
            }
            writeln!(output, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// `bytes` in binary units with one decimal: `512 B`, `1.5 KiB`, `64.0 MiB`, `2.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut text = String::new();
    if bytes < 1024 {
        let _ = write!(text, "{bytes} B");
        return text;
    }
    // Tenths of a unit, rounded to nearest; move up a unit when that reaches 1024.0.
    let bytes = u128::from(bytes);
    let mut unit_bytes: u128 = 1024;
    for unit in UNITS {
        let tenths = (bytes * 10 + unit_bytes / 2) / unit_bytes;
        if tenths < 10240 || unit == "EiB" {
            let _ = write!(text, "{}.{} {unit}", tenths / 10, tenths % 10);
            return text;
        }
        unit_bytes *= 1024;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (1024 * 1024 - 60, "1023.9 KiB"),
            (64 * 1024 * 1024, "64.0 MiB"),
            (256 * 1024 * 1024 + 100 * 1024 * 1024 / 1000, "256.1 MiB"),
            (3 << 30, "3.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(human_size(*bytes), *text, "{bytes}");
        }
    }

    #[test]
    fn columns_line_up() {
        let mut table = Table::new(&[("PID", Align::Right), ("NAME", Align::Left), ("NOTE", Align::Left)]);
        table.row(["1".into(), "root".into(), "".into()].into());
        table.row(["12345".into(), "x".into(), "last".into()].into());
        let mut text = String::new();
        table.render(&mut text).unwrap();
        assert_eq!(text, "  PID  NAME  NOTE\n    1  root\n12345  x     last\n");
    }
}
