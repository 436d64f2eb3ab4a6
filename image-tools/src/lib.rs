//! sangja-image: an OCI image store with docker-like commands (images, tag, rm,
//! inspect, history, save, load, import, unpack, bundle, fsck),
//! and pull, push, login and logout against registries.

pub mod archive;
pub mod build;
pub mod bundle;
pub mod changes;
pub mod container;
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
pub mod progress;
pub mod reference;
pub mod registry;
pub mod remove;
pub mod store;
pub mod template;
pub mod unpack;
pub mod volume;
