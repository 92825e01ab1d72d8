//! `cargo xtask test`: every test, with fresh registries (their own ports and storage, so two
//! runs on one machine do not meet) started before and removed after, whatever the outcome.

use std::process::Command;

use anyhow::bail;

use crate::fixtures;
use crate::registry::{Registries, AUTH_PASSWORD, AUTH_USER};
use crate::shell::{self, cargo, target_dir};

pub fn run(cargo_args: &[String]) -> anyhow::Result<()> {
    let parents_before = cgroup_parents();
    let enabled_before = root_subtree_control();
    // The end-to-end tests drive the real binary.
    shell::run(cargo().args(["build", "--package", "hoist"]))?;
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
                // Under xtask the environment is complete: a test that would skip must fail.
                .env("HOIST_TEST_REQUIRE_ALL", "1");
            run_tests(&mut command)
        });
    registries.destroy();
    let _ = std::fs::remove_dir_all(target_dir().join("fixtures").join(&instance));
    remove_new_cgroup_parents(&parents_before);
    restore_root_subtree_control(&enabled_before);
    outcome
}

/// The unified hierarchy's root (`/sys/fs/cgroup/unified` on a hybrid host).
fn unified_root() -> std::path::PathBuf {
    let hybrid = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.subtree_control");
    if hybrid.exists() {
        "/sys/fs/cgroup/unified".into()
    } else {
        "/sys/fs/cgroup".into()
    }
}

fn root_subtree_control() -> Vec<String> {
    std::fs::read_to_string(unified_root().join("cgroup.subtree_control"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Switches off in the unified root what the run switched on there (the cgroup2 tests run hoist
/// on a pure-cgroup2 view of this host, where enabling controllers from the root down is
/// right): on a hybrid host a controller enabled there keeps its v1 hierarchy from being
/// mounted, which crun needs.
fn restore_root_subtree_control(before: &[String]) {
    for controller in root_subtree_control() {
        if !before.contains(&controller) {
            let _ = std::fs::write(
                unified_root().join("cgroup.subtree_control"),
                format!("-{controller}"),
            );
        }
    }
}

/// The parents of the containers the tests run: hoist's default (`/hoist/<id>`), containerd's
/// namespace (`/default/<id>`) and podman's cgroupfs parent (with conmon's cgroup in it).
const TEST_CGROUP_PARENTS: &[&str] = &["hoist", "default", "libpod_parent"];

/// Those parent cgroups, in every hierarchy, as they are now.
fn cgroup_parents() -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|hierarchy| {
            TEST_CGROUP_PARENTS
                .iter()
                .map(move |n| hierarchy.path().join(n))
        })
        .filter(|parent| parent.is_dir())
        .collect()
}

/// Removes the parent cgroups the run made (runtimes delete only their containers' own
/// leaves, since a parent may be shared). `rmdir` removes only empty cgroups, so one that
/// still holds something stays.
fn remove_new_cgroup_parents(before: &[std::path::PathBuf]) {
    for parent in cgroup_parents() {
        if before.contains(&parent) {
            continue;
        }
        let children = std::fs::read_dir(&parent).into_iter().flatten().flatten();
        for child in children.filter(|c| c.file_type().is_ok_and(|t| t.is_dir())) {
            let _ = std::fs::remove_dir(child.path());
        }
        let _ = std::fs::remove_dir(&parent);
    }
}

fn run_tests(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status()?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
