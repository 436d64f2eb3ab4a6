//! The shim binary's own flags: `-v`, and `-info` answering from `sangja features`.

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::Options;
use containerd_shim::protos::types::introspection::RuntimeInfo;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn shim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_containerd-shim-sangja-v2"))
}

/// sangja as scripts/test.sh exports it, else the workspace's release build.
fn sangja() -> PathBuf {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja")
        })
}

fn options_any(binary: &str) -> Vec<u8> {
    let opts = Options {
        binary_name: binary.to_string(),
        ..Default::default()
    };
    Any {
        type_url: "containerd.runc.v1.Options".into(),
        value: opts.write_to_bytes().unwrap(),
        ..Default::default()
    }
    .write_to_bytes()
    .unwrap()
}

fn info_with(stdin: &[u8]) -> std::process::Output {
    let mut child = shim()
        .arg("-info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn version_flag() {
    let out = shim().arg("-v").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("containerd-shim-sangja-v2"), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn info_carries_sangja_features() {
    let bin = sangja();
    assert!(
        bin.is_file(),
        "{} not built (cargo build --release -p sangja, or set SANGJA_BIN)",
        bin.display()
    );
    let out = info_with(&options_any(bin.to_str().unwrap()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = RuntimeInfo::parse_from_bytes(&out.stdout).unwrap();
    assert_eq!(info.name, "io.containerd.sangja.v2");
    let features = info.features.as_ref().expect("features");
    assert!(features
        .type_url
        .ends_with("runtime-spec/1/features/Features"));
    let json: serde_json::Value = serde_json::from_slice(&features.value).unwrap();
    let want: serde_json::Value =
        serde_json::from_slice(&Command::new(&bin).arg("features").output().unwrap().stdout)
            .unwrap();
    assert_eq!(json, want);
}

#[test]
fn info_names_a_missing_binary() {
    let out = info_with(&options_any("/nonexistent/sangja"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/sangja"), "{err}");
}
