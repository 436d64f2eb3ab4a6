//! `os/arch[/variant]` and picking a manifest from an index by it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// This machine, in OCI (Go) names.
    pub fn host() -> Platform {
        let (os, arch) = crate::manifest::host_platform();
        Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
        }
    }

    /// Whether an index entry for `candidate` runs here when `self` is asked for. No
    /// variant asked means any; arm64's `v8` is its only variant.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let norm = |p: &Platform| {
            p.variant
                .clone()
                .filter(|v| !(p.architecture == "arm64" && v == "v8"))
        };
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && (self.variant.is_none() || norm(self) == norm(candidate))
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

#[derive(Debug, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant]")]
pub struct PlatformError(String);

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(PlatformError(s.to_string()));
        }
        let arch = match parts[1] {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: arch.to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let p: Platform = "linux/arm64".parse().unwrap();
        let v8 = Platform {
            variant: Some("v8".into()),
            ..p.clone()
        };
        assert!(p.matches(&v8));
        let want: Platform = "linux/arm/v7".parse().unwrap();
        let v6: Platform = "linux/arm/v6".parse().unwrap();
        assert!(!want.matches(&v6));
        assert!(want.matches(&"linux/arm/v7".parse().unwrap()));
        assert!(!p.matches(&"linux/amd64".parse().unwrap()));
        assert_eq!(
            "linux/x86_64".parse::<Platform>().unwrap().architecture,
            "amd64"
        );
        assert!("linux".parse::<Platform>().is_err());
        assert_eq!(want.to_string(), "linux/arm/v7");
    }
}
