//! Errors of compiling and loading a profile. Every validation error names the
//! config field it comes from, so `sangja create` can say exactly what to fix.

use libseccomp::error::SeccompError;

/// Where OCI keeps the seccomp object inside config.json; field paths start here.
pub(crate) const ROOT: &str = "linux.seccomp";

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The profile itself is wrong (unknown name, out-of-range value, a combination runc refuses).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },

    /// libseccomp refused a valid-looking field (for instance two rules for one syscall
    /// with different actions).
    #[error("{field}: {what}: {source}")]
    Libseccomp {
        field: String,
        what: String,
        #[source]
        source: SeccompError,
    },

    /// The kernel refused the filter at load time.
    #[error("loading the seccomp filter into the kernel: {source}{hint}")]
    Load {
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },

    /// Writing the filter out in a readable form failed.
    #[error("exporting the seccomp filter: {0}")]
    Export(String),
}

impl FilterError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FilterError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The config field this error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            FilterError::Invalid { field, .. } | FilterError::Libseccomp { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

/// The spec spelling of an oci-spec enum value (`SCMP_ACT_ERRNO`, `SCMP_ARCH_X86_64`, ...).
/// serde carries the names the spec uses; strum's Display may not for names with digits.
pub(crate) fn spec_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<unnamed: {e}>"),
    }
}
