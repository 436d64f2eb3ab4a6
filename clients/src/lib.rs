//! Harness for driving sangja (and runc, the reference) through real clients:
//! containerd 1.6 with its stock runc shim, podman 4.3 with conmon, and Docker
//! Engine 20.10 (dockerd on that containerd).
//!
//! The flows themselves live in tests/clients.rs; this library starts and stops the
//! private daemons, builds the image, opens terminals and finds leftovers.

pub mod cmd;
pub mod containerd;
pub mod cri;
pub mod docker;
pub mod image;
pub mod lab;
pub mod leftovers;
pub mod podman;
pub mod pty;
pub mod registry;
pub mod runtimes;
