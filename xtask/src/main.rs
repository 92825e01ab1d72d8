//! `cargo xtask …`: the developer's verbs. Nothing here is needed by users at run time.

mod bench;
mod bench_cold;
mod bench_rootless;
mod bench_scale;
mod demo;
mod dist;
mod fixtures;
mod guest_kernel;
mod host_cgroups;
mod registry;
mod setup;
mod shell;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what is missing on a Debian host and build hoist in release mode
    Setup {
        /// Only install packages, do not build
        #[arg(long)]
        no_build: bool,
    },
    /// Manage the local registries (a plain one and one with htpasswd basic auth)
    Registry {
        #[command(subcommand)]
        action: registry::Action,
    },
    /// Build the fixture images from fixtures/images.toml and push them to the local registries
    Fixtures {
        /// Also the large benchmark images (for profiling one by hand)
        #[arg(long)]
        bench: bool,
    },
    /// Set up, start a registry, push fixtures, then pull → unpack → run the busybox image
    Demo,
    /// Build a Debian package: the binary, man pages, shell completions, podman's runtime entry
    Dist {
        /// Package the debug build (stripped) rather than a release build
        #[arg(long)]
        debug: bool,
        /// Where to write the package [default: target/dist]
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Run every test (unit, integration, end to end) with fresh registries around them
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_args: Vec<String>,
    },
    /// The fault and load suite in full: kill -9 at random points of every command, hundreds
    /// of containers, pulls racing removals and a failing network; prints its figures
    Soak {
        /// Seeds the kill points and the network's faults (the same seed, the same run)
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Time hoist beside skopeo, umoci, runc, crun and podman on the same images, and print ratios
    Bench {
        /// Repetitions per measurement
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Only the tasks whose name contains this (e.g. `pull`, `unpack small-files`)
        #[arg(long, value_name = "TEXT")]
        only: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Setup { no_build } => setup::run(!no_build),
        Command::Registry { action } => registry::command(action),
        Command::Fixtures { bench } => {
            let registries = registry::Registries::load(registry::DEFAULT_INSTANCE)?;
            let selection = if bench {
                fixtures::Selection::WithBench
            } else {
                fixtures::Selection::Tests
            };
            fixtures::build_and_push(&registries, selection).map(|_| ())
        }
        Command::Demo => demo::run(),
        Command::Dist { debug, out } => {
            let profile = if debug {
                dist::Profile::Debug
            } else {
                dist::Profile::Release
            };
            let out = out.unwrap_or_else(|| shell::target_dir().join("dist"));
            std::fs::create_dir_all(&out)?;
            dist::run(profile, &out).map(|_| ())
        }
        Command::Test { cargo_args } => test::run(&cargo_args),
        Command::Soak { seed } => test::soak(seed),
        Command::Bench { runs, only } => bench::run(runs, only.as_deref()),
    }
}
