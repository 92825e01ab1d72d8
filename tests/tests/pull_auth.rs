//! Registries of a test's own on the suite's storage: bearer-token auth (a real docker-registry
//! verifying the JWTs of a token service this test runs), TLS with a private CA, and the
//! credentials hoist finds in auth files and keeps with `hoist login`.

use std::path::Path;

use hoist_e2e::registry_process::RegistryProcess;
use hoist_e2e::{env, hoist, run, scratch, stderr, stdout};
use hoist_oci::Layout;

const USER: &str = "token-user";
const PASSWORD: &str = "token-password";

fn pull(scratch: &Path, reference: &str, dest: &Path, extra: &[&str]) -> std::process::Output {
    run(hoist(scratch)
        .args(["pull", "--quiet", "--retry-delay", "10ms"])
        .arg(reference)
        .arg("--dest")
        .arg(format!("oci:{}:latest", dest.display()))
        .args(extra))
}

#[test]
fn bearer_tokens_are_fetched_once_per_scope_and_reused() {
    let Some(env) = env() else { return };
    let registry = RegistryProcess::with_tokens(&env.registry_storage, USER, PASSWORD);
    let dir = scratch();
    let dest = dir.path().join("layout");
    let reference = format!("{}/busybox:latest", registry.address);
    let output = pull(
        dir.path(),
        &reference,
        &dest,
        &["--creds", &format!("{USER}:{PASSWORD}")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    Layout::open(&dest)
        .unwrap()
        .resolve(Some("latest"))
        .unwrap();
    let requests = registry.token_requests();
    assert_eq!(
        requests.len(),
        1,
        "one token serves the manifest and both blobs: {requests:?}"
    );
    assert_eq!(
        requests[0].scope.as_deref(),
        Some("repository:busybox:pull")
    );
    assert_eq!(requests[0].user.as_deref(), Some(USER));
}

#[test]
fn bearer_auth_without_or_with_wrong_credentials_is_refused_clearly() {
    let Some(env) = env() else { return };
    let registry = RegistryProcess::with_tokens(&env.registry_storage, USER, PASSWORD);
    let dir = scratch();
    let dest = dir.path().join("layout");
    let reference = format!("{}/busybox:latest", registry.address);
    for extra in [vec![], vec!["--creds", "token-user:not-the-password"]] {
        let output = pull(dir.path(), &reference, &dest, &extra);
        assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains("refused access"), "{message}");
        assert!(!message.contains("not-the-password"), "{message}");
    }
    assert!(Layout::open(&dest)
        .unwrap()
        .resolve(Some("latest"))
        .is_err());
}

#[test]
fn credentials_come_from_login_and_auth_files_and_go_with_logout() {
    let Some(env) = env() else { return };
    let registry = RegistryProcess::with_tokens(&env.registry_storage, USER, PASSWORD);
    let dir = scratch();
    let authfile = dir.path().join("auth.json");
    let reference = format!("{}/busybox:latest", registry.address);

    let wrong = run(hoist(dir.path())
        .args([
            "login",
            "--username",
            USER,
            "--password",
            "nope",
            "--authfile",
        ])
        .arg(&authfile)
        .arg(&registry.address));
    assert_eq!(wrong.status.code(), Some(125), "{}", stderr(&wrong));
    assert!(!authfile.exists(), "rejected credentials are not stored");

    let mut login = hoist(dir.path());
    login
        .args([
            "login",
            "--username",
            USER,
            "--password-stdin",
            "--authfile",
        ])
        .arg(&authfile)
        .arg(&registry.address)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Login Succeeded"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&authfile).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let dest = dir.path().join("layout");
    let authfile_arg = authfile.to_str().unwrap();
    let output = pull(dir.path(), &reference, &dest, &["--authfile", authfile_arg]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Docker's config.json, found through $DOCKER_CONFIG when no --authfile is given.
    let docker = dir.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    std::fs::copy(&authfile, docker.join("config.json")).unwrap();
    let dest2 = dir.path().join("layout2");
    let output = run(hoist(dir.path())
        .args(["pull", "--quiet", &reference, "--dest"])
        .arg(format!("oci:{}:latest", dest2.display()))
        .env("DOCKER_CONFIG", &docker)
        .env("REGISTRY_AUTH_FILE", dir.path().join("absent.json"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("HOME", dir.path()));
    assert!(output.status.success(), "{}", stderr(&output));

    let logout = run(hoist(dir.path())
        .args(["logout", "--authfile", authfile_arg])
        .arg(&registry.address));
    assert!(logout.status.success(), "{}", stderr(&logout));
    let again = run(hoist(dir.path())
        .args(["logout", "--authfile", authfile_arg])
        .arg(&registry.address));
    assert_eq!(again.status.code(), Some(125), "nothing left to log out of");
    let output = pull(
        dir.path(),
        &reference,
        &dir.path().join("layout3"),
        &["--authfile", authfile_arg],
    );
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
}

#[test]
fn a_credential_helper_answers_for_its_registry() {
    let Some(env) = env() else { return };
    let registry = RegistryProcess::with_tokens(&env.registry_storage, USER, PASSWORD);
    let dir = scratch();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-hoisttest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = \"{}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            registry.address
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let authfile = dir.path().join("config.json");
    std::fs::write(
        &authfile,
        format!(
            r#"{{"credHelpers":{{"{}":"hoisttest"}}}}"#,
            registry.address
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = run(hoist(dir.path())
        .args(["pull", "--quiet", "--authfile"])
        .arg(&authfile)
        .arg(format!("{}/busybox:latest", registry.address))
        .arg("--dest")
        .arg(format!(
            "oci:{}:latest",
            dir.path().join("layout").display()
        ))
        .env("PATH", path));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(registry.token_requests()[0].user.as_deref(), Some(USER));
}

#[test]
fn tls_is_verified_against_the_cert_dir() {
    let Some(env) = env() else { return };
    let registry = RegistryProcess::with_tls(&env.registry_storage);
    let cert_dir = registry.cert_dir.clone().unwrap();
    let dir = scratch();
    let reference = format!("{}/busybox:latest", registry.address);

    let unknown_ca = pull(dir.path(), &reference, &dir.path().join("a"), &[]);
    assert_eq!(unknown_ca.status.code(), Some(125));
    assert!(
        stderr(&unknown_ca).contains("certificate that is not trusted")
            && stderr(&unknown_ca).contains("--cert-dir"),
        "{}",
        stderr(&unknown_ca)
    );

    let trusted = pull(
        dir.path(),
        &reference,
        &dir.path().join("b"),
        &["--cert-dir", cert_dir.to_str().unwrap()],
    );
    assert!(trusted.status.success(), "{}", stderr(&trusted));

    let unverified = pull(
        dir.path(),
        &reference,
        &dir.path().join("c"),
        &["--tls-verify=false"],
    );
    assert!(unverified.status.success(), "{}", stderr(&unverified));
}

/// Auth entries scoped to a namespace (containers-auth.json(5)): the most specific entry for
/// the repository answers, whatever order the file lists them in; and credentials kept for
/// one namespace are never sent for another (the attack: a team's token stored for
/// `HOST/team` would otherwise go to every repository of the host).
#[test]
fn auth_entries_answer_for_their_namespace_only() {
    let Some(env) = env() else { return };
    let registry = RegistryProcess::with_tokens(&env.registry_storage, USER, PASSWORD);
    let dir = scratch();
    let host = &registry.address;
    let entry = |user: &str, password: &str| {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!(r#"{{"auth":"{auth}"}}"#)
    };
    let authfile = dir.path().join("auth.json");
    let pull_with = |auths: String, layout: &str| {
        std::fs::write(&authfile, format!(r#"{{"auths":{{{auths}}}}}"#)).unwrap();
        pull(
            dir.path(),
            &format!("{host}/busybox:latest"),
            &dir.path().join(layout),
            &[
                "--authfile",
                authfile.to_str().unwrap(),
                "--retry-times",
                "0",
            ],
        )
    };

    // The host's entry is wrong; the repository's own is right, and wins.
    let specific = pull_with(
        format!(
            r#""{host}":{},"{host}/busybox":{}"#,
            entry("nobody", "wrong"),
            entry(USER, PASSWORD)
        ),
        "specific",
    );
    assert!(specific.status.success(), "{}", stderr(&specific));
    assert_eq!(
        registry.token_requests().last().unwrap().user.as_deref(),
        Some(USER)
    );

    // Only another namespace has credentials: none are sent.
    let before = registry.token_requests().len();
    let foreign = pull_with(
        format!(r#""{host}/other-team":{}"#, entry(USER, PASSWORD)),
        "foreign",
    );
    assert!(
        !foreign.status.success(),
        "another namespace's credentials were used"
    );
    let sent: Vec<_> = registry.token_requests()[before..]
        .iter()
        .filter_map(|r| r.user.clone())
        .collect();
    assert!(
        sent.is_empty(),
        "credentials went to the token service: {sent:?}"
    );
}

/// A registry that demands a client certificate gets the one its certs.d directory holds
/// (`NAME.cert` with `NAME.key`, as containers-certs.d(5) has them), and refuses a pull
/// without one.
#[test]
fn client_certificates_in_the_cert_dir_are_presented() {
    let Some(env) = env() else { return };
    let registry = RegistryProcess::with_client_certificates(&env.registry_storage);
    let cert_dir = registry.cert_dir.clone().unwrap();
    let dir = scratch();
    let reference = format!("{}/busybox:latest", registry.address);
    let cert_arg = [
        "--cert-dir",
        cert_dir.to_str().unwrap(),
        "--retry-times",
        "0",
    ];

    let without = pull(dir.path(), &reference, &dir.path().join("a"), &cert_arg);
    assert!(
        !without.status.success(),
        "pulled without a client certificate"
    );

    let (certificate, key) = registry.client_certificate.clone().unwrap();
    std::fs::write(cert_dir.join("client.cert"), certificate).unwrap();
    let half = pull(dir.path(), &reference, &dir.path().join("b"), &cert_arg);
    assert!(!half.status.success());
    assert!(stderr(&half).contains("client.key"), "{}", stderr(&half));

    std::fs::write(cert_dir.join("client.key"), key).unwrap();
    let with = pull(dir.path(), &reference, &dir.path().join("c"), &cert_arg);
    assert!(with.status.success(), "{}", stderr(&with));
}
