//! Drawing a pull's progress: a bar per blob on a terminal, a line per finished blob otherwise,
//! nothing with `--quiet`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use hoist_registry::Event;
use hoist_unpack::{Progress, UnpackEvent};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn pull_progress(quiet: bool) -> Arc<dyn Fn(Event) + Send + Sync> {
    if quiet {
        return Arc::new(|_| {});
    }
    if std::io::stderr().is_terminal() {
        let bars = Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            overall: Mutex::new(None),
        };
        return Arc::new(move |event| bars.on(event));
    }
    Arc::new(|event| match event {
        Event::BlobDone { digest, fetched } => {
            let short = &digest.hex()[..12];
            if fetched {
                eprintln!("Copied blob {short}");
            } else {
                eprintln!("Blob {short} already present");
            }
        }
        Event::Resolved { blobs, .. } if blobs > 1 => eprintln!("Copying {blobs} blobs"),
        other => {
            if let Some(line) = retry_line(&other) {
                eprintln!("{line}");
            }
        }
    })
}

/// What a retry or a resume looks like, as skopeo and podman say it.
fn retry_line(event: &Event) -> Option<String> {
    let wait = |wait: &std::time::Duration| humantime::format_duration(*wait).to_string();
    match event {
        Event::Retrying {
            what,
            reason,
            wait: pause,
            attempt,
            of,
        } => Some(format!(
            "{what} failed ({reason}): retrying in {} ({attempt}/{of})",
            wait(pause)
        )),
        Event::Resuming {
            digest,
            at,
            reason,
            wait: pause,
            attempt,
            of,
        } => Some(format!(
            "blob {} broke off at {at} bytes ({reason}): resuming there in {} ({attempt}/{of})",
            &digest.hex()[..12],
            wait(pause)
        )),
        _ => None,
    }
}

struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<hoist_oci::Digest, ProgressBar>>,
    /// Blobs done of all, for an image of more than one.
    overall: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn on(&self, event: Event) {
        let mut bars = self.bars.lock().expect("progress lock");
        match event {
            Event::BlobStarted { digest, size } => {
                let bar = self.multi.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(format!("blob {}", &digest.hex()[..12]));
                bars.insert(digest, bar);
            }
            Event::BlobProgress { digest, bytes } => {
                if let Some(bar) = bars.get(&digest) {
                    bar.set_position(bytes);
                }
            }
            Event::BlobDone { digest, fetched } => {
                if let Some(overall) = &*self.overall.lock().expect("progress lock") {
                    overall.inc(1);
                }
                match bars.remove(&digest) {
                    Some(bar) => bar.finish_with_message("done"),
                    None if !fetched => {
                        let _ = self
                            .multi
                            .println(format!("blob {} already present", &digest.hex()[..12]));
                    }
                    None => {}
                }
            }
            Event::Resolved { blobs, .. } if blobs > 1 => {
                let overall = self.multi.insert(0, ProgressBar::new(blobs as u64));
                overall.set_style(
                    ProgressStyle::with_template("{prefix:.bold} {pos}/{len} blobs {msg}")
                        .expect("a valid template"),
                );
                overall.set_prefix("image");
                *self.overall.lock().expect("progress lock") = Some(overall);
            }
            other => {
                if let Some(line) = retry_line(&other) {
                    let _ = self.multi.println(line);
                }
            }
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        if let Some(overall) = self.overall.lock().expect("progress lock").take() {
            overall.finish_with_message("done");
        }
    }
}

/// Unpack progress: a bar per layer on a terminal, a line per applied layer otherwise.
pub fn unpack_progress() -> Progress {
    if std::io::stderr().is_terminal() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let bars: Mutex<HashMap<usize, ProgressBar>> = Mutex::new(HashMap::new());
        return Progress::new(move |event| {
            let mut bars = bars.lock().expect("progress lock");
            match event {
                UnpackEvent::LayerStarted {
                    index,
                    total,
                    digest,
                    size,
                } => {
                    let bar = multi.add(ProgressBar::new(size));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes}",
                        )
                        .expect("a valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(format!(
                        "layer {}/{total} {}",
                        index + 1,
                        &digest.hex()[..12]
                    ));
                    bars.insert(index, bar);
                }
                UnpackEvent::LayerProgress { index, bytes } => {
                    if let Some(bar) = bars.get(&index) {
                        bar.set_position(bytes);
                    }
                }
                UnpackEvent::LayerDone { index } => {
                    if let Some(bar) = bars.remove(&index) {
                        bar.finish();
                    }
                }
            }
        });
    }
    let totals: Mutex<HashMap<usize, (usize, String)>> = Mutex::new(HashMap::new());
    Progress::new(move |event| match event {
        UnpackEvent::LayerStarted {
            index,
            total,
            digest,
            ..
        } => {
            totals
                .lock()
                .expect("progress lock")
                .insert(index, (total, digest.hex()[..12].to_string()));
        }
        UnpackEvent::LayerDone { index } => {
            if let Some((total, short)) = totals.lock().expect("progress lock").remove(&index) {
                eprintln!("Applied layer {}/{total} {short}", index + 1);
            }
        }
        UnpackEvent::LayerProgress { .. } => {}
    })
}
