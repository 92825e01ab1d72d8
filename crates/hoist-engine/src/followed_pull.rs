//! A pull with the image's layers read while they download: each blob is followed as the pull
//! writes it (`hoist_oci::BlobFeeds`), so by the time the last byte has arrived most of the
//! image is unpacked, instead of all of it still to do. `run` fills its layer cache this way
//! (`LayerCache::warm`), `unpack docker://` its bundle (`hoist_unpack::unpack_following`).
//!
//! What the follower does not finish (a pull that fails, a layer that does not match its
//! diff_id, an interrupted download that starts over) is left to the caller, which does it from
//! the stored blobs as it always has, and reports any error itself.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

use hoist_oci::{BlobFeeds, Digest, ImageManifest, Layout, Platform};
use hoist_registry::{Event, EventSink, PlatformChoice, Pulled, RegistryOptions};

use crate::policy::Vetted;
use crate::{pull_into, Result};

/// What `pull_into` needs, for the one image of `platform`.
pub(crate) struct FollowedPull<'a> {
    pub vetted: &'a Vetted,
    pub layout: &'a Layout,
    pub ref_name: &'a str,
    pub platform: &'a Platform,
    pub registry: &'a RegistryOptions,
    pub events: EventSink,
}

/// The image the pull chose, as its follower gets it.
pub(crate) struct Chosen<'a> {
    pub layout: &'a Layout,
    pub feeds: &'a Arc<BlobFeeds>,
    pub manifest: &'a ImageManifest,
    pub digest: &'a Digest,
}

/// Blobs downloaded at once while they are followed. Layers are applied bottom first; over a
/// link that limits the pull, six downloads sharing it finish together at its end, with every
/// layer above the first still to apply, while two at a time finish the lower layers early and
/// leave only the top ones' application after the last byte.
const FOLLOWED_JOBS: usize = 2;

type ChosenSender = Arc<Mutex<Option<Sender<(Box<ImageManifest>, Digest)>>>>;

impl FollowedPull<'_> {
    /// Pulls the image, with `follow` run beside it on the image the pull chose (not run when
    /// the pull failed before its downloads). Returns the pull's outcome, and the follower's.
    pub(crate) fn run<T: Send>(
        self,
        follow: impl FnOnce(Chosen<'_>) -> T + Send,
    ) -> (Result<Pulled>, Option<T>) {
        let feeds = BlobFeeds::new();
        let layout = self.layout.with_feeds(Arc::clone(&feeds));
        let (chosen, chosen_image) = channel();
        let chosen: ChosenSender = Arc::new(Mutex::new(Some(chosen)));
        let events = telling_chosen(self.events, Arc::clone(&chosen));
        let platforms = PlatformChoice::One(self.platform.clone());
        let mut registry = self.registry.clone();
        registry.jobs = registry.jobs.min(FOLLOWED_JOBS);
        std::thread::scope(|scope| {
            let (layout, feeds) = (&layout, &feeds);
            let follower = scope.spawn(move || {
                let (manifest, digest) = chosen_image.recv().ok()?;
                Some(follow(Chosen {
                    layout,
                    feeds,
                    manifest: &manifest,
                    digest: &digest,
                }))
            });
            let pulled = pull_into(
                self.vetted,
                layout,
                self.ref_name,
                &platforms,
                &registry,
                events,
            );
            // Whatever the pull did, nothing more will come: the follower ends.
            feeds.close();
            drop(chosen.lock().unwrap_or_else(|e| e.into_inner()).take());
            let followed = follower.join().ok().flatten();
            (pulled, followed)
        })
    }
}

/// `events`, with the image the pull chose also sent to `chosen` (once).
fn telling_chosen(events: EventSink, chosen: ChosenSender) -> EventSink {
    Arc::new(move |event| {
        if let Event::ImageChosen { manifest, digest } = &event {
            if let Some(sender) = chosen.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = sender.send((manifest.clone(), digest.clone()));
            }
        }
        events(event)
    })
}
