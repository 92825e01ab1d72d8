use std::fmt;
use std::str::FromStr;

use crate::{Digest, DigestError};

/// The registry short names normalise to, like docker and podman do.
pub const DEFAULT_REGISTRY: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";

/// A fully normalised image reference: `registry/repository[:tag][@digest]`.
///
/// `busybox` becomes `docker.io/library/busybox:latest`; a leading `docker://` is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("image reference is empty")]
    Empty,
    #[error("{reference:?}: repository name {repository:?} is invalid (lowercase letters, digits and . _ - separators, in /-separated parts)")]
    BadRepository {
        reference: String,
        repository: String,
    },
    #[error("{reference:?}: tag {tag:?} is invalid (up to 128 of letters, digits, _ . -, not starting with . or -)")]
    BadTag { reference: String, tag: String },
    #[error("{reference:?}")]
    BadDigest {
        reference: String,
        #[source]
        source: DigestError,
    },
}

impl Reference {
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference names one. A reference with neither tag nor digest has been
    /// given the tag `latest` by parsing.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// True for registries on this machine, which are spoken to over plain HTTP when TLS is
    /// not demanded (like containers tools do for `localhost`).
    pub fn is_loopback(&self) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(h, _)| h);
        host == "localhost" || host.starts_with("127.") || host == "[::1]"
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.strip_prefix("docker://").unwrap_or(input);
        let s = s.trim_start_matches("//");
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((name, d)) => {
                let digest = d.parse().map_err(|source| ReferenceError::BadDigest {
                    reference: input.to_string(),
                    source,
                })?;
                (name, Some(digest))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        let (registry, repository) = split_registry(name);
        if !valid_repository(&repository) {
            return Err(ReferenceError::BadRepository {
                reference: input.to_string(),
                repository,
            });
        }
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(ReferenceError::BadTag {
                    reference: input.to_string(),
                    tag: tag.to_string(),
                });
            }
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Docker's rule: the first part is a registry host if it has a `.` or `:`, or is `localhost`.
fn split_registry(name: &str) -> (String, String) {
    let (first, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    };
    let registry = if first == "index.docker.io" {
        DEFAULT_REGISTRY
    } else {
        first
    };
    let repository = if registry == DEFAULT_REGISTRY && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest.to_string()
    };
    (registry.to_string(), repository)
}

fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.len() <= 255
        && repository.split('/').all(|part| {
            let bytes = part.as_bytes();
            !bytes.is_empty()
                && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
                && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
        })
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        s.parse::<Reference>().unwrap().to_string()
    }

    #[test]
    fn short_names_normalise_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            norm("docker://busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
    }

    #[test]
    fn hosts_with_ports_tags_and_digests() {
        let hex = "0".repeat(64);
        let r: Reference = format!("docker://127.0.0.1:5000/a/b:v1@sha256:{hex}")
            .parse()
            .unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "a/b");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest().unwrap().hex(), hex);
        assert!(r.is_loopback());
        let by_digest: Reference = format!("127.0.0.1:5000/a@sha256:{hex}").parse().unwrap();
        assert_eq!(
            by_digest.tag(),
            None,
            "a digest reference gets no default tag"
        );
        assert!(!norm("quay.io/x/y").contains("library"));
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!("".parse::<Reference>(), Err(ReferenceError::Empty));
        assert!(matches!(
            "Busybox".parse::<Reference>(),
            Err(ReferenceError::BadRepository { .. })
        ));
        assert!(matches!(
            "a//b".parse::<Reference>(),
            Err(ReferenceError::BadRepository { .. })
        ));
        assert!(matches!(
            "busybox:-x".parse::<Reference>(),
            Err(ReferenceError::BadTag { .. })
        ));
        assert!(matches!(
            "busybox@sha256:zz".parse::<Reference>(),
            Err(ReferenceError::BadDigest { .. })
        ));
    }
}
