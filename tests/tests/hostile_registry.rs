//! Registries, and the hosts they send hoist to, acting against the credentials hoist holds: a
//! redirect target that asks for credentials of its own, an upload location on another host,
//! and a copy between two registries. A registry's credentials go to that registry and,
//! through a token service it names, nowhere else.

use base64::Engine;
use hoist_e2e::fault_proxy::{Fault, FaultProxy, Rule, Seen};
use hoist_e2e::tls_redirector::TlsRedirector;
use hoist_e2e::{env, hoist, run, scratch, stderr, unique_id};

fn basic(creds: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(creds)
    )
}

/// The `Authorization` headers of the requests that carried one.
fn authorizations(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter_map(|s| s.authorization.clone())
        .collect()
}

/// A proxy to `upstream` that answers every request whose path contains `path` with `fault`.
fn proxy_with(upstream: &str, path: &str, fault: Fault) -> FaultProxy {
    FaultProxy::start(
        upstream,
        vec![Rule {
            path_contains: path.to_string(),
            times: usize::MAX,
            fault,
        }],
    )
}

/// The blob storage a registry redirects to answers 401 with a challenge of its own, naming a
/// token service on a third host: answering it would hand that service the registry's
/// credentials (a token request carries them).
#[test]
fn a_challenge_from_a_redirect_target_is_refused_and_gets_no_credentials() {
    let Some(env) = env() else { return };
    let realm = FaultProxy::answering("127.0.0.3", 200, &[]);
    let challenge = format!(
        r#"Bearer realm="http://{}/token",service="x""#,
        realm.address
    );
    let storage = FaultProxy::answering(
        "127.0.0.2",
        401,
        &[("WWW-Authenticate", challenge.as_str())],
    );
    let registry = proxy_with(
        &env.auth_registry,
        "/blobs/",
        Fault::RedirectTo(storage.address.clone()),
    );
    let dir = scratch();
    let output = run(hoist(dir.path())
        .args(["pull", "--quiet", "--retry-delay", "10ms"])
        .args(["--creds", &env.auth_creds])
        .arg(format!("{}/busybox:latest", registry.address))
        .arg("--dest")
        .arg(format!(
            "oci:{}:latest",
            dir.path().join("layout").display()
        )));
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(125), "{message}");
    assert!(
        message.contains("asked for credentials") && message.contains(&storage.address),
        "{message}"
    );
    assert!(
        realm.seen().is_empty(),
        "the token service a redirect target named was asked: {:?}",
        realm.seen()
    );
    assert!(
        !storage.seen().is_empty(),
        "the blob requests were not redirected: {message}"
    );
    assert_eq!(
        authorizations(&storage.seen()),
        Vec::<String>::new(),
        "credentials followed the redirect"
    );
    let registry_got = authorizations(&registry.seen());
    assert!(
        !registry_got.is_empty() && registry_got.iter().all(|a| *a == basic(&env.auth_creds)),
        "the registry itself gets its credentials: {registry_got:?}"
    );
}

/// A registry may hand out an upload location on another host (its storage, say): the upload
/// goes there without the registry's credentials, as docker and containerd send it.
#[test]
fn an_upload_to_another_host_goes_without_the_registry_credentials() {
    let Some(env) = env() else { return };
    let elsewhere = FaultProxy::answering("127.0.0.2", 201, &[]);
    let registry = proxy_with(
        &env.auth_registry,
        "/blobs/uploads/",
        Fault::Answer {
            status: 202,
            headers: vec![(
                "Location".to_string(),
                format!("http://{}/upload", elsewhere.address),
            )],
        },
    );
    let dir = scratch();
    // The push cannot end well (the uploads went where nothing keeps them); what each host was
    // sent is what matters.
    let output = run(hoist(dir.path())
        .args(["copy", "--quiet", "--retry-times", "0"])
        .args(["--dest-creds", &env.auth_creds])
        .arg(format!("oci:{}:busybox-latest", env.fixtures.display()))
        .arg(format!(
            "docker://{}/{}:v1",
            registry.address,
            unique_id("upload-elsewhere")
        )));
    let uploads: Vec<Seen> = elsewhere
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect();
    assert!(
        !uploads.is_empty(),
        "no upload reached the other host: {}",
        stderr(&output)
    );
    assert_eq!(
        authorizations(&uploads),
        Vec::<String>::new(),
        "the registry's credentials went with the upload to another host"
    );
    assert!(
        authorizations(&registry.seen()).contains(&basic(&env.auth_creds)),
        "the registry itself gets its credentials: {}",
        stderr(&output)
    );
}

/// A copy between two registries gives each the credentials given for it, and never the other's.
#[test]
fn copy_gives_each_registry_only_its_own_credentials() {
    let Some(env) = env() else { return };
    let source = FaultProxy::start(&env.auth_registry, vec![]);
    let destination = FaultProxy::start(&env.auth_registry, vec![]);
    let destination_creds = "someone-else:only-for-the-destination";
    let dir = scratch();
    let output = run(hoist(dir.path())
        .args(["copy", "--quiet", "--retry-delay", "10ms"])
        .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
        .args(["--src-creds", &env.auth_creds])
        .args(["--dest-creds", destination_creds])
        .arg(format!("docker://{}/busybox:latest", source.address))
        .arg(format!(
            "docker://{}/{}:v1",
            destination.address,
            unique_id("creds-apart")
        )));
    // The source let the image be read with its credentials; the destination refuses the ones
    // made up for it, so they did reach it.
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("refused access"), "{message}");
    assert!(!message.contains("only-for-the-destination"), "{message}");
    let source_got = authorizations(&source.seen());
    assert!(
        !source_got.is_empty() && source_got.iter().all(|a| *a == basic(&env.auth_creds)),
        "the source was sent {source_got:?}"
    );
    let destination_got = authorizations(&destination.seen());
    assert!(
        !destination_got.is_empty()
            && destination_got
                .iter()
                .all(|a| *a == basic(destination_creds)),
        "the destination was sent {destination_got:?}"
    );
}

/// No flag of `hoist copy` serves both registries: one `--creds` for two registries is how a
/// source's credentials reached a destination.
#[test]
fn copy_has_no_flag_that_serves_both_registries() {
    let dir = scratch();
    for (flag, value) in [("--creds", "user:secret"), ("--tls-verify", "false")] {
        let output = run(hoist(dir.path())
            .args(["copy", flag, value])
            .args(["oci:/nonexistent/a", "oci:/nonexistent/b"]));
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(125), "{flag}: {message}");
        assert!(
            message.contains(&format!("unexpected argument '{flag}'")),
            "{flag}: {message}"
        );
    }
}

/// A registry spoken to over HTTPS redirects to plain HTTP: what was asked for over TLS must
/// not be fetched in the clear, where anyone on the path reads or changes it.
#[test]
fn a_redirect_from_https_to_plain_http_is_refused() {
    let Some(_env) = env() else { return };
    let plain = FaultProxy::answering("127.0.0.2", 200, &[]);
    let registry = TlsRedirector::start(&format!("http://{}", plain.address));
    let dir = scratch();
    let output = run(hoist(dir.path())
        .args(["pull", "--quiet", "--retry-times", "0", "--cert-dir"])
        .arg(&registry.cert_dir)
        .arg(format!("{}/busybox:latest", registry.address))
        .arg("--dest")
        .arg(format!(
            "oci:{}:latest",
            dir.path().join("layout").display()
        )));
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("from HTTPS to plain HTTP"),
        "{}",
        stderr(&output)
    );
    assert!(
        plain.seen().is_empty(),
        "the plain-HTTP target was asked: {:?}",
        plain.seen()
    );
}
