//! sangja-image: an OCI image store with docker-like commands (images, tag, rm,
//! inspect, history, save, load, import, unpack, bundle).

pub mod digest;
pub mod image;
pub mod layer;
pub mod reference;
pub mod store;
