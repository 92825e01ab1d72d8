//! One layer's pipeline, in stages: stored blob → size+digest check → decompression →
//! diff_id check → tar application → drain and compare.
//!
//! Three threads per layer, each a stage: the blob read through its verifier, decompression
//! with the diff_id hash, and (the caller's) tar application. They hand bytes on in bounded
//! chunks, and upper layers start a few ahead of the one being applied, so verification and
//! decompression overlap application on every core, with memory bounded by the channel depths
//! whatever the layer sizes.

use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use hoist_oci::media_type::{decompressing, layer_compression, Compression};
use hoist_oci::{descriptor_digest, Descriptor, Digest, DigestingReader, TarHeaderGuard};

use crate::progress::{CountingReader, Progress, UnpackEvent};
use crate::{Error, Result};

const CHUNK: usize = 256 * 1024;
/// Chunks a stage may run ahead of the next: 4 × 256 KiB per channel, two channels a layer.
const CHANNEL_DEPTH: usize = 4;

/// Chunk buffers handed back by the stage that emptied them, for the stage that fills them:
/// a fresh buffer would be zeroed (or page-faulted in) again for every 256 KiB that passes.
#[derive(Clone, Default)]
struct Buffers(Arc<Mutex<Vec<Vec<u8>>>>);

impl Buffers {
    /// Kept at most: the chunks in flight in one channel, and the one on each side of it.
    const KEPT: usize = CHANNEL_DEPTH + 2;

    fn take(&self) -> Vec<u8> {
        let recycled = self.0.lock().ok().and_then(|mut free| free.pop());
        recycled.unwrap_or_default()
    }

    fn give(&self, buffer: Vec<u8>) {
        if let Ok(mut free) = self.0.lock() {
            if free.len() < Self::KEPT && buffer.capacity() >= CHUNK {
                free.push(buffer);
            }
        }
    }

    /// Fills a buffer from `reader`: a full chunk, or less only at the end of the stream.
    fn fill(&self, reader: &mut impl Read) -> io::Result<Vec<u8>> {
        let mut chunk = self.take();
        // Only the part a short last chunk left uninitialised is zeroed again.
        chunk.resize(CHUNK, 0);
        let mut filled = 0;
        while filled < CHUNK {
            match reader.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        chunk.truncate(filled);
        Ok(chunk)
    }
}

/// What a decoder thread sends.
enum Chunk {
    Data(Vec<u8>),
    /// The stream ended and the compressed blob matched its digest; this is its diff_id.
    End(Digest),
    Failed(Error),
}

/// The uncompressed bytes the whole unpack may still produce (a decompression bomb stops here).
pub(crate) struct Budget {
    remaining: AtomicU64,
    limit: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget {
            remaining: AtomicU64::new(limit),
            limit,
        }
    }

    fn take(&self, bytes: u64) -> Result<()> {
        self.remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .map(|_| ())
            .map_err(|_| Error::TooLarge { limit: self.limit })
    }
}

/// Which layer a decoder works on, for progress reports.
pub(crate) struct LayerPosition<'a> {
    pub index: usize,
    pub total: usize,
    pub progress: &'a Progress,
}

/// A layer's compressed bytes, ending only once their size and digest have been checked: the
/// stored blob through its verifier, or one a pull is writing (`hoist_oci::BlobFeeds`).
pub(crate) type BlobReader = Box<dyn Read + Send>;

/// A blob opened on its first read, in the thread that reads it.
pub(crate) struct OpenedOnRead {
    open: Option<Box<dyn FnOnce() -> Result<BlobReader> + Send>>,
    blob: Option<BlobReader>,
}

impl OpenedOnRead {
    pub(crate) fn new(open: impl FnOnce() -> Result<BlobReader> + Send + 'static) -> Self {
        OpenedOnRead {
            open: Some(Box::new(open)),
            blob: None,
        }
    }
}

impl Read for OpenedOnRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(open) = self.open.take() {
            self.blob = Some(open().map_err(|e| io::Error::other(e.to_string()))?);
        }
        match &mut self.blob {
            Some(blob) => blob.read(buf),
            None => Err(io::Error::other("the blob could not be opened")),
        }
    }
}

/// Starts decoding a layer; the returned stream is read by the applier. Two threads do it: one
/// reads the blob (see `BlobReader`), one decompresses what the
/// first hands over and hashes the result for the diff_id; each stage gets a core of its own.
pub(crate) fn decode<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    blob: BlobReader,
    descriptor: &'scope Descriptor,
    budget: &'scope Budget,
    position: LayerPosition<'scope>,
) -> Result<LayerStream> {
    let layer = descriptor_digest(descriptor)?;
    let media_type = descriptor.media_type().to_string();
    let compression = layer_compression(&media_type).ok_or_else(|| Error::UnsupportedLayer {
        layer: layer.clone(),
        media_type,
    })?;
    position.progress.send(UnpackEvent::LayerStarted {
        index: position.index,
        total: position.total,
        digest: layer.clone(),
        size: descriptor.size(),
    });

    let (compressed_sender, compressed_receiver) = sync_channel(CHANNEL_DEPTH);
    let compressed_buffers = Buffers::default();
    let decompressed_buffers = Buffers::default();
    let counted = CountingReader {
        inner: blob,
        progress: position.progress,
        index: position.index,
        bytes: 0,
        reported: 0,
    };
    let reader_buffers = compressed_buffers.clone();
    scope.spawn(move || read_verified(counted, &compressed_sender, &reader_buffers));

    let (sender, receiver) = sync_channel(CHANNEL_DEPTH);
    let thread_layer = layer.clone();
    let decoder_buffers = decompressed_buffers.clone();
    scope.spawn(move || {
        let compressed = CompressedChunks {
            receiver: compressed_receiver,
            buffers: compressed_buffers,
            current: Vec::new(),
            position: 0,
            ended: false,
        };
        let outcome = decompress(
            compressed,
            compression,
            budget,
            &sender,
            &decoder_buffers,
            &thread_layer,
        );
        let last = match outcome {
            Ok(diff_id) => Chunk::End(diff_id),
            Err(e) => Chunk::Failed(e),
        };
        // The applier may have given up already; then nobody listens.
        let _ = sender.send(last);
    });
    Ok(LayerStream {
        layer,
        receiver,
        buffers: decompressed_buffers,
        current: Vec::new(),
        position: 0,
        offset: 0,
        outcome: None,
    })
}

/// Stage one: the stored blob, read through its verifier. `None` marks the end, sent only
/// after the verifier has matched size and digest.
fn read_verified(
    mut blob: impl Read,
    sender: &SyncSender<io::Result<Option<Vec<u8>>>>,
    buffers: &Buffers,
) {
    loop {
        let message = match buffers.fill(&mut blob) {
            Ok(chunk) if chunk.is_empty() => Ok(None),
            Ok(chunk) => Ok(Some(chunk)),
            Err(e) => Err(e),
        };
        let last = !matches!(message, Ok(Some(_)));
        // A closed channel means the next stage gave up; nothing more to do.
        if sender.send(message).is_err() || last {
            return;
        }
    }
}

/// Stage two's input: the verified compressed bytes, as a `BufRead` over stage one's chunks.
struct CompressedChunks {
    receiver: Receiver<io::Result<Option<Vec<u8>>>>,
    buffers: Buffers,
    current: Vec<u8>,
    position: usize,
    ended: bool,
}

impl BufRead for CompressedChunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.position == self.current.len() && !self.ended {
            match self.receiver.recv() {
                Ok(Ok(Some(chunk))) => {
                    self.buffers
                        .give(std::mem::replace(&mut self.current, chunk));
                    self.position = 0;
                }
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::Error::other("the blob reader stopped before the end")),
            }
        }
        Ok(&self.current[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position += amount;
    }
}

impl Read for CompressedChunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, buf)
    }
}

/// `Read` for a `BufRead` over chunks: a copy from the chunk in hand.
fn read_buffered(source: &mut impl BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let available = source.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    source.consume(n);
    Ok(n)
}

/// Stage two: decompression and the diff_id, handing the tar stream to the applier in chunks.
fn decompress(
    mut compressed: CompressedChunks,
    compression: Compression,
    budget: &Budget,
    sender: &SyncSender<Chunk>,
    buffers: &Buffers,
    layer: &Digest,
) -> Result<Digest> {
    let stream_error = |source: io::Error| Error::Layer {
        layer: layer.clone(),
        source,
    };
    // The applier stopped (an error of its own); no one needs the rest.
    let abandoned = || stream_error(io::Error::other("abandoned"));
    let tar_error = |source| Error::TarHeader {
        layer: layer.clone(),
        source,
    };
    let diff_id = {
        let decompressed = decompressing(&mut compressed, compression).map_err(stream_error)?;
        let mut diff = DigestingReader::new(decompressed);
        // Sees each chunk before the applier's tar reader does (see hoist_oci::tar_guard).
        let mut headers = TarHeaderGuard::default();
        loop {
            let chunk = buffers.fill(&mut diff).map_err(stream_error)?;
            if chunk.is_empty() {
                break;
            }
            budget.take(chunk.len() as u64)?;
            headers.scan(&chunk).map_err(tar_error)?;
            if sender.send(Chunk::Data(chunk)).is_err() {
                return Err(abandoned());
            }
        }
        // What the stream lacks at its end: the tar crate gets the last entry's padding
        // (outside the diff_id, which covers the layer as it is), or the layer is refused.
        let padding = headers.missing_padding().map_err(tar_error)?;
        if padding > 0 && sender.send(Chunk::Data(vec![0; padding as usize])).is_err() {
            return Err(abandoned());
        }
        diff.digest()
    };
    // Compressed bytes the decoder did not need (trailing data) still count toward the digest:
    // read to the end, where stage one's verifier has its say.
    io::copy(&mut compressed, &mut io::sink()).map_err(stream_error)?;
    Ok(diff_id)
}

/// The uncompressed stream of one layer, as the applier reads it.
pub(crate) struct LayerStream {
    pub(crate) layer: Digest,
    receiver: Receiver<Chunk>,
    buffers: Buffers,
    current: Vec<u8>,
    position: usize,
    /// Bytes of the stream consumed so far, read or skipped.
    offset: u64,
    outcome: Option<Result<Digest>>,
}

impl LayerStream {
    /// Drains what the tar reader left (the end-of-archive blocks, and whatever follows them,
    /// are part of the diff_id, which the decoder computed),
    /// then checks the diff_id against the image config's.
    pub(crate) fn finish(mut self, expected_diff_id: &str) -> Result<()> {
        let drained = io::copy(&mut self, &mut io::sink());
        let outcome = self.outcome.take();
        let diff_id = match (drained, outcome) {
            (_, Some(Err(e))) => return Err(e),
            (Err(e), _) => {
                return Err(Error::Layer {
                    layer: self.layer,
                    source: e,
                })
            }
            (Ok(_), Some(Ok(diff_id))) => diff_id,
            (Ok(_), None) => unreachable!("a drained stream has an outcome"),
        };
        if diff_id.to_string() != expected_diff_id {
            return Err(Error::DiffIdMismatch {
                layer: self.layer,
                expected: expected_diff_id.to_string(),
                actual: diff_id,
            });
        }
        Ok(())
    }

    /// The decoder's own error, if the stream failed because of one (rather than a tar error).
    pub(crate) fn take_failure(&mut self) -> Option<Error> {
        match self.outcome.take() {
            Some(Err(e)) => Some(e),
            other => {
                self.outcome = other;
                None
            }
        }
    }
}

impl BufRead for LayerStream {
    /// The unread bytes of the current chunk, receiving the next one when it is used up;
    /// empty at the end of the stream.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.position == self.current.len() {
            if self.outcome.is_some() {
                return match &self.outcome {
                    Some(Err(_)) => Err(io::Error::other("the layer stream failed")),
                    _ => Ok(&[]),
                };
            }
            match self.receiver.recv() {
                Ok(Chunk::Data(chunk)) => {
                    self.buffers
                        .give(std::mem::replace(&mut self.current, chunk));
                    self.position = 0;
                }
                Ok(Chunk::End(diff_id)) => self.outcome = Some(Ok(diff_id)),
                Ok(Chunk::Failed(e)) => self.outcome = Some(Err(e)),
                Err(_) => {
                    return Err(io::Error::other("the layer decoder stopped without a word"));
                }
            }
        }
        Ok(&self.current[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position += amount;
        self.offset += amount as u64;
    }
}

impl Read for LayerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, buf)
    }
}

/// Forward skips only: the tar reader seeks past file contents and padding it does not read,
/// which would otherwise be copied into a zeroed 32 KiB buffer per entry.
impl Seek for LayerStream {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let mut remaining = match target {
            SeekFrom::Current(delta) if delta >= 0 => delta as u64,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a layer stream only skips forward",
                ))
            }
        };
        while remaining > 0 {
            let available = self.fill_buf()?.len();
            if available == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the layer ends inside a tar entry",
                ));
            }
            let n = available.min(usize::try_from(remaining).unwrap_or(usize::MAX));
            self.consume(n);
            remaining -= n as u64;
        }
        Ok(self.offset)
    }
}
