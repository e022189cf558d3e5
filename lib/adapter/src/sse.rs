//! An incremental `text/event-stream` reader (the parts of the HTML living standard's event
//! stream interpretation MCP uses: `data`, `id`, `event`; comments and `retry` ignored).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The last `id:` seen in the stream so far (the `Last-Event-ID` to resume from).
    pub id: Option<String>,
    /// The `event:` type (`message` when absent).
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Feeds bytes in, takes events out.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
    data: Option<String>,
    event: Option<String>,
    last_id: Option<String>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one is part of it.
    after_cr: bool,
}

/// The most a single line may hold before the stream is treated as broken (16 MiB).
pub const MAX_LINE: usize = 16 << 20;

/// The stream is unreadable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an event-stream line is longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

impl Reader {
    /// A reader at the start of a stream.
    pub fn new() -> Reader {
        Reader::default()
    }

    /// The last event id seen.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Reads `chunk` and returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, LineTooLong> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let ending = rest[pos];
            self.buf.extend_from_slice(&rest[..pos]);
            let line = std::mem::take(&mut self.buf);
            self.line(&line, &mut out);
            rest = &rest[pos + 1..];
            if ending == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.buf.extend_from_slice(rest);
        if self.buf.len() > MAX_LINE {
            return Err(LineTooLong);
        }
        Ok(out)
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(Event { id: self.last_id.clone(), event: self.event.take(), data });
            }
            self.event = None;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.find(':') {
            Some(i) => {
                let v = &text[i + 1..];
                (&text[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&text[..], ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let mut r = Reader::new();
        let mut all = Vec::new();
        for chunk in [
            &b"id: 1\r"[..],
            b"\nevent: message\ndata: {\"a\"",
            b":1}\r\n\r\n: keepalive\n\ndata: x\ndata: y\n",
            b"\n",
        ] {
            all.extend(r.feed(chunk).expect("feed"));
        }
        assert_eq!(
            all,
            [
                Event { id: Some("1".into()), event: Some("message".into()), data: "{\"a\":1}".into() },
                Event { id: Some("1".into()), event: None, data: "x\ny".into() },
            ]
        );
        assert_eq!(r.last_id(), Some("1"));
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let mut r = Reader::new();
        assert!(r.feed(b"id: 7\n\n").expect("feed").is_empty());
        assert_eq!(r.last_id(), Some("7"), "a priming event only sets the id");
    }
}
