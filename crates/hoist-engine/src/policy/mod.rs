//! Trust policy: containers-policy.json(5), as skopeo and podman read it. Which images may be
//! pulled from where, and which must carry a sigstore signature by a given key. Checked before
//! anything of the image is written; a requirement hoist cannot check refuses the image: a
//! policy that asks for a signature is never passed by silently.

mod sigstore;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hoist_oci::{Digest, Reference};
use hoist_registry::RegistryOptions;
use serde::Deserialize;

use crate::async_runtime::block_on;
use crate::{Error, Result};

pub use sigstore::SignedIdentity;

static POLICY_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Reads the policy from `file` rather than the default places (`--policy`).
pub fn use_policy_file(file: PathBuf) {
    let _ = POLICY_FILE.set(file);
}

/// The policy file: `--policy`, else `~/.config/containers/policy.json`, else
/// `/etc/containers/policy.json`; none at all accepts every image (hoist's default since before
/// it read policies, and what the file Debian installs says).
fn policy_file() -> Option<PathBuf> {
    if let Some(file) = POLICY_FILE.get() {
        return Some(file.clone());
    }
    let user = hoist_registry::authfile::user_config_dir().map(|dir| dir.join("policy.json"));
    user.into_iter()
        .chain([PathBuf::from("/etc/containers/policy.json")])
        .find(|p| p.is_file())
}

#[derive(Debug, Deserialize)]
struct PolicyFile {
    default: Vec<Requirement>,
    #[serde(default)]
    transports: HashMap<String, HashMap<String, Vec<Requirement>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
enum Requirement {
    #[serde(rename = "insecureAcceptAnything")]
    AcceptAnything,
    #[serde(rename = "reject")]
    Reject,
    /// GPG signatures: read, never checked (hoist has no GPG), so never satisfied.
    #[serde(rename = "signedBy")]
    SignedBy {},
    #[serde(rename = "sigstoreSigned", rename_all = "camelCase")]
    SigstoreSigned {
        key_path: Option<PathBuf>,
        #[serde(default)]
        key_paths: Vec<PathBuf>,
        key_data: Option<String>,
        fulcio: Option<serde_json::Value>,
        #[serde(default)]
        signed_identity: Option<SignedIdentity>,
        /// Every other field (Rekor's keys, `pki`...): hoist checks none of them, so one set
        /// refuses the image rather than being ignored.
        #[serde(flatten)]
        unchecked: serde_json::Map<String, serde_json::Value>,
    },
}

pub struct Policy {
    file: PathBuf,
    parsed: PolicyFile,
}

impl Policy {
    /// The policy in force, if a file gives one.
    pub fn load() -> Result<Option<Policy>> {
        let Some(file) = policy_file() else {
            return Ok(None);
        };
        let bytes = std::fs::read(&file).map_err(Error::io("reading the policy", &file))?;
        let parsed: PolicyFile = serde_json::from_slice(&bytes).map_err(|e| Error::BadPolicy {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        // An empty list would accept anything by requiring nothing: containers/image refuses
        // such a policy, and so does hoist.
        let lists = std::iter::once(("default", &parsed.default)).chain(
            parsed
                .transports
                .values()
                .flat_map(|scopes| scopes.iter().map(|(scope, list)| (scope.as_str(), list))),
        );
        for (scope, list) in lists {
            if list.is_empty() {
                return Err(Error::BadPolicy {
                    file,
                    reason: format!("the requirements for {scope:?} are an empty list"),
                });
            }
        }
        Ok(Some(Policy { file, parsed }))
    }

    /// The requirements for an image of a registry: the most specific scope of the `docker`
    /// transport (the reference, its repository, each namespace, the host, `*.` wildcards of
    /// its domain), else the transport's `""`, else the default.
    fn for_registry(&self, reference: &Reference) -> &[Requirement] {
        let scopes = self.parsed.transports.get("docker");
        scopes
            .and_then(|scopes| {
                registry_scopes(reference)
                    .iter()
                    .find_map(|scope| scopes.get(scope.as_str()))
                    .or_else(|| scopes.get(""))
            })
            .map(Vec::as_slice)
            .unwrap_or(&self.parsed.default)
    }

    /// The requirements for a local transport's image at `path` (`oci`, `docker-archive`...):
    /// the longest scope that is the path or a directory above it, else the transport's `""`,
    /// else the default.
    fn for_local(&self, transport: &str, path: &Path) -> &[Requirement] {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let scopes = self.parsed.transports.get(transport);
        scopes
            .and_then(|scopes| {
                scopes
                    .iter()
                    .filter(|(scope, _)| !scope.is_empty() && absolute.starts_with(scope.as_str()))
                    .max_by_key(|(scope, _)| scope.len())
                    .map(|(_, list)| list)
                    .or_else(|| scopes.get(""))
            })
            .map(Vec::as_slice)
            .unwrap_or(&self.parsed.default)
    }
}

/// Scopes of a registry image, most specific first.
fn registry_scopes(reference: &Reference) -> Vec<String> {
    let mut scopes = vec![reference.to_string()];
    let mut name = reference.name();
    loop {
        scopes.push(name.clone());
        match name.rsplit_once('/') {
            Some((shorter, _)) => name = shorter.to_string(),
            None => break,
        }
    }
    let host = reference.registry().split(':').next().unwrap_or_default();
    let mut domain = host;
    while let Some((_, rest)) = domain.split_once('.') {
        scopes.push(format!("*.{rest}"));
        domain = rest;
    }
    scopes
}

/// A registry image the policy accepts, as it must be pulled: the places registries.conf
/// gives for it, each pinned to the digest signatures vouched for (the tag is not asked again,
/// so it cannot move in between), else as named. Only [`vet`] makes one, and pulls take
/// nothing else.
pub(crate) struct Vetted {
    pub(crate) endpoints: Vec<crate::registries_conf::Endpoint>,
}

/// Checks the policy for pulling `reference`, before anything is made for it.
pub(crate) fn vet(reference: &Reference, options: &RegistryOptions) -> Result<Vetted> {
    // A registry registries.conf blocks is not contacted at all, for signatures either; the
    // signatures come from where the image itself would (its rewritten location).
    let conf = crate::RegistriesConf::load()?;
    let endpoints = conf.endpoints(reference)?;
    let endpoints = match check_registry_image(reference, &endpoints, options)? {
        // Pinned, the mirrors that serve only digests may serve it too.
        Some(digest) => conf.endpoints(&format!("{}@{digest}", reference.name()).parse()?)?,
        None => endpoints,
    };
    Ok(Vetted { endpoints })
}

/// The keys and identity of one `sigstoreSigned` requirement.
struct SignatureCheck {
    keys: Vec<p256::ecdsa::VerifyingKey>,
    identity: SignedIdentity,
}

/// The digest signatures vouched for, if the policy asked for any. Every requirement is
/// judged before the registry is asked anything: one hoist cannot check refuses at once.
/// Scopes and identities go by `reference` as named; the digest and its signatures come from
/// the first of `endpoints` (mirrors, then the image's own place) that has the image, as
/// containers/image reads them from the place it pulls from. A place that has it decides:
/// signatures it holds that do not vouch for it refuse the image, whatever a later place has.
fn check_registry_image(
    reference: &Reference,
    endpoints: &[crate::registries_conf::Endpoint],
    options: &RegistryOptions,
) -> Result<Option<Digest>> {
    let Some(policy) = Policy::load()? else {
        return Ok(None);
    };
    let refuse = |reason: String| Error::PolicyRefused {
        image: reference.to_string(),
        file: policy.file.clone(),
        reason,
    };
    let mut checks = Vec::new();
    for requirement in policy.for_registry(reference) {
        match requirement {
            Requirement::AcceptAnything => {}
            Requirement::Reject => return Err(refuse("the policy rejects it".into())),
            Requirement::SignedBy {} => {
                return Err(refuse(
                    "it asks for a GPG signature (signedBy), which hoist cannot verify".into(),
                ))
            }
            Requirement::SigstoreSigned {
                key_path,
                key_paths,
                key_data,
                fulcio,
                signed_identity,
                unchecked,
            } => {
                if fulcio.is_some() {
                    return Err(refuse(
                        "it asks for a Fulcio certificate, which hoist cannot verify; use keyPath"
                            .into(),
                    ));
                }
                if let Some(field) = unchecked.keys().next() {
                    return Err(refuse(format!(
                        "its sigstoreSigned requirement sets {field:?}, which hoist cannot check"
                    )));
                }
                checks.push(SignatureCheck {
                    keys: sigstore::keys(key_path.iter().chain(key_paths), key_data.as_deref())
                        .map_err(refuse)?,
                    identity: signed_identity.clone().unwrap_or_default(),
                });
            }
        }
    }
    if checks.is_empty() {
        return Ok(None);
    }
    // Only a place that cannot be asked, or does not have the image, is passed over.
    let mut failed = None;
    let mut found = None;
    for endpoint in endpoints {
        let mut at_options = options.clone();
        at_options.tls_verify &= !endpoint.insecure;
        let at = &endpoint.reference;
        match block_on(hoist_registry::manifest_digest(at, &at_options))? {
            Ok(Some(digest)) => {
                found = Some((at, at_options, digest));
                break;
            }
            Ok(None) => {}
            Err(source) => {
                failed = Some(Error::Registry {
                    what: format!("resolving {at} to check its signatures"),
                    source,
                })
            }
        }
    }
    let (at, at_options, digest) = match (found, failed) {
        (Some(found), _) => found,
        (None, Some(error)) => return Err(error),
        (None, None) => return Err(refuse("the registry does not have it".into())),
    };
    let signatures = block_on(hoist_registry::sigstore_signatures(
        at,
        &digest,
        &at_options,
    ))?
    .map_err(|source| Error::Registry {
        what: format!("fetching the signatures of {at}"),
        source,
    })?;
    for check in checks {
        sigstore::verify(
            &check.keys,
            &digest,
            reference,
            &check.identity,
            &signatures,
        )
        .map_err(refuse)?;
    }
    Ok(Some(digest))
}

/// Checks the policy for an image of a local transport (`oci`, `oci-archive`,
/// `docker-archive`, `dir`): only its acceptance, since hoist verifies signatures of registry
/// images alone (a policy asking for one here refuses the image).
pub(crate) fn check_local_image(transport: &str, path: &Path, image: &str) -> Result<()> {
    let Some(policy) = Policy::load()? else {
        return Ok(());
    };
    for requirement in policy.for_local(transport, path) {
        let reason = match requirement {
            Requirement::AcceptAnything => continue,
            Requirement::Reject => "the policy rejects it",
            _ => {
                "the policy asks for a signature, which hoist checks only for images in registries"
            }
        };
        return Err(Error::PolicyRefused {
            image: image.to_string(),
            file: policy.file.clone(),
            reason: reason.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_go_from_the_image_to_its_domain() {
        let reference: Reference = "a.b.example.com:5000/team/app:v1".parse().unwrap();
        assert_eq!(
            registry_scopes(&reference),
            [
                "a.b.example.com:5000/team/app:v1",
                "a.b.example.com:5000/team/app",
                "a.b.example.com:5000/team",
                "a.b.example.com:5000",
                "*.b.example.com",
                "*.example.com",
                "*.com",
            ]
        );
    }
}
