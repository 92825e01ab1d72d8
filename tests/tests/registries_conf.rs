//! registries.conf as podman and skopeo read it: short names by alias and search registry,
//! the enforcing short-name mode, blocked registries, rewritten locations and mirrors. Names
//! that must never be contacted are under `.invalid`: were hoist to try them, the pull would
//! fail.

use std::path::Path;
use std::process::Output;

use hoist_e2e::rootless::{Home, RootlessUser};
use hoist_e2e::terminal::Terminal;
use hoist_e2e::{env, hoist, is_root, run, scratch, stderr, stdout, unique_id};

fn with_conf(scratch: &Path, conf: &str) -> std::path::PathBuf {
    let file = scratch.join(unique_id("registries")).with_extension("conf");
    std::fs::write(&file, conf).unwrap();
    file
}

fn pull(scratch: &Path, conf: &Path, image: &str) -> (Output, bool) {
    let dest = scratch.join(unique_id("pulled"));
    let output = run(hoist(scratch)
        .env("CONTAINERS_REGISTRIES_CONF", conf)
        .args(["pull", "-q", "--retry-times", "0", image, "--dest"])
        .arg(format!("oci:{}:v1", dest.display())));
    (output, dest.exists())
}

#[test]
fn short_names_resolve_by_alias_and_search_registry() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let registry = &env.registry;
    let short = unique_id("short");
    hoist_e2e::push_busybox(dir.path(), registry, &short, "latest");

    let searched = with_conf(
        dir.path(),
        &format!("unqualified-search-registries = [\"{registry}\"]\n"),
    );
    let (output, written) = pull(dir.path(), &searched, &short);
    assert!(output.status.success() && written, "{}", stderr(&output));

    let aliased = with_conf(
        dir.path(),
        &format!("[aliases]\n\"{short}-alias\" = \"{registry}/{short}\"\n"),
    );
    let (output, written) = pull(dir.path(), &aliased, &format!("{short}-alias:latest"));
    assert!(output.status.success() && written, "{}", stderr(&output));

    // Two search registries and the enforcing mode, with no terminal to ask on: refused.
    let two = with_conf(
        dir.path(),
        &format!("unqualified-search-registries = [\"nowhere.invalid\", \"{registry}\"]\n"),
    );
    let (output, written) = pull(dir.path(), &two, &short);
    assert!(!output.status.success() && !written);
    assert!(
        stderr(&output).contains("could mean"),
        "{}",
        stderr(&output)
    );

    // Permissive: each in turn, the first that has it wins (a closed port stands for a
    // registry without it).
    let permissive = with_conf(
        dir.path(),
        &format!(
            "short-name-mode = \"permissive\"\nunqualified-search-registries = [\"127.0.0.1:1\", \"{registry}\"]\n"
        ),
    );
    let (output, written) = pull(dir.path(), &permissive, &short);
    assert!(output.status.success() && written, "{}", stderr(&output));

    if is_root() {
        let ran = run(hoist(dir.path())
            .env("CONTAINERS_REGISTRIES_CONF", &searched)
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--tls-verify=false",
                &short,
                "echo",
                "ran",
            ]));
        assert_eq!(stdout(&ran).trim(), "ran", "{}", stderr(&ran));
    }
}

#[test]
fn blocked_registries_are_refused_before_anything_is_written() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let blocked = with_conf(
        dir.path(),
        &format!(
            "[[registry]]\nlocation = \"{}\"\nblocked = true\n",
            env.registry
        ),
    );
    let (output, written) = pull(
        dir.path(),
        &blocked,
        &format!("docker://{}/busybox:latest", env.registry),
    );
    assert!(!output.status.success() && !written);
    assert!(stderr(&output).contains("blocks"), "{}", stderr(&output));
}

#[test]
fn locations_are_rewritten_and_mirrors_tried_first() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let registry = &env.registry;
    // A name that only registries.conf knows where to find.
    let rewritten = with_conf(
        dir.path(),
        &format!(
            "[[registry]]\nprefix = \"images.invalid/app\"\nlocation = \"{registry}/busybox\"\n"
        ),
    );
    let (output, written) = pull(dir.path(), &rewritten, "docker://images.invalid/app:latest");
    assert!(output.status.success() && written, "{}", stderr(&output));

    // A registry that cannot be reached, with a mirror that can.
    let mirrored = with_conf(
        dir.path(),
        &format!(
            "[[registry]]\nlocation = \"upstream.invalid\"\n[[registry.mirror]]\nlocation = \"{registry}\"\n"
        ),
    );
    let (output, written) = pull(
        dir.path(),
        &mirrored,
        "docker://upstream.invalid/busybox:latest",
    );
    assert!(output.status.success() && written, "{}", stderr(&output));

    // A digest-only mirror is not asked for a tag: the upstream is, and it cannot be reached.
    let digest_only = with_conf(
        dir.path(),
        &format!(
            "[[registry]]\nlocation = \"127.0.0.1:1\"\n[[registry.mirror]]\nlocation = \"{registry}\"\npull-from-mirror = \"digest-only\"\n"
        ),
    );
    let (output, _) = pull(
        dir.path(),
        &digest_only,
        "docker://127.0.0.1:1/busybox:latest",
    );
    assert!(!output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("127.0.0.1:1"),
        "{}",
        stderr(&output)
    );
}

/// On a terminal, an ambiguous short name is asked about as podman asks; the image chosen,
/// once pulled, is kept as an alias in containers/image's cache (`~/.cache/containers/` of the
/// user; root's is `/var/cache/containers/`, so this runs as the test user), and the next pull
/// of the name (without a terminal) goes by it.
#[test]
fn an_ambiguous_short_name_is_asked_about_on_a_terminal_and_remembered() {
    let Some(env) = env() else { return };
    let Some(user) = is_root().then(RootlessUser::find).flatten() else {
        return;
    };
    let home = Home::in_scratch(user);
    let registry = &env.registry;
    let short = unique_id("asked");
    hoist_e2e::push_busybox(home.dir(), registry, &short, "latest");
    let conf = with_conf(
        home.dir(),
        &format!("unqualified-search-registries = [\"nowhere.invalid\", \"{registry}\"]\n"),
    );
    let cache = home.home.join(".cache/containers/short-name-aliases.conf");
    let pull = |name: &str, tag: &str| {
        let mut command = home.hoist(&["pull", "-q", "--retry-times", "0", name, "--dest"]);
        command
            .arg(format!("oci:{}:{tag}", home.home.join("pulled").display()))
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .env_remove("XDG_CACHE_HOME");
        command
    };
    let mut terminal = Terminal::spawn(&mut pull(&short, "v1"), 24, 100);
    terminal.expect("Please select an image");
    terminal.expect(&format!("{registry}/{short}:latest"));
    terminal.send(b"\x1b[B\r"); // down to the second, Enter
    let (status, screen) = terminal.wait();
    assert!(status.success(), "{screen}");
    let remembered = std::fs::read_to_string(&cache).unwrap();
    assert!(
        remembered.contains(&format!("\"{registry}/{short}\"")),
        "{remembered}"
    );

    let output = run(&mut pull(&short, "v2"));
    assert!(output.status.success(), "{}", stderr(&output));

    // Leaving the list (Esc) chooses nothing: refused, nothing kept.
    let other = unique_id("left");
    let mut terminal = Terminal::spawn(&mut pull(&other, "v3"), 24, 100);
    terminal.expect("Please select an image");
    terminal.send(b"\x1b");
    let (status, screen) = terminal.wait();
    assert!(!status.success(), "{screen}");
    assert!(screen.contains("could mean"), "{screen}");
    let remembered = std::fs::read_to_string(&cache).unwrap();
    assert!(!remembered.contains(&other), "{remembered}");
}
