//! The OCI distribution API v2: a client per registry (transport, auth, retries),
//! and pull and push over it into and out of the store.

pub mod auth;
pub mod client;
pub mod config;
pub mod media;
mod parallel;
pub mod platform;
pub mod pull;
pub mod push;
pub mod search;
pub mod tls;

pub use client::{Client, ClientOptions};
pub use platform::Platform;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry}: {method} {what} of {repository}: HTTP {status}{detail}")]
    Status {
        registry: String,
        repository: String,
        method: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{registry}: {what}: {message}")]
    Transport {
        registry: String,
        what: String,
        message: String,
    },
    #[error("{registry}/{repository}: {what}: {message}")]
    Invalid {
        registry: String,
        repository: String,
        what: String,
        message: String,
    },
    #[error("{registry}: authentication failed: {message}")]
    Auth { registry: String, message: String },
    #[error("{registry}/{repository}: no image for platform {wanted} in index {index} (it has: {available})")]
    Platform {
        registry: String,
        repository: String,
        wanted: String,
        index: String,
        available: String,
    },
    #[error("{registry}/{repository}: blob {digest}: {source}")]
    Blob {
        registry: String,
        repository: String,
        digest: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error("TLS setup for {registry}: {message}")]
    Tls { registry: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error("{0}")]
    Other(String),
}

impl RegistryError {
    /// The HTTP status of a refused request, if that is what this is.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
