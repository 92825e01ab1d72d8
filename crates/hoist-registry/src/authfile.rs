//! Credentials stored on disk, as containers tools and docker keep them: `auth.json`
//! (containers-auth.json(5)) and docker's `config.json`, with `credHelpers` and `credsStore`
//! answered by `docker-credential-NAME` helpers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{Map, Value};

use crate::{Credentials, Error, Result};

/// The user's containers configuration directory, as every containers tool finds it:
/// `$XDG_CONFIG_HOME/containers`, else `~/.config/containers`.
pub fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|config| config.join("containers"))
}

/// Where `hoist login` writes when not told: podman's and skopeo's default.
pub fn default_authfile() -> PathBuf {
    if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return PathBuf::from(path);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("containers/auth.json"),
        None => PathBuf::from(format!(
            "/run/containers/{}/auth.json",
            rustix::process::getuid().as_raw()
        )),
    }
}

/// The files read, in order, when no `--authfile` is given; the first that knows the registry
/// answers.
fn search_path() -> Vec<PathBuf> {
    let mut files = vec![default_authfile()];
    let home = std::env::var_os("HOME").map(PathBuf::from);
    files.extend(user_config_dir().map(|dir| dir.join("auth.json")));
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => files.push(PathBuf::from(dir).join("config.json")),
        None => files.extend(home.map(|h| h.join(".docker/config.json"))),
    }
    files
}

/// The credentials stored for `scope`: a registry (`HOST[:PORT]`), or a repository in one
/// (`HOST/ORG/APP`), which entries for its namespaces (`HOST/ORG`) answer before the host's.
pub fn lookup(scope: &str, authfile: Option<&Path>) -> Result<Option<Credentials>> {
    let files = match authfile {
        Some(file) => vec![file.to_path_buf()],
        None => search_path(),
    };
    for file in files {
        let Some(config) = read(&file, authfile.is_some(), authfile.is_none())? else {
            continue;
        };
        if let Some(found) = lookup_in(&config, scope, &file)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// One file's answer, in containers-auth.json(5)'s order: the registry's credential helper;
/// the most specific `auths` entry for the scope (`HOST/ORG/APP`, `HOST/ORG`, `HOST`); an
/// entry written as a URL (docker's older form), by its host; the file's credential store.
fn lookup_in(config: &Value, scope: &str, file: &Path) -> Result<Option<Credentials>> {
    let registry = scope.split('/').next().unwrap_or(scope);
    if let Some(helper) = config
        .get("credHelpers")
        .and_then(|h| h.get(registry))
        .and_then(Value::as_str)
    {
        return run_helper(helper, registry);
    }
    if let Some(entry) = config
        .get("auths")
        .and_then(Value::as_object)
        .and_then(|auths| find_entry(auths, scope))
    {
        if let Some(credentials) = decode_entry(entry, file)? {
            return Ok(Some(credentials));
        }
    }
    match config.get("credsStore").and_then(Value::as_str) {
        Some(helper) => run_helper(helper, registry),
        None => Ok(None),
    }
}

/// Whether an `auths` key names the registry itself: as its host, as a URL (`https://HOST/v1/`,
/// docker's older form, whatever its path), or for `docker.io` as Docker Hub's other hosts.
/// (A key with a path and no scheme names a namespace, never the registry.)
fn names_registry(key: &str, registry: &str) -> bool {
    let host = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(rest) => rest.split('/').next().unwrap_or(rest),
        None => key,
    };
    host == registry
        || (registry == hoist_oci::DEFAULT_REGISTRY
            && matches!(host, "index.docker.io" | "registry-1.docker.io"))
}

/// The entry for `scope`: its own or its closest namespace's key, else a key that names its
/// registry. (A key `HOST/OTHER` never answers for `HOST/ORG/APP`: it is another namespace's.)
fn find_entry<'a>(auths: &'a Map<String, Value>, scope: &str) -> Option<&'a Value> {
    let mut key = scope;
    while let Some((shorter, _)) = key.rsplit_once('/') {
        if let Some(entry) = auths.get(key) {
            return Some(entry);
        }
        key = shorter;
    }
    auths.get(key).or_else(|| {
        auths
            .iter()
            .find_map(|(name, entry)| names_registry(name, key).then_some(entry))
    })
}

fn decode_entry(entry: &Value, file: &Path) -> Result<Option<Credentials>> {
    if let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let bad = || {
            Error::Credentials(format!(
                "{}: an \"auth\" entry is not base64 of USER:PASSWORD",
                file.display()
            ))
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    let field = |name| entry.get(name).and_then(Value::as_str).map(str::to_string);
    Ok(match (field("username"), field("password")) {
        (Some(username), Some(password)) => Some(Credentials { username, password }),
        _ => None,
    })
}

/// Asks `docker-credential-NAME get` (the docker credential helper protocol).
fn run_helper(helper: &str, registry: &str) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{helper}");
    let server = if registry == hoist_oci::DEFAULT_REGISTRY {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let failed = |reason: String| Error::Credentials(format!("{program} get {server}: {reason}"));
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            failed(format!(
                "cannot run it ({e}); install it or remove it from the auth file"
            ))
        })?;
    child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(server.as_bytes())
        .map_err(|e| failed(e.to_string()))?;
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).to_lowercase()
            + &String::from_utf8_lossy(&output.stderr).to_lowercase();
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(format!("it exited with {}", output.status)));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let answer: Answer = serde_json::from_slice(&output.stdout)
        .map_err(|e| failed(format!("its answer is not the helper protocol's JSON: {e}")))?;
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
    }))
}

/// Reads an auth file; a missing one is `None` unless it was named explicitly.
/// The file's JSON; `None` if it does not exist (unless it `must_exist`) or, when reading one
/// of the default files to look credentials up (`skip_unreadable`), this user may not read it.
fn read(file: &Path, must_exist: bool, skip_unreadable: bool) -> Result<Option<Value>> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(None),
        // A default file this user may not read (another user's runtime directory, say) is
        // not theirs to use: passed over, as containers/image does; one they named is an error.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && skip_unreadable => {
            tracing::warn!("skipping the credentials in {}: {e}", file.display());
            return Ok(None);
        }
        Err(e) => return Err(Error::Credentials(format!("{}: {e}", file.display()))),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Credentials(format!("{} is not valid JSON: {e}", file.display())))
}

/// Records credentials for `registry` in the auth file (created 0600 if need be). Returns the
/// file written.
pub fn store(
    registry: &str,
    credentials: &Credentials,
    authfile: Option<&Path>,
) -> Result<PathBuf> {
    let file = authfile
        .map(Path::to_path_buf)
        .unwrap_or_else(default_authfile);
    let mut config = read(&file, false, false)?.unwrap_or_else(|| Value::Object(Map::new()));
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password));
    auths_of(&mut config, &file)?.insert(registry.to_string(), serde_json::json!({ "auth": auth }));
    write(&file, &config)?;
    Ok(file)
}

/// Removes what the auth file holds for `registry` (every registry with `None`). Returns
/// whether there was anything to remove.
pub fn erase(registry: Option<&str>, authfile: Option<&Path>) -> Result<bool> {
    let file = authfile
        .map(Path::to_path_buf)
        .unwrap_or_else(default_authfile);
    let Some(mut config) = read(&file, false, false)? else {
        return Ok(false);
    };
    let auths = auths_of(&mut config, &file)?;
    let before = auths.len();
    match registry {
        Some(registry) => {
            auths.retain(|key, _| !names_registry(key, registry));
        }
        None => auths.clear(),
    }
    let removed = auths.len() != before;
    if removed {
        write(&file, &config)?;
    }
    Ok(removed)
}

fn auths_of<'a>(config: &'a mut Value, file: &Path) -> Result<&'a mut Map<String, Value>> {
    let not_an_object = || Error::Credentials(format!("{} is not a JSON object", file.display()));
    let object = config.as_object_mut().ok_or_else(not_an_object)?;
    object
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(not_an_object)
}

/// Written whole and renamed into place, readable by the owner only: it holds secrets.
fn write(file: &Path, config: &Value) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let failed = |e: std::io::Error| Error::Credentials(format!("writing {}: {e}", file.display()));
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(failed)?;
    let bytes = serde_json::to_vec_pretty(config).expect("JSON values serialise");
    temp.write_all(&bytes).map_err(failed)?;
    temp.as_file().sync_all().map_err(failed)?;
    temp.persist(file).map_err(|e| failed(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_host_url_or_docker_index_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        std::fs::write(
            &file,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"http://r.example:5000/v2/":{"username":"a","password":"b"}},"other":1}"#,
        )
        .unwrap();
        let hub = lookup("docker.io", Some(&file)).unwrap().unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p"));
        let r = lookup("r.example:5000", Some(&file)).unwrap().unwrap();
        assert_eq!((r.username.as_str(), r.password.as_str()), ("a", "b"));
        assert!(lookup("r.example", Some(&file)).unwrap().is_none());

        let new = Credentials {
            username: "me".into(),
            password: "secret:with:colons".into(),
        };
        store("127.0.0.1:5000", &new, Some(&file)).unwrap();
        assert_eq!(lookup("127.0.0.1:5000", Some(&file)).unwrap(), Some(new));
        let kept: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(kept["other"], 1, "other content is kept");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );

        assert!(erase(Some("127.0.0.1:5000"), Some(&file)).unwrap());
        assert!(!erase(Some("127.0.0.1:5000"), Some(&file)).unwrap());
        assert!(lookup("127.0.0.1:5000", Some(&file)).unwrap().is_none());
        assert!(lookup("docker.io", Some(&file)).unwrap().is_some());
    }

    #[test]
    fn the_most_specific_namespace_answers_and_others_never_do() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        // Entries listed with the other team's first: order in the file must not matter.
        std::fs::write(
            &file,
            r#"{"auths":{
                "r.example/other":{"username":"other-team","password":"o"},
                "r.example/org/team":{"username":"team","password":"t"},
                "r.example/org":{"username":"org","password":"g"},
                "r.example":{"username":"host","password":"h"}}}"#,
        )
        .unwrap();
        let user = |scope: &str| lookup(scope, Some(&file)).unwrap().map(|c| c.username);
        assert_eq!(user("r.example/org/team/app").as_deref(), Some("team"));
        assert_eq!(user("r.example/org/app").as_deref(), Some("org"));
        assert_eq!(user("r.example/elsewhere/app").as_deref(), Some("host"));
        assert_eq!(user("r.example").as_deref(), Some("host"));
        assert_eq!(user("r.example/otherwise").as_deref(), Some("host"));

        // Without a host entry, another namespace's credentials are never sent.
        std::fs::write(
            &file,
            r#"{"auths":{"r.example/other":{"username":"other-team","password":"o"}}}"#,
        )
        .unwrap();
        assert_eq!(user("r.example/org/app"), None);
    }

    #[test]
    fn logout_removes_every_key_lookup_would_answer_with() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        for key in [
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
        ] {
            std::fs::write(
                &file,
                format!(r#"{{"auths":{{"{key}":{{"auth":"dTpw"}}}}}}"#),
            )
            .unwrap();
            assert!(
                lookup("docker.io/library/app", Some(&file))
                    .unwrap()
                    .is_some(),
                "{key}"
            );
            assert!(erase(Some("docker.io"), Some(&file)).unwrap(), "{key}");
            assert!(
                lookup("docker.io/library/app", Some(&file))
                    .unwrap()
                    .is_none(),
                "{key}"
            );
        }
    }

    #[test]
    fn a_missing_named_file_is_an_error_and_a_broken_entry_says_where() {
        let dir = tempfile::tempdir().unwrap();
        assert!(lookup("x", Some(&dir.path().join("none.json"))).is_err());
        let file = dir.path().join("auth.json");
        std::fs::write(&file, r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap();
        let error = lookup("x", Some(&file)).unwrap_err().to_string();
        assert!(error.contains("auth.json"), "{error}");
    }
}
