//! What installing hoist gives a shell user: completion scripts for every verb.

use std::process::Command;

use hoist_e2e::{expect_ok, hoist, scratch, stdout};

#[test]
fn bash_completes_verbs_and_their_flags() {
    let dir = scratch();
    let script = dir.path().join("hoist.bash");
    let generated = expect_ok(hoist(dir.path()).args(["completion", "bash"]));
    std::fs::write(&script, &generated.stdout).unwrap();
    // What bash offers after `hoist list-` and after `hoist sync --s`.
    let complete = |words: &str| {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); \
             _hoist hoist \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        stdout(&expect_ok(Command::new("bash").args(["-c", &probe])))
    };
    assert!(complete("hoist list-").lines().any(|w| w == "list-tags"));
    let flags = complete("hoist sync --s");
    assert!(flags.lines().any(|w| w == "--scoped"), "{flags}");
    assert!(
        !complete("hoist ").contains("storage-helper"),
        "internal verbs are not offered"
    );
    for shell in ["zsh", "fish"] {
        let script = stdout(&expect_ok(hoist(dir.path()).args(["completion", shell])));
        assert!(script.contains("list-tags"), "{shell}");
    }
}

/// The binary loads only what the package depends on, glibc and libseccomp: Rust's unwinder
/// is linked in (see crates/hoist/build.rs), which spares every start, and a container's two,
/// a library load and libgcc_s's constructor.
#[test]
fn the_binary_loads_only_glibc_and_libseccomp() {
    let dynamic = stdout(&expect_ok(
        Command::new("readelf")
            .arg("-d")
            .arg(hoist_e2e::hoist_bin()),
    ));
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| line.split('[').nth(1)?.strip_suffix(']'))
        .collect();
    assert!(needed.contains(&"libc.so.6"), "{dynamic}");
    let glibc_or_libseccomp = |lib: &&str| {
        ["libc.so.", "libm.so.", "ld-linux", "libseccomp.so."]
            .iter()
            .any(|prefix| lib.starts_with(prefix))
    };
    let others: Vec<&&str> = needed.iter().filter(|l| !glibc_or_libseccomp(l)).collect();
    assert!(others.is_empty(), "loads {others:?} as well: {needed:?}");
}

/// The package `cargo xtask test` made from this build (`cargo xtask dist` makes the release
/// one the same way): installed with dpkg into a scratch root, it runs, and so do its man
/// pages and podman's runtime entry.
#[test]
fn the_debian_package_installs_into_a_root_and_runs() {
    let Some(deb) = std::env::var_os("HOIST_TEST_DEB") else {
        if std::env::var_os("HOIST_TEST_REQUIRE_ALL").is_some() {
            panic!("no HOIST_TEST_DEB: `cargo xtask test` builds the package");
        }
        return;
    };
    let info = stdout(&expect_ok(Command::new("dpkg-deb").arg("--info").arg(&deb)));
    for field in [
        "Package: hoist",
        "Depends: libc6, libseccomp2",
        "Recommends: uidmap",
    ] {
        assert!(info.contains(field), "{info}");
    }
    let dir = scratch();
    let root = dir.path().join("root");
    for db in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.join(db)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    expect_ok(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args([
                "--force-depends",
                "--force-not-root",
                "--log=/dev/null",
                "--install",
            ])
            .arg(&deb),
    );
    let installed = root.join("usr/bin/hoist");
    let version = stdout(&expect_ok(Command::new(&installed).arg("--version")));
    assert!(version.starts_with("hoist "), "{version}");
    // Every verb users see has its page, and it renders.
    let man = root.join("usr/share/man/man1");
    for verb in [
        "hoist",
        "hoist-pull",
        "hoist-repack",
        "hoist-network-create",
    ] {
        let page = man.join(format!("{verb}.1.gz"));
        let rendered = stdout(&expect_ok(
            Command::new("man")
                .arg("-l")
                .arg(&page)
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "80"),
        ));
        assert!(rendered.contains("SYNOPSIS"), "{verb}: {rendered}");
    }
    assert!(
        !man.join("hoist-storage-helper.1.gz").exists(),
        "internal verbs have no page"
    );
    assert!(root
        .join("usr/share/bash-completion/completions/hoist")
        .is_file());
    let drop_in =
        std::fs::read_to_string(root.join("etc/containers/containers.conf.d/50-hoist.conf"))
            .unwrap();
    assert!(
        drop_in.contains("hoist = [\"/usr/bin/hoist\"]"),
        "{drop_in}"
    );
    // dpkg knows it as installed, and removes it cleanly.
    expect_ok(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--force-not-root", "--log=/dev/null", "--remove", "hoist"]),
    );
    assert!(!installed.exists());
}
