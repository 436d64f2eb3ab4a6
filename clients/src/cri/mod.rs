//! Kubernetes' way in: containerd's CRI plugin on a private node (no kubelet, no
//! CNI), driven over CRI v1 by a small gRPC client, with sangja as RuntimeClass
//! handlers.

pub mod client;
pub mod config;
pub mod lifecycle;
pub mod node;
pub mod stream;
