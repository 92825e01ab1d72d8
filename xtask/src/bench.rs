//! `cargo xtask bench`: hoist beside its peers on the same images, in one run, on a tmpfs.
//! Medians of wall time and the ratio hoist/peer (below 1 means hoist is faster).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::demo::set_args;
use crate::registry::Registries;
use crate::shell::{self, cargo, target_dir};
use crate::{fixtures, setup};

/// Builds the command for run `i`, in a fresh directory `dir` of its own.
type CommandFor<'a> = Box<dyn Fn(&Path, usize) -> Command + 'a>;

struct Tool<'a> {
    name: &'static str,
    command: CommandFor<'a>,
}

pub fn run(runs: usize) -> anyhow::Result<()> {
    setup::install_missing(setup::PACKAGES)?;
    shell::run(cargo().args(["build", "--release", "--package", "hoist"]))?;
    let hoist = target_dir().join("release/hoist");
    let instance = format!("bench-{}", std::process::id());
    let registries = Registries::start(&instance)?;
    let scratch = tmpfs_scratch()?;
    let result = (|| {
        let fixtures = fixtures::build_and_push(&registries)?;
        let registry = registries.plain.address.clone();
        let layout = fixtures.layout.clone();
        println!(
            "hoist vs peers: median of {runs} runs, on a tmpfs ({})",
            scratch.display()
        );
        println!(
            "{:<34} {:>12} {:>12} {:>9}",
            "task", "hoist (ms)", "peer (ms)", "ratio"
        );

        for image in ["busybox", "layers"] {
            let source = format!("docker://{registry}/{image}:latest");
            let hoist_pull = Tool {
                name: "hoist",
                command: Box::new(|dir: &Path, _| {
                    let mut c = Command::new(&hoist);
                    c.args(["pull", "--quiet", "--tls-verify=false", &source, "--dest"])
                        .arg(format!("oci:{}:latest", dir.display()));
                    c
                }),
            };
            let skopeo = Tool {
                name: "skopeo",
                command: Box::new(|dir: &Path, _| {
                    let mut c = Command::new("skopeo");
                    c.args(["copy", "--quiet", "--src-tls-verify=false", &source])
                        .arg(format!("oci:{}:latest", dir.display()));
                    c
                }),
            };
            compare(
                &format!("pull {image}"),
                &hoist_pull,
                &[skopeo],
                &scratch,
                runs,
            )?;

            let tag = format!("{}:{image}-latest", layout.display());
            let hoist_unpack = Tool {
                name: "hoist",
                command: Box::new(|dir: &Path, _| {
                    let mut c = Command::new(&hoist);
                    c.args(["unpack", "--image", &tag]).arg(dir.join("bundle"));
                    c
                }),
            };
            let umoci = Tool {
                name: "umoci",
                command: Box::new(|dir: &Path, _| {
                    let mut c = Command::new("umoci");
                    c.args(["unpack", "--image", &tag]).arg(dir.join("bundle"));
                    c
                }),
            };
            compare(
                &format!("unpack {image}"),
                &hoist_unpack,
                &[umoci],
                &scratch,
                runs,
            )?;
        }

        let bundle = scratch.join("run-bundle");
        shell::output(
            Command::new(&hoist)
                .args(["unpack", "--image"])
                .arg(format!("{}:busybox-latest", layout.display()))
                .arg(&bundle),
        )?;
        set_args(&bundle, &["true"])?;
        let runtime = |name: &'static str, binary: PathBuf| Tool {
            name,
            command: Box::new({
                let bundle = bundle.clone();
                move |dir: &Path, i| {
                    let mut c = Command::new(&binary);
                    c.arg("--root")
                        .arg(dir.join("state"))
                        .args(["run", "--bundle"])
                        .arg(&bundle)
                        .arg(format!("bench-{i}"));
                    c
                }
            }),
        };
        compare(
            "run --bundle busybox true",
            &runtime("hoist", hoist.clone()),
            &[
                runtime("runc", "runc".into()),
                runtime("crun", "crun".into()),
            ],
            &scratch,
            runs,
        )?;
        Ok(())
    })();
    registries.destroy();
    let _ = fs::remove_dir_all(&scratch);
    let _ = fs::remove_dir_all(target_dir().join("fixtures").join(&instance));
    result
}

/// Times hoist and each peer and prints one line per peer.
fn compare(
    task: &str,
    hoist: &Tool,
    peers: &[Tool],
    scratch: &Path,
    runs: usize,
) -> anyhow::Result<()> {
    let ours = measure(hoist, scratch, runs).with_context(|| format!("{task}: hoist failed"))?;
    for peer in peers {
        match measure(peer, scratch, runs) {
            Ok(theirs) => println!(
                "{:<34} {:>12.1} {:>12.1} {:>9.2}",
                format!("{task} vs {}", peer.name),
                ms(ours),
                ms(theirs),
                ours.as_secs_f64() / theirs.as_secs_f64()
            ),
            Err(e) => println!(
                "{:<34} {:>12.1} {:>12} {:>9}   ({} unavailable: {})",
                format!("{task} vs {}", peer.name),
                ms(ours),
                "-",
                "-",
                peer.name,
                first_line(&format!("{e:#}"))
            ),
        }
    }
    Ok(())
}

/// The median wall time of `runs` runs, each in a fresh directory; one warm-up run first.
fn measure(tool: &Tool, scratch: &Path, runs: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs {
        let dir = scratch.join(format!("{}-{i}", tool.name));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let mut command = (tool.command)(&dir, i);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let output = command.output()?;
        let elapsed = start.elapsed();
        if !output.status.success() {
            anyhow::bail!("{}", String::from_utf8_lossy(&output.stderr));
        }
        if i > 0 {
            times.push(elapsed);
        }
        let _ = fs::remove_dir_all(&dir);
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn tmpfs_scratch() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(format!("/dev/shm/hoist-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).context("creating the benchmark directory on /dev/shm (a tmpfs)")?;
    Ok(dir)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}
