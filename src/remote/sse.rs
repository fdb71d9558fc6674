//! A Server-Sent Events parser: bytes in, events out, bounded in size.

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last event id seen on the stream so far (`id:` persists).
    pub id: Option<String>,
}

/// The stream broke the parser's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("the server sent an event over {0} bytes")]
    TooLarge(usize),
}

/// An incremental `text/event-stream` parser, as the HTML standard defines
/// it: lines end with `\r\n`, `\n` or `\r` (also split across chunks);
/// `:` starts a comment; `field: value` with one optional space; several
/// `data` lines join with `\n`; a blank line dispatches; an event without
/// data is not dispatched; a leading BOM is skipped; unknown fields are
/// ignored. Memory is bounded by `limit` bytes per event.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    first_line: bool,
    event: String,
    data: String,
    id: Option<String>,
    limit: usize,
}

impl SseParser {
    pub fn new(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            event: String::new(),
            data: String::new(),
            id: None,
            limit,
        }
    }

    /// Feeds the next bytes of the stream; returns the events they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            if std::mem::take(&mut self.after_cr) && bytes[0] == b'\n' {
                bytes = &bytes[1..];
                continue;
            }
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.push(&bytes[..i])?;
                    self.after_cr = bytes[i] == b'\r';
                    self.end_line(&mut out);
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.push(bytes)?;
                    break;
                }
            }
        }
        Ok(out)
    }

    fn push(&mut self, part: &[u8]) -> Result<(), SseError> {
        if self.line.len() + self.data.len() + part.len() > self.limit {
            return Err(SseError::TooLarge(self.limit));
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        let mut line = line.as_slice();
        if std::mem::take(&mut self.first_line) {
            line = line.strip_prefix("\u{FEFF}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        out.push(SseEvent {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
            id: self.id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
        }
    }

    #[test]
    fn sse_fields_comments_and_multi_line_data() {
        let mut p = SseParser::new(1 << 20);
        let got = p
            .feed(
                b": keep-alive\n\nevent: snapshot\ndata: {\"a\":\ndata:1}\n\n\
                  id: 7\nevent: webhook\ndata: x\nretry: 10\nunknown: y\n\ndata\n\n",
            )
            .unwrap();
        assert_eq!(
            got,
            vec![
                ev("snapshot", "{\"a\":\n1}", None),
                ev("webhook", "x", Some("7")),
                // no `data:` value is an empty data line; the id persists
                ev("message", "", Some("7")),
            ]
        );
    }

    #[test]
    fn sse_any_line_ending_even_split_across_chunks() {
        let stream: &[u8] =
            b"\xEF\xBB\xBFevent: row\r\ndata: 1\r\n\r\nevent: row\rdata:  2\r\revent: row\ndata: 3\n\n";
        let whole = SseParser::new(1 << 20).feed(stream).unwrap();
        assert_eq!(
            whole,
            vec![
                ev("row", "1", None),
                ev("row", " 2", None),
                ev("row", "3", None)
            ]
        );
        // every split point, byte by byte too, gives the same events
        for cut in 0..stream.len() {
            let mut p = SseParser::new(1 << 20);
            let mut got = p.feed(&stream[..cut]).unwrap();
            got.extend(p.feed(&stream[cut..]).unwrap());
            assert_eq!(got, whole, "cut at {cut}");
        }
        let mut p = SseParser::new(1 << 20);
        let mut got = Vec::new();
        for b in stream {
            got.extend(p.feed(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn sse_event_without_data_is_not_dispatched_and_size_is_bounded() {
        let mut p = SseParser::new(1 << 20);
        assert_eq!(p.feed(b"event: snapshot\n\n\n").unwrap(), vec![]);
        assert_eq!(
            p.feed(b"data: a\n\n").unwrap(),
            vec![ev("message", "a", None)]
        );
        let mut p = SseParser::new(16);
        assert!(p.feed(b"data: 0123456789\n").is_ok());
        assert_eq!(p.feed(b"data: 0123456789\n"), Err(SseError::TooLarge(16)));
        // invalid UTF-8 is replaced, not a panic
        let mut p = SseParser::new(1 << 20);
        assert_eq!(
            p.feed(b"data: \xff\xfe\n\n").unwrap(),
            vec![ev("message", "\u{FFFD}\u{FFFD}", None)]
        );
    }
}
