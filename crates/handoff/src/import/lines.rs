//! The line a CSV record starts on, whatever the file's line ends.
//!
//! A *line break* is a `\n`, or a `\r` not followed by `\n` (so `\r\n`
//! counts once, and old Mac files with bare `\r` count too); a record's
//! *line* is 1 plus the breaks before its first byte. The csv crate's own
//! `Position::line` of a record is taken before the reader skips what
//! precedes the record: the `\n` of the previous record's `\r\n` end, and
//! any blank lines. So in a CRLF file every record would be reported one
//! line too early, and after a blank line in any file. Instead,
//! [`LineTracker`] wraps the input and notes where each line break is; a
//! record that ends at byte offset `end` (the csv reader's position after
//! reading it) has its last line at `line_before(end - 1)` (the break that
//! ends it is not before its last byte), and starts that many lines earlier
//! as its quoted cells hold breaks ([`breaks_in`]).

use std::collections::VecDeque;
use std::io::{self, Read};

/// Wraps a reader, noting the byte offset of every line break read.
pub struct LineTracker<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Offsets of breaks read and not yet passed by [`Self::line_before`].
    breaks: VecDeque<u64>,
    /// Breaks already passed.
    passed: u64,
    /// Offset of a `\r` ending the last chunk: a break unless the next
    /// byte is `\n`.
    pending_cr: Option<u64>,
}

impl<R: Read> LineTracker<R> {
    /// Starts at byte 0, line 1.
    pub fn new(inner: R) -> LineTracker<R> {
        LineTracker {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            passed: 0,
            pending_cr: None,
        }
    }

    /// The 1-based line of the byte at `offset`: 1 plus the breaks before
    /// it. Offsets asked for must not decrease, and must be below the
    /// bytes read so far (the breaks after them may not be known yet).
    pub fn line_before(&mut self, offset: u64) -> u64 {
        while self.breaks.front().is_some_and(|&b| b < offset) {
            self.breaks.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }

    fn note(&mut self, chunk: &[u8]) {
        for (i, &b) in chunk.iter().enumerate() {
            let at = self.offset + i as u64;
            if let Some(cr) = self.pending_cr.take() {
                if b != b'\n' {
                    self.breaks.push_back(cr);
                }
            }
            match b {
                b'\n' => self.breaks.push_back(at),
                b'\r' => self.pending_cr = Some(at),
                _ => {}
            }
        }
        self.offset += chunk.len() as u64;
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            // The end: a `\r` last in the file was a break.
            if let Some(cr) = self.pending_cr.take() {
                self.breaks.push_back(cr);
            }
        }
        self.note(&buf[..n]);
        Ok(n)
    }
}

/// The line breaks inside a record's cells (only quoted cells hold any).
pub fn breaks_in(record: &csv::ByteRecord) -> u64 {
    record
        .iter()
        .map(|cell| {
            let newlines = cell.iter().filter(|&&b| b == b'\n').count();
            let bare_cr = cell
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\r' && cell.get(i + 1) != Some(&b'\n'))
                .count();
            (newlines + bare_cr) as u64
        })
        .sum()
}

/// The line a record starts on, given the tracker of its reader and the
/// reader's byte position just after the record.
pub fn record_line<R: Read>(
    tracker: &mut LineTracker<R>,
    end: u64,
    record: &csv::ByteRecord,
) -> u64 {
    let last = tracker.line_before(end.saturating_sub(1));
    last.saturating_sub(breaks_in(record)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start line of every record of `text`, header included.
    fn lines_of(text: &str) -> Vec<u64> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineTracker::new(text.as_bytes()));
        let mut record = csv::ByteRecord::new();
        let mut lines = Vec::new();
        while csv.read_byte_record(&mut record).unwrap() {
            let end = csv.position().byte();
            lines.push(record_line(csv.get_mut(), end, &record));
        }
        lines
    }

    #[test]
    fn same_lines_for_lf_crlf_and_bare_cr() {
        // Line 1 header, 2 a row, 3 blank, 4-5 a row with a quoted break,
        // 6 a row without a final line end.
        let lf = "h,i\na,b\n\n\"c\nd\",e\nf,g";
        assert_eq!(lines_of(lf), [1, 2, 4, 6]);
        assert_eq!(lines_of(&lf.replace('\n', "\r\n")), [1, 2, 4, 6]);
        assert_eq!(lines_of(&lf.replace('\n', "\r")), [1, 2, 4, 6]);
    }

    #[test]
    fn leading_blank_lines_and_a_byte_order_mark() {
        assert_eq!(lines_of("\u{feff}h\r\n\r\n\r\nx\r\n"), [1, 4]);
        assert_eq!(lines_of("\n\nh\nx\n"), [3, 4]);
    }

    #[test]
    fn breaks_are_found_across_small_reads() {
        // A reader handing out one byte at a time splits every `\r\n`.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let Some((&b, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = b;
                self.0 = rest;
                Ok(1)
            }
        }
        let mut t = LineTracker::new(OneByte(b"a\r\nb\rc\r"));
        let mut all = Vec::new();
        t.read_to_end(&mut all).unwrap();
        // Breaks at 2 (the \n of \r\n), 4 and 6 (bare \r, the last at EOF).
        assert_eq!(t.line_before(2), 1);
        assert_eq!(t.line_before(3), 2);
        assert_eq!(t.line_before(5), 3);
        assert_eq!(t.line_before(7), 4);
    }
}
