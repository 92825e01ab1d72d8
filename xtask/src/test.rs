//! `cargo xtask test`: every test, with fresh registries (their own ports and storage, so two
//! runs on one machine do not meet) started before and removed after, whatever the outcome.

use std::process::Command;

use anyhow::bail;

use crate::fixtures;
use crate::host_cgroups::HostCgroups;
use crate::registry::{Registries, AUTH_PASSWORD, AUTH_USER};
use crate::shell::{self, cargo, target_dir};

pub fn run(cargo_args: &[String]) -> anyhow::Result<()> {
    run_with(cargo_args, &[])
}

/// `cargo xtask soak`: the fault and load suite's full plan (`tests/src/soak.rs`), with its
/// figures printed.
pub fn soak(seed: u64) -> anyhow::Result<()> {
    let args = ["--test", "soak", "--", "--nocapture"].map(String::from);
    run_with(
        &args,
        &[
            ("HOIST_SOAK", "full".into()),
            ("HOIST_SOAK_SEED", seed.to_string()),
        ],
    )
}

/// The tests, with `cargo test` given `cargo_args` and the tests `env` besides their own.
fn run_with(cargo_args: &[String], env: &[(&str, String)]) -> anyhow::Result<()> {
    // What the tests need (packages, the rootless tests' user), so this one command is enough
    // on a fresh machine; quick when all is there.
    crate::setup::run(false)?;
    let guest_kernel = crate::guest_kernel::ensure()?;
    let host_cgroups = HostCgroups::snapshot();
    // The end-to-end tests drive the real binary.
    shell::run(cargo().args(["build", "--package", "hoist"]))?;
    // The package the install tests take apart, made from that build.
    let dist = target_dir().join("dist-test");
    std::fs::create_dir_all(&dist)?;
    let deb = crate::dist::package(&target_dir().join("debug/hoist"), &dist)?;
    let instance = format!("test-{}", std::process::id());
    let registries = Registries::start(&instance)?;
    let outcome =
        fixtures::build_and_push(&registries, fixtures::Selection::Tests).and_then(|fixtures| {
            let mut command = cargo();
            command
                // Every failure in one run, not only the first binary's.
                .args(["test", "--workspace", "--no-fail-fast"])
                .args(cargo_args)
                .env("HOIST_TEST_REGISTRY", &registries.plain.address)
                .env("HOIST_TEST_AUTH_REGISTRY", &registries.auth.address)
                .env(
                    "HOIST_TEST_AUTH_CREDS",
                    format!("{AUTH_USER}:{AUTH_PASSWORD}"),
                )
                .env("HOIST_TEST_FIXTURES", &fixtures.layout)
                .env("HOIST_TEST_REGISTRY_STORAGE", registries.plain_storage())
                .env("HOIST_BIN", target_dir().join("debug/hoist"))
                .env("HOIST_TEST_DEB", &deb)
                .env("HOIST_TEST_GUEST_KERNEL", &guest_kernel)
                // Under xtask the environment is complete: a test that would skip must fail.
                .env("HOIST_TEST_REQUIRE_ALL", "1")
                .envs(env.iter().map(|(name, value)| (name, value)));
            run_tests(&mut command)
        });
    registries.destroy();
    let _ = std::fs::remove_dir_all(target_dir().join("fixtures").join(&instance));
    host_cgroups.restore();
    outcome
}

fn run_tests(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status()?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
