//! The fault and load suite: hoist killed (`kill -9`) at seeded random points of every command,
//! containers started and removed by the hundred, pulls racing removals, pulls through a network
//! that fails at random. After each phase `hoist system check` must find the store sound, and
//! after `system prune` nothing may be left: no mount, cgroup, network namespace, veth, lease,
//! state directory, staging file or process. `cargo xtask soak` runs the full plan and prints
//! the figures; `cargo xtask test` runs the short one (`tests/tests/soak.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::fault_proxy::{Fault, FaultProxy, Rule};
use crate::{copy_fixtures, hoist, run, run_measuring_peak, stderr, stdout, TestEnv};

/// How much of everything.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    /// Kill points per command.
    pub kill_points: usize,
    /// Detached containers started (8 at a time) and removed again.
    pub detached: usize,
    /// `run --rm` back to back.
    pub run_rm: usize,
    /// Rounds of each of the 4 processes pulling and removing overlapping images.
    pub pull_rounds: usize,
    /// Pulls by each of the 4 processes through the failing network.
    pub chaos_pulls: usize,
}

impl Plan {
    /// What `cargo xtask test` runs: every phase, a little of each.
    pub fn short(seed: u64) -> Plan {
        Plan {
            seed,
            kill_points: 2,
            detached: 16,
            run_rm: 10,
            pull_rounds: 3,
            chaos_pulls: 3,
        }
    }

    /// What `cargo xtask soak` runs.
    pub fn full(seed: u64) -> Plan {
        Plan {
            seed,
            kill_points: 25,
            detached: 200,
            run_rm: 500,
            pull_rounds: 25,
            chaos_pulls: 25,
        }
    }

    /// `HOIST_SOAK=full` for the full plan, `HOIST_SOAK_SEED` for another seed.
    pub fn from_env() -> Plan {
        let seed = std::env::var("HOIST_SOAK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        match std::env::var("HOIST_SOAK").as_deref() {
            Ok("full") => Plan::full(seed),
            _ => Plan::short(seed),
        }
    }
}

/// One phase's outcome.
#[derive(Debug, Default)]
pub struct Figures {
    pub phase: &'static str,
    pub runs: usize,
    pub faults: usize,
    pub failures: Vec<String>,
    pub leaks: Vec<String>,
    pub notes: Vec<String>,
}

impl Figures {
    fn new(phase: &'static str) -> Figures {
        Figures {
            phase,
            ..Figures::default()
        }
    }

    /// Runs `command` to its end; a failure is recorded with what it said.
    fn expect(&mut self, what: &str, command: &mut Command) -> bool {
        self.runs += 1;
        let output = run(command.stdin(Stdio::null()));
        if !output.status.success() {
            self.failures.push(format!(
                "{what}: {:?}: {}",
                output.status,
                stderr(&output).trim()
            ));
        }
        output.status.success()
    }
}

/// The figures as a table.
pub fn render(figures: &[Figures]) -> String {
    let mut table = format!(
        "{:<28} {:>6} {:>7} {:>9} {:>6}\n",
        "phase", "runs", "faults", "failures", "leaks"
    );
    for f in figures {
        table.push_str(&format!(
            "{:<28} {:>6} {:>7} {:>9} {:>6}\n",
            f.phase,
            f.runs,
            f.faults,
            f.failures.len(),
            f.leaks.len()
        ));
        for note in &f.notes {
            table.push_str(&format!("    {note}\n"));
        }
    }
    table
}

/// The soak's state: its scratch directory (store, runtime root, layouts, bundles), the
/// registry, and the seeded generator of kill points.
pub struct Soak {
    pub plan: Plan,
    dir: PathBuf,
    registry: String,
    /// Container names and ids start with it, so that leaks are told from other tests' work.
    prefix: String,
    rng: fastrand::Rng,
}

impl Soak {
    pub fn new(env: &TestEnv, dir: &Path, plan: Plan) -> Soak {
        copy_fixtures(env, &dir.join("layout"));
        Soak {
            rng: fastrand::Rng::with_seed(plan.seed),
            plan,
            dir: dir.to_path_buf(),
            registry: env.registry.clone(),
            prefix: format!("soak-{}", std::process::id()),
        }
    }

    fn hoist(&self) -> Command {
        let mut command = hoist(&self.dir);
        command.stdin(Stdio::null());
        command
    }

    fn image(&self, name: &str) -> String {
        format!("{}/{name}:latest", self.registry)
    }

    fn name(&self, what: &str, i: usize) -> String {
        format!("{}-{what}-{i}", self.prefix)
    }

    /// Times `make(0)` to its end (which must succeed), then for each kill point starts
    /// `make(i)`, kills it at a random moment of that time and has `recover(i)` show that
    /// everything works again.
    fn kill_points(
        &mut self,
        figures: &mut Figures,
        command: &str,
        before: &dyn Fn(&Soak, usize),
        make: &dyn Fn(&Soak, usize) -> Command,
        recover: &dyn Fn(&Soak, usize, &mut Figures),
    ) {
        before(self, 0);
        let started = Instant::now();
        figures.expect(&format!("{command} (unkilled)"), &mut make(self, 0));
        let took = started.elapsed();
        for i in 1..=self.plan.kill_points {
            before(self, i);
            let at = took.mul_f64(self.rng.f64());
            let mut child = make(self, i)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(at);
            let _ = child.kill();
            let _ = child.wait();
            figures.faults += 1;
            recover(self, i, figures);
        }
    }

    /// pull, copy, unpack, save and load, each killed at random points.
    pub fn kill_image_commands(&mut self) -> Figures {
        let mut figures = Figures::new("kill -9: images");
        let forget = |soak: &Soak, _: usize| {
            let _ = run(soak.hoist().args(["rmi", &soak.image("layers")]));
            let _ = run(soak.hoist().args(["system", "prune"]));
        };
        let pull = |soak: &Soak, _: usize| {
            let mut command = soak.hoist();
            command.args([
                "pull",
                "--quiet",
                "--tls-verify=false",
                &soak.image("layers"),
            ]);
            command
        };
        self.kill_points(&mut figures, "pull", &forget, &pull, &|soak, i, f| {
            f.expect(&format!("pull after kill {i}"), &mut pull(soak, i));
        });

        let copies = self.dir.join("copies");
        let copy = |soak: &Soak, _: usize| {
            let mut command = soak.hoist();
            command
                .args(["copy", "--quiet", "--src-tls-verify=false"])
                .arg(format!("docker://{}", soak.image("zstd")))
                .arg(format!("oci:{}:zstd", soak.dir.join("copies").display()));
            command
        };
        let fresh_copies = |_: &Soak, _: usize| {
            let _ = std::fs::remove_dir_all(&copies);
        };
        self.kill_points(&mut figures, "copy", &fresh_copies, &copy, &|soak, i, f| {
            let bundle = soak.dir.join(format!("copied-{i}"));
            f.expect(&format!("copy after kill {i}"), &mut copy(soak, i));
            f.expect(
                &format!("unpack of what the copy after kill {i} wrote"),
                soak.hoist()
                    .args(["unpack", "--image"])
                    .arg(format!("{}:zstd", soak.dir.join("copies").display()))
                    .arg(&bundle),
            );
            let _ = std::fs::remove_dir_all(bundle);
        });

        let bundles = self.dir.join("bundles");
        std::fs::create_dir_all(&bundles).unwrap();
        let unpack = |soak: &Soak, i: usize| {
            let mut command = soak.hoist();
            command
                .args(["unpack", "--image"])
                .arg(format!(
                    "{}:layers-latest",
                    soak.dir.join("layout").display()
                ))
                .arg(soak.dir.join("bundles").join(format!("b{i}")));
            command
        };
        self.kill_points(
            &mut figures,
            "unpack",
            &|_, _| {},
            &unpack,
            &|soak, i, f| {
                let _ = std::fs::remove_dir_all(soak.dir.join("bundles").join(format!("b{i}")));
                f.expect(&format!("unpack after kill {i}"), &mut unpack(soak, i));
                let staging = crate::named(&soak.dir.join("bundles"), ".hoist-unpack-");
                if staging > 0 {
                    f.failures.push(format!(
                        "{staging} staging directories after the unpack after kill {i}"
                    ));
                }
            },
        );
        let _ = std::fs::remove_dir_all(&bundles);

        self.pull(&mut figures, "busybox");
        let archive = |soak: &Soak, i: usize| soak.dir.join(format!("saved-{i}.tar"));
        let save = |soak: &Soak, i: usize| {
            let mut command = soak.hoist();
            command
                .args(["save", "-o"])
                .arg(archive(soak, i))
                .arg(soak.image("busybox"));
            command
        };
        self.kill_points(&mut figures, "save", &|_, _| {}, &save, &|soak, i, f| {
            f.expect(&format!("save after kill {i}"), &mut save(soak, i));
        });
        let load = |soak: &Soak, i: usize| {
            let mut command = soak.hoist();
            command.args(["load", "-i"]).arg(archive(soak, i));
            command
        };
        let unload = |soak: &Soak, _: usize| {
            let _ = run(soak.hoist().args(["rmi", &soak.image("busybox")]));
            let _ = run(soak.hoist().args(["system", "prune"]));
        };
        self.kill_points(&mut figures, "load", &unload, &load, &|soak, i, f| {
            f.expect(&format!("load after kill {i}"), &mut load(soak, i));
        });
        let _ = std::fs::remove_dir_all(&copies);
        self.settle(&mut figures);
        figures
    }

    /// create, start, `run IMAGE` (foreground and detached, on the bridge) and `rm`, each killed
    /// at random points. Needs busybox in the store, and a network namespace of the test's own.
    pub fn kill_container_commands(&mut self) -> Figures {
        let mut figures = Figures::new("kill -9: containers");
        let bundle = self.dir.join("bundle");
        figures.expect(
            "unpack for create",
            self.hoist()
                .args(["unpack", "--image"])
                .arg(format!(
                    "{}:busybox-latest",
                    self.dir.join("layout").display()
                ))
                .arg(&bundle),
        );
        crate::set_args(&bundle, &["sleep", "600"]);
        // The container's init gets create's stdio (as runc's does): nothing that waits for
        // the end of its output.
        let create = |soak: &Soak, i: usize| {
            let mut command = soak.hoist();
            command
                .args(["create", "--bundle"])
                .arg(soak.dir.join("bundle"))
                .arg(soak.name("create", i))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        };
        let delete = |soak: &Soak, id: &str, f: &mut Figures| {
            f.expect(
                &format!("delete --force {id} after a kill"),
                soak.hoist().args(["delete", "--force", id]),
            );
            if soak.dir.join("run").join(id).exists() {
                f.failures.push(format!("{id}: its state outlived delete"));
            }
        };
        self.kill_points(
            &mut figures,
            "create",
            &|_, _| {},
            &create,
            &|soak, i, f| {
                let id = soak.name("create", i);
                // Killed before its state was saved, the next create of that id cleans up as well
                // as delete does (after, the container exists and create refuses, as runc's does).
                let created = run(soak.hoist().args(["state", &id])).status.success();
                if i % 2 == 0 && !created {
                    // Its stderr in a file: the init keeps what create gives it.
                    let said = soak.dir.join("create.err");
                    let log = std::fs::File::create(&said).unwrap();
                    let again = create(soak, i).stderr(log).status().unwrap();
                    f.runs += 1;
                    if !again.success() {
                        let message = std::fs::read_to_string(&said).unwrap_or_default();
                        f.failures.push(format!("create {id} again: {message}"));
                    }
                }
                delete(soak, &id, f);
            },
        );
        let _ = run(self
            .hoist()
            .args(["delete", "--force", &self.name("create", 0)]));

        let start = |soak: &Soak, i: usize| {
            let mut command = soak.hoist();
            command.args(["start", &soak.name("start", i)]);
            command
        };
        let created = |soak: &Soak, i: usize| {
            let _ = run(soak
                .hoist()
                .args(["create", "--bundle"])
                .arg(soak.dir.join("bundle"))
                .arg(soak.name("start", i))
                .stdout(Stdio::null())
                .stderr(Stdio::null()));
        };
        self.kill_points(&mut figures, "start", &created, &start, &|soak, i, f| {
            delete(soak, &soak.name("start", i), f);
        });
        delete(self, &self.name("start", 0), &mut figures);

        let image = self.image("busybox");
        for (what, detach) in [("run", false), ("run-d", true)] {
            let image = image.clone();
            let run_image = move |soak: &Soak, i: usize| {
                let mut command = soak.hoist();
                command.args(["run", "--pull=never", "--name", &soak.name(what, i)]);
                if detach {
                    command.args(["-d", "--network=bridge", &image, "sleep", "600"]);
                } else {
                    command.args(["--network=none", &image, "true"]);
                }
                command
            };
            let recover = |soak: &Soak, i: usize, f: &mut Figures| {
                let name = soak.name(what, i);
                f.expect(
                    &format!("rm -f {name} after a kill"),
                    soak.hoist().args(["rm", "-f", &name]),
                );
            };
            self.kill_points(&mut figures, what, &|_, _| {}, &run_image, &recover);
            recover(self, 0, &mut figures);
        }

        let started = |soak: &Soak, i: usize| {
            let _ = run(soak.hoist().args([
                "run",
                "-d",
                "--pull=never",
                "--network=bridge",
                "--name",
                &soak.name("rm", i),
                &soak.image("busybox"),
                "sleep",
                "600",
            ]));
        };
        let remove = |soak: &Soak, i: usize| {
            let mut command = soak.hoist();
            command.args(["rm", "-f", &soak.name("rm", i)]);
            command
        };
        self.kill_points(&mut figures, "rm", &started, &remove, &|soak, i, f| {
            f.expect(&format!("rm after kill {i}"), &mut remove(soak, i));
        });
        self.settle(&mut figures);
        figures
    }

    /// Detached containers started and removed 8 at a time, then `run --rm` back to back:
    /// nothing fails, nothing leaks, and neither the monitors' nor hoist's memory grows.
    pub fn load_containers(&mut self) -> Figures {
        let mut figures = Figures::new("load: containers");
        let names: Vec<String> = (0..self.plan.detached)
            .map(|i| self.name("load", i))
            .collect();
        let image = self.image("busybox");
        let results = in_parallel(8, &names, |name| {
            run(self.hoist().args([
                "run",
                "-d",
                "--pull=never",
                "--network=bridge",
                "--name",
                name,
                &image,
                "sleep",
                "600",
            ]))
        });
        record_outcomes(&mut figures, "run -d", &results);
        let rss = monitor_rss(&names);
        if let (Some(first), Some(last)) = (rss.first(), rss.last()) {
            let (min, max) = (rss.iter().min().unwrap(), rss.iter().max().unwrap());
            figures.notes.push(format!(
                "{} monitors: resident {min}–{max} KiB (first started {first}, last {last})",
                rss.len()
            ));
            if *last > first + first / 2 + 1024 {
                figures.failures.push(format!(
                    "a later monitor holds more memory: {first} → {last} KiB"
                ));
            }
        }
        let results = in_parallel(8, &names, |name| run(self.hoist().args(["rm", "-f", name])));
        record_outcomes(&mut figures, "rm -f", &results);

        let mut peaks = Vec::new();
        for i in 0..self.plan.run_rm {
            let (output, peak) = run_measuring_peak(self.hoist().args([
                "run",
                "--rm",
                "--pull=never",
                "--network=none",
                &image,
                "true",
            ]));
            figures.runs += 1;
            if !output.status.success() {
                figures
                    .failures
                    .push(format!("run --rm {i}: {}", stderr(&output).trim()));
            }
            peaks.push(peak);
        }
        let tenth = (peaks.len() / 10).max(1);
        let average = |part: &[u64]| part.iter().sum::<u64>() / part.len().max(1) as u64;
        let (first, last) = (
            average(&peaks[..tenth]),
            average(&peaks[peaks.len() - tenth..]),
        );
        figures.notes.push(format!(
            "run --rm ×{}: peak resident {first} KiB over the first tenth, {last} KiB over the last",
            peaks.len()
        ));
        if last > first + first / 4 + 2048 {
            figures
                .failures
                .push(format!("run --rm grows: {first} → {last} KiB"));
        }
        self.settle(&mut figures);
        figures
    }

    /// 4 processes pulling and removing overlapping images at once: every pull succeeds, a
    /// removal fails only for an image another has removed first, and the store stays sound.
    pub fn pulls_racing_removals(&mut self) -> Figures {
        let mut figures = Figures::new("load: pulls racing rmi");
        let images = ["busybox", "layers", "zstd"].map(|name| self.image(name));
        let seeds: Vec<u64> = (0..4).map(|_| self.rng.u64(..)).collect();
        let outcomes = in_parallel(4, &seeds, |seed| {
            let mut rng = fastrand::Rng::with_seed(*seed);
            let mut outcomes = Vec::new();
            for _ in 0..self.plan.pull_rounds {
                let pulled = &images[rng.usize(..images.len())];
                let pull =
                    run(self
                        .hoist()
                        .args(["pull", "--quiet", "--tls-verify=false", pulled]));
                outcomes.push((format!("pull {pulled}"), pull));
                let removed = &images[rng.usize(..images.len())];
                let rmi = run(self.hoist().args(["rmi", removed]));
                let gone_already = stderr(&rmi).contains("no such image");
                if !gone_already {
                    outcomes.push((format!("rmi {removed}"), rmi));
                }
            }
            outcomes
        });
        for (what, output) in outcomes.into_iter().flatten() {
            figures.runs += 1;
            if !output.status.success() {
                figures
                    .failures
                    .push(format!("{what}: {}", stderr(&output).trim()));
            }
        }
        self.check(&mut figures);
        for image in &images {
            let _ = run(self.hoist().args(["rmi", image]));
        }
        self.settle(&mut figures);
        figures
    }

    /// 4 processes pulling through a network that resets, cuts, stalls and fails one request in
    /// four: each pull succeeds or fails with a message, the store stays sound, and a pull over
    /// the healthy network afterwards succeeds.
    pub fn pulls_through_a_failing_network(&mut self) -> Figures {
        let mut figures = Figures::new("faults: failing network");
        let proxy = FaultProxy::start(
            &self.registry,
            vec![Rule {
                path_contains: "/v2/".into(),
                times: usize::MAX,
                fault: Fault::Chaos {
                    one_in: 4,
                    seed: self.plan.seed,
                },
            }],
        );
        let names = ["busybox", "layers", "zstd"];
        let jobs: Vec<usize> = (0..4).collect();
        let outcomes = in_parallel(4, &jobs, |job| {
            (0..self.plan.chaos_pulls)
                .map(|round| {
                    let name = names[(job + round) % names.len()];
                    run(self.hoist().args([
                        "pull",
                        "--quiet",
                        "--tls-verify=false",
                        "--stall-timeout=1s",
                        "--retry-delay=10ms",
                        &format!("{}/{name}:latest", proxy.address),
                    ]))
                })
                .collect::<Vec<_>>()
        });
        let (mut succeeded, mut refused) = (0, 0);
        for output in outcomes.into_iter().flatten() {
            figures.runs += 1;
            match output.status.code() {
                Some(0) => succeeded += 1,
                Some(_) if !stderr(&output).trim().is_empty() => refused += 1,
                _ => figures.failures.push(format!(
                    "a pull ended without a message: {:?} {}",
                    output.status,
                    stderr(&output)
                )),
            }
        }
        figures.faults = proxy.seen().iter().filter(|s| s.fault.is_some()).count();
        figures.notes.push(format!(
            "{succeeded} pulls succeeded despite the faults, {refused} gave up with a message"
        ));
        drop(proxy);
        self.check(&mut figures);
        for name in names {
            figures.expect(
                &format!("pull {name} over the healthy network"),
                self.hoist()
                    .args(["pull", "--quiet", "--tls-verify=false", &self.image(name)]),
            );
            let _ = run(self.hoist().args(["rmi", &self.image(name)]));
        }
        self.settle(&mut figures);
        figures
    }

    /// Pulls `name` from the registry into the store.
    pub fn pull(&self, figures: &mut Figures, name: &str) {
        figures.expect(
            &format!("pull {name}"),
            self.hoist()
                .args(["pull", "--quiet", "--tls-verify=false", &self.image(name)]),
        );
    }

    /// `system prune`, then `system check` and the leak check.
    fn settle(&self, figures: &mut Figures) {
        figures.expect("system prune", self.hoist().args(["system", "prune"]));
        self.check(figures);
        figures
            .leaks
            .extend(crate::left_after_settling(|| self.leaks()));
    }

    fn check(&self, figures: &mut Figures) {
        let check = run(self.hoist().args(["system", "check"]));
        if !check.status.success() {
            figures
                .failures
                .push(format!("system check: {}", stdout(&check).trim()));
        }
    }

    /// Everything of the soak's still on the machine after a `system prune`.
    pub fn leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        let dir = self.dir.display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        leaks.extend(
            mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(4))
                .filter(|point| point.starts_with(&dir))
                .map(|point| format!("mount {point}")),
        );
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            leaks.extend(
                entries_starting(&hierarchy.path().join("hoist"), &self.prefix)
                    .map(|p| format!("cgroup {}", p.display())),
            );
        }
        leaks.extend(
            entries_starting(Path::new("/run/netns"), &format!("hoist-{}", self.prefix))
                .map(|p| format!("network namespace {}", p.display())),
        );
        let links = run(Command::new("ip").args(["-o", "link"]));
        leaks.extend(
            stdout(&links)
                .lines()
                .filter_map(|l| l.split(": ").nth(1))
                .filter(|name| name.starts_with("vh"))
                .map(|name| format!("veth {name}")),
        );
        let store = self.dir.join("hoist-root");
        for (place, prefix) in [
            (store.join("network/leases"), ""),
            (store.join("containers"), ""),
            (self.dir.join("run"), ""),
            (store.join("layers"), ".staging-"),
            (store.join("layers"), ".stale-"),
            (store.join("images/blobs/sha256"), ".partial-"),
        ] {
            leaks.extend(
                entries_starting(&place, prefix)
                    .filter(|p| !p.ends_with(".seccomp"))
                    .map(|p| format!("left in the store: {}", p.display())),
            );
        }
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&dir) {
                leaks.push(format!(
                    "process {}: {}",
                    entry.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                ));
            }
        }
        leaks
    }
}

fn entries_starting<'a>(dir: &Path, prefix: &'a str) -> impl Iterator<Item = PathBuf> + 'a {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(move |e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
}

/// `work` over `items` on `threads` threads, results in `items`' order.
fn in_parallel<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn record_outcomes(figures: &mut Figures, what: &str, outcomes: &[std::process::Output]) {
    for output in outcomes {
        figures.runs += 1;
        if !output.status.success() {
            figures
                .failures
                .push(format!("{what}: {}", stderr(output).trim()));
        }
    }
}

/// The resident memory (KiB) of the monitors of `names`' containers, in `names`' order.
fn monitor_rss(names: &[String]) -> Vec<u64> {
    let mut monitors: Vec<(usize, u64)> = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(index) = args
            .windows(2)
            .find(|w| w[0] == "container-monitor")
            .and_then(|w| names.iter().position(|n| *n == w[1]))
        else {
            continue;
        };
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        {
            monitors.push((index, kib));
        }
    }
    monitors.sort();
    monitors.into_iter().map(|(_, kib)| kib).collect()
}
