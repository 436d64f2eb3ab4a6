//! sangja's runtime-spec conformance suite: cases that write a bundle, run it
//! through any runtime with runc's command line, and compare what the
//! in-container checker (`sangja-check`) saw with what the config asked.

pub mod caps;
pub mod case;
pub mod cases;
pub mod cgroups;
pub mod config;
pub mod console;
pub mod harness;
pub mod host;
pub mod report;
pub mod rootfs;
pub mod runtime;
pub mod suite;
