//! skopeo's verbs beside copy, against the local registry and skopeo itself: `list-tags`
//! (every page, never leaving the registry), `inspect --no-tags` and a refused tag list,
//! `delete`, `manifest-digest`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::Command;

use hoist_e2e::hostile_registry::{HostileRegistry, Response};
use hoist_e2e::{env, expect_ok, hoist, run, scratch, stderr, stdout, unique_id};
use hoist_oci::Digest;
use serde_json::Value;

/// Pushes the registry's busybox to a repository of the test's own under each tag.
fn push_tags(scratch: &std::path::Path, registry: &str, repository: &str, tags: &[&str]) {
    for tag in tags {
        hoist_e2e::push_busybox(scratch, registry, repository, tag);
    }
}

#[test]
fn list_tags_prints_what_skopeo_prints() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let repository = unique_id("tags");
    push_tags(dir.path(), &env.registry, &repository, &["v1", "v2", "v3"]);
    let target = format!("docker://{}/{repository}", env.registry);
    let ours = expect_ok(hoist(dir.path()).args(["list-tags", "--tls-verify=false", &target]));
    let theirs =
        expect_ok(Command::new("skopeo").args(["list-tags", "--tls-verify=false", &target]));
    assert_eq!(stdout(&ours), stdout(&theirs));
    let listing: Value = serde_json::from_slice(&ours.stdout).unwrap();
    let mut tags: Vec<&str> = listing["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["v1", "v2", "v3"]);
}

#[test]
fn tag_pages_are_all_read_and_a_link_never_leads_off_the_registry() {
    // Where a hostile Link points: nothing may connect here.
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let foreign = elsewhere.local_addr().unwrap();
    let page = |tags: &str| {
        Response::ok(
            "application/json",
            format!(r#"{{"name":"app","tags":[{tags}]}}"#).into_bytes(),
        )
    };
    let registry = HostileRegistry::serve(HashMap::from([
        (
            "/v2/app/tags/list".to_string(),
            page(r#""a""#).header(
                "Link",
                &format!(r#"<http://{foreign}/v2/app/tags/list?last=a&n=1>; rel="next""#),
            ),
        ),
        (
            "/v2/app/tags/list?last=a&n=1".to_string(),
            page(r#""b""#).header("Link", r#"</v2/app/tags/list?last=b&n=1>; rel="next""#),
        ),
        ("/v2/app/tags/list?last=b&n=1".to_string(), page(r#""c""#)),
        (
            "/v2/loop/tags/list".to_string(),
            page(r#""x""#).header("Link", r#"</v2/loop/tags/list>; rel="next""#),
        ),
    ]));
    let dir = scratch();
    let listed = expect_ok(hoist(dir.path()).args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/app", registry.address),
    ]));
    let listing: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listing["Tags"], serde_json::json!(["a", "b", "c"]));
    assert!(
        elsewhere.accept().is_err(),
        "a Link sent hoist to another host"
    );

    let looping = run(hoist(dir.path()).args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/loop", registry.address),
    ]));
    assert!(!looping.status.success());
    assert!(stderr(&looping).contains("loop"), "{}", stderr(&looping));
}

#[test]
fn inspect_goes_on_when_the_registry_refuses_to_list_tags() {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = Digest::of(config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": [],
    }))
    .unwrap();
    let registry = HostileRegistry::serve(HashMap::from([
        (
            "/v2/app/manifests/latest".to_string(),
            Response::ok("application/vnd.oci.image.manifest.v1+json", manifest),
        ),
        (
            format!("/v2/app/blobs/{config_digest}"),
            Response::ok("application/octet-stream", config.to_vec()),
        ),
        (
            "/v2/app/tags/list".to_string(),
            Response::with_status(
                403,
                "application/json",
                br#"{"errors":[{"code":"DENIED","message":"no listing here"}]}"#.to_vec(),
            ),
        ),
    ]));
    let dir = scratch();
    let image = format!("docker://{}/app:latest", registry.address);
    let inspected = expect_ok(hoist(dir.path()).args(["inspect", "--tls-verify=false", &image]));
    assert!(
        stderr(&inspected).contains("refuses to list"),
        "{}",
        stderr(&inspected)
    );
    let summary: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(summary["RepoTags"], serde_json::json!([]));
    let quiet = expect_ok(hoist(dir.path()).args(["inspect", "-n", "--tls-verify=false", &image]));
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
}

#[test]
fn inspect_lists_tags_unless_told_not_to() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let repository = unique_id("inspect-tags");
    push_tags(dir.path(), &env.registry, &repository, &["one", "two"]);
    let image = format!("docker://{}/{repository}:one", env.registry);
    let tags = |extra: &[&str]| {
        let output = expect_ok(
            hoist(dir.path())
                .args(["inspect", "--tls-verify=false"])
                .args(extra)
                .arg(&image),
        );
        let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
        summary["RepoTags"].as_array().unwrap().len()
    };
    assert_eq!(tags(&[]), 2);
    assert_eq!(tags(&["--no-tags"]), 0);
}

#[test]
fn delete_removes_the_image_from_its_registry() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let repository = unique_id("delete");
    push_tags(dir.path(), &env.registry, &repository, &["doomed"]);
    let image = format!("docker://{}/{repository}:doomed", env.registry);
    let deleted = run(hoist(dir.path()).args(["delete", "--tls-verify=false", &image]));
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let gone = run(Command::new("skopeo").args(["inspect", "--tls-verify=false", &image]));
    assert!(
        !gone.status.success(),
        "skopeo still sees the deleted image"
    );
    let again = run(hoist(dir.path()).args(["delete", "--tls-verify=false", &image]));
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("not found"), "{}", stderr(&again));
}

#[test]
fn manifest_digest_agrees_with_skopeo() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let raw = expect_ok(hoist(dir.path()).args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/multiarch:latest", env.registry),
    ]));
    let file = dir.path().join("manifest.json");
    std::fs::write(&file, &raw.stdout).unwrap();
    let ours = expect_ok(hoist(dir.path()).arg("manifest-digest").arg(&file));
    let theirs = expect_ok(Command::new("skopeo").arg("manifest-digest").arg(&file));
    assert_eq!(stdout(&ours), stdout(&theirs));
    assert_eq!(stdout(&ours).trim(), Digest::of(&raw.stdout).to_string());
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sync_mirrors_a_repository_out_and_back_as_skopeo_names_it() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let repository = unique_id("sync");
    push_tags(dir.path(), &env.registry, &repository, &["a", "b"]);
    let source = format!("{}/{repository}", env.registry);
    let sync = |args: &[&str]| {
        run(hoist(dir.path())
            .args(["sync", "--src-tls-verify=false", "--dest-tls-verify=false"])
            .args(args))
    };

    // Out to a directory, named as skopeo names them.
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    let out = sync(&[
        "--src",
        "docker",
        "--dest",
        "dir",
        &source,
        ours.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    expect_ok(Command::new("skopeo").args([
        "sync",
        "--src-tls-verify=false",
        "--src",
        "docker",
        "--dest",
        "dir",
        &source,
        theirs.to_str().unwrap(),
    ]));
    assert_eq!(names_in(&ours), names_in(&theirs));
    assert_eq!(
        names_in(&ours),
        [format!("{repository}:a"), format!("{repository}:b")]
    );
    let seen = expect_ok(Command::new("skopeo").arg("inspect").arg(format!(
        "dir:{}",
        ours.join(format!("{repository}:a")).display()
    )));
    let seen: Value = serde_json::from_slice(&seen.stdout).unwrap();

    // Again: nothing to copy.
    let again = sync(&[
        "--src",
        "docker",
        "--dest",
        "dir",
        &source,
        ours.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        stderr(&again).matches("Skipping").count(),
        2,
        "{}",
        stderr(&again)
    );
    assert!(!stderr(&again).contains("Copied"), "{}", stderr(&again));

    // Back into another namespace of the registry, by the directories' names.
    let mirror = format!("{}/{}", env.registry, unique_id("mirror"));
    let back = sync(&[
        "--src",
        "dir",
        "--dest",
        "docker",
        ours.to_str().unwrap(),
        &mirror,
    ]);
    assert!(back.status.success(), "{}", stderr(&back));
    let mirrored = expect_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{mirror}/{repository}:a"),
    ]));
    let mirrored: Value = serde_json::from_slice(&mirrored.stdout).unwrap();
    assert_eq!(mirrored["Digest"], seen["Digest"]);

    // Scoped: the registry and path kept.
    let scoped = dir.path().join("scoped");
    let one = sync(&[
        "--scoped",
        "--src",
        "docker",
        "--dest",
        "dir",
        &format!("{source}:b"),
        scoped.to_str().unwrap(),
    ]);
    assert!(one.status.success(), "{}", stderr(&one));
    assert!(scoped
        .join(&env.registry)
        .join(format!("{repository}:b"))
        .join("manifest.json")
        .is_file());
}

/// `sync --src yaml` takes skopeo's file: per registry, images by tag (all of them for an
/// empty list), by tag pattern and by semantic version, with the registry's own TLS setting
/// and credentials; a repository the registry does not have is passed over. The same file
/// gives the same tree as skopeo's sync.
#[test]
fn sync_from_a_yaml_file_picks_what_skopeo_picks() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let repository = unique_id("yaml");
    let every = unique_id("every");
    push_tags(
        dir.path(),
        &env.registry,
        &repository,
        &["latest", "1.0", "1.2.3", "v2.1", "3.0.0", "rc-1"],
    );
    push_tags(dir.path(), &env.registry, &every, &["x", "y"]);
    let (user, password) = env.auth_creds.split_once(':').unwrap();
    let file = dir.path().join("sync.yaml");
    let yaml = format!(
        "{registry}:
    tls-verify: false
    images:
        {repository}: [latest]
        {every}: []
        {missing}: []
    images-by-tag-regex:
        {repository}: ^1\\.
{auth_registry}:
    tls-verify: false
    credentials:
        username: {user}
        password: {password}
    images:
        busybox:
            - latest
",
        registry = env.registry,
        auth_registry = env.auth_registry,
        missing = unique_id("missing"),
    );
    std::fs::write(&file, yaml).unwrap();
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    let synced = run(hoist(dir.path())
        .args(["sync", "--src", "yaml", "--dest", "dir"])
        .args([&file, &ours]));
    // A repository the registry does not have is passed over, with a word, as skopeo does.
    assert!(synced.status.success(), "{}", stderr(&synced));
    assert!(
        stderr(&synced).contains("passing over"),
        "{}",
        stderr(&synced)
    );
    expect_ok(
        Command::new("skopeo")
            .args(["sync", "--src", "yaml", "--dest", "dir"])
            .args([&file, &theirs]),
    );
    assert_eq!(names_in(&ours), names_in(&theirs));
    let mut expected = vec![
        "busybox:latest".to_string(),
        format!("{every}:x"),
        format!("{every}:y"),
    ];
    for tag in ["1.0", "1.2.3", "latest"] {
        expected.push(format!("{repository}:{tag}"));
    }
    expected.sort();
    assert_eq!(names_in(&ours), expected);

    // By semantic version (newer skopeo's `images-by-semver`; this host's 1.9.3 predates it):
    // tags read as Masterminds' semver reads them, `v2.1` as 2.1.0.
    let semver = dir.path().join("semver.yaml");
    std::fs::write(
        &semver,
        format!(
            "{}:\n    tls-verify: false\n    images-by-semver:\n        {repository}: \">= 1.2 < 3\"\n",
            env.registry
        ),
    )
    .unwrap();
    let by_version = dir.path().join("by-version");
    let synced = run(hoist(dir.path())
        .args(["sync", "--src", "yaml", "--dest", "dir"])
        .args([&semver, &by_version]));
    assert!(synced.status.success(), "{}", stderr(&synced));
    assert_eq!(
        names_in(&by_version),
        [format!("{repository}:1.2.3"), format!("{repository}:v2.1")]
    );

    // A misspelt key is named, not passed over.
    std::fs::write(
        &file,
        format!("{}:\n    imagez:\n        a: []\n", env.registry),
    )
    .unwrap();
    let refused = run(hoist(dir.path())
        .args(["sync", "--src", "yaml", "--dest", "dir"])
        .args([&file, &ours]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("imagez"), "{}", stderr(&refused));
}
