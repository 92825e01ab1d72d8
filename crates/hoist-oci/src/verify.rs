use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use crate::Digest;

/// A reader that yields at most `size` bytes and fails, instead of reporting end of file, when the
/// bytes it passed on do not have the expected size and digest.
///
/// A consumer that reads to the end has therefore read verified bytes; one that stops early has
/// not, and must call [`VerifiedReader::finish`] to drain and check the rest.
pub struct VerifiedReader<R> {
    inner: R,
    expected_digest: Digest,
    expected_size: u64,
    hasher: Sha256,
    seen: u64,
    verified: bool,
}

impl<R: Read> VerifiedReader<R> {
    pub fn new(inner: R, expected_digest: Digest, expected_size: u64) -> Self {
        VerifiedReader {
            inner,
            expected_digest,
            expected_size,
            hasher: Sha256::new(),
            seen: 0,
            verified: false,
        }
    }

    /// Reads what is left, then checks size and digest. Returns the number of bytes that were
    /// left unread, which callers of layered formats use to notice trailing garbage.
    pub fn finish(mut self) -> io::Result<u64> {
        io::copy(&mut self, &mut io::sink())
    }

    fn check_at_end(&mut self) -> io::Result<()> {
        if self.verified {
            return Ok(());
        }
        if self.seen != self.expected_size {
            return Err(invalid(format!(
                "blob {} is {} bytes long, but its descriptor says {}",
                self.expected_digest, self.seen, self.expected_size
            )));
        }
        let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if actual != self.expected_digest {
            return Err(invalid(format!(
                "blob content does not match its digest: expected {}, got {actual}",
                self.expected_digest
            )));
        }
        self.verified = true;
        Ok(())
    }
}

impl<R: Read> Read for VerifiedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let remaining = self.expected_size - self.seen;
        if remaining == 0 {
            // One probe byte beyond the declared size tells "exact" from "too long".
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? != 0 {
                return Err(invalid(format!(
                    "blob {} is longer than the {} bytes its descriptor says",
                    self.expected_digest, self.expected_size
                )));
            }
            self.check_at_end()?;
            return Ok(0);
        }
        let limit = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..limit])?;
        if n == 0 {
            self.check_at_end()?;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.seen += n as u64;
        Ok(n)
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A running sha256 and byte count, for writers that verify as they go.
#[derive(Default, Clone)]
pub(crate) struct Tally {
    hasher: Sha256,
    pub(crate) bytes: u64,
}

impl Tally {
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
    }

    pub(crate) fn digest(self) -> Digest {
        Digest::from_hasher(self.hasher)
    }
}

/// A reader that hashes whatever passes through it, for digests learned while streaming (a
/// layer's diff_id, computed over its uncompressed bytes).
pub struct DigestingReader<R> {
    inner: R,
    tally: Tally,
}

impl<R: Read> DigestingReader<R> {
    pub fn new(inner: R) -> Self {
        DigestingReader {
            inner,
            tally: Tally::default(),
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.tally.bytes
    }

    /// The digest of everything read so far.
    pub fn digest(&self) -> Digest {
        Digest::from_hasher(self.tally.hasher.clone())
    }
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tally.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes whatever passes through it on its way to `inner` (a layer being
/// made: its diff_id before compression, its digest after).
pub struct DigestingWriter<W> {
    inner: W,
    tally: Tally,
}

impl<W: io::Write> DigestingWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestingWriter {
            inner,
            tally: Tally::default(),
        }
    }

    pub fn bytes_written(&self) -> u64 {
        self.tally.bytes
    }

    /// The digest of everything written so far.
    pub fn digest(&self) -> Digest {
        Digest::from_hasher(self.tally.hasher.clone())
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: io::Write> io::Write for DigestingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.tally.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], digest: Digest, size: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        VerifiedReader::new(data, digest, size).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn passes_matching_bytes() {
        let data = b"hello world";
        let out = read_all(data, Digest::of(data), data.len() as u64).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn fails_on_digest_mismatch_size_mismatch_and_overlong_input() {
        let data = b"hello world";
        let err = read_all(data, Digest::of(b"other"), data.len() as u64).unwrap_err();
        assert!(
            err.to_string().contains("does not match its digest"),
            "{err}"
        );
        let err = read_all(&data[..5], Digest::of(data), data.len() as u64).unwrap_err();
        assert!(err.to_string().contains("5 bytes long"), "{err}");
        let err = read_all(data, Digest::of(&data[..5]), 5).unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    #[test]
    fn finish_drains_and_counts_the_rest() {
        let data = b"0123456789";
        let mut reader = VerifiedReader::new(&data[..], Digest::of(data), 10);
        let mut head = [0u8; 4];
        reader.read_exact(&mut head).unwrap();
        assert_eq!(reader.finish().unwrap(), 6);
    }
}
