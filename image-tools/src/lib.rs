//! sangja-image: an OCI image store with docker-like commands (images, tag, rm,
//! inspect, history, save, load, import, unpack, bundle, fsck),
//! and pull, push, login and logout against registries.

// The crash-points feature (Cargo.toml) makes the binary kill itself at a named point for
// the crash-consistency tests. It builds only with debug assertions, so no release or
// dist build can carry it.
#[cfg(all(feature = "crash-points", not(debug_assertions)))]
compile_error!(
    "the crash-points feature exists only for the crash tests (scripts/test.sh builds it \
     into target/crash with debug assertions); a release or dist build must never enable it"
);

pub mod archive;
pub mod build;
pub mod bundle;
pub mod changes;
pub mod container;
pub mod crash_point;
pub mod credentials;
pub mod digest;
pub mod dockerfile;
pub mod humanize;
pub mod image;
pub mod import;
pub mod inspect;
pub mod layer;
pub mod listing;
pub mod manifest;
pub mod network;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod remove;
pub mod rootless;
pub mod store;
pub mod template;
pub mod unpack;
pub mod volume;
