//! `hoist pull` against the real local registry (and a lying one).

use std::collections::HashMap;
use std::path::Path;

use hoist_e2e::hostile_registry::{HostileRegistry, Response};
use hoist_e2e::image::descriptor;
use hoist_e2e::{env, expect_ok, hoist, run, scratch, stderr, stdout};
use hoist_oci::{media_type, Digest, Layout};
use serde_json::{json, Value};

fn pull(scratch: &Path, reference: &str, dest: &Path, extra: &[&str]) -> std::process::Output {
    run(hoist(scratch)
        .args(["pull", "--tls-verify=false", "--quiet"])
        .arg(reference)
        .arg("--dest")
        .arg(format!("oci:{}", dest.display()))
        .args(extra))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every blob in a layout hashes to its own name: nothing unverified became visible.
fn assert_blobs_verified(layout: &Path) {
    let mut count = 0;
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with('.'),
            "a partial blob {name} was left in the layout"
        );
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            Digest::of(&bytes).hex(),
            name,
            "blob {name} does not match its name"
        );
        count += 1;
    }
    assert!(count > 0, "the layout has no blobs");
}

fn manifest_of(layout: &Path, tag: &str) -> Value {
    let layout = Layout::open(layout).unwrap();
    let descriptor = layout.resolve(Some(tag)).unwrap();
    serde_json::from_slice(&layout.read_blob(&descriptor, "manifest", 1 << 20).unwrap()).unwrap()
}

fn config_of(layout: &Path, tag: &str) -> Value {
    let manifest = manifest_of(layout, tag);
    let digest: Digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    read_json(&Layout::open(layout).unwrap().blob_path(&digest))
}

#[test]
fn pulls_into_a_layout_that_skopeo_reads() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull(
        dir.path(),
        &format!("docker://{}/busybox:latest", env.registry),
        Path::new(&format!("{}:v1", dest.display())),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let digest = stdout(&output).trim().to_string();
    assert!(
        digest.starts_with("sha256:"),
        "pull prints the manifest digest, got {digest:?}"
    );
    assert_blobs_verified(&dest);
    let index = read_json(&dest.join("index.json"));
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());

    let inspect = expect_ok(
        std::process::Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:v1", dest.display())),
    );
    let inspected: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());

    // umoci reads it too (it needs root to unpack with ownership).
    if hoist_e2e::is_root() {
        let bundle = dir.path().join("umoci-bundle");
        expect_ok(
            std::process::Command::new("umoci")
                .arg("unpack")
                .arg("--image")
                .arg(format!("{}:v1", dest.display()))
                .arg(&bundle),
        );
        assert!(bundle.join("rootfs/bin/busybox").is_file());
    }
}

#[test]
fn the_default_tag_is_the_source_tag_and_a_second_pull_fetches_nothing() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let dest = dir.path().join("layout");
    let reference = format!("{}/busybox:latest", env.registry);
    assert!(pull(dir.path(), &reference, &dest, &[]).status.success());
    manifest_of(&dest, "latest");
    let again = run(hoist(dir.path())
        .args(["pull", "--tls-verify=false", &reference, "--dest"])
        .arg(format!("oci:{}", dest.display())));
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        !stderr(&again).contains("Copied blob"),
        "nothing should be fetched twice:\n{}",
        stderr(&again)
    );
    assert!(
        stderr(&again).contains("already present"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn platform_choice_from_an_index_tells_variants_apart() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let reference = format!("{}/multiarch:latest", env.registry);
    for (platform, architecture, variant) in [
        ("linux/arm64", "arm64", Some("v8")),
        ("linux/arm/v7", "arm", Some("v7")),
    ] {
        let dest = dir.path().join(architecture);
        let output = pull(dir.path(), &reference, &dest, &["--platform", platform]);
        assert!(output.status.success(), "{platform}: {}", stderr(&output));
        let config = config_of(&dest, "latest");
        assert_eq!(config["architecture"], architecture);
        assert_eq!(config["variant"].as_str(), variant);
    }
    let output = pull(
        dir.path(),
        &reference,
        &dir.path().join("v6"),
        &["--platform", "linux/arm/v6"],
    );
    assert_eq!(output.status.code(), Some(125));
    let message = stderr(&output);
    assert!(
        message.contains("linux/arm/v6")
            && message.contains("linux/arm/v7")
            && message.contains("--platform"),
        "{message}"
    );
    // The host's own platform is the default.
    let host = dir.path().join("host");
    assert!(pull(dir.path(), &reference, &host, &[]).status.success());
    assert_eq!(
        config_of(&host, "latest")["architecture"],
        hoist_oci::Platform::host().architecture
    );
}

#[test]
fn pulls_zstd_and_multi_layer_images() {
    let Some(env) = env() else { return };
    let dir = scratch();
    for (image, layers, media) in [
        ("zstd", 2, media_type::OCI_LAYER_ZSTD),
        ("layers", 3, media_type::OCI_LAYER_GZIP),
    ] {
        let dest = dir.path().join(image);
        let output = pull(
            dir.path(),
            &format!("{}/{image}:latest", env.registry),
            &dest,
            &[],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let manifest = manifest_of(&dest, "latest");
        assert_eq!(manifest["layers"].as_array().unwrap().len(), layers);
        assert_eq!(manifest["layers"][0]["mediaType"], media);
        assert_blobs_verified(&dest);
    }
}

#[test]
fn basic_auth_needs_the_credentials() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let reference = format!("{}/busybox:latest", env.auth_registry);
    let denied = pull(dir.path(), &reference, &dir.path().join("denied"), &[]);
    assert_eq!(denied.status.code(), Some(125));
    assert!(
        stderr(&denied).to_lowercase().contains("unauthorized") || stderr(&denied).contains("401"),
        "{}",
        stderr(&denied)
    );
    let wrong = pull(
        dir.path(),
        &reference,
        &dir.path().join("wrong"),
        &["--creds", "hoist:wrong"],
    );
    assert!(!wrong.status.success());
    assert!(
        !stderr(&wrong).contains("wrong"),
        "the password must not appear in errors: {}",
        stderr(&wrong)
    );
    let allowed = pull(
        dir.path(),
        &reference,
        &dir.path().join("allowed"),
        &["--creds", &env.auth_creds],
    );
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert_blobs_verified(&dir.path().join("allowed"));
}

#[test]
fn an_unknown_image_is_a_clear_error_and_names_nothing() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull(
        dir.path(),
        &format!("{}/no-such-image:latest", env.registry),
        &dest,
        &[],
    );
    assert_eq!(output.status.code(), Some(125));
    assert!(
        stderr(&output).contains("no-such-image"),
        "{}",
        stderr(&output)
    );
    if dest.join("index.json").exists() {
        assert_eq!(read_json(&dest.join("index.json"))["manifests"], json!([]));
    }
}

#[test]
fn pulls_by_digest_and_refuses_a_manifest_that_does_not_match_it() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let first = dir.path().join("first");
    let output = pull(
        dir.path(),
        &format!("{}/busybox:latest", env.registry),
        &first,
        &[],
    );
    let digest = stdout(&output).trim().to_string();
    let by_digest = dir.path().join("by-digest");
    let output = pull(
        dir.path(),
        &format!("{}/busybox@{digest}", env.registry),
        Path::new(&format!("{}:pinned", by_digest.display())),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), digest);
    // Ask a registry that serves busybox's manifest under the zstd image's digest.
    let other = stdout(&pull(
        dir.path(),
        &format!("{}/zstd:latest", env.registry),
        &dir.path().join("z"),
        &[],
    ))
    .trim()
    .to_string();
    let manifest = std::fs::read(
        Layout::open(&first)
            .unwrap()
            .blob_path(&digest.parse().unwrap()),
    )
    .unwrap();
    let liar = HostileRegistry::serve(HashMap::from([(
        format!("/v2/evil/manifests/{other}"),
        Response::ok(media_type::OCI_MANIFEST, manifest),
    )]));
    let dest = dir.path().join("evil");
    let output = pull(
        dir.path(),
        &format!("{}/evil@{other}", liar.address),
        Path::new(&format!("{}:x", dest.display())),
        &[],
    );
    assert_eq!(output.status.code(), Some(125));
    let message = stderr(&output);
    assert!(
        message.contains(&other) && message.to_lowercase().contains("digest"),
        "{message}"
    );
}

#[test]
fn a_blob_that_does_not_match_its_digest_leaves_nothing_in_the_layout() {
    let dir = scratch();
    let layer = b"these are not the bytes the manifest promised".to_vec();
    let claimed = descriptor(b"the real layer", media_type::OCI_LAYER_GZIP);
    let config_bytes = serde_json::to_vec(&json!({
        "architecture": hoist_oci::Platform::host().architecture, "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [Digest::of(b"x").to_string()] }
    }))
    .unwrap();
    let config = descriptor(&config_bytes, media_type::OCI_CONFIG);
    // The served body has the claimed length but other bytes.
    let mut body = layer.clone();
    body.resize(claimed.size() as usize, b'!');
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": config, "layers": [claimed],
    }))
    .unwrap();
    let liar = HostileRegistry::serve(HashMap::from([
        (
            "/v2/evil/manifests/latest".to_string(),
            Response::ok(media_type::OCI_MANIFEST, manifest),
        ),
        (
            format!("/v2/evil/blobs/{}", config.digest()),
            Response::ok("application/octet-stream", config_bytes),
        ),
        (
            format!("/v2/evil/blobs/{}", claimed.digest()),
            Response::ok("application/octet-stream", body),
        ),
    ]));
    let dest = dir.path().join("layout");
    let output = pull(
        dir.path(),
        &format!("{}/evil:latest", liar.address),
        &dest,
        &[],
    );
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    // Whichever layer notices first (hoist's store writer, or oci-client's check on a full
    // response), the error names the digest that did not match.
    let message = stderr(&output);
    assert!(
        message.contains(&claimed.digest().to_string())
            && message.to_lowercase().contains("digest"),
        "{message}"
    );
    let layer_path = Layout::open(&dest)
        .unwrap()
        .blob_path(&claimed.digest().to_string().parse().unwrap());
    assert!(!layer_path.exists(), "the bad blob became visible");
    assert_eq!(
        read_json(&dest.join("index.json"))["manifests"],
        json!([]),
        "no ref may point at a half-pulled image"
    );
    for entry in std::fs::read_dir(dest.join("blobs/sha256")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".partial"),
            "a partial file was left behind: {name}"
        );
    }
}

#[test]
fn two_pulls_into_one_layout_at_once_both_land() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let dest = dir.path().join("layout");
    let children: Vec<_> = ["busybox", "zstd", "layers"]
        .iter()
        .map(|image| {
            hoist(dir.path())
                .args(["pull", "--quiet", "--tls-verify=false"])
                .arg(format!("{}/{image}:latest", env.registry))
                .arg("--dest")
                .arg(format!("oci:{}:{image}", dest.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    for image in ["busybox", "zstd", "layers"] {
        manifest_of(&dest, image);
    }
    assert_blobs_verified(&dest);
}

/// A lying registry serving `manifest` (as `content_type`) and `blobs` for `evil:latest`.
fn liar(manifest: Vec<u8>, content_type: &str, blobs: Vec<(String, Vec<u8>)>) -> HostileRegistry {
    let mut routes = HashMap::from([(
        "/v2/evil/manifests/latest".to_string(),
        Response::ok(content_type, manifest),
    )]);
    for (digest, body) in blobs {
        routes.insert(
            format!("/v2/evil/blobs/{digest}"),
            Response::ok("application/octet-stream", body),
        );
    }
    HostileRegistry::serve(routes)
}

fn assert_layout_untouched(dest: &Path) {
    if !dest.exists() {
        return;
    }
    assert_eq!(read_json(&dest.join("index.json"))["manifests"], json!([]));
    let left: Vec<_> = std::fs::read_dir(dest.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the layout: {left:?}");
}

#[test]
fn a_blob_one_byte_too_long_or_too_short_is_refused() {
    let dir = scratch();
    let config_bytes =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let config = descriptor(&config_bytes, media_type::OCI_CONFIG);
    let layer = b"a layer of exactly forty bytes, honest!!".to_vec();
    let layer_descriptor = descriptor(&layer, media_type::OCI_LAYER_GZIP);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
        "config": config, "layers": [layer_descriptor],
    }))
    .unwrap();
    let mut longer = layer.clone();
    longer.push(b'!');
    let shorter = layer[..layer.len() - 1].to_vec();
    for (what, body) in [("long", longer), ("short", shorter)] {
        let server = liar(
            manifest.clone(),
            media_type::OCI_MANIFEST,
            vec![
                (config.digest().to_string(), config_bytes.clone()),
                (layer_descriptor.digest().to_string(), body),
            ],
        );
        let dest = dir.path().join(what);
        let output = pull(
            dir.path(),
            &format!("{}/evil:latest", server.address),
            &dest,
            &[],
        );
        assert_eq!(
            output.status.code(),
            Some(125),
            "{what}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(&layer_descriptor.digest().to_string()),
            "{what}: {}",
            stderr(&output)
        );
        let layout = Layout::open(&dest).unwrap();
        assert!(!layout
            .blob_path(&layer_descriptor.digest().to_string().parse().unwrap())
            .exists());
        assert!(layout.resolve(Some("latest")).is_err());
        for entry in std::fs::read_dir(dest.join("blobs/sha256")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(".partial"), "{what}: {name} left behind");
        }
    }
}

#[test]
fn a_manifest_whose_content_type_or_size_is_wrong_is_refused() {
    let dir = scratch();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
        "config": descriptor(b"{}", media_type::OCI_CONFIG), "layers": [],
    }))
    .unwrap();
    let server = liar(manifest, media_type::OCI_INDEX, vec![]);
    let dest = dir.path().join("a");
    let output = pull(
        dir.path(),
        &format!("{}/evil:latest", server.address),
        &dest,
        &[],
    );
    assert_eq!(output.status.code(), Some(125));
    assert!(
        stderr(&output).contains("labels the manifest"),
        "{}",
        stderr(&output)
    );
    assert_layout_untouched(&dest);

    let mut huge = br#"{"schemaVersion":2,"layers":[],"annotations":{"x":""#.to_vec();
    huge.resize(5 << 20, b'a');
    huge.extend_from_slice(br#""}}"#);
    let server = liar(huge, media_type::OCI_MANIFEST, vec![]);
    let dest = dir.path().join("b");
    let output = pull(
        dir.path(),
        &format!("{}/evil:latest", server.address),
        &dest,
        &[],
    );
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("limit"), "{}", stderr(&output));
    assert_layout_untouched(&dest);
}

/// A non-distributable layer the registry does not hold: hoist names its URLs and fetches
/// from them only with `--allow-layer-urls`, and what they serve must match the digest.
#[test]
fn a_nondistributable_layer_comes_from_its_urls_only_when_allowed() {
    let dir = scratch();
    let layer = hoist_e2e::image::Layer::gzip(
        &hoist_e2e::image::Tar::default()
            .file("foreign/file", b"fetched from the layer's URL\n")
            .finish(),
    );
    let layer_digest = Digest::of(&layer.blob);
    // Where the layer lives: one host serves it, another serves other bytes.
    let path = format!("/layers/{}", layer_digest.hex());
    let host = HostileRegistry::serve(HashMap::from([(
        path.clone(),
        Response::ok("application/octet-stream", layer.blob.clone()),
    )]));
    let wrong = HostileRegistry::serve(HashMap::from([(
        path.clone(),
        Response::ok("application/octet-stream", vec![b'!'; layer.blob.len()]),
    )]));
    let config_bytes = serde_json::to_vec(&json!({
        "architecture": hoist_oci::Platform::host().architecture, "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [layer.diff_id] }
    }))
    .unwrap();
    let config = descriptor(&config_bytes, media_type::OCI_CONFIG);
    let registry_with_urls = |urls: &[String]| {
        let mut layer_descriptor = descriptor(&layer.blob, media_type::OCI_NONDISTRIBUTABLE_GZIP);
        layer_descriptor.set_urls(Some(urls.to_vec()));
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
            "config": config, "layers": [layer_descriptor],
        }))
        .unwrap();
        liar(
            manifest,
            media_type::OCI_MANIFEST,
            vec![(config.digest().to_string(), config_bytes.clone())],
        )
    };
    let not_pulled = |dest: &Path| {
        assert_eq!(read_json(&dest.join("index.json"))["manifests"], json!([]));
        assert!(!Layout::open(dest)
            .unwrap()
            .blob_path(&layer_digest)
            .exists());
        let partial = std::fs::read_dir(dest.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect::<Vec<_>>();
        assert!(partial.is_empty(), "partial blobs left: {partial:?}");
    };

    let at = |server: &HostileRegistry| format!("http://{}{path}", server.address);
    // A signed URL's secrets are never shown.
    let signed = format!(
        "http://user:password-marker@{}{path}?token=query-marker",
        host.address
    );
    let registry = registry_with_urls(std::slice::from_ref(&signed));
    let reference = format!("{}/evil:latest", registry.address);
    let dest = dir.path().join("refused");
    let output = pull(dir.path(), &reference, &dest, &[]);
    assert_eq!(output.status.code(), Some(125));
    let message = stderr(&output);
    assert!(message.contains(&at(&host)), "{message}");
    assert!(message.contains("--allow-layer-urls"), "{message}");
    assert!(!message.contains("-marker"), "{message}");
    not_pulled(&dest);

    // The first URL serves other bytes, the second is no http(s) URL; the third gives the layer.
    let registry = registry_with_urls(&[at(&wrong), "ftp://elsewhere/layer".into(), signed]);
    let reference = format!("{}/evil:latest", registry.address);
    let dest = dir.path().join("allowed");
    let output = pull(dir.path(), &reference, &dest, &["--allow-layer-urls"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_blobs_verified(&dest);
    let bundle = dir.path().join("bundle");
    expect_ok(
        hoist(dir.path())
            .args(["unpack", "--image"])
            .arg(format!("{}:latest", dest.display()))
            .arg(&bundle),
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/foreign/file")).unwrap(),
        "fetched from the layer's URL\n"
    );

    // Only wrong bytes, a 404 and a 503 to be had: refused with each URL's reason (never the
    // body such a host sends), nothing kept.
    let failing = HostileRegistry::serve(HashMap::from([(
        path.clone(),
        hoist_e2e::hostile_registry::Response::with_status(
            503,
            "text/plain",
            b"body-marker from a host inside the network".to_vec(),
        ),
    )]));
    let registry = registry_with_urls(&[
        at(&wrong),
        format!("http://{}/missing", host.address),
        at(&failing),
    ]);
    let reference = format!("{}/evil:latest", registry.address);
    let dest = dir.path().join("wrong");
    let output = pull(
        dir.path(),
        &reference,
        &dest,
        &["--allow-layer-urls", "--retry-times", "0"],
    );
    assert_eq!(output.status.code(), Some(125));
    let message = stderr(&output);
    assert!(message.contains("does not match its digest"), "{message}");
    assert!(message.contains("answered 404"), "{message}");
    assert!(message.contains("answered 503"), "{message}");
    assert!(!message.contains("body-marker"), "{message}");
    not_pulled(&dest);

    // Pushed on, the layer stays at its URLs (as skopeo leaves it), and pulls come from there.
    let Some(env) = env() else { return };
    let registry = registry_with_urls(&[at(&host)]);
    let reference = format!("{}/evil:latest", registry.address);
    let pulled = dir.path().join("to-push");
    let output = pull(dir.path(), &reference, &pulled, &["--allow-layer-urls"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let pushed = format!("{}/{}:1", env.registry, hoist_e2e::unique_id("foreign"));
    expect_ok(
        hoist(dir.path())
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:latest", pulled.display()))
            .arg(format!("docker://{pushed}")),
    );
    let dest = dir.path().join("again");
    let output = pull(dir.path(), &pushed, &dest, &[]);
    assert_eq!(
        output.status.code(),
        Some(125),
        "the registry lacks the layer"
    );
    assert!(
        stderr(&output).contains("--allow-layer-urls"),
        "{}",
        stderr(&output)
    );
    let output = pull(dir.path(), &pushed, &dest, &["--allow-layer-urls"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // A registry that does not allow one of the URLs refuses the manifest: hoist says why.
    let registry = registry_with_urls(&[at(&host), "http://127.0.0.2:9/layer".into()]);
    let reference = format!("{}/evil:latest", registry.address);
    let pulled = dir.path().join("not-allowed-there");
    let output = pull(dir.path(), &reference, &pulled, &["--allow-layer-urls"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(hoist(dir.path())
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:latest", pulled.display()))
        .arg(format!(
            "docker://{}/{}:1",
            env.registry,
            hoist_e2e::unique_id("refused")
        )));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("left at their URLs"), "{message}");
    assert!(message.contains(&layer_digest.to_string()), "{message}");
}
