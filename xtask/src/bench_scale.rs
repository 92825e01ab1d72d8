//! How hoist's costs grow with the work, hoist alone: the verbs that look at every container or
//! image with 10, 100 and 1 000 of them in the store; pull and unpack of images of 1, 10 and 100
//! layers; the peak memory of unpacking one 2 GiB layer; and `run -d` of the first and of the
//! 200th container running at once. Anything that grows faster than the work is a bug.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoist_oci::{media_type, Digest, Layout};
use serde_json::json;

use crate::bench::ms;
use crate::bench::Settings;
use crate::fixtures::{write_blob, write_image_documents};
use crate::shell;

/// The task names, for `--only`.
const TASK: &str = "scaling";
/// How many containers (and images) the store holds for each column.
const SIZES: [usize; 3] = [10, 100, 1000];
/// Layers of the images pulled and unpacked, for each column.
const LAYERS: [usize; 3] = [1, 10, 100];
/// Containers running at once for the last `run -d`.
const CONCURRENT: usize = 200;

pub(crate) fn scaling_table(
    hoist: &Path,
    registry: &str,
    settings: &Settings,
) -> anyhow::Result<()> {
    if settings.only.is_some_and(|only| !TASK.contains(only)) {
        return Ok(());
    }
    let work = settings.scratch.join("scaling");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let scale = Scale {
        hoist,
        store: work.join("store"),
        state: work.join("run"),
        image: format!("{registry}/busybox:latest"),
        runs: settings.runs.clamp(1, 5),
    };
    println!(
        "\nhow costs grow (hoist alone, median of {} runs; growth: the largest size's time over the smallest's)",
        scale.runs
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>8}",
        "task", "10", "100", "1000", "growth"
    );
    let outcome = (|| {
        scale.hoist_ok(&["pull", "--quiet", "--tls-verify=false", &scale.image])?;
        scale.containers()?;
        scale.images()?;
        scale.layers(registry, &work)?;
        scale.big_layer(&work)?;
        scale.concurrent()
    })();
    // Whatever is left running or mounted goes with the store.
    let _ = scale.hoist(&["rm", "--all", "--force"]).output();
    let _ = fs::remove_dir_all(&work);
    outcome
}

struct Scale<'a> {
    hoist: &'a Path,
    store: PathBuf,
    state: PathBuf,
    image: String,
    runs: usize,
}

impl Scale<'_> {
    fn hoist(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.hoist);
        c.env("HOIST_ROOT", &self.store)
            .arg("--root")
            .arg(&self.state)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// `create` of a container `name` that runs `true`, with no network.
    fn create_args<'a>(&'a self, name: &'a str) -> [&'a str; 7] {
        [
            "create",
            "--network",
            "none",
            "--name",
            name,
            &self.image,
            "true",
        ]
    }

    fn hoist_ok(&self, args: &[&str]) -> anyhow::Result<()> {
        shell::output(&mut self.hoist(args)).map(|_| ())
    }

    /// The median time of `args`, run `self.runs` times (after `before` each time).
    fn median(
        &self,
        args: &[&str],
        mut before: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Duration> {
        let mut times = Vec::new();
        for _ in 0..self.runs {
            before()?;
            times.push(timed(&mut self.hoist(args))?);
        }
        times.sort();
        Ok(times[times.len() / 2])
    }

    /// `ps -a`, `create`, `rm` and `run --rm` with 10, 100 and 1 000 created containers.
    fn containers(&self) -> anyhow::Result<()> {
        let (mut ps, mut create, mut rm, mut run) = (
            Row::new("ps -a"),
            Row::new("create (one more)"),
            Row::new("rm (one)"),
            Row::new("run --rm true"),
        );
        let mut made = 0;
        for size in SIZES {
            while made < size {
                self.hoist_ok(&self.create_args(&format!("scale-{made}")))?;
                made += 1;
            }
            ps.push(self.median(&["ps", "-a", "--quiet"], || Ok(()))?);
            let name = "scale-probe";
            create.push(self.median(&self.create_args(name), || {
                let _ = self.hoist(&["rm", "--force", name]).output();
                Ok(())
            })?);
            rm.push(self.median(&["rm", name], || {
                let _ = self.hoist(&["rm", "--force", name]).output();
                self.hoist_ok(&self.create_args(name))
            })?);
            run.push(self.median(
                &["run", "--rm", "--network", "none", &self.image, "true"],
                || Ok(()),
            )?);
        }
        let mut all = self.hoist(&["rm", "--all", "--force"]);
        let removal = timed(&mut all)?;
        for row in [ps, create, rm, run] {
            row.print();
        }
        println!(
            "{:<44} {:>32.1} ms",
            format!("rm --all of {made} containers"),
            ms(removal)
        );
        Ok(())
    }

    /// `images` and `run --rm` with 10, 100 and 1 000 names in the store.
    fn images(&self) -> anyhow::Result<()> {
        let (mut images, mut run, mut tag) = (
            Row::new("images"),
            Row::new("run --rm true (with that many names)"),
            Row::new("tag (one more)"),
        );
        let mut tagged = 0;
        for size in SIZES {
            while tagged < size {
                self.hoist_ok(&[
                    "tag",
                    &self.image,
                    &format!("localhost/scale-{tagged}:latest"),
                ])?;
                tagged += 1;
            }
            images.push(self.median(&["images", "--quiet"], || Ok(()))?);
            run.push(self.median(
                &["run", "--rm", "--network", "none", &self.image, "true"],
                || Ok(()),
            )?);
            tag.push(self.median(
                &["tag", &self.image, "localhost/scale-probe:latest"],
                || Ok(()),
            )?);
        }
        for row in [images, run, tag] {
            row.print();
        }
        Ok(())
    }

    /// Pull and unpack of images of 1, 10 and 100 small layers.
    fn layers(&self, registry: &str, work: &Path) -> anyhow::Result<()> {
        let (mut pull, mut unpack) = (
            Row::new("pull (1, 10, 100 layers)"),
            Row::new("unpack (1, 10, 100 layers)"),
        );
        let layout = Layout::create(work.join("layers-layout"))?;
        for count in LAYERS {
            let tag = format!("layers-{count}");
            let manifest = small_layers_image(&layout, count)?;
            layout.set_ref(&tag, &manifest)?;
            let reference = format!("{registry}/scale-{tag}:latest");
            shell::output(
                Command::new(self.hoist)
                    .args(["copy", "--quiet", "--dest-tls-verify=false"])
                    .arg(format!("oci:{}:{tag}", layout.path().display()))
                    .arg(format!("docker://{reference}")),
            )?;
            let dest = work.join("pulled");
            pull.push(self.median(
                &[
                    "pull",
                    "--quiet",
                    "--tls-verify=false",
                    &reference,
                    "--dest",
                    &format!("oci:{}:x", dest.display()),
                ],
                || {
                    let _ = fs::remove_dir_all(&dest);
                    Ok(())
                },
            )?);
            let bundle = work.join("bundle");
            let image = format!("{}:{tag}", layout.path().display());
            unpack.push(self.median(
                &[
                    "unpack",
                    "--quiet",
                    "--image",
                    &image,
                    &bundle.display().to_string(),
                ],
                || {
                    let _ = fs::remove_dir_all(&bundle);
                    Ok(())
                },
            )?);
            let _ = fs::remove_dir_all(&bundle);
            let _ = fs::remove_dir_all(&dest);
        }
        pull.print();
        unpack.print();
        Ok(())
    }

    /// Unpack of one layer holding a 2 GiB file: its time and hoist's peak memory.
    fn big_layer(&self, work: &Path) -> anyhow::Result<()> {
        let layout = Layout::create(work.join("big-layout"))?;
        let manifest = one_big_layer_image(&layout, 2 << 30)?;
        layout.set_ref("big", &manifest)?;
        let bundle = work.join("big-bundle");
        let report = work.join("peak");
        let start = Instant::now();
        shell::output(
            Command::new("/usr/bin/time")
                .args(["-f", "%M", "-o"])
                .arg(&report)
                .arg(self.hoist)
                .args(["unpack", "--quiet", "--image"])
                .arg(format!("{}:big", layout.path().display()))
                .arg(&bundle),
        )?;
        let elapsed = start.elapsed();
        let peak_kib: u64 = fs::read_to_string(&report)?
            .trim()
            .parse()
            .context("GNU time's %M")?;
        let _ = fs::remove_dir_all(&bundle);
        let _ = fs::remove_dir_all(layout.path());
        println!(
            "{:<44} {:>32.1} ms, peak {:.1} MiB (limit 64 MiB)",
            "unpack of one 2 GiB layer",
            ms(elapsed),
            peak_kib as f64 / 1024.0
        );
        if peak_kib > 64 * 1024 {
            bail!("unpacking one 2 GiB layer took {peak_kib} KiB at its peak, over 64 MiB");
        }
        Ok(())
    }

    /// `run -d` of the first container, and of the 200th with 199 running.
    fn concurrent(&self) -> anyhow::Result<()> {
        let detached = |i: usize| {
            let name = format!("running-{i}");
            timed(&mut self.hoist(&[
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                &name,
                &self.image,
                "sleep",
                "3600",
            ]))
        };
        let first = detached(0)?;
        for i in 1..CONCURRENT - 1 {
            detached(i)?;
        }
        let last = detached(CONCURRENT - 1)?;
        let ps = timed(&mut self.hoist(&["ps", "--quiet"]))?;
        let removal = timed(&mut self.hoist(&["rm", "--all", "--force"]))?;
        println!(
            "{:<44} {:>10.1} {:>21.1} ms",
            format!("run -d: the 1st, the {CONCURRENT}th running"),
            ms(first),
            ms(last)
        );
        println!(
            "{:<44} {:>32.1} ms",
            format!("ps with {CONCURRENT} running"),
            ms(ps)
        );
        println!(
            "{:<44} {:>32.1} ms",
            format!("rm --all --force of {CONCURRENT} running"),
            ms(removal)
        );
        Ok(())
    }
}

/// One task's times at each size.
struct Row {
    task: &'static str,
    times: Vec<Duration>,
}

impl Row {
    fn new(task: &'static str) -> Row {
        Row {
            task,
            times: Vec::new(),
        }
    }

    fn push(&mut self, time: Duration) {
        self.times.push(time);
    }

    fn print(&self) {
        let cells: String = self
            .times
            .iter()
            .map(|t| format!(" {:>10.1}", ms(*t)))
            .collect();
        let growth = match (self.times.first(), self.times.last()) {
            (Some(first), Some(last)) => last.as_secs_f64() / first.as_secs_f64(),
            _ => f64::NAN,
        };
        println!("{:<44}{cells} {growth:>8.2}", self.task);
    }
}

/// The wall time of a command that must succeed.
fn timed(command: &mut Command) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

/// An image of `count` gzip layers of a few small files each.
fn small_layers_image(layout: &Layout, count: usize) -> anyhow::Result<hoist_oci::Descriptor> {
    let mut layers = Vec::new();
    for index in 0..count {
        let mut builder = tar::Builder::new(Vec::new());
        for file in 0..5 {
            let content = format!("layer {index}, file {file}\n").repeat(40);
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_cksum();
            builder.append_data(
                &mut header,
                format!("layer-{index}/file-{file}"),
                content.as_bytes(),
            )?;
        }
        layers.push(builder.into_inner()?);
    }
    image_of(
        layout,
        layers
            .iter()
            .map(|tar| gzip(tar))
            .collect::<anyhow::Result<_>>()?,
    )
}

/// An image of one gzip layer holding a file of `size` zero bytes, streamed to the layout.
fn one_big_layer_image(layout: &Layout, size: u64) -> anyhow::Result<hoist_oci::Descriptor> {
    let staged = layout.path().join("big-layer.tmp");
    let file = fs::File::create(&staged)?;
    let compressed = hoist_oci::DigestingWriter::new(file);
    let encoder = flate2::write::GzEncoder::new(compressed, flate2::Compression::fast());
    let mut tar_stream = hoist_oci::DigestingWriter::new(encoder);
    {
        let mut builder = tar::Builder::new(&mut tar_stream);
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        builder.append_data(&mut header, "big-file", std::io::repeat(0).take(size))?;
        builder.finish()?;
    }
    let diff_id = tar_stream.digest();
    let compressed = tar_stream.into_inner().finish()?;
    let (digest, length) = (compressed.digest(), compressed.bytes_written());
    compressed.into_inner().sync_all()?;
    fs::rename(&staged, layout.blob_path(&digest))?;
    let layer = hoist_oci::descriptor_of(media_type::OCI_LAYER_GZIP, &digest, length);
    manifest_of(layout, vec![layer], vec![diff_id])
}

/// (gzip bytes, diff_id) of a tar stream.
fn gzip(tar: &[u8]) -> anyhow::Result<(Vec<u8>, Digest)> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    encoder.write_all(tar)?;
    Ok((encoder.finish()?, Digest::of(tar)))
}

fn image_of(
    layout: &Layout,
    layers: Vec<(Vec<u8>, Digest)>,
) -> anyhow::Result<hoist_oci::Descriptor> {
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for (blob, diff_id) in layers {
        descriptors.push(write_blob(layout, &blob, media_type::OCI_LAYER_GZIP)?);
        diff_ids.push(diff_id);
    }
    manifest_of(layout, descriptors, diff_ids)
}

fn manifest_of(
    layout: &Layout,
    layers: Vec<hoist_oci::Descriptor>,
    diff_ids: Vec<Digest>,
) -> anyhow::Result<hoist_oci::Descriptor> {
    let config = json!({
        "architecture": hoist_oci::Platform::host().architecture,
        "os": "linux",
        "config": { "Cmd": ["sh"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids.iter().map(ToString::to_string).collect::<Vec<_>>() },
    });
    write_image_documents(layout, &config, &layers)
}
