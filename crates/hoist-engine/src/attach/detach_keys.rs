//! podman's detach keys: `--detach-keys ctrl-p,ctrl-q` (the default), a comma-separated list of
//! single characters and `ctrl-X`; an empty string turns detaching off.

use crate::{Error, Result};

/// The sequence that detaches podman's `-it` sessions by default.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// A parsed key sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(Vec<u8>);

impl DetachKeys {
    /// Parses podman's syntax; `None` for the empty string (no detaching).
    pub fn parse(spec: &str) -> Result<Option<DetachKeys>> {
        if spec.is_empty() {
            return Ok(None);
        }
        let bad = |why: &str| Error::bad_option("--detach-keys", format!("{spec:?}: {why}"));
        let mut bytes = Vec::new();
        for key in spec.split(',') {
            let byte = match key.as_bytes() {
                [one] if one.is_ascii_graphic() => *one,
                _ => control_code(key).ok_or_else(|| {
                    bad(&format!(
                        "{key:?} is neither one character nor ctrl-X (X one of a-z @ [ \\ ] ^ _)"
                    ))
                })?,
            };
            bytes.push(byte);
        }
        Ok(Some(DetachKeys(bytes)))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// `ctrl-a` … `ctrl-z` are 1 … 26; `ctrl-@ [ \ ] ^ _` the codes around them.
fn control_code(key: &str) -> Option<u8> {
    let lower = key.to_ascii_lowercase();
    let [x] = lower.strip_prefix("ctrl-")?.as_bytes() else {
        return None;
    };
    match x {
        b'a'..=b'z' => Some(x - b'a' + 1),
        b'@' | b'[' | b'\\' | b']' | b'^' | b'_' => Some(x.to_ascii_uppercase() - b'@'),
        _ => None,
    }
}

/// Finds the detach sequence in what is typed, holding back a part of it until it is either
/// complete or broken (then the held bytes go on, as typed).
#[derive(Debug)]
pub struct DetachMatcher {
    keys: DetachKeys,
    matched: usize,
}

/// What became of a chunk of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned {
    /// Pass these bytes on.
    Forward(Vec<u8>),
    /// The sequence was typed: pass these on (what came before it), then detach.
    Detach(Vec<u8>),
}

impl DetachMatcher {
    pub fn new(keys: DetachKeys) -> DetachMatcher {
        DetachMatcher { keys, matched: 0 }
    }

    /// What is held back (the start of the sequence), given up: the input has ended.
    pub fn flush(&mut self) -> Vec<u8> {
        let held = self.keys.bytes()[..self.matched].to_vec();
        self.matched = 0;
        held
    }

    pub fn scan(&mut self, input: &[u8]) -> Scanned {
        let keys = self.keys.bytes();
        let mut out = Vec::with_capacity(input.len());
        for &byte in input {
            if byte == keys[self.matched] {
                self.matched += 1;
                if self.matched == keys.len() {
                    self.matched = 0;
                    return Scanned::Detach(out);
                }
                continue;
            }
            // Broken: of what was held back and this byte, the longest end that starts the
            // sequence stays held; the rest was typed.
            let mut held = keys[..self.matched].to_vec();
            held.push(byte);
            let keep = (0..held.len())
                .rev()
                .find(|&k| held[held.len() - k..] == keys[..k])
                .unwrap_or(0);
            out.extend_from_slice(&held[..held.len() - keep]);
            self.matched = keep;
        }
        Scanned::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: &str) -> DetachKeys {
        DetachKeys::parse(spec).unwrap().unwrap()
    }

    #[test]
    fn podman_key_names_parse_to_their_codes() {
        assert_eq!(keys(DEFAULT_DETACH_KEYS).bytes(), [0x10, 0x11]);
        assert_eq!(keys("ctrl-a,x").bytes(), [1, b'x']);
        assert_eq!(
            keys("CTRL-Z,ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_").bytes(),
            [26, 0, 27, 28, 29, 30, 31]
        );
        assert_eq!(DetachKeys::parse("").unwrap(), None);
        for bad in ["ctrl-", "ctrl-1", "ab", "ctrl-p,", ",", "alt-x", " "] {
            assert!(DetachKeys::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_sequence_detaches_and_what_came_before_it_goes_on() {
        let mut matcher = DetachMatcher::new(keys(DEFAULT_DETACH_KEYS));
        assert_eq!(matcher.scan(b"ls\r"), Scanned::Forward(b"ls\r".to_vec()));
        assert_eq!(
            matcher.scan(b"ab\x10\x11cd"),
            Scanned::Detach(b"ab".to_vec())
        );
    }

    #[test]
    fn a_sequence_split_across_reads_is_held_then_completed_or_given_back() {
        let mut matcher = DetachMatcher::new(keys(DEFAULT_DETACH_KEYS));
        assert_eq!(matcher.scan(b"x\x10"), Scanned::Forward(b"x".to_vec()));
        assert_eq!(matcher.scan(b"\x11"), Scanned::Detach(Vec::new()));
        // Ctrl-P alone (the shell's "previous line") reaches the container once it is clear
        // that no Ctrl-Q follows.
        assert_eq!(matcher.scan(b"\x10"), Scanned::Forward(Vec::new()));
        assert_eq!(matcher.scan(b"a"), Scanned::Forward(b"\x10a".to_vec()));
        assert_eq!(matcher.scan(b"\x10"), Scanned::Forward(Vec::new()));
        assert_eq!(matcher.flush(), b"\x10", "given up at the end of input");
        // A repeated first key restarts the match.
        assert_eq!(
            matcher.scan(b"\x10\x10\x11"),
            Scanned::Detach(b"\x10".to_vec())
        );
    }

    #[test]
    fn a_sequence_that_repeats_its_start_is_found_after_a_false_start() {
        let mut matcher = DetachMatcher::new(keys("a,a,b"));
        assert_eq!(matcher.scan(b"xaaab"), Scanned::Detach(b"xa".to_vec()));
        assert_eq!(matcher.scan(b"aab"), Scanned::Detach(Vec::new()));
        assert_eq!(matcher.scan(b"aac"), Scanned::Forward(b"aac".to_vec()));
    }

    #[test]
    fn a_single_key_detaches_at_once() {
        let mut matcher = DetachMatcher::new(keys("ctrl-x"));
        assert_eq!(matcher.scan(b"ab\x18zz"), Scanned::Detach(b"ab".to_vec()));
    }
}
