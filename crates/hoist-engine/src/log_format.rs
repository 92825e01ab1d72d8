//! The container log's lines, in the k8s-file format podman's conmon writes (and the CRI
//! reads): `TIMESTAMP STREAM TAG CONTENT`, where the timestamp is RFC 3339 with nanoseconds,
//! STREAM `stdout` or `stderr`, and TAG `F` for a full line or `P` for a part of one whose end
//! came in a later write. What `logs -t` and `--since` need, and stdout kept apart from stderr.
//!
//! A line not in this shape (a monitor's own last words, or a log written before hoist kept
//! timestamps) reads as the container's stdout, untimed.

use std::time::SystemTime;

/// Which of the container's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static [u8] {
        match self {
            Stream::Stdout => b"stdout",
            Stream::Stderr => b"stderr",
        }
    }
}

/// Appends to `out` the log lines for `chunk`, which `stream` gave at `time`: one `F` line per
/// newline, and a `P` line for what follows the last one.
pub fn encode(stream: Stream, time: SystemTime, chunk: &[u8], out: &mut Vec<u8>) {
    let stamp = humantime::format_rfc3339_nanos(time).to_string();
    let mut rest = chunk;
    while !rest.is_empty() {
        let (content, tag, after) = match rest.iter().position(|b| *b == b'\n') {
            Some(end) => (&rest[..end], b'F', &rest[end + 1..]),
            None => (rest, b'P', &rest[rest.len()..]),
        };
        out.extend_from_slice(stamp.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.name());
        out.extend_from_slice(&[b' ', tag, b' ']);
        out.extend_from_slice(content);
        out.push(b'\n');
        rest = after;
    }
}

/// One line of the log, read back.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// When it was written; `None` for an untimed line.
    pub time: Option<&'a str>,
    pub stream: Stream,
    /// The line's text, without the newline.
    pub content: &'a [u8],
    /// A part of a line: no newline follows it.
    pub partial: bool,
}

impl Entry<'_> {
    /// When it was written, if it says and that parses.
    pub fn written(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(self.time?).ok()
    }
}

/// Reads a log line (without its newline).
pub fn decode(line: &[u8]) -> Entry<'_> {
    let untimed = Entry {
        time: None,
        stream: Stream::Stdout,
        content: line,
        partial: false,
    };
    let mut fields = line.splitn(4, |b| *b == b' ');
    let (Some(time), Some(stream), Some(tag)) = (fields.next(), fields.next(), fields.next())
    else {
        return untimed;
    };
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return untimed,
    };
    let partial = match tag {
        b"F" => false,
        b"P" => true,
        _ => return untimed,
    };
    let Ok(time) = std::str::from_utf8(time) else {
        return untimed;
    };
    if humantime::parse_rfc3339_weak(time).is_err() {
        return untimed;
    }
    Entry {
        time: Some(time),
        stream,
        content: fields.next().unwrap_or_default(),
        partial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_parts_of_lines_read_back_as_written() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        let mut log = Vec::new();
        encode(Stream::Stdout, time, b"one\ntwo words\npart", &mut log);
        encode(Stream::Stderr, time, b"\n", &mut log);
        let text = String::from_utf8(log.clone()).unwrap();
        assert_eq!(
            text,
            "2023-11-14T22:13:20.000000005Z stdout F one\n\
             2023-11-14T22:13:20.000000005Z stdout F two words\n\
             2023-11-14T22:13:20.000000005Z stdout P part\n\
             2023-11-14T22:13:20.000000005Z stderr F \n"
        );
        let entries: Vec<Entry> = log.split(|b| *b == b'\n').map(decode).collect();
        assert_eq!(entries[1].content, b"two words");
        assert!(entries[2].partial);
        assert_eq!(entries[3].stream, Stream::Stderr);
        assert_eq!(entries[3].content, b"");
        assert_eq!(entries[0].written(), Some(time));
    }

    #[test]
    fn a_line_in_no_such_shape_is_untimed_stdout() {
        for line in [
            &b"hoist: the container could not start"[..],
            b"2023-11-14 stdout F almost",
            b"yesterday stderr F x",
            b"",
        ] {
            let entry = decode(line);
            assert_eq!(
                (entry.time, entry.stream, entry.content),
                (None, Stream::Stdout, line)
            );
        }
    }
}
