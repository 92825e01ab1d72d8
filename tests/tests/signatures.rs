//! The trust policy (containers-policy.json) and cosign signatures, signed with the test's own
//! key and stored beside the image as cosign stores them. Written as attacks: each refused
//! pull leaves nothing behind.

use std::path::Path;

use base64::Engine;
use hoist_e2e::{env, expect_ok, hoist, run, scratch, stderr, unique_id};
use hoist_oci::{descriptor_of, Digest, Layout};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};

/// A fixed key per label: tests are repeatable, and two labels are two keys.
fn key(label: &str) -> SigningKey {
    let seed: [u8; 32] = sha256(label.as_bytes());
    SigningKey::from_bytes(&seed.into()).unwrap()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = Digest::of(bytes);
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digest.hex()[i * 2..i * 2 + 2], 16).unwrap();
    }
    out
}

/// How a signature is spoilt.
#[derive(Clone, Copy, PartialEq)]
enum Spoil {
    None,
    /// The signature's bytes changed after signing.
    Bytes,
}

/// Stores a cosign signature for `signed_digest` (naming `identity`) in `repository`, under
/// the tag cosign gives it for the manifest `stored_for`.
#[allow(clippy::too_many_arguments)]
fn store_signature(
    scratch: &Path,
    registry: &str,
    repository: &str,
    stored_for: &str,
    signed_digest: &str,
    identity: &str,
    signer: &SigningKey,
    spoil: Spoil,
) {
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": { "docker-reference": identity },
            "image": { "docker-manifest-digest": signed_digest },
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .unwrap();
    let signature: DerSignature = signer.sign(&payload);
    let mut signature = signature.as_bytes().to_vec();
    if spoil == Spoil::Bytes {
        let last = signature.len() - 1;
        signature[last] ^= 1;
    }
    let layout = Layout::create(scratch.join(unique_id("sig-layout"))).unwrap();
    let payload_digest = Digest::of(&payload);
    let layer = descriptor_of(
        "application/vnd.dev.cosign.simplesigning.v1+json",
        &payload_digest,
        payload.len() as u64,
    );
    layout.write_blob(&payload, &layer).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [payload_digest.to_string()] },
    }))
    .unwrap();
    let config_descriptor = descriptor_of(
        hoist_oci::media_type::OCI_CONFIG,
        &Digest::of(&config),
        config.len() as u64,
    );
    layout.write_blob(&config, &config_descriptor).unwrap();
    let mut layer_json = serde_json::to_value(&layer).unwrap();
    layer_json["annotations"] = serde_json::json!({
        "dev.cosignproject.cosign/signature":
            base64::engine::general_purpose::STANDARD.encode(&signature),
    });
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": hoist_oci::media_type::OCI_MANIFEST,
        "config": config_descriptor,
        "layers": [layer_json],
    }))
    .unwrap();
    let top = descriptor_of(
        hoist_oci::media_type::OCI_MANIFEST,
        &Digest::of(&manifest),
        manifest.len() as u64,
    );
    layout.write_blob(&manifest, &top).unwrap();
    layout.set_ref("sig", &top).unwrap();
    let tag = stored_for.replace(':', "-");
    expect_ok(hoist(scratch).args([
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{}:sig", layout.path().display()),
        &format!("docker://{registry}/{repository}:{tag}.sig"),
    ]));
}

fn write_policy(scratch: &Path, requirements: serde_json::Value) -> std::path::PathBuf {
    let file = scratch.join(unique_id("policy"));
    let policy = serde_json::json!({
        "default": [{ "type": "insecureAcceptAnything" }],
        "transports": { "docker": { "": requirements } },
    });
    std::fs::write(&file, serde_json::to_vec(&policy).unwrap()).unwrap();
    file
}

fn sigstore_policy(scratch: &Path, signer: &SigningKey) -> std::path::PathBuf {
    let key_file = scratch.join(unique_id("key")).with_extension("pub");
    let pem = signer
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(&key_file, pem).unwrap();
    write_policy(
        scratch,
        serde_json::json!([{ "type": "sigstoreSigned", "keyPath": key_file }]),
    )
}

/// Pulls under `policy` into a fresh layout; returns the output and whether the layout exists.
fn pull(scratch: &Path, policy: &Path, image: &str) -> (std::process::Output, bool) {
    let dest = scratch.join(unique_id("pulled"));
    let output = run(hoist(scratch)
        .arg("--policy")
        .arg(policy)
        .args(["pull", "-q", "--tls-verify=false", image, "--dest"])
        .arg(format!("oci:{}:v1", dest.display())));
    (output, dest.exists())
}

fn assert_refused(output: &std::process::Output, written: bool, says: &str) {
    assert!(!output.status.success(), "pulled: {}", stderr(output));
    assert!(stderr(output).contains(says), "{}", stderr(output));
    assert!(!written, "a refused image left a layout behind");
}

#[test]
fn a_pull_under_sigstore_signed_needs_a_valid_signature_by_the_key() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let registry = &env.registry;
    let signer = key("trusted");
    let policy = sigstore_policy(dir.path(), &signer);
    let image = |repository: &str| format!("docker://{registry}/{repository}:v1");

    // Signed by the key, for this digest and this name: pulled.
    let signed = unique_id("signed");
    let digest = hoist_e2e::push_busybox(dir.path(), registry, &signed, "v1");
    let identity = format!("{registry}/{signed}:v1");
    store_signature(
        dir.path(),
        registry,
        &signed,
        &digest,
        &digest,
        &identity,
        &signer,
        Spoil::None,
    );
    let (output, written) = pull(dir.path(), &policy, &image(&signed));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(written);

    // No signature at all.
    let unsigned = unique_id("unsigned");
    hoist_e2e::push_busybox(dir.path(), registry, &unsigned, "v1");
    let (output, written) = pull(dir.path(), &policy, &image(&unsigned));
    assert_refused(&output, written, "holds none");

    // Signed by another key.
    let other_key = unique_id("other-key");
    hoist_e2e::push_busybox(dir.path(), registry, &other_key, "v1");
    let identity = format!("{registry}/{other_key}:v1");
    store_signature(
        dir.path(),
        registry,
        &other_key,
        &digest,
        &digest,
        &identity,
        &key("attacker"),
        Spoil::None,
    );
    let (output, written) = pull(dir.path(), &policy, &image(&other_key));
    assert_refused(&output, written, "not by the policy's key");

    // A good signature's bytes changed.
    let spoilt = unique_id("spoilt");
    hoist_e2e::push_busybox(dir.path(), registry, &spoilt, "v1");
    let identity = format!("{registry}/{spoilt}:v1");
    store_signature(
        dir.path(),
        registry,
        &spoilt,
        &digest,
        &digest,
        &identity,
        &signer,
        Spoil::Bytes,
    );
    let (output, written) = pull(dir.path(), &policy, &image(&spoilt));
    assert_refused(&output, written, "not by the policy's key");

    // A genuine signature of another image, replayed beside this one.
    let replayed = unique_id("replayed");
    hoist_e2e::push_busybox(dir.path(), registry, &replayed, "v1");
    let elsewhere = Digest::of(b"some other image").to_string();
    let identity = format!("{registry}/{replayed}:v1");
    store_signature(
        dir.path(),
        registry,
        &replayed,
        &digest,
        &elsewhere,
        &identity,
        &signer,
        Spoil::None,
    );
    let (output, written) = pull(dir.path(), &policy, &image(&replayed));
    assert_refused(&output, written, "is for");

    // A genuine signature of this image under another name, copied to this repository.
    let renamed = unique_id("renamed");
    hoist_e2e::push_busybox(dir.path(), registry, &renamed, "v1");
    let identity = format!("{registry}/{signed}:v1");
    store_signature(
        dir.path(),
        registry,
        &renamed,
        &digest,
        &digest,
        &identity,
        &signer,
        Spoil::None,
    );
    let (output, written) = pull(dir.path(), &policy, &image(&renamed));
    assert_refused(&output, written, "signedIdentity");
}

/// An image pulled from a mirror (its own registry unreachable) is vouched for by the
/// signatures stored beside it there, as containers/image reads them; a spoilt one there still
/// refuses it.
#[test]
fn signatures_come_from_the_mirror_that_serves_the_image() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let signer = key("trusted");
    let policy = sigstore_policy(dir.path(), &signer);
    // Nothing listens on the discard port: the image's own registry cannot be reached.
    let unreachable = "127.0.0.1:9";
    let conf = dir.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = \"{unreachable}\"\ninsecure = true\n\
             [[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n",
            env.registry
        ),
    )
    .unwrap();
    for (spoil, pulled) in [(Spoil::None, true), (Spoil::Bytes, false)] {
        let repository = unique_id("mirrored");
        let digest = hoist_e2e::push_busybox(dir.path(), &env.registry, &repository, "v1");
        let identity = format!("{unreachable}/{repository}:v1");
        store_signature(
            dir.path(),
            &env.registry,
            &repository,
            &digest,
            &digest,
            &identity,
            &signer,
            spoil,
        );
        let dest = dir.path().join(unique_id("pulled"));
        let output = run(hoist(dir.path())
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .arg("--policy")
            .arg(&policy)
            .args(["pull", "-q", &format!("docker://{identity}"), "--dest"])
            .arg(format!("oci:{}:v1", dest.display())));
        if pulled {
            assert!(output.status.success(), "{}", stderr(&output));
        } else {
            assert_refused(&output, dest.exists(), "not by the policy's key");
        }
    }
}

#[test]
fn requirements_hoist_cannot_check_refuse_rather_than_pass() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let image = format!("docker://{}/busybox:latest", env.registry);
    let cases = [
        (serde_json::json!([{ "type": "reject" }]), "rejects it"),
        (
            serde_json::json!([{ "type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg" }]),
            "GPG",
        ),
        (
            serde_json::json!([{ "type": "sigstoreSigned", "fulcio": { "caPath": "/ca.pem" } }]),
            "Fulcio",
        ),
    ];
    for (requirements, says) in cases {
        let policy = write_policy(dir.path(), requirements);
        let (output, written) = pull(dir.path(), &policy, &image);
        assert_refused(&output, written, says);
    }
    // A requirement hoist does not check, beside a key it could: refused, not half-checked.
    let key_file = dir.path().join("key.pub");
    let pem = key("trusted")
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(&key_file, pem).unwrap();
    let rekor = write_policy(
        dir.path(),
        serde_json::json!([{ "type": "sigstoreSigned", "keyPath": key_file, "rekorPublicKeyPath": "/rekor.pub" }]),
    );
    let (output, written) = pull(dir.path(), &rekor, &image);
    assert_refused(&output, written, "rekorPublicKeyPath");
    // An empty list requires nothing: such a policy is refused, as containers/image refuses it.
    let empty = write_policy(dir.path(), serde_json::json!([]));
    let (output, written) = pull(dir.path(), &empty, &image);
    assert_refused(&output, written, "empty list");
    // A policy that cannot be read is an error, never "accept anything".
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, b"{ not json").unwrap();
    let (output, written) = pull(dir.path(), &broken, &image);
    assert_refused(&output, written, "not a trust policy");
    // And the default of a readable policy accepts what it says it does.
    let open = write_policy(
        dir.path(),
        serde_json::json!([{ "type": "insecureAcceptAnything" }]),
    );
    let (output, written) = pull(dir.path(), &open, &image);
    assert!(output.status.success() && written, "{}", stderr(&output));
}

/// Local images are judged by their transport's scopes too: a path under a rejected directory
/// is refused by every verb that reads it (unpack, run, copy), whatever the default says.
#[test]
fn a_layout_under_a_rejected_path_is_refused() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let untrusted = dir.path().join("untrusted");
    std::fs::create_dir(&untrusted).unwrap();
    let layout = untrusted.join("layout");
    hoist_e2e::copy_fixtures(&env, &layout);
    let policy = dir.path().join("policy.json");
    let rules = serde_json::json!({
        "default": [{ "type": "insecureAcceptAnything" }],
        "transports": { "oci": { untrusted.to_str().unwrap(): [{ "type": "reject" }] } },
    });
    std::fs::write(&policy, serde_json::to_vec(&rules).unwrap()).unwrap();
    let bundle = dir.path().join("bundle");
    let unpacked = run(hoist(dir.path())
        .arg("--policy")
        .arg(&policy)
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:busybox-latest", layout.display()))
        .arg(&bundle));
    assert_refused(&unpacked, bundle.exists(), "rejects it");
    let copied = run(hoist(dir.path())
        .arg("--policy")
        .arg(&policy)
        .arg("copy")
        .arg(format!("oci:{}:busybox-latest", layout.display()))
        .arg(format!("oci:{}:v1", dir.path().join("copy").display())));
    assert_refused(&copied, dir.path().join("copy").exists(), "rejects it");
}
