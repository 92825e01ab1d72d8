//! `hoist pull` when the network and the registry misbehave: a fault-injecting proxy in front of
//! the real registry, and hoist killed mid-pull.

use std::path::Path;

use base64::Engine;
use std::time::Duration;

use hoist_e2e::fault_proxy::{Fault, FaultProxy, Rule, TLS_HANDSHAKE};
use hoist_e2e::registry_process::{RegistryProcess, SERVICE};
use hoist_e2e::{env, hoist, run, scratch, stderr, TestEnv};
use hoist_oci::{Digest, Layout};

/// The digest of the fixture busybox image's layer (about 1 MiB of gzip).
fn busybox_layer(env: &TestEnv) -> String {
    let fixtures = Layout::open(&env.fixtures).unwrap();
    let manifest: hoist_oci::ImageManifest = fixtures
        .read_json(
            &fixtures.resolve(Some("busybox-latest")).unwrap(),
            "manifest",
        )
        .unwrap();
    manifest.layers()[0].digest().to_string()
}

fn pull_through(
    scratch: &Path,
    proxy: &FaultProxy,
    dest: &Path,
    extra: &[&str],
) -> std::process::Output {
    run(hoist(scratch)
        .args(["pull", "--quiet", "--retry-delay", "10ms"])
        .arg(format!("{}/busybox:latest", proxy.address))
        .arg("--dest")
        .arg(format!("oci:{}:latest", dest.display()))
        .args(extra))
}

/// A proxy to `upstream` that fails the first `times` requests for `path` with `fault`.
fn one_fault(upstream: &str, path: &str, times: usize, fault: Fault) -> FaultProxy {
    FaultProxy::start(
        upstream,
        vec![Rule {
            path_contains: path.to_string(),
            times,
            fault,
        }],
    )
}

/// Every blob is complete and verified, and nothing partial is left.
fn assert_complete(layout: &Path) {
    let mut blobs = 0;
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "a partial file {name} was left");
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(Digest::of(&bytes).hex(), name);
        blobs += 1;
    }
    assert_eq!(blobs, 3, "config, layer and manifest");
    Layout::open(layout)
        .unwrap()
        .resolve(Some("latest"))
        .unwrap();
}

#[test]
fn server_errors_are_retried_and_retry_after_is_honoured() {
    let Some(env) = env() else { return };
    let layer = busybox_layer(&env);
    let proxy = FaultProxy::start(
        &env.registry,
        vec![
            Rule {
                path_contains: "/manifests/".into(),
                times: 1,
                fault: Fault::Status {
                    status: 500,
                    retry_after: None,
                },
            },
            Rule {
                path_contains: layer.clone(),
                times: 1,
                fault: Fault::Status {
                    status: 429,
                    retry_after: Some(1),
                },
            },
        ],
    );
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull_through(dir.path(), &proxy, &dest, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_complete(&dest);
    assert_eq!(proxy.seen_for("/manifests/").len(), 2, "one 500, one retry");
    let layer_requests = proxy.seen_for(&layer);
    assert_eq!(layer_requests.len(), 2, "one 429, one retry");
    let waited = layer_requests[1].at - layer_requests[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "the retry came {waited:?} after a 429 that said Retry-After: 1"
    );
}

#[test]
fn connections_reset_at_every_stage_are_retried_and_never_kill_hoist() {
    let Some(env) = env() else { return };
    let reset = |path: &str, times| Rule {
        path_contains: path.to_string(),
        times,
        fault: Fault::Reset,
    };
    // The HTTPS probe of this plain-HTTP registry, its ping, the manifest, the config and the
    // layer: each connection reset once (the probe every time), so every stage meets a peer
    // that has gone mid-conversation.
    let proxy = FaultProxy::start(
        &env.registry,
        vec![
            reset(TLS_HANDSHAKE, 1000),
            reset("/v2/", 1),
            reset("/manifests/", 1),
            reset("/blobs/", 2),
        ],
    );
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull_through(dir.path(), &proxy, &dest, &["--tls-verify=false"]);
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        stderr(&output)
    );
    assert_complete(&dest);
    let faults = |part: &str| {
        proxy
            .seen_for(part)
            .iter()
            .filter(|s| matches!(s.fault, Some(Fault::Reset)))
            .count()
    };
    assert!(faults(TLS_HANDSHAKE) >= 1, "the HTTPS probe met a reset");
    assert_eq!(faults("/manifests/"), 1);
    assert_eq!(faults("/blobs/"), 2);

    // A write to a socket whose peer has gone is an error hoist handles (retried, or said),
    // never a death: SIGPIPE is ignored, seen while a pull waits on a stalled transfer.
    let stalled = one_fault(&env.registry, "/blobs/", 1, Fault::StallAfter(0));
    let mut pulling = hoist(dir.path())
        .args(["pull", "--quiet"])
        .arg(format!("{}/busybox:latest", stalled.address))
        .arg("--dest")
        .arg(format!(
            "oci:{}:latest",
            dir.path().join("stalled").display()
        ))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    hoist_e2e::wait_for("the pull to reach the stalled blob", || {
        !stalled.seen_for("/blobs/").is_empty()
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", pulling.id())).unwrap();
    let _ = pulling.kill();
    let _ = pulling.wait();
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
        .unwrap();
    assert_ne!(ignored & (1 << (13 - 1)), 0, "SIGPIPE is ignored: {status}");

    // Reset every time: a message, never a silent death by SIGPIPE (exit 141).
    let always = FaultProxy::start(&env.registry, vec![reset("/v2/", 1000)]);
    let output = pull_through(dir.path(), &always, &dir.path().join("never"), &[]);
    assert_eq!(output.status.code(), Some(125), "{:?}", output.status);
    assert!(
        stderr(&output).contains(&always.address),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_token_service_that_resets_the_connection_is_retried() {
    let Some(env) = env() else { return };
    let registry = RegistryProcess::with_tokens(&env.registry_storage, "user", "password");
    let token_service = registry.token_service().unwrap();
    // The token service resets its first connection. The registry's challenges are rewritten
    // by a proxy in front of it to send hoist there.
    let tokens = one_fault(token_service, "/token", 1, Fault::Reset);
    let challenge = format!(
        r#"Bearer realm="http://{}/token",service="{SERVICE}",scope="repository:busybox:pull""#,
        tokens.address
    );
    let proxy = one_fault(
        &registry.address,
        "/v2/",
        1000,
        Fault::Header {
            name: "WWW-Authenticate".into(),
            value: challenge,
        },
    );
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull_through(
        dir.path(),
        &proxy,
        &dest,
        &["--tls-verify=false", "--creds", "user:password"],
    );
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        stderr(&output)
    );
    assert_complete(&dest);
    let reset = tokens
        .seen_for("/token")
        .iter()
        .filter(|s| matches!(s.fault, Some(Fault::Reset)))
        .count();
    assert_eq!(reset, 1, "the token request met a reset");
    assert!(tokens.seen_for("/token").len() >= 2, "and was asked again");
}

#[test]
fn a_manifest_whose_digest_header_lies_is_refused_naming_both_digests() {
    let Some(env) = env() else { return };
    let claimed = format!("sha256:{}", "0".repeat(64));
    let proxy = one_fault(
        &env.registry,
        "/manifests/latest",
        100,
        Fault::Header {
            name: "Docker-Content-Digest".into(),
            value: claimed.clone(),
        },
    );
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull_through(dir.path(), &proxy, &dest, &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    let fixtures = Layout::open(&env.fixtures).unwrap();
    let actual = fixtures.resolve(Some("busybox-latest")).unwrap();
    let said = stderr(&output);
    assert!(said.contains(&claimed), "{said}");
    assert!(said.contains(&actual.digest().to_string()), "{said}");
    let stored = std::fs::read_dir(dest.join("blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "nothing of the image was stored");
}

#[test]
fn an_upload_cut_in_the_middle_of_its_body_is_an_error_not_a_death() {
    let Some(env) = env() else { return };
    // Every blob upload's connection is reset while hoist is still sending the body: its next
    // write meets a closed socket (EPIPE, and SIGPIPE unless ignored).
    let proxy = one_fault(&env.registry, "_state=", 1000, Fault::Reset);
    let dir = scratch();
    let source = format!("oci:{}:busybox-latest", env.fixtures.display());
    let target = format!(
        "docker://{}/{}:latest",
        proxy.address,
        hoist_e2e::unique_id("cut-upload")
    );
    let output = run(hoist(dir.path()).args([
        "copy",
        "--quiet",
        "--retry-times",
        "1",
        "--retry-delay",
        "10ms",
        "--dest-tls-verify=false",
        &source,
        &target,
    ]));
    assert_eq!(
        output.status.code(),
        Some(1),
        "a message and hoist's exit code, not a signal: {:?} {}",
        output.status,
        stderr(&output)
    );
    assert!(!proxy.seen_for("_state=").is_empty(), "uploads were tried");
    assert!(
        stderr(&output).contains("busybox") || stderr(&output).contains(&proxy.address),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_closed_stdout_ends_hoist_as_a_c_tool_ends_quietly() {
    // `hoist features | head -c 0`: the reader is gone before hoist writes.
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let output = run(hoist(scratch().path())
        .arg("features")
        .stdout(std::process::Stdio::from(write)));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&output.status),
        Some(13),
        "SIGPIPE, as `cat` would end: {}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn client_errors_are_not_retried() {
    let Some(env) = env() else { return };
    let proxy = FaultProxy::start(&env.registry, vec![]);
    let dir = scratch();
    let output = run(hoist(dir.path())
        .args([
            "pull",
            "--quiet",
            "--retry-delay",
            "10ms",
            "--retry-times",
            "5",
        ])
        .arg(format!("{}/no-such-image:latest", proxy.address))
        .arg("--dest")
        .arg(format!("oci:{}", dir.path().join("layout").display())));
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(stderr(&output).contains("not found"), "{}", stderr(&output));
    assert_eq!(proxy.seen_for("/manifests/").len(), 1, "a 404 is final");

    let auth_proxy = FaultProxy::start(&env.auth_registry, vec![]);
    let output = run(hoist(dir.path())
        .args([
            "pull",
            "--quiet",
            "--retry-delay",
            "10ms",
            "--retry-times",
            "5",
        ])
        .args(["--creds", "hoist:wrong-password"])
        .arg(format!("{}/busybox:latest", auth_proxy.address))
        .arg("--dest")
        .arg(format!("oci:{}", dir.path().join("layout").display())));
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("refused access") && !stderr(&output).contains("wrong-password"),
        "{}",
        stderr(&output)
    );
    assert!(
        auth_proxy.seen_for("/manifests/").len() <= 2,
        "a 401 is answered once with credentials, never retried: {:?}",
        auth_proxy.seen_for("/manifests/")
    );
}

#[test]
fn a_cut_transfer_resumes_with_a_range_request() {
    let Some(env) = env() else { return };
    let layer = busybox_layer(&env);
    let proxy = one_fault(&env.registry, &layer, 1, Fault::CutAfter(300_000));
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull_through(dir.path(), &proxy, &dest, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_complete(&dest);
    let requests = proxy.seen_for(&layer);
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    assert_eq!(requests[1].range.as_deref(), Some("bytes=300000-"));
}

#[test]
fn a_stalled_transfer_is_cut_and_resumed() {
    let Some(env) = env() else { return };
    let layer = busybox_layer(&env);
    let proxy = one_fault(&env.registry, &layer, 1, Fault::StallAfter(200_000));
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull_through(dir.path(), &proxy, &dest, &["--stall-timeout", "1s"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_complete(&dest);
    let requests = proxy.seen_for(&layer);
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].range.as_deref(), Some("bytes=200000-"));
}

#[test]
fn a_stall_that_never_ends_fails_clearly_after_the_retries() {
    let Some(env) = env() else { return };
    let layer = busybox_layer(&env);
    let proxy = one_fault(&env.registry, &layer, 10, Fault::StallAfter(0));
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull_through(
        dir.path(),
        &proxy,
        &dest,
        &["--stall-timeout", "300ms", "--retry-times", "2"],
    );
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("stalled"), "{}", stderr(&output));
    assert_eq!(
        proxy.seen_for(&layer).len(),
        3,
        "the first try and two retries"
    );
    assert!(
        Layout::open(&dest)
            .unwrap()
            .resolve(Some("latest"))
            .is_err(),
        "a failed pull names nothing"
    );
}

#[test]
fn a_redirect_to_another_host_carries_no_credentials() {
    let Some(env) = env() else { return };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(&env.auth_creds)
    );
    // The "storage backend" that blob requests are redirected to has its own access upstream.
    let storage = FaultProxy::start_with(&env.auth_registry, vec![], Some(basic));
    let front = FaultProxy::start(
        &env.auth_registry,
        vec![Rule {
            path_contains: "/blobs/".into(),
            times: 100,
            fault: Fault::RedirectTo(storage.address.clone()),
        }],
    );
    let dir = scratch();
    let dest = dir.path().join("layout");
    let output = pull_through(dir.path(), &front, &dest, &["--creds", &env.auth_creds]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_complete(&dest);
    assert!(
        front
            .seen_for("/manifests/")
            .iter()
            .any(|s| s.authorization.is_some()),
        "the registry itself gets the credentials"
    );
    let redirected = storage.seen_for("/blobs/");
    assert_eq!(redirected.len(), 2, "config and layer: {redirected:?}");
    for request in redirected {
        assert_eq!(
            request.authorization, None,
            "credentials followed a redirect to another host: {}",
            request.path
        );
    }
}

#[test]
fn a_pull_killed_mid_blob_is_resumed_by_the_next_and_leaves_nothing_partial() {
    let Some(env) = env() else { return };
    let layer = busybox_layer(&env);
    let stalling = one_fault(&env.registry, &layer, 1, Fault::StallAfter(700_000));
    let dir = scratch();
    let dest = dir.path().join("layout");
    let mut child = hoist(dir.path())
        .args(["pull", "--quiet", "--stall-timeout", "120s"])
        .arg(format!("{}/busybox:latest", stalling.address))
        .arg("--dest")
        .arg(format!("oci:{}:latest", dest.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = dest
        .join("blobs/sha256")
        .join(format!(".partial-{}", layer.trim_start_matches("sha256:")));
    hoist_e2e::wait_for("part of the layer to reach the layout", || {
        // 700 000 bytes arrive before the stall; the writer buffers at most 256 KiB of them.
        std::fs::metadata(&partial).is_ok_and(|m| m.len() >= 400 * 1024)
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(
        Layout::open(&dest)
            .unwrap()
            .resolve(Some("latest"))
            .is_err(),
        "a killed pull names nothing"
    );

    let healthy = FaultProxy::start(&env.registry, vec![]);
    let output = pull_through(dir.path(), &healthy, &dest, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_complete(&dest);
    let requests = healthy.seen_for(&layer);
    assert_eq!(
        requests[0].range.as_deref(),
        Some(format!("bytes={kept}-").as_str()),
        "the second pull continues where the first stopped"
    );
}

#[test]
fn retries_and_resumes_are_said_as_they_happen_and_quiet_says_nothing() {
    let Some(env) = env() else { return };
    let layer = busybox_layer(&env);
    let faults = || {
        FaultProxy::start(
            &env.registry,
            vec![
                Rule {
                    path_contains: "/manifests/".into(),
                    times: 1,
                    fault: Fault::Status {
                        status: 503,
                        retry_after: None,
                    },
                },
                Rule {
                    path_contains: layer.clone(),
                    times: 1,
                    fault: Fault::CutAfter(300_000),
                },
            ],
        )
    };
    let dir = scratch();
    let pull = |proxy: &FaultProxy, dest: &str, quiet: &[&str]| {
        run(hoist(dir.path())
            .args(["pull", "--retry-delay", "10ms"])
            .args(quiet)
            .arg(format!("{}/busybox:latest", proxy.address))
            .arg("--dest")
            .arg(format!("oci:{}:latest", dir.path().join(dest).display())))
    };
    let proxy = faults();
    let told = pull(&proxy, "told", &[]);
    assert!(told.status.success(), "{}", stderr(&told));
    let said = stderr(&told);
    assert!(
        said.contains("503") && said.contains("retrying in 10ms (1/3)"),
        "{said}"
    );
    assert!(
        said.contains("broke off at") && said.contains("resuming there in 10ms (1/3)"),
        "{said}"
    );
    assert!(said.contains("Copying 2 blobs"), "{said}");

    let proxy = faults();
    let quiet = pull(&proxy, "quiet", &["--quiet"]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "");
}
