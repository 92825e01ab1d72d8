//! One layer's pipeline, in stages: stored blob → size+digest check → decompression →
//! diff_id check → tar application → drain and compare.

use std::io::{self, BufReader, Read};

use hoist_fs::Root;
use hoist_oci::media_type::{layer_compression, Compression};
use hoist_oci::{descriptor_digest, Descriptor, DigestingReader, Layout};

use crate::apply::{ApplyOptions, EntryError, LayerApplier};
use crate::{Error, Result};

const READ_BUFFER: usize = 1 << 20;

/// Applies one layer to the rootfs and returns the unpack budget left.
pub(crate) fn apply_layer(
    layout: &Layout,
    descriptor: &Descriptor,
    diff_id: &str,
    root: &Root,
    options: ApplyOptions,
    budget: u64,
) -> Result<u64> {
    let layer = descriptor_digest(descriptor)?;
    let media_type = descriptor.media_type().to_string();
    let compression = layer_compression(&media_type).ok_or_else(|| Error::UnsupportedLayer {
        layer: layer.clone(),
        media_type: media_type.clone(),
    })?;
    let stream_error = |source: io::Error| Error::Layer {
        layer: layer.clone(),
        source,
    };

    let mut verified = layout.open_blob(descriptor)?;
    let left = {
        let buffered = BufReader::with_capacity(READ_BUFFER, &mut verified);
        let decompressed: Box<dyn Read + '_> = match compression {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(stream_error)?)
            }
        };
        let mut diff = DigestingReader::new(decompressed);
        let mut archive = tar::Archive::new(&mut diff);
        let left = LayerApplier::new(root, options, budget)
            .apply(&mut archive)
            .map_err(|EntryError { entry, source }| {
                if source.kind() == io::ErrorKind::FileTooLarge {
                    Error::TooLarge { limit: budget }
                } else if source.kind() == io::ErrorKind::InvalidData && entry == "(tar stream)" {
                    stream_error(source)
                } else {
                    Error::Entry {
                        layer: layer.clone(),
                        entry,
                        source,
                    }
                }
            })?;
        // The tar end marker may be followed by padding; it is part of the diff_id.
        io::copy(&mut diff, &mut io::sink()).map_err(stream_error)?;
        let actual = diff.digest();
        if actual.to_string() != diff_id {
            return Err(Error::DiffIdMismatch {
                layer,
                expected: diff_id.to_string(),
                actual,
            });
        }
        left
    };
    // Compressed bytes the decoder did not need (trailing data) still count toward the digest.
    verified.finish().map_err(stream_error)?;
    Ok(left)
}
