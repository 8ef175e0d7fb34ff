//! Console output of a run as lines, read back by lines or by bytes while the run goes
//! and after it ended. The text of an output is its lines, each ended by `\n`; byte
//! offsets count into that text.

use serde::Serialize;

/// Lines per stored page: a line-offset read loads only the pages it touches.
pub const PAGE_LINES: u64 = 256;
pub const DEFAULT_LINE_LIMIT: u64 = 1000;
pub const MAX_LINE_LIMIT: u64 = 10_000;
pub const DEFAULT_BYTE_LIMIT: u64 = 64 << 10;
pub const MAX_BYTE_LIMIT: u64 = 1 << 20;

/// How much of an output to read: line mode (the default) or byte mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Lines { offset: u64, limit: u64 },
    Bytes { offset: u64, limit: u64 },
}

impl Window {
    /// Checks a request's paging fields: one mode at a time, limits in range.
    pub fn from_query(q: &mcp_v8_cluster::OutputQuery) -> Result<Self, String> {
        let lines = q.line_offset.is_some() || q.line_limit.is_some();
        let bytes = q.byte_offset.is_some() || q.byte_limit.is_some();
        if lines && bytes {
            return Err("page by lines (line_offset, line_limit) or by bytes (byte_offset, byte_limit), not both".into());
        }
        let limit = |v: Option<u64>, default: u64, max: u64, name: &str| match v {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(n) => Err(format!("{name} must be between 1 and {max}, got {n}")),
        };
        Ok(if bytes {
            Window::Bytes {
                offset: q.byte_offset.unwrap_or(0),
                limit: limit(
                    q.byte_limit,
                    DEFAULT_BYTE_LIMIT,
                    MAX_BYTE_LIMIT,
                    "byte_limit",
                )?,
            }
        } else {
            Window::Lines {
                offset: q.line_offset.unwrap_or(0),
                limit: limit(
                    q.line_limit,
                    DEFAULT_LINE_LIMIT,
                    MAX_LINE_LIMIT,
                    "line_limit",
                )?,
            }
        })
    }
}

/// One read of an output (`get_execution_output`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputPage {
    pub data: String,
    pub total_lines: u64,
    pub total_bytes: u64,
    pub next_line_offset: u64,
    pub next_byte_offset: u64,
    pub has_more: bool,
}

/// A run of consecutive lines of an output, starting at line `first_line`, byte
/// `first_byte`, together with the output's totals.
pub struct Lines<'a> {
    pub lines: &'a [String],
    pub first_line: u64,
    pub first_byte: u64,
    pub total_lines: u64,
    pub total_bytes: u64,
}

impl Lines<'_> {
    /// Reads `window` out of these lines (which must cover it, or reach the end).
    pub fn read(&self, window: Window) -> OutputPage {
        match window {
            Window::Lines { offset, limit } => self.read_lines(offset, limit),
            Window::Bytes { offset, limit } => self.read_bytes(offset, limit),
        }
    }

    fn read_lines(&self, offset: u64, limit: u64) -> OutputPage {
        let start = offset.clamp(self.first_line, self.total_lines);
        let mut byte = self.first_byte;
        let mut data = String::new();
        let mut line = self.first_line;
        for text in self.lines {
            if line >= start + limit {
                break;
            }
            if line >= start {
                data.push_str(text);
                data.push('\n');
            } else {
                byte += text.len() as u64 + 1;
            }
            line += 1;
        }
        let next_line = line.max(start);
        let next_byte = byte + data.len() as u64;
        OutputPage {
            data,
            total_lines: self.total_lines,
            total_bytes: self.total_bytes,
            next_line_offset: next_line,
            next_byte_offset: next_byte,
            has_more: next_line < self.total_lines,
        }
    }

    fn read_bytes(&self, offset: u64, limit: u64) -> OutputPage {
        let start = offset.min(self.total_bytes);
        let end = start.saturating_add(limit).min(self.total_bytes);
        let mut data = Vec::new();
        let mut pos = self.first_byte;
        let mut lines_before = self.first_line;
        for text in self.lines {
            let line_end = pos + text.len() as u64 + 1;
            if line_end <= start {
                lines_before += 1;
            } else if pos < end {
                let mut bytes = text.as_bytes().to_vec();
                bytes.push(b'\n');
                let from = usize::try_from(start.saturating_sub(pos)).unwrap_or(0);
                let to = usize::try_from(end.min(line_end) - pos).unwrap_or(bytes.len());
                data.extend_from_slice(&bytes[from..to]);
            } else {
                break;
            }
            pos = line_end;
        }
        let (text, skipped) = utf8_window(&data);
        let begin = start + skipped as u64;
        let next_byte = begin + text.len() as u64;
        // Complete lines read so far: those before the window plus each `\n` in it.
        let next_line = lines_before + text.matches('\n').count() as u64;
        OutputPage {
            data: text,
            total_lines: self.total_lines,
            total_bytes: self.total_bytes,
            next_line_offset: next_line.min(self.total_lines),
            next_byte_offset: next_byte,
            has_more: next_byte < self.total_bytes,
        }
    }
}

/// The longest valid UTF-8 text inside `bytes` when a window cut characters at its
/// edges: skips continuation bytes at the start (returned count), drops a partial
/// character at the end (the next read starts with it).
fn utf8_window(bytes: &[u8]) -> (String, usize) {
    let skip = bytes
        .iter()
        .take_while(|b| (**b & 0xC0) == 0x80)
        .count()
        .min(3);
    let rest = &bytes[skip..];
    match std::str::from_utf8(rest) {
        Ok(s) => (s.to_owned(), skip),
        Err(e) => (
            String::from_utf8_lossy(&rest[..e.valid_up_to()]).into_owned(),
            skip,
        ),
    }
}

/// The output of a run in memory while it goes.
#[derive(Debug, Default)]
pub struct OutputBuf {
    lines: Vec<String>,
    bytes: u64,
    page_starts: Vec<u64>,
}

impl OutputBuf {
    /// Adds console text (split into lines); returns the index of the first new line.
    pub fn push(&mut self, text: &str) -> (u64, Vec<String>) {
        let first = self.lines.len() as u64;
        let new: Vec<String> = text.split('\n').map(str::to_owned).collect();
        for line in &new {
            if (self.lines.len() as u64).is_multiple_of(PAGE_LINES) {
                self.page_starts.push(self.bytes);
            }
            self.bytes += line.len() as u64 + 1;
            self.lines.push(line.clone());
        }
        (first, new)
    }

    pub fn text(&self) -> String {
        let mut s = String::with_capacity(usize::try_from(self.bytes).unwrap_or(0));
        for line in &self.lines {
            s.push_str(line);
            s.push('\n');
        }
        s
    }

    pub fn totals(&self) -> (u64, u64) {
        (self.lines.len() as u64, self.bytes)
    }

    pub fn page_starts(&self) -> &[u64] {
        &self.page_starts
    }

    pub fn read(&self, window: Window) -> OutputPage {
        Lines {
            lines: &self.lines,
            first_line: 0,
            first_byte: 0,
            total_lines: self.lines.len() as u64,
            total_bytes: self.bytes,
        }
        .read(window)
    }
}

/// Pages `[first, last]` a window needs, given each page's starting byte.
pub fn pages_for(window: Window, total_lines: u64, page_starts: &[u64]) -> (u64, u64) {
    let pages = page_starts.len() as u64;
    if pages == 0 {
        return (0, 0);
    }
    let (first, last) = match window {
        Window::Lines { offset, limit } => {
            let start = offset.min(total_lines.saturating_sub(1));
            (start / PAGE_LINES, (start + limit - 1) / PAGE_LINES)
        }
        Window::Bytes { offset, limit } => {
            let page_of = |b: u64| page_starts.partition_point(|s| *s <= b).max(1) as u64 - 1;
            (page_of(offset), page_of(offset.saturating_add(limit)))
        }
    };
    (first.min(pages - 1), last.min(pages - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(text: &[&str]) -> OutputBuf {
        let mut b = OutputBuf::default();
        for t in text {
            b.push(t);
        }
        b
    }

    #[test]
    fn line_mode_pages_through_everything() {
        let b = buf(&["a", "bb\nccc", "d"]);
        assert_eq!(b.totals(), (4, 2 + 3 + 4 + 2));
        let p = b.read(Window::Lines {
            offset: 1,
            limit: 2,
        });
        assert_eq!(p.data, "bb\nccc\n");
        assert_eq!(
            (p.next_line_offset, p.next_byte_offset, p.has_more),
            (3, 9, true)
        );
        let p = b.read(Window::Lines {
            offset: 3,
            limit: 5,
        });
        assert_eq!((p.data.as_str(), p.has_more), ("d\n", false));
        let p = b.read(Window::Lines {
            offset: 9,
            limit: 5,
        });
        assert_eq!((p.data.as_str(), p.next_line_offset), ("", 4));
    }

    #[test]
    fn byte_mode_never_splits_a_character() {
        let b = buf(&["héllo", "wörld"]);
        let mut all = String::new();
        let mut off = 0;
        loop {
            let p = b.read(Window::Bytes {
                offset: off,
                limit: 2,
            });
            assert!(p.next_byte_offset > off || !p.has_more);
            all.push_str(&p.data);
            off = p.next_byte_offset;
            if !p.has_more {
                break;
            }
        }
        assert_eq!(all, "héllo\nwörld\n");
        let p = b.read(Window::Bytes {
            offset: 0,
            limit: 7,
        });
        assert_eq!((p.data.as_str(), p.next_line_offset), ("héllo\n", 1));
    }

    #[test]
    fn windows_refuse_mixed_modes_and_bad_limits() {
        let q = mcp_v8_cluster::OutputQuery {
            line_offset: Some(1),
            byte_limit: Some(3),
            ..Default::default()
        };
        assert!(Window::from_query(&q).unwrap_err().contains("not both"));
        let q = mcp_v8_cluster::OutputQuery {
            line_limit: Some(0),
            ..Default::default()
        };
        assert!(
            Window::from_query(&q)
                .unwrap_err()
                .contains("between 1 and")
        );
    }

    #[test]
    fn page_ranges_cover_the_window() {
        let mut b = OutputBuf::default();
        for i in 0..1000 {
            b.push(&format!("line {i}"));
        }
        let (lines, _) = b.totals();
        assert_eq!(
            pages_for(
                Window::Lines {
                    offset: 300,
                    limit: 10
                },
                lines,
                b.page_starts()
            ),
            (1, 1)
        );
        assert_eq!(
            pages_for(
                Window::Lines {
                    offset: 250,
                    limit: 10
                },
                lines,
                b.page_starts()
            ),
            (0, 1)
        );
        let start = b.page_starts()[2];
        assert_eq!(
            pages_for(
                Window::Bytes {
                    offset: start,
                    limit: 5
                },
                lines,
                b.page_starts()
            ),
            (2, 2)
        );
    }
}
