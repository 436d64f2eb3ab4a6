//! `-v` and `-info`: answered before any async runtime exists.

use crate::runtime::Runtime;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::oci::Options;
use containerd_shim::protos::types::introspection::{RuntimeInfo, RuntimeVersion};
use std::io::Read;

pub fn version() -> String {
    format!(
        "containerd-shim-sangja-v2:\n  Version:  {}\n  Runtime:  {}\n  Task API: v2\n",
        env!("CARGO_PKG_VERSION"),
        crate::RUNTIME_TYPE
    )
}

/// RuntimeInfo for containerd 2.x: the runtime's `features` JSON as the spec's
/// Features type. The binary comes from the Options on stdin, else next to the shim.
pub fn info() -> anyhow_free::Result<Vec<u8>> {
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .map_err(|e| format!("read options from stdin: {e}"))?;
    let opts = if data.is_empty() {
        Options::new()
    } else {
        Any::parse_from_bytes(&data)
            .and_then(|a| Options::parse_from_bytes(&a.value))
            .map_err(|e| format!("parse options on stdin: {e}"))?
    };
    let rt = Runtime::new(Some(opts.binary_name.as_str()), None, "");
    let out = std::process::Command::new(&rt.binary)
        .arg("features")
        .output()
        .map_err(|e| format!("run {} features: {e}", rt.name()))?;
    if !out.status.success() {
        return Err(format!(
            "{} features: {}: {}",
            rt.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .map_err(|e| format!("{} features printed no JSON: {e}", rt.name()))?;
    let info = RuntimeInfo {
        name: crate::RUNTIME_TYPE.to_string(),
        version: MessageField::some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        }),
        features: MessageField::some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/features/Features".into(),
            value: out.stdout,
            ..Default::default()
        }),
        ..Default::default()
    };
    info.write_to_bytes()
        .map_err(|e| format!("encode RuntimeInfo: {e}"))
}

/// Plain string errors: these run once and print to stderr.
pub mod anyhow_free {
    pub type Result<T> = std::result::Result<T, String>;
}
