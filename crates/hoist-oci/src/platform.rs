use std::fmt;
use std::str::FromStr;

use oci_spec::image::{Descriptor, ImageIndex};

/// An `os/architecture[/variant]` triple, with Go's names (what image indexes use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        let variant = match architecture {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant,
        }
    }

    /// Whether an index entry's platform satisfies this one. Variants matter (arm/v7 is not
    /// arm/v6), except that arm64's only variant, v8, may be left out by either side.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        let normal = |v: Option<&str>| match (architecture, v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        match &self.variant {
            None if architecture != "arm64" => true,
            wanted => normal(wanted.as_deref()) == normal(variant),
        }
    }
}

impl Platform {
    /// The first entry of an image index whose platform matches this one.
    pub fn choose<'a>(&self, index: &'a ImageIndex) -> Option<&'a Descriptor> {
        index.manifests().iter().find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                self.matches(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )
            })
        })
    }

    /// The platforms an index lists, for error messages.
    pub fn listed(index: &ImageIndex) -> String {
        let listed: Vec<String> = index
            .manifests()
            .iter()
            .filter_map(|d| d.platform().as_ref())
            .map(|p| {
                let base = format!("{}/{}", p.os(), p.architecture());
                match p.variant() {
                    Some(v) => format!("{base}/{v}"),
                    None => base,
                }
            })
            .collect();
        if listed.is_empty() {
            "no platforms listed".to_string()
        } else {
            listed.join(", ")
        }
    }
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(os), Some(arch), variant, None) if !os.is_empty() && !arch.is_empty() => {
                Ok(Platform {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
                })
            }
            _ => Err(format!(
                "platform {s:?} is not of the form os/arch[/variant], e.g. linux/arm64 or linux/arm/v7"
            )),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_told_apart() {
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(v7.matches("linux", "arm", Some("v7")));
        assert!(!v7.matches("linux", "arm", Some("v6")));
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert!(arm64.matches("linux", "arm64", Some("v8")));
        assert!(arm64.matches("linux", "arm64", None));
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert!(amd64.matches("linux", "amd64", None));
        assert!(!amd64.matches("linux", "arm64", None));
        assert!("linux".parse::<Platform>().is_err());
    }
}
