//! Verifying cosign's signatures with a public key: an ECDSA P-256 signature (SHA-256, ASN.1
//! DER, base64) over a "simple signing" payload that names the manifest digest and the
//! image's reference. Written on the RustCrypto `p256` crate rather than the `sigstore` crate:
//! key-based verification is these few checks, and the `sigstore` crate would bring an OIDC,
//! TUF and Rekor client hoist does not use.

use std::path::PathBuf;

use base64::Engine;
use hoist_oci::{Digest, Reference};
use hoist_registry::SigstoreSignature;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// What the signature's identity must match (containers-policy.json(5)'s `signedIdentity`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type")]
pub enum SignedIdentity {
    #[serde(rename = "matchExact")]
    MatchExact,
    #[default]
    #[serde(rename = "matchRepoDigestOrExact")]
    MatchRepoDigestOrExact,
    #[serde(rename = "matchRepository")]
    MatchRepository,
    #[serde(rename = "exactReference", rename_all = "camelCase")]
    ExactReference { docker_reference: String },
    #[serde(rename = "exactRepository", rename_all = "camelCase")]
    ExactRepository { docker_repository: String },
    /// Not checked by hoist: an image under it is refused.
    #[serde(rename = "remapIdentity")]
    RemapIdentity {},
}

const SIGNATURE_TYPE: &str = "cosign container image signature";

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The public keys a requirement names: PEM files, or PEM given inline as base64.
pub(super) fn keys<'a>(
    files: impl Iterator<Item = &'a PathBuf>,
    inline: Option<&str>,
) -> Result<Vec<VerifyingKey>, String> {
    let mut keys = Vec::new();
    for file in files {
        let pem = std::fs::read_to_string(file)
            .map_err(|e| format!("its key file {} cannot be read: {e}", file.display()))?;
        keys.push(
            VerifyingKey::from_public_key_pem(&pem)
                .map_err(|e| format!("{} is not a P-256 public key in PEM: {e}", file.display()))?,
        );
    }
    if let Some(data) = inline {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or("its keyData is not base64 of a PEM key")?;
        keys.push(
            VerifyingKey::from_public_key_pem(&pem)
                .map_err(|e| format!("its keyData is not a P-256 public key: {e}"))?,
        );
    }
    if keys.is_empty() {
        return Err(
            "its sigstoreSigned requirement names no key (keyPath, keyPaths or keyData)".into(),
        );
    }
    Ok(keys)
}

/// Whether any of `signatures` is by one of `keys`, for the manifest `digest`, with an
/// identity that `identity` accepts for `reference`. The error says why none was.
pub(super) fn verify(
    keys: &[VerifyingKey],
    digest: &Digest,
    reference: &Reference,
    identity: &SignedIdentity,
    signatures: &[SigstoreSignature],
) -> Result<(), String> {
    if signatures.is_empty() {
        return Err(format!(
            "the policy asks for a sigstore signature and the registry holds none for {digest}"
        ));
    }
    let mut reasons = Vec::new();
    for signature in signatures {
        match verify_one(keys, digest, reference, identity, signature) {
            Ok(()) => return Ok(()),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(format!("no signature is valid: {}", reasons.join("; ")))
}

fn verify_one(
    keys: &[VerifyingKey],
    digest: &Digest,
    reference: &Reference,
    identity: &SignedIdentity,
    signature: &SigstoreSignature,
) -> Result<(), String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(signature.signature.trim())
        .map_err(|_| "a signature is not base64".to_string())?;
    let der =
        DerSignature::from_bytes(&der).map_err(|_| "a signature is not ECDSA (DER)".to_string())?;
    if !keys
        .iter()
        .any(|key| key.verify(&signature.payload, &der).is_ok())
    {
        return Err("a signature is not by the policy's key, or its payload was changed".into());
    }
    // Only now is the payload trusted enough to read.
    let payload: Payload = serde_json::from_slice(&signature.payload)
        .map_err(|e| format!("a signed payload is not a simple-signing document: {e}"))?;
    if payload.critical.kind != SIGNATURE_TYPE {
        return Err(format!(
            "a signed payload has type {:?}",
            payload.critical.kind
        ));
    }
    if payload.critical.image.docker_manifest_digest != digest.to_string() {
        return Err(format!(
            "a signature is for {}, not for {digest}",
            payload.critical.image.docker_manifest_digest
        ));
    }
    identity_matches(
        identity,
        reference,
        &payload.critical.identity.docker_reference,
    )
}

/// A reference as a signature names it: its repository, and its tag or digest if it has one
/// (cosign names the repository alone).
fn split_identity(text: &str) -> Result<(String, Option<String>), String> {
    let bad = || format!("a signature names {text:?}, which is no image reference");
    let reference: Reference = text.parse().map_err(|_| bad())?;
    let last = text.rsplit('/').next().unwrap_or(text);
    let pinned = text.contains('@') || last.contains(':');
    Ok((reference.name(), pinned.then(|| reference.to_string())))
}

fn identity_matches(
    identity: &SignedIdentity,
    reference: &Reference,
    signed: &str,
) -> Result<(), String> {
    let (signed_repository, signed_full) = split_identity(signed)?;
    let ours = (reference.name(), reference.to_string());
    let exact = signed_full.as_deref() == Some(ours.1.as_str());
    let same_repository = signed_repository == ours.0;
    let accepted = match identity {
        SignedIdentity::MatchExact => exact,
        SignedIdentity::MatchRepoDigestOrExact => match reference.digest() {
            Some(_) => same_repository,
            None => exact,
        },
        SignedIdentity::MatchRepository => same_repository,
        SignedIdentity::ExactReference { docker_reference } => {
            split_identity(docker_reference)?.1 == signed_full && signed_full.is_some()
        }
        SignedIdentity::ExactRepository { docker_repository } => {
            split_identity(docker_repository)?.0 == signed_repository
        }
        SignedIdentity::RemapIdentity {} => {
            return Err("the policy's remapIdentity is not supported by hoist".into())
        }
    };
    match accepted {
        true => Ok(()),
        false => Err(format!(
            "a signature names {signed}, which the policy's signedIdentity does not accept for {reference}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_match_as_containers_policy_json_says() {
        let tagged: Reference = "r.example/app:v1".parse().unwrap();
        let pinned: Reference = format!("r.example/app@{}", Digest::of(b"x"))
            .parse()
            .unwrap();
        let check = |identity: &SignedIdentity, reference: &Reference, signed: &str| {
            identity_matches(identity, reference, signed).is_ok()
        };
        let default = SignedIdentity::default();
        assert!(check(&default, &tagged, "r.example/app:v1"));
        assert!(
            !check(&default, &tagged, "r.example/app"),
            "a tag needs an exact identity"
        );
        assert!(check(&default, &pinned, "r.example/app"));
        assert!(!check(&default, &pinned, "r.example/other"));
        assert!(check(
            &SignedIdentity::MatchRepository,
            &tagged,
            "r.example/app"
        ));
        assert!(!check(
            &SignedIdentity::MatchRepository,
            &tagged,
            "r.example/app2"
        ));
        assert!(!check(
            &SignedIdentity::MatchExact,
            &tagged,
            "r.example/app:v2"
        ));
        let repository = SignedIdentity::ExactRepository {
            docker_repository: "mirror.example/app".into(),
        };
        assert!(check(&repository, &tagged, "mirror.example/app"));
        assert!(!check(
            &SignedIdentity::RemapIdentity {},
            &tagged,
            "r.example/app:v1"
        ));
    }
}
