//! `cargo xtask bench`: hoist beside its peers on the same images, in one run, on a tmpfs.
//! Medians of wall time, the ratio hoist/peer (below 1 means hoist is faster), and hoist's
//! peak memory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoist_oci::Layout;

use crate::demo::set_args;
use crate::fixtures::{self, Selection};
use crate::host_cgroups::HostCgroups;
use crate::registry::Registries;
use crate::setup;
use crate::shell::{self, cargo, target_dir};

/// Builds the command for run `i`, in a fresh directory `dir` of its own.
type CommandFor<'a> = Box<dyn Fn(&Path, usize) -> Command + Send + Sync + 'a>;

pub(crate) struct Tool<'a> {
    name: &'static str,
    command: CommandFor<'a>,
    /// Timed on a terminal until this text shows (then sent `exit`), instead of to its end.
    prompt: Option<&'static str>,
}

pub(crate) fn tool<'a>(
    name: &'static str,
    command: impl Fn(&Path, usize) -> Command + Send + Sync + 'a,
) -> Tool<'a> {
    Tool {
        name,
        command: Box::new(command),
        prompt: None,
    }
}

const IMAGES: &[&str] = &[
    "busybox",
    "layers",
    "debian-like",
    "small-files",
    "big-layers",
];

pub fn run(runs: usize, only: Option<&str>) -> anyhow::Result<()> {
    setup::install_missing(setup::PACKAGES)?;
    shell::run(cargo().args(["build", "--release", "--package", "hoist"]))?;
    let hoist = target_dir().join("release/hoist");
    let instance = format!("bench-{}", std::process::id());
    let host_cgroups = HostCgroups::snapshot();
    let registries = Registries::start(&instance)?;
    let scratch = tmpfs_scratch()?;
    let result = (|| {
        eprintln!("xtask: building fixture and benchmark images (the large ones take a while)");
        let fixtures = fixtures::build_and_push(&registries, Selection::WithBench)?;
        let registry = registries.plain.address.clone();
        let settings = Settings {
            scratch: &scratch,
            runs,
            only,
        };
        let layout = fixtures.layout.clone();
        println!(
            "hoist vs peers: median of {runs} runs each, on a tmpfs ({})",
            scratch.display()
        );
        println!(
            "{:<40} {:>11} {:>11} {:>7} {:>13}",
            "task", "hoist (ms)", "peer (ms)", "ratio", "hoist peak"
        );

        for image in IMAGES {
            let blobs = layer_blobs(&layout, &format!("{image}-latest"))?;
            let source = format!("docker://{registry}/{image}:latest");
            let hoist_pull = tool("hoist", |dir, _| {
                let mut c = Command::new(&hoist);
                c.args(["pull", "--quiet", "--tls-verify=false", &source, "--dest"])
                    .arg(format!("oci:{}:latest", dir.display()));
                c
            });
            let skopeo = tool("skopeo", |dir, _| {
                let mut c = Command::new("skopeo");
                c.args(["copy", "--quiet", "--src-tls-verify=false", &source])
                    .arg(format!("oci:{}:latest", dir.display()));
                c
            });
            let mut peers = vec![skopeo];
            if *image == "big-layers" {
                // The hashing floor: the time to sha256 the same bytes once, on one core and
                // on all of them (a sha256sum per blob, side by side).
                peers.push(tool("openssl dgst", |_, _| {
                    let mut c = Command::new("openssl");
                    c.args(["dgst", "-sha256"]).args(&blobs);
                    c
                }));
                peers.push(tool("sha256sum, all cores", |_, _| {
                    let mut c = Command::new("sh");
                    c.args(["-c", "for blob; do sha256sum \"$blob\" & done; wait", "sh"])
                        .args(&blobs);
                    c
                }));
            }
            compare(&format!("pull {image}"), &hoist_pull, &peers, &settings)?;

            let tag = format!("{}:{image}-latest", layout.display());
            let hoist_unpack = tool("hoist", |dir, _| {
                let mut c = Command::new(&hoist);
                c.args(["unpack", "--image", &tag]).arg(dir.join("bundle"));
                c
            });
            let umoci = tool("umoci", |dir, _| {
                let mut c = Command::new("umoci");
                c.args(["unpack", "--image", &tag]).arg(dir.join("bundle"));
                c
            });
            // GNU tar over the same layers in order: no verification, one thread for tar and
            // one for gzip. The practical floor.
            let tar = tool("tar -xzf", |dir, _| {
                let mut script = String::from("set -e");
                for blob in &blobs {
                    script.push_str(&format!(
                        "; tar -xzf {} -C {}",
                        blob.display(),
                        dir.display()
                    ));
                }
                let mut c = Command::new("sh");
                c.args(["-c", &script]);
                c
            });
            let gzip_only = blobs.iter().all(|b| is_gzip(b));
            let peers = if gzip_only {
                vec![umoci, tar]
            } else {
                vec![umoci]
            };
            compare(&format!("unpack {image}"), &hoist_unpack, &peers, &settings)?;
        }

        let bundle = scratch.join("run-bundle");
        shell::output(
            Command::new(&hoist)
                .args(["unpack", "--image"])
                .arg(format!("{}:busybox-latest", layout.display()))
                .arg(&bundle),
        )?;
        set_args(&bundle, &["true"])?;
        let runtime = |name: &'static str, binary: PathBuf| {
            let bundle = bundle.clone();
            tool(name, move |dir, i| {
                let mut c = Command::new(&binary);
                c.arg("--root")
                    .arg(dir.join("state"))
                    .args(["run", "--bundle"])
                    .arg(&bundle)
                    .arg(format!("bench-{i}"));
                c
            })
        };
        // All three make their cgroups in every v1 hierarchy; crun refuses a hybrid host until
        // hugetlb has a v1 hierarchy too, so each runs where it has one.
        let hybrid = || {
            compare(
                "run --bundle busybox true",
                &runtime("hoist", hoist.clone()),
                &[
                    runtime("runc", "runc".into()),
                    runtime("crun", "crun".into()),
                ],
                &settings,
            )
        };
        let with_hugetlb = || {
            if let Err(e) = hybrid_view_with_hugetlb(&scratch) {
                eprintln!("xtask: no v1 hugetlb hierarchy for crun ({e:#})");
            }
            Ok(())
        };
        in_cgroup_view(with_hugetlb, || {
            let outcome = hybrid();
            empty_hugetlb_hierarchy();
            outcome
        })?;
        // On a cgroup2 view of this host crun runs only with no cgroup (with one it would
        // raise RLIMIT_MEMLOCK for its device program, which needs CAP_SYS_RESOURCE), while
        // hoist and runc still make theirs.
        let crun_without_cgroups = {
            let bundle = bundle.clone();
            tool("crun (no cgroup)", move |dir, i| {
                let mut c = Command::new("crun");
                c.arg("--cgroup-manager=disabled")
                    .arg("--root")
                    .arg(dir.join("state"))
                    .args(["run", "--bundle"])
                    .arg(&bundle)
                    .arg(format!("bench-{i}"));
                c
            })
        };
        in_cgroup_view(cgroup2_view, || {
            compare(
                "run --bundle busybox true, cgroup2",
                &runtime("hoist", hoist.clone()),
                &[runtime("runc", "runc".into()), crun_without_cgroups],
                &settings,
            )
        })?;
        compare_run_image(&hoist, &registry, &settings)?;
        crate::bench_cold::compare_cold_runs(&hoist, &registries, &settings)?;
        crate::bench_scale::scaling_table(&hoist, &registry, &settings)?;
        Ok(())
    })();
    registries.destroy();
    host_cgroups.restore();
    let _ = fs::remove_dir_all(&scratch);
    let _ = fs::remove_dir_all(target_dir().join("fixtures").join(&instance));
    result
}

/// `hoist run --rm IMAGE true` beside podman's, with the image already in each store; and a
/// first run (pull, unpack, start into an empty store) beside hoist's own pull plus unpack.
fn compare_run_image(hoist: &Path, registry: &str, settings: &Settings) -> anyhow::Result<()> {
    let image = format!("{registry}/busybox:latest");
    let task = "run --rm busybox true";
    let bridged_task = "run --rm busybox true, default network";
    let first_task = "first run busybox true";
    let exec_task = "exec true into a running busybox";
    let rootless_task = crate::bench_rootless::TASK;
    if settings.only.is_some_and(|only| {
        ![
            task,
            bridged_task,
            first_task,
            exec_task,
            rootless_task,
            "run -it",
        ]
        .iter()
        .any(|t| t.contains(only))
    }) {
        return Ok(());
    }
    let store = settings.scratch.join("run-image-store");
    let with_store = |mut command: Command| {
        command.env("HOIST_ROOT", &store);
        command
    };
    shell::output(with_store(Command::new(hoist)).args(["pull", "--quiet", &image]))?;
    let _ = shell::output(Command::new("podman").args([
        "pull",
        "--quiet",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]));
    let cached = tool("hoist", |_, _| {
        let mut c = with_store(Command::new(hoist));
        c.args(["run", "--rm", "--network", "none", &image, "true"]);
        c
    });
    let podman = tool("podman", |_, _| podman_run(&["--rm", &image, "true"]));
    compare(task, &cached, &[podman], settings)?;
    // On each one's default network, in a network namespace of the bench's own (so that
    // neither bridge nor rule reaches the host's), kept over the runs as a host's is: each
    // tool's bridge is made once and stays, as hoist0 and podman's do on a host.
    let bridged = tool("hoist", |_, _| {
        let mut c = with_store(Command::new(hoist));
        c.args(["run", "--rm", &image, "true"]);
        c
    });
    let podman_bridged = tool("podman", |_, _| {
        podman_run_on(&[], &["--rm", &image, "true"])
    });
    in_own_network(|| compare(bridged_task, &bridged, &[podman_bridged], settings))?;
    compare_exec(hoist, &store, &image, settings)?;
    crate::bench_rootless::compare_rootless_run(hoist, &image, settings)?;
    // Enter to prompt: `run -it` on a terminal, until the shell's prompt shows.
    let mut interactive = tool("hoist", |_, _| {
        let mut c = with_store(Command::new(hoist));
        c.args(["run", "-it", "--rm", "--network", "none", &image, "sh"]);
        c
    });
    interactive.prompt = Some(BUSYBOX_PROMPT);
    let mut podman_interactive = tool("podman", |_, _| podman_run(&["-it", "--rm", &image, "sh"]));
    podman_interactive.prompt = Some(BUSYBOX_PROMPT);
    compare(
        "run -it busybox sh, to prompt",
        &interactive,
        &[podman_interactive],
        settings,
    )?;
    let _ = shell::output(Command::new("podman").args(["rmi", "--force", &image]));

    let first = tool("hoist", |dir, _| {
        let mut c = Command::new(hoist);
        c.env("HOIST_ROOT", dir.join("store")).args([
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "true",
        ]);
        c
    });
    let pull_then_unpack = tool("hoist pull + unpack", |dir, _| {
        let script = format!(
            "set -e; export HOIST_ROOT={store}; {hoist} pull --quiet {image} >/dev/null; {hoist} unpack --image {image} {bundle} 2>/dev/null",
            store = dir.join("store").display(),
            hoist = hoist.display(),
            bundle = dir.join("bundle").display(),
        );
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    });
    compare(
        "first run busybox true",
        &first,
        &[pull_then_unpack],
        settings,
    )?;
    Ok(())
}

/// `hoist exec NAME true` beside `podman exec NAME true`, each into a running container of its
/// own (podman's with runc, as its runs).
fn compare_exec(
    hoist: &Path,
    store: &Path,
    image: &str,
    settings: &Settings,
) -> anyhow::Result<()> {
    let task = "exec true into a running busybox";
    if settings.only.is_some_and(|only| !task.contains(only)) {
        return Ok(());
    }
    let name = format!("hoist-bench-exec-{}", std::process::id());
    let hoist_command = || {
        let mut c = Command::new(hoist);
        c.env("HOIST_ROOT", store);
        c
    };
    shell::output(hoist_command().args([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        image,
        "sleep",
        "3600",
    ]))?;
    let started = shell::output(&mut podman_run(&[
        "-d", "--name", &name, image, "sleep", "3600",
    ]));
    let outcome = started.and_then(|_| {
        let ours = tool("hoist", |_, _| {
            let mut c = hoist_command();
            c.args(["exec", &name, "true"]);
            c
        });
        let podman = tool("podman", |_, _| {
            let mut c = Command::new("podman");
            c.args(["exec", &name, "true"]);
            c
        });
        compare(task, &ours, &[podman], settings)
    });
    let _ = shell::output(hoist_command().args(["rm", "-f", &name]));
    let _ = shell::output(Command::new("podman").args(["rm", "-f", "-t", "0", &name]));
    outcome
}

/// What busybox's shell shows when it is ready for a command.
const BUSYBOX_PROMPT: &str = "/ # ";

/// `podman run ARGS...` as Debian's podman comes, except what this host forces: crun (its
/// default runtime) refuses the hybrid cgroup layout, so runc; and the hard limits are below
/// podman's default ulimits, so lower ones.
fn podman_run(args: &[&str]) -> Command {
    podman_run_on(&["--network", "none"], args)
}

/// `podman run` with `network` options (none: its default network) and `args`.
fn podman_run_on(network: &[&str], args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.arg("run")
        .args(network)
        .args(PODMAN_HOST_OPTIONS)
        .args(args);
    c
}

/// What this host forces on `podman run` (see `podman_run`).
pub(crate) const PODMAN_HOST_OPTIONS: &[&str] = &[
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
];

/// `work` on a thread in a network namespace of its own (with `lo` up), which the commands it
/// starts inherit and which goes with the thread.
pub(crate) fn in_own_network<T: Send>(
    work: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
                shell::output(Command::new("ip").args(["link", "set", "lo", "up"]))?;
                work()
            })
            .join()
            .expect("the bench does not panic")
    })
}

/// What every comparison shares: where to run, how often, and which tasks.
pub(crate) struct Settings<'a> {
    pub scratch: &'a Path,
    pub runs: usize,
    pub only: Option<&'a str>,
}

/// Times hoist and each peer and prints one line per peer, with hoist's peak memory. The runs
/// are interleaved (hoist, each peer, hoist, …), so a drift of the machine over the task (page
/// cache, tmpfs after mass deletions) falls on every tool alike.
pub(crate) fn compare(
    task: &str,
    hoist: &Tool,
    peers: &[Tool],
    settings: &Settings,
) -> anyhow::Result<()> {
    if settings.only.is_some_and(|only| !task.contains(only)) {
        return Ok(());
    }
    let (scratch, runs) = (settings.scratch, settings.runs);
    let mut ours = Vec::with_capacity(runs);
    let mut theirs: Vec<Result<Vec<Duration>, String>> =
        peers.iter().map(|_| Ok(Vec::with_capacity(runs))).collect();
    // Run 0 of each tool is a warm-up.
    for i in 0..=runs {
        let time = run_once(hoist, scratch, i).with_context(|| format!("{task}: hoist failed"))?;
        if i > 0 {
            ours.push(time);
        }
        for (peer, times) in peers.iter().zip(theirs.iter_mut()) {
            let Ok(list) = times else { continue };
            match run_once(peer, scratch, i) {
                Ok(time) if i > 0 => list.push(time),
                Ok(_) => {}
                Err(e) => *times = Err(first_line(&format!("{e:#}")).to_string()),
            }
        }
    }
    let peak = match hoist.prompt {
        // An interactive session never ends on its own under GNU time.
        Some(_) => "-".to_string(),
        None => format!("{:.1} MiB", peak_rss_kib(hoist, scratch)? as f64 / 1024.0),
    };
    let ours = median(ours);
    for (peer, times) in peers.iter().zip(theirs) {
        let label = format!("{task} vs {}", peer.name);
        match times {
            Ok(times) => {
                let theirs = median(times);
                println!(
                    "{label:<40} {:>11.1} {:>11.1} {:>7.2} {peak:>13}",
                    ms(ours),
                    ms(theirs),
                    ours.as_secs_f64() / theirs.as_secs_f64()
                )
            }
            Err(e) => println!(
                "{label:<40} {:>11.1} {:>11} {:>7} {peak:>13}   ({} unavailable: {e})",
                ms(ours),
                "-",
                "-",
                peer.name,
            ),
        }
    }
    Ok(())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// One run's wall time, in a fresh directory removed afterwards.
fn run_once(tool: &Tool, scratch: &Path, i: usize) -> anyhow::Result<Duration> {
    let dir = scratch.join(format!("{}-{i}", tool.name.replace(' ', "-")));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let errors = scratch.join("stderr");
    let mut command = (tool.command)(&dir, i);
    if let Some(prompt) = tool.prompt {
        let elapsed = time_to_prompt(&command, prompt);
        let _ = fs::remove_dir_all(&dir);
        return elapsed;
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&errors)?);
    let start = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    let elapsed = start.elapsed();
    let _ = fs::remove_dir_all(&dir);
    if !status.success() {
        bail!("{}", fs::read_to_string(&errors).unwrap_or_default());
    }
    Ok(elapsed)
}

/// The time from starting `command` on a terminal (script(1)'s) until `prompt` shows on it;
/// then it is sent `exit`, and must end well.
fn time_to_prompt(command: &Command, prompt: &str) -> anyhow::Result<Duration> {
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| format!("'{}'", word.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    // `exec`: no shell stays between script(1) and the command.
    script
        .args(["-qfec", &format!("exec {line}"), "/dev/null"])
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let start = Instant::now();
    let mut child = script.spawn().context("starting script(1)")?;
    let mut output = child.stdout.take().expect("piped");
    let (shown, screen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = std::io::Read::read(&mut output, &mut buffer) {
            let _ = shown.send((Instant::now(), buffer[..n].to_vec()));
        }
    });
    let mut seen = Vec::new();
    let elapsed = loop {
        let Ok((at, bytes)) = screen.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("no prompt within 60 s: {}", String::from_utf8_lossy(&seen));
        };
        seen.extend_from_slice(&bytes);
        if seen.windows(prompt.len()).any(|w| w == prompt.as_bytes()) {
            break at - start;
        }
    };
    std::io::Write::write_all(child.stdin.as_mut().expect("piped"), b"exit\r")?;
    let status = child.wait()?;
    if !status.success() {
        bail!("ended with {status}: {}", String::from_utf8_lossy(&seen));
    }
    Ok(elapsed)
}

/// Peak memory from one more run under GNU time: a child reaped directly would report this
/// process's own high-water mark, which it inherits up to its exec.
fn peak_rss_kib(tool: &Tool, scratch: &Path) -> anyhow::Result<u64> {
    let dir = scratch.join("peak-rss-run");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let report = scratch.join("peak-rss");
    let inner = (tool.command)(&dir, usize::MAX);
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(inner.get_program())
        .args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let status = command.status()?;
    let _ = fs::remove_dir_all(&dir);
    if !status.success() {
        bail!("the peak-memory run failed");
    }
    Ok(fs::read_to_string(&report)?.trim().parse()?)
}

/// The layer blobs of an image in the fixture layout, in order.
fn layer_blobs(layout: &Path, tag: &str) -> anyhow::Result<Vec<PathBuf>> {
    let layout = Layout::open(layout)?;
    let manifest: hoist_oci::ImageManifest =
        layout.read_json(&layout.resolve(Some(tag))?, "manifest")?;
    manifest
        .layers()
        .iter()
        .map(|d| Ok(layout.blob_path(&hoist_oci::descriptor_digest(d)?)))
        .collect()
}

fn is_gzip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 2];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b]
}

fn tmpfs_scratch() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(format!("/dev/shm/hoist-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).context("creating the benchmark directory on /dev/shm (a tmpfs)")?;
    Ok(dir)
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// Runs `task` on a thread of its own in a new mount namespace (CLONE_FS with it: the
/// namespace is that thread's alone), after `view` has changed /sys/fs/cgroup there. Nothing
/// of it is seen outside, and it goes when the thread ends.
fn in_cgroup_view(
    view: impl FnOnce() -> anyhow::Result<()> + Send,
    task: impl FnOnce() -> anyhow::Result<()> + Send,
) -> anyhow::Result<()> {
    use nix::mount::{mount, MsFlags};
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::unshare(
                    nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_FS,
                )?;
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )?;
                view()?;
                task()
            })
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("a benchmark thread panicked")))
    })
}

/// Removes every cgroup the runs left in the v1 hugetlb hierarchy `hybrid_view_with_hugetlb`
/// made (it is the benchmark's alone), and waits until the kernel has let go of them: a v1
/// hierarchy with cgroups in it outlives its last mount, and would keep hugetlb out of the
/// unified hierarchy for good.
fn empty_hugetlb_hierarchy() {
    let root = Path::new("/sys/fs/cgroup/hugetlb");
    if !root.is_dir() {
        return;
    }
    fn remove_below(dir: &Path) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_below(&entry.path());
                let _ = fs::remove_dir(entry.path());
            }
        }
    }
    remove_below(root);
    let only_its_root = || {
        fs::read_to_string("/proc/cgroups").is_ok_and(|table| {
            table.lines().any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.first() == Some(&"hugetlb") && fields.get(2) == Some(&"1")
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !only_its_root() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pure-v2 host: /sys/fs/cgroup is only a cgroup2 mount (the kernel's one cgroup2
/// hierarchy, which this hybrid host also mounts at /sys/fs/cgroup/unified).
fn cgroup2_view() -> anyhow::Result<()> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    umount2("/sys/fs/cgroup", MntFlags::MNT_DETACH)?;
    mount(
        Some("cgroup2"),
        "/sys/fs/cgroup",
        Some("cgroup2"),
        MsFlags::empty(),
        None::<&str>,
    )?;
    Ok(())
}

/// The hybrid host with a v1 `hugetlb` hierarchy beside the others, which crun needs before it
/// runs on a hybrid host at all (hugetlb has none at boot here): the same hierarchies bound
/// into a fresh tmpfs in `scratch`, plus hugetlb, moved over /sys/fs/cgroup. The hierarchy
/// goes when the last mount of it does, with the namespace.
fn hybrid_view_with_hugetlb(scratch: &Path) -> anyhow::Result<()> {
    use nix::mount::{mount, MsFlags};
    let view = scratch.join("cgroup-view");
    fs::create_dir_all(&view)?;
    mount(
        Some("tmpfs"),
        &view,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=755"),
    )?;
    for hierarchy in fs::read_dir("/sys/fs/cgroup")? {
        let hierarchy = hierarchy?;
        let target = view.join(hierarchy.file_name());
        fs::create_dir(&target)?;
        mount(
            Some(&hierarchy.path()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
    }
    fs::create_dir(view.join("hugetlb"))?;
    mount(
        Some("cgroup"),
        &view.join("hugetlb"),
        Some("cgroup"),
        MsFlags::empty(),
        Some("hugetlb"),
    )
    .context("mounting a v1 hugetlb hierarchy (it fails once hugetlb is switched on in the unified root)")?;
    mount(
        Some(&view),
        "/sys/fs/cgroup",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )?;
    Ok(())
}
