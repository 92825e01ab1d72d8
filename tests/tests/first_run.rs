//! A first `hoist run IMAGE` (the image not in the store) unpacks each layer into the layer cache
//! while the pull is still going, and a layer cache entry is only ever made of a layer that
//! matched both its digest and its diff_id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hoist_e2e::fault_proxy::{Fault, FaultProxy, Rule};
use hoist_e2e::hostile_registry::{HostileRegistry, Response};
use hoist_e2e::image::{self, Layer, Lies, Tar};
use hoist_e2e::{env, hoist, is_root, run, scratch, stderr, stdout};
use hoist_oci::{media_type, Digest, ImageConfiguration, ImageManifest, Layout};

/// The layer cache of the store `hoist(scratch)` uses.
fn layer_cache(scratch: &Path) -> PathBuf {
    scratch.join("hoist-root").join("layers")
}

/// The names in the layer cache (entries, and anything else left there).
fn cache_names(scratch: &Path) -> Vec<String> {
    match std::fs::read_dir(layer_cache(scratch)) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn is_complete(scratch: &Path, chain_id: &str) -> bool {
    std::fs::read(layer_cache(scratch).join(chain_id).join("complete"))
        .is_ok_and(|marker| marker == chain_id.as_bytes())
}

/// The chain ids of an image's layers, bottom first (the cache's entry names).
fn chain_ids(config: &ImageConfiguration) -> Vec<String> {
    let mut below: Option<Digest> = None;
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|diff_id| {
            let diff: Digest = diff_id.parse().unwrap();
            let chain = match &below {
                None => diff,
                Some(below) => Digest::of(format!("{below} {diff}").as_bytes()),
            };
            below = Some(chain.clone());
            chain.hex().to_string()
        })
        .collect()
}

/// An image of busybox and a second layer of `size` bytes of one file, in a layout.
fn two_layer_image(dir: &Path, size: usize) -> (Layout, ImageManifest, ImageConfiguration) {
    let env = env().expect("checked by the caller");
    let fixtures = Layout::open(&env.fixtures).unwrap();
    let busybox: ImageManifest = fixtures
        .read_json(
            &fixtures.resolve(Some("busybox-latest")).unwrap(),
            "manifest",
        )
        .unwrap();
    let busybox_config: ImageConfiguration =
        fixtures.read_json(busybox.config(), "config").unwrap();
    let base = &busybox.layers()[0];
    let mut blob = Vec::new();
    std::io::Read::read_to_end(&mut fixtures.open_blob(base).unwrap(), &mut blob).unwrap();
    let base = Layer {
        blob,
        diff_id: busybox_config.rootfs().diff_ids()[0].clone(),
        media_type: base.media_type().to_string(),
    };
    // Incompressible, so that the layer is `size` bytes on the wire too.
    let mut noise = vec![0u8; size];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for byte in noise.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let top = Layer::gzip(&Tar::default().file("data/noise", &noise).finish());
    let layout_dir = dir.join("layout");
    let top_descriptor = image::write_image_of(
        &layout_dir,
        "latest",
        vec![base, top],
        Lies::default(),
        serde_json::json!({ "Cmd": ["sh"] }),
    );
    let layout = Layout::open(&layout_dir).unwrap();
    let manifest: ImageManifest = layout.read_json(&top_descriptor, "manifest").unwrap();
    let config: ImageConfiguration = layout.read_json(manifest.config(), "config").unwrap();
    (layout, manifest, config)
}

/// The two-layer image pushed to the test registry, and a proxy to it that stalls the top
/// layer after 1 MiB (hoist cuts it after `--stall-timeout` and resumes).
fn pushed_with_a_stalling_top(dir: &Path) -> (String, ImageConfiguration, String, FaultProxy) {
    let env = env().expect("checked by the caller");
    let (layout, manifest, config) = two_layer_image(dir, 4 << 20);
    let repository = format!("first-run-{}", std::process::id());
    let pushed = run(hoist(dir).args([
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{}:latest", layout.path().display()),
        &format!("docker://{}/{repository}:latest", env.registry),
    ]));
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let top = manifest.layers()[1].digest().to_string();
    let proxy = FaultProxy::start(
        &env.registry,
        vec![Rule {
            path_contains: top.clone(),
            times: 1,
            fault: Fault::StallAfter(1 << 20),
        }],
    );
    let reference = format!("{}/{repository}:latest", proxy.address);
    (reference, config, top, proxy)
}

/// Runs `command` to its end, polling `seen` meanwhile; returns its output and whether `seen`
/// was ever true while it ran.
fn watching(command: &mut Command, mut seen: impl FnMut() -> bool) -> (Output, bool) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut was_seen = false;
    while Instant::now() < deadline && !was_seen && child.try_wait().unwrap().is_none() {
        was_seen = seen();
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), was_seen)
}

/// Where the store keeps the top layer's blob while it downloads.
fn partial_blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("hoist-root/images/blobs/sha256")
        .join(format!(".partial-{}", digest.trim_start_matches("sha256:")))
}

#[test]
fn a_lower_layer_is_in_the_cache_while_the_layer_above_it_still_downloads() {
    let Some(_env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let (reference, config, top, proxy) = pushed_with_a_stalling_top(dir.path());
    let chains = chain_ids(&config);
    let partial_top = partial_blob(dir.path(), &top);
    let (output, seen_while_pulling) = watching(
        hoist(dir.path())
            .args(["run", "--rm", "--network=none", "--tls-verify=false"])
            .args(["--stall-timeout", "4s", "--retry-delay", "10ms"])
            .args([&reference, "cat", "/data/noise"]),
        // In this order: the lower layer's entry is complete, and after that the top layer's
        // blob is still only partly there.
        || is_complete(dir.path(), &chains[0]) && partial_top.exists(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        output.stdout.len(),
        4 << 20,
        "the container reads the top layer's file"
    );
    assert!(
        seen_while_pulling,
        "the busybox layer was never in the cache while the top layer downloaded"
    );
    let mut names = cache_names(dir.path());
    names.sort();
    let mut expected = chains.clone();
    expected.sort();
    assert_eq!(
        names, expected,
        "only the image's complete entries are left"
    );
    assert!(chains.iter().all(|chain| is_complete(dir.path(), chain)));
    assert!(
        proxy.seen_for(&top).len() >= 2,
        "the stalled layer was resumed"
    );
}

/// What `hoist unpack` left beside `bundle` while it worked (its staging directories).
fn staged_beside(bundle: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(bundle.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".hoist-unpack-")
        })
        .collect()
}

#[test]
fn unpack_of_a_registry_reference_unpacks_while_it_downloads_and_keeps_the_image() {
    let Some(_env) = env() else { return };
    let dir = scratch();
    let (reference, _, top, _proxy) = pushed_with_a_stalling_top(dir.path());
    let bundles = dir.path().join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    let bundle = bundles.join("bundle");
    let partial_top = partial_blob(dir.path(), &top);
    let (output, seen_while_pulling) = watching(
        hoist(dir.path())
            .args(["unpack", "--tls-verify=false", "--stall-timeout", "4s"])
            .args(["--retry-delay", "10ms", "--image"])
            .arg(format!("docker://{reference}"))
            .arg(&bundle),
        || {
            staged_beside(&bundle)
                .iter()
                .any(|staged| staged.join("rootfs/bin/busybox").exists())
                && partial_top.exists()
        },
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        seen_while_pulling,
        "busybox was never unpacked while the top layer downloaded"
    );
    let noise = std::fs::metadata(bundle.join("rootfs/data/noise")).unwrap();
    assert_eq!(noise.len(), 4 << 20);
    assert!(bundle.join("config.json").is_file());
    assert!(staged_beside(&bundle).is_empty());
    let images = run(hoist(dir.path()).args(["images", "--format", "{{.Repository}}"]));
    assert!(
        stdout(&images).contains(reference.split(':').next().unwrap()),
        "{}",
        stdout(&images)
    );
}

/// A registry serving `evil:latest`: `manifest` and its `blobs` by digest.
fn liar(manifest: &ImageManifest, blobs: Vec<(String, Vec<u8>)>) -> HostileRegistry {
    let mut routes = HashMap::from([(
        "/v2/evil/manifests/latest".to_string(),
        Response::ok(
            media_type::OCI_MANIFEST,
            serde_json::to_vec(manifest).unwrap(),
        ),
    )]);
    for (digest, body) in blobs {
        routes.insert(
            format!("/v2/evil/blobs/{digest}"),
            Response::ok("application/octet-stream", body),
        );
    }
    HostileRegistry::serve(routes)
}

/// The config and layers of `manifest` as stored in `layout`, by digest.
fn blobs_of(layout: &Layout, manifest: &ImageManifest) -> Vec<(String, Vec<u8>)> {
    std::iter::once(manifest.config())
        .chain(manifest.layers())
        .map(|descriptor| {
            let digest = descriptor.digest().to_string();
            let hex = digest.trim_start_matches("sha256:");
            let bytes = std::fs::read(layout.path().join("blobs/sha256").join(hex)).unwrap();
            (digest, bytes)
        })
        .collect()
}

/// A registry serving the two-layer image with its top layer's gzip header changed (its mtime,
/// which no checksum of gzip's covers): the layer decompresses to the very tar its diff_id
/// names, and only the blob's digest tells it is not the blob.
/// Returns it with the chain id of the image's sound (bottom) layer.
fn serving_a_wrong_top_layer(dir: &Path) -> (HostileRegistry, String) {
    let (layout, manifest, config) = two_layer_image(dir, 1 << 20);
    let mut blobs = blobs_of(&layout, &manifest);
    let top = blobs.last_mut().unwrap();
    top.1[4] ^= 0xff;
    (liar(&manifest, blobs), chain_ids(&config).remove(0))
}

/// `hoist run` of `evil:latest` from `registry`, which must fail naming `expected`, leaving in
/// the layer cache no staging directory and no entry but complete ones of the layers in
/// `sound` (chain ids of layers that matched both digests, which may or may not have been
/// unpacked before the failure ended the pull).
fn assert_run_refused(dir: &Path, registry: &HostileRegistry, expected: &str, sound: &[String]) {
    let output = run(hoist(dir)
        .args(["run", "--rm", "--network=none", "--tls-verify=false"])
        .arg(format!("{}/evil:latest", registry.address))
        .arg("true"));
    assert!(!output.status.success(), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(message.contains(expected), "{message}");
    for name in cache_names(dir) {
        assert!(
            sound.contains(&name) && is_complete(dir, &name),
            "{name} left in the layer cache: {message}"
        );
    }
}

#[test]
fn a_layer_whose_bytes_are_not_its_digest_never_reaches_the_layer_cache() {
    let Some(_env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let (registry, sound) = serving_a_wrong_top_layer(dir.path());
    assert_run_refused(dir.path(), &registry, "digest", &[sound]);
}

#[test]
fn a_layer_that_is_not_its_diff_id_never_reaches_the_layer_cache() {
    let Some(_env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let layers = vec![Tar::default().file("etc/motd", b"hello\n").finish()];
    let top = image::write_image(
        &dir.path().join("layout"),
        "latest",
        &layers,
        Lies {
            wrong_diff_id: true,
            ..Lies::default()
        },
    );
    let layout = Layout::open(dir.path().join("layout")).unwrap();
    let manifest: ImageManifest = layout.read_json(&top, "manifest").unwrap();
    let registry = liar(&manifest, blobs_of(&layout, &manifest));
    assert_run_refused(dir.path(), &registry, "diff_id", &[]);
}

#[test]
fn unpack_of_a_lying_registry_leaves_no_bundle() {
    let Some(_env) = env() else { return };
    let dir = scratch();
    let (registry, _) = serving_a_wrong_top_layer(dir.path());
    let bundles = dir.path().join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    let bundle = bundles.join("bundle");
    let output = run(hoist(dir.path())
        .args(["unpack", "--tls-verify=false", "--image"])
        .arg(format!("docker://{}/evil:latest", registry.address))
        .arg(&bundle));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("digest"), "{}", stderr(&output));
    assert!(!bundle.exists());
    assert!(staged_beside(&bundle).is_empty());
}
