//! A new layer as it is written: a tar stream hashed for its diff_id, compressed, hashed again
//! for its digest, into a temporary file that becomes a blob of the layout once complete.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;

use hoist_oci::media_type::Compression;
use hoist_oci::{Digest, DigestingWriter};

/// The compressed stream, finished explicitly (an encoder's trailer is written then).
pub(crate) enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    fn new(inner: W, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(inner),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::default(),
            )),
            Compression::Zstd => Compressor::Zstd(zstd::Encoder::new(inner, 3)?),
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(inner) => Ok(inner),
            Compressor::Gzip(encoder) => encoder.finish(),
            Compressor::Zstd(encoder) => encoder.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(w) => w.write(buf),
            Compressor::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(w) => w.flush(),
            Compressor::Zstd(w) => w.flush(),
        }
    }
}

type Compressed = DigestingWriter<BufWriter<File>>;

pub(crate) struct LayerWriter {
    pub(crate) tar: tar::Builder<DigestingWriter<Compressor<Compressed>>>,
}

/// A finished layer: its file (rewound), digest, size and diff_id.
pub(crate) struct WrittenLayer {
    pub(crate) file: File,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) diff_id: Digest,
}

impl LayerWriter {
    /// A layer written into an unnamed temporary file in `dir`.
    pub(crate) fn new(dir: &Path, compression: Compression) -> io::Result<LayerWriter> {
        let file = tempfile::tempfile_in(dir)?;
        let compressed = DigestingWriter::new(BufWriter::with_capacity(1 << 20, file));
        let plain = DigestingWriter::new(Compressor::new(compressed, compression)?);
        let mut tar = tar::Builder::new(plain);
        tar.follow_symlinks(false);
        Ok(LayerWriter { tar })
    }

    pub(crate) fn finish(self) -> io::Result<WrittenLayer> {
        let plain = self.tar.into_inner()?;
        let diff_id = plain.digest();
        let compressed = plain.into_inner().finish()?;
        let (digest, size) = (compressed.digest(), compressed.bytes_written());
        let mut file = compressed
            .into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?;
        file.rewind()?;
        Ok(WrittenLayer {
            file,
            digest,
            size,
            diff_id,
        })
    }
}
