//! sangja-image: an OCI image store with docker-like commands (images, tag, rm,
//! inspect, history, save, load, import, unpack, bundle).

pub mod archive;
pub mod changes;
pub mod digest;
pub mod image;
pub mod import;
pub mod layer;
pub mod manifest;
pub mod reference;
pub mod store;
pub mod unpack;
