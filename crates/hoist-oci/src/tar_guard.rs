//! A watch kept on a tar stream's headers before the `tar` crate reads them.
//!
//! The tar crate reads the body of a PAX header (`x`) and of a GNU long name or link (`L`, `K`)
//! whole into memory, with no cap, and parses GNU sparse maps of any length: a few megabytes of
//! gzip can hold a multi-GiB PAX header and take the process down. It offers no hook to cap
//! them, so the guard follows the stream beside it (the same headers, sizes and PAX `size`
//! overrides, read with the tar crate's own parsers) and refuses such a body over
//! [`MAX_HEADER_BODY`] — Go's archive/tar cap since CVE-2022-2879, so what umoci, containerd
//! and containers/storage accept — before the tar crate has seen a byte of it.

use std::io::{self, Read};

/// The largest PAX or GNU long-name body accepted.
pub const MAX_HEADER_BODY: u64 = 1 << 20;

const BLOCK: usize = 512;

/// Why a tar stream was refused.
#[derive(Debug, thiserror::Error)]
pub enum TarHeaderError {
    #[error(
        "the tar entry {entry:?} at byte {offset} is a {kind} of {size} bytes, over the \
         {MAX_HEADER_BODY}-byte limit for header data (Go's archive/tar has the same); \
         the archive is refused"
    )]
    TooLarge {
        entry: String,
        offset: u64,
        kind: &'static str,
        size: u64,
    },
    #[error("the tar entry {entry:?} at byte {offset} is a GNU sparse file (old GNU or PAX format), which hoist does not unpack")]
    Sparse { entry: String, offset: u64 },
    #[error(
        "the tar stream ends inside the data of the entry {entry:?} (its header at byte \
         {offset}), {missing} bytes short of its size: the archive is truncated"
    )]
    TruncatedEntry {
        entry: String,
        offset: u64,
        missing: u64,
    },
    #[error(
        "the tar stream ends {filled} bytes into the 512-byte block at byte {offset} (a header, \
         or the end-of-archive blocks): the archive is truncated"
    )]
    TruncatedHeader { offset: u64, filled: usize },
}

/// Follows a tar stream fed to it in order, one slice at a time.
pub struct TarHeaderGuard {
    /// Bytes of the stream seen so far.
    offset: u64,
    state: State,
    header: [u8; BLOCK],
    /// A PAX header's records (at most [`MAX_HEADER_BODY`]), for the `size` they may give the
    /// entry they describe.
    pax: Vec<u8>,
    /// The records of a complete PAX header, waiting for the entry they describe.
    pending_pax: Option<Vec<u8>>,
}

enum State {
    /// Filling `header`; this many bytes of it so far.
    Header(usize),
    /// Inside the data and padding of the entry whose header is at `header_offset` (the last
    /// `padding` of the `remaining` bytes); `collect` keeps its data as PAX records.
    Body {
        remaining: u64,
        padding: u64,
        collect: bool,
        header_offset: u64,
    },
    /// The tar crate stops here (end of archive, or a header it refuses): nothing more to see.
    Ended,
}

impl Default for TarHeaderGuard {
    fn default() -> Self {
        TarHeaderGuard {
            offset: 0,
            state: State::Header(0),
            header: [0; BLOCK],
            pax: Vec::new(),
            pending_pax: None,
        }
    }
}

impl TarHeaderGuard {
    /// Looks at the next bytes of the stream; an error means the tar crate must not read them.
    pub fn scan(&mut self, mut bytes: &[u8]) -> Result<(), TarHeaderError> {
        while !bytes.is_empty() {
            let taken = match &mut self.state {
                State::Ended => return Ok(()),
                State::Header(filled) => {
                    let n = (BLOCK - *filled).min(bytes.len());
                    self.header[*filled..*filled + n].copy_from_slice(&bytes[..n]);
                    *filled += n;
                    if *filled == BLOCK {
                        let header_offset = self.offset + n as u64 - BLOCK as u64;
                        self.state = self.next_state(header_offset)?;
                    }
                    n
                }
                State::Body {
                    remaining,
                    padding,
                    collect,
                    ..
                } => {
                    let n = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    if *collect {
                        // The records are the entry's data, not its padding: the tar crate
                        // reads exactly `size` bytes of them.
                        let data_left = remaining.saturating_sub(*padding);
                        let records = usize::try_from(data_left).unwrap_or(usize::MAX).min(n);
                        self.pax.extend_from_slice(&bytes[..records]);
                    }
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        if *collect {
                            self.pending_pax = Some(std::mem::take(&mut self.pax));
                        }
                        self.state = State::Header(0);
                    }
                    n
                }
            };
            self.offset += taken as u64;
            bytes = &bytes[taken..];
        }
        Ok(())
    }

    /// What follows the header just read, as the tar crate (with `ignore_zeros` off) sees it.
    fn next_state(&mut self, header_offset: u64) -> Result<State, TarHeaderError> {
        let header = tar::Header::from_byte_slice(&self.header);
        if self.header.iter().all(|b| *b == 0) || !checksum_matches(&self.header) {
            return Ok(State::Ended); // the end of the archive, or an error of the tar crate's
        }
        let Ok(mut size) = header.entry_size() else {
            return Ok(State::Ended);
        };
        let kind = header.entry_type();
        let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        let entry = || String::from_utf8_lossy(&header.path_bytes()).into_owned();
        if !extension {
            if let Some(records) = self.pending_pax.as_deref() {
                if pax_is_sparse(records) {
                    return Err(TarHeaderError::Sparse {
                        entry: entry(),
                        offset: header_offset,
                    });
                }
                if let Some(pax_size) = pax_size(records) {
                    size = pax_size;
                }
            }
        }
        let read_whole = recognized
            && (kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions());
        if extension && size > MAX_HEADER_BODY {
            return Err(TarHeaderError::TooLarge {
                entry: entry(),
                offset: header_offset,
                kind: match kind {
                    tar::EntryType::GNULongName => "GNU long name",
                    tar::EntryType::GNULongLink => "GNU long link name",
                    tar::EntryType::XGlobalHeader => "PAX global header",
                    _ => "PAX header",
                },
                size,
            });
        }
        if kind.is_gnu_sparse() {
            return Err(TarHeaderError::Sparse {
                entry: entry(),
                offset: header_offset,
            });
        }
        let collect = recognized && kind.is_pax_local_extensions();
        if collect && self.pending_pax.is_some() {
            return Ok(State::Ended); // two PAX headers for one entry: the tar crate refuses
        }
        if !read_whole {
            // The entry the PAX records described; they are used up.
            self.pending_pax = None;
        }
        // Data is padded to whole blocks; `size` is at most 2^63 here (checked above or
        // parsed from at most 11 octal digits or a PAX number the tar crate also trusts).
        let padded = size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64);
        Ok(if padded == 0 {
            if collect {
                self.pending_pax = Some(Vec::new());
            }
            State::Header(0)
        } else {
            State::Body {
                remaining: padded,
                padding: padded - size,
                collect,
                header_offset,
            }
        })
    }

    /// Judges where the stream ended, once it has: the zeros the tar crate needs to see the
    /// archive end cleanly, or why it is truncated.
    ///
    /// A stream may stop right after the last entry's data, with neither its padding nor the
    /// end-of-archive blocks (`umoci insert` writes such layers). Go's archive/tar, and so
    /// podman, containerd and umoci, accept it: every byte of every entry is there, and the
    /// layer's diff_id vouches for the stream as it is. The tar crate does not (it reads the
    /// padding before the next header), so the caller feeds it the missing padding. A stream
    /// that stops inside an entry's data or a header lacks content and is refused.
    pub fn missing_padding(&self) -> Result<u64, TarHeaderError> {
        match self.state {
            State::Ended | State::Header(0) => Ok(0),
            State::Header(filled) => Err(TarHeaderError::TruncatedHeader {
                offset: self.offset - filled as u64,
                filled,
            }),
            State::Body {
                remaining, padding, ..
            } if remaining <= padding => Ok(remaining),
            State::Body {
                remaining,
                padding,
                header_offset,
                ..
            } => Err(TarHeaderError::TruncatedEntry {
                entry: String::from_utf8_lossy(
                    &tar::Header::from_byte_slice(&self.header).path_bytes(),
                )
                .into_owned(),
                offset: header_offset,
                missing: remaining - padding,
            }),
        }
    }
}

/// The tar crate's check: the header's bytes summed with the checksum field read as spaces.
fn checksum_matches(block: &[u8; BLOCK]) -> bool {
    let sum: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|b| u32::from(*b))
        .sum::<u32>()
        + 8 * 32;
    tar::Header::from_byte_slice(block)
        .cksum()
        .is_ok_and(|recorded| recorded == sum)
}

/// The `size` record of PAX records, as the tar crate reads it (the first `size` key; nothing
/// if a record before it is malformed or its value is not a number).
fn pax_size(records: &[u8]) -> Option<u64> {
    for record in tar::PaxExtensions::new(records) {
        let record = record.ok()?;
        if record.key() == Ok("size") {
            return record.value().ok()?.parse().ok();
        }
    }
    None
}

/// Whether PAX records describe a GNU sparse file (`GNU.sparse.*`, as `tar --format=posix
/// --sparse` writes): the tar crate would unpack its map and data as an ordinary file.
fn pax_is_sparse(records: &[u8]) -> bool {
    tar::PaxExtensions::new(records)
        .map_while(Result::ok)
        .any(|record| record.key().is_ok_and(|key| key.starts_with("GNU.sparse.")))
}

/// A reader that shows every byte it returns to a [`TarHeaderGuard`] first.
pub struct GuardedTarReader<R> {
    inner: R,
    guard: TarHeaderGuard,
}

impl<R> GuardedTarReader<R> {
    pub fn new(inner: R) -> Self {
        GuardedTarReader {
            inner,
            guard: TarHeaderGuard::default(),
        }
    }
}

impl<R: Read> Read for GuardedTarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.guard
            .scan(&buf[..n])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: tar::EntryType, name: &str, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_path(name).unwrap();
        header.set_mode(0o644);
        header.set_size(size);
        header.set_cksum();
        header
    }

    fn scan_in_pieces(stream: &[u8], piece: usize) -> Result<(), TarHeaderError> {
        let mut guard = TarHeaderGuard::default();
        stream.chunks(piece).try_for_each(|c| guard.scan(c))
    }

    #[test]
    fn ordinary_archives_pass_in_any_slicing() {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions([("SCHILY.xattr.user.a", &b"1"[..])])
            .unwrap();
        builder
            .append_data(
                &mut header(tar::EntryType::Regular, "a", 3),
                "a",
                &b"abc"[..],
            )
            .unwrap();
        let long = "d/".repeat(200) + "f";
        let mut gnu = tar::Header::new_gnu();
        gnu.set_size(700);
        gnu.set_mode(0o644);
        builder
            .append_data(&mut gnu, &long, &vec![7u8; 700][..])
            .unwrap();
        let stream = builder.into_inner().unwrap();
        for piece in [1, 7, 512, 4096] {
            scan_in_pieces(&stream, piece).unwrap();
        }
    }

    #[test]
    fn an_oversized_pax_header_is_refused_at_its_header() {
        let mut stream = header(tar::EntryType::XHeader, "PaxHeaders/a", MAX_HEADER_BODY + 1)
            .as_bytes()
            .to_vec();
        stream.extend_from_slice(&[b'a'; 1024]);
        let error = scan_in_pieces(&stream, 100).unwrap_err();
        assert!(error.to_string().contains("PAX header"), "{error}");
        assert!(error.to_string().contains("PaxHeaders/a"), "{error}");
    }

    #[test]
    fn a_long_name_at_the_limit_passes_and_one_past_it_does_not() {
        for (size, refused) in [(MAX_HEADER_BODY, false), (MAX_HEADER_BODY + 1, true)] {
            let stream = header(tar::EntryType::GNULongName, "././@LongLink", size);
            let outcome = scan_in_pieces(stream.as_bytes(), 512);
            assert_eq!(outcome.is_err(), refused, "{size}: {outcome:?}");
        }
    }

    #[test]
    fn a_pax_size_moves_the_next_header_as_it_does_for_the_tar_crate() {
        // The entry's own header says 0 bytes; its PAX record says 2 MiB. The next header is
        // found after the 2 MiB, where an oversized long name waits.
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions([("size", &b"2097152"[..])])
            .unwrap();
        let mut stream = builder.into_inner().unwrap();
        stream.truncate(stream.len() - 1024); // the end-of-archive blocks into_inner added
        stream.extend_from_slice(header(tar::EntryType::Regular, "big", 0).as_bytes());
        stream.extend_from_slice(&vec![0u8; 2 << 20]);
        stream.extend_from_slice(
            header(tar::EntryType::GNULongName, "././@LongLink", 5 << 20).as_bytes(),
        );
        let error = scan_in_pieces(&stream, 65536).unwrap_err();
        assert!(error.to_string().contains("GNU long name"), "{error}");
    }

    #[test]
    fn records_in_a_pax_headers_padding_are_not_read_as_records() {
        // The PAX data is one harmless record; a `size` record hides in its padding, where the
        // tar crate never looks. The next header follows the padding, whatever it holds.
        let records = b"6 a=b\n";
        let mut stream = header(
            tar::EntryType::XHeader,
            "PaxHeaders/f",
            records.len() as u64,
        )
        .as_bytes()
        .to_vec();
        let mut block = [0u8; BLOCK];
        block[..records.len()].copy_from_slice(records);
        let hidden = b"16 size=2097152\n";
        block[records.len()..records.len() + hidden.len()].copy_from_slice(hidden);
        stream.extend_from_slice(&block);
        stream.extend_from_slice(header(tar::EntryType::Regular, "f", 0).as_bytes());
        stream.extend_from_slice(
            header(tar::EntryType::GNULongName, "././@LongLink", 5 << 20).as_bytes(),
        );
        let error = scan_in_pieces(&stream, 512).unwrap_err();
        assert!(error.to_string().contains("GNU long name"), "{error}");
    }

    #[test]
    fn sparse_files_are_refused() {
        let mut sparse = tar::Header::new_gnu();
        sparse.set_entry_type(tar::EntryType::GNUSparse);
        sparse.set_size(0);
        sparse.set_cksum();
        assert!(matches!(
            scan_in_pieces(sparse.as_bytes(), 512),
            Err(TarHeaderError::Sparse { .. })
        ));
    }

    /// One 6-byte file, cut at `length` bytes.
    fn one_file_cut_at(length: usize) -> TarHeaderGuard {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_data(
                &mut header(tar::EntryType::Regular, "etc/greeting", 6),
                "etc/greeting",
                &b"hello\n"[..],
            )
            .unwrap();
        let stream = builder.into_inner().unwrap();
        let mut guard = TarHeaderGuard::default();
        guard.scan(&stream[..length]).unwrap();
        guard
    }

    #[test]
    fn a_stream_cut_after_the_last_data_lacks_only_its_padding() {
        assert_eq!(one_file_cut_at(512 + 6).missing_padding().unwrap(), 506);
        assert_eq!(one_file_cut_at(512 + 100).missing_padding().unwrap(), 412);
        // Padded but without end-of-archive blocks, or with them: nothing is missing.
        assert_eq!(one_file_cut_at(1024).missing_padding().unwrap(), 0);
        assert_eq!(one_file_cut_at(2048).missing_padding().unwrap(), 0);
    }

    #[test]
    fn a_stream_cut_inside_data_or_a_header_is_truncated() {
        let error = one_file_cut_at(512 + 5).missing_padding().unwrap_err();
        assert!(
            matches!(&error, TarHeaderError::TruncatedEntry { entry, offset: 0, missing: 1 } if entry == "etc/greeting"),
            "{error:?}"
        );
        let error = one_file_cut_at(300).missing_padding().unwrap_err();
        assert!(
            matches!(
                error,
                TarHeaderError::TruncatedHeader {
                    offset: 0,
                    filled: 300
                }
            ),
            "{error:?}"
        );
        let error = one_file_cut_at(1024 + 10).missing_padding().unwrap_err();
        assert!(
            matches!(
                error,
                TarHeaderError::TruncatedHeader {
                    offset: 1024,
                    filled: 10
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn pax_sparse_files_are_refused_at_the_entry_they_describe() {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions([
                ("GNU.sparse.major", &b"1"[..]),
                ("GNU.sparse.minor", &b"0"[..]),
            ])
            .unwrap();
        builder
            .append_data(
                &mut header(tar::EntryType::Regular, "f", 3),
                "f",
                &b"abc"[..],
            )
            .unwrap();
        let stream = builder.into_inner().unwrap();
        assert!(matches!(
            scan_in_pieces(&stream, 512),
            Err(TarHeaderError::Sparse { entry, .. }) if entry == "f"
        ));
    }

    #[test]
    fn the_end_of_the_archive_ends_the_watch() {
        let mut stream = vec![0u8; 1024];
        stream.extend_from_slice(
            header(tar::EntryType::XHeader, "after-the-end", 1 << 30).as_bytes(),
        );
        scan_in_pieces(&stream, 512).unwrap();
    }
}
