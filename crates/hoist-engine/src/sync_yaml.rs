//! `sync --src yaml`: skopeo's file naming, per registry, the images to sync and how to reach
//! that registry (skopeo-sync(1), "YAML file content"):
//!
//! ```yaml
//! registry.example.com:
//!     images:
//!         busybox: []            # every tag
//!         redis: ["1.0", "2.0", "sha256:…"]
//!     images-by-tag-regex:
//!         nginx: ^1\.13\.[12]-alpine-perl$
//!     images-by-semver:
//!         alpine: ">= 3.12.0"
//!     credentials: { username: john, password: secret }
//!     tls-verify: true
//!     cert-dir: /home/john/certs
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use hoist_oci::Reference;
use hoist_registry::{Credentials, RegistryOptions};
use serde::Deserialize;

use crate::{Error, Location, Result};

/// Far more than any list of images needs: the file is read whole.
const FILE_LIMIT: u64 = 4 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RegistrySection {
    #[serde(default)]
    images: BTreeMap<String, Option<Vec<String>>>,
    #[serde(default)]
    images_by_tag_regex: BTreeMap<String, String>,
    #[serde(default)]
    images_by_semver: BTreeMap<String, String>,
    credentials: Option<YamlCredentials>,
    tls_verify: Option<bool>,
    cert_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlCredentials {
    username: String,
    password: String,
}

/// One image the file names, and how to reach its registry.
pub(crate) struct YamlImage {
    pub(crate) reference: Reference,
    pub(crate) registry: RegistryOptions,
}

/// Every image `file` names, in the order of its registries and repositories (sorted by
/// name), the tags of `images-by-*` entries listed from their registries. `base` gives what
/// the file does not say (the source's flags, then skopeo's defaults).
pub(crate) fn images(file: &Path, base: &RegistryOptions) -> Result<Vec<YamlImage>> {
    let bad = |reason: String| Error::BadSyncFile {
        path: file.to_path_buf(),
        reason,
    };
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(FILE_LIMIT + 1).read_to_string(&mut text))
        .map_err(Error::io("reading", file))?;
    if text.len() as u64 > FILE_LIMIT {
        return Err(bad(format!("it is over {FILE_LIMIT} bytes")));
    }
    let sections: BTreeMap<String, RegistrySection> =
        serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let mut found = Vec::new();
    for (host, section) in sections {
        let registry = section.options(base);
        let repository =
            |name: &str| -> Result<Reference> { Ok(format!("{host}/{name}").parse()?) };
        for (name, tags) in &section.images {
            let repo = repository(name)?;
            let tags = match tags.as_deref() {
                None | Some([]) => match all_tags(&repo, &registry) {
                    Some(tags) => tags,
                    None => continue,
                },
                Some(tags) => tags.to_vec(),
            };
            for tag in tags {
                found.push(image(&repo, &tag, &registry)?);
            }
        }
        for (name, pattern) in &section.images_by_tag_regex {
            let matches = regex::Regex::new(pattern)
                .map_err(|e| bad(format!("{host}/{name}: images-by-tag-regex: {e}")))?;
            let repo = repository(name)?;
            for tag in all_tags(&repo, &registry).unwrap_or_default() {
                if matches.is_match(&tag) {
                    found.push(image(&repo, &tag, &registry)?);
                }
            }
        }
        for (name, constraint) in &section.images_by_semver {
            let wanted = version_requirement(constraint).map_err(|e| {
                bad(format!(
                    "{host}/{name}: images-by-semver {constraint:?}: {e}"
                ))
            })?;
            let repo = repository(name)?;
            for tag in all_tags(&repo, &registry).unwrap_or_default() {
                if lenient_version(&tag).is_some_and(|v| wanted.iter().any(|w| w.matches(&v))) {
                    found.push(image(&repo, &tag, &registry)?);
                }
            }
        }
    }
    Ok(found)
}

impl RegistrySection {
    fn options(&self, base: &RegistryOptions) -> RegistryOptions {
        RegistryOptions {
            tls_verify: self.tls_verify.unwrap_or(base.tls_verify),
            cert_dir: self.cert_dir.clone().or_else(|| base.cert_dir.clone()),
            credentials: match &self.credentials {
                Some(c) => Some(Credentials {
                    username: c.username.clone(),
                    password: c.password.clone(),
                }),
                None => base.credentials.clone(),
            },
            ..base.clone()
        }
    }
}

/// The repository's tags; `None`, with a warning, if they cannot be listed: as skopeo does, a
/// repository that is not there (or not reachable) is passed over and the others synced. A
/// mistake in the file itself (a key, a pattern, a constraint) is an error instead.
fn all_tags(repository: &Reference, registry: &RegistryOptions) -> Option<Vec<String>> {
    match crate::list_tags(&Location::Registry(repository.clone()), registry) {
        Ok(listed) => Some(listed.tags),
        Err(error) => {
            tracing::warn!(
                "passing over {}: {}",
                repository.name(),
                crate::render_chain(&error)
            );
            None
        }
    }
}

/// The image `tag` (or digest, `sha256:…`) of `repository`.
fn image(repository: &Reference, tag: &str, registry: &RegistryOptions) -> Result<YamlImage> {
    let separator = match tag.parse::<hoist_oci::Digest>() {
        Ok(_) => '@',
        Err(_) => ':',
    };
    Ok(YamlImage {
        reference: format!("{}{separator}{tag}", repository.name()).parse()?,
        registry: registry.clone(),
    })
}

/// A constraint as skopeo's semver library (Masterminds') writes it — `>= 1.2 < 2`, `~1.2`,
/// `^1`, `1.x`, `1.2 - 1.4`, alternatives joined by `||` — as requirements of the semver crate,
/// which wants commas between the parts of one alternative. A bare version is Masterminds'
/// equality with wildcards (`1.2` is 1.2.x), which is the semver crate's `=`.
fn version_requirement(constraint: &str) -> std::result::Result<Vec<semver::VersionReq>, String> {
    let range = regex::Regex::new(r"v?([0-9][0-9A-Za-z.+*-]*)\s+-\s+v?([0-9][0-9A-Za-z.+*-]*)")
        .expect("a valid pattern");
    let part = regex::Regex::new(r"(~>|=>|=<|>=|<=|!=|=|>|<|~|\^)?\s*v?([0-9xX*][0-9A-Za-z.+*-]*)")
        .expect("a valid pattern");
    constraint
        .split("||")
        .map(|alternative| {
            let alternative = range.replace_all(alternative, ">=$1 <=$2");
            let parts: Vec<String> = part
                .captures_iter(&alternative)
                .map(|c| {
                    let operator = match c.get(1).map_or("", |m| m.as_str()) {
                        "" => "=",
                        "~>" => "~",
                        "=>" => ">=",
                        "=<" => "<=",
                        other => other,
                    };
                    format!("{operator}{}", &c[2])
                })
                .collect();
            if parts.is_empty() {
                return Err("no version in it".to_string());
            }
            semver::VersionReq::parse(&parts.join(", ")).map_err(|e| e.to_string())
        })
        .collect()
}

/// A tag read as a version the way Masterminds' `NewVersion` reads one: an optional `v`, and
/// missing minor or patch numbers taken as 0 (`v3.12` is 3.12.0).
fn lenient_version(tag: &str) -> Option<semver::Version> {
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let split = tag.find(['-', '+']).unwrap_or(tag.len());
    let (core, rest) = tag.split_at(split);
    let numbers = core.split('.').count();
    if numbers == 0 || numbers > 3 || core.split('.').any(|n| n.parse::<u64>().is_err()) {
        return None;
    }
    let padded = format!("{core}{}{rest}", ".0".repeat(3 - numbers));
    semver::Version::parse(&padded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquoted_tags_are_taken_as_written() {
        let sections: BTreeMap<String, RegistrySection> = serde_yaml_ng::from_str(
            "example.com:\n    images:\n        redis: [1.0, 7, latest]\n        busybox:\n",
        )
        .unwrap();
        let images = &sections["example.com"].images;
        assert_eq!(
            images["redis"].as_deref(),
            Some(&["1.0".to_string(), "7".to_string(), "latest".to_string()][..])
        );
        assert_eq!(images["busybox"], None);
    }

    #[test]
    fn constraints_read_as_skopeos_semver_library_reads_them() {
        let matches = |constraint: &str, tag: &str| {
            let wanted = version_requirement(constraint).unwrap();
            lenient_version(tag).is_some_and(|v| wanted.iter().any(|w| w.matches(&v)))
        };
        assert!(matches(">= 3.12.0", "3.12.1"));
        assert!(matches(">= 3.12.0", "v3.13"));
        assert!(!matches(">= 3.12.0", "3.11.9"));
        assert!(matches(">= 1.2 < 2", "1.9.0"));
        assert!(!matches(">= 1.2 < 2", "2.0.0"));
        assert!(matches("~1.2 || ^3", "3.4.5"));
        assert!(!matches("~1.2 || ^3", "1.3.0"));
        assert!(matches("1.x", "1.7"));
        assert!(matches("3.12.0", "3.12.0"));
        assert!(
            !matches("3.12.0", "3.13.0"),
            "a bare version is that version"
        );
        assert!(matches("3.12", "3.12.7"));
        assert!(!matches("3.12", "3.13.0"));
        assert!(matches("1.2 - 1.4", "1.4.0"));
        assert!(!matches("1.2 - 1.4", "1.5.0"));
        assert!(matches("=> 1.2", "1.2.0"));
        assert!(matches("~> 1.2", "1.2.9"));
        assert!(!matches("~> 1.2", "1.3.0"));
        assert!(
            matches(">= 1.0.0-dev", "1.0.0-dev"),
            "only a leading v is dropped"
        );
        assert!(!matches(">= 1.0", "latest"));
        assert!(
            !matches(">= 1.0", "2.0.0-rc1"),
            "no pre-release unless asked"
        );
        assert!(version_requirement("latest").is_err());
    }
}
