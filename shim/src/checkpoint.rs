//! The Checkpoint RPC's options (containerd.runc.v1.CheckpointOptions) and the
//! `sangja checkpoint` command line they become, as the Go runc shim builds runc's.
//!
//! containerd-shim-protos vendors the proto but generates no Rust type for it, so the
//! nine fields are read off the wire here.

use containerd_shim::protos::protobuf::rt::WireType;
use containerd_shim::protos::protobuf::CodedInputStream;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub exit: bool,
    pub open_tcp: bool,
    pub external_unix_sockets: bool,
    pub terminal: bool,
    pub file_locks: bool,
    pub empty_namespaces: Vec<String>,
    pub cgroups_mode: String,
    pub image_path: String,
    pub work_path: String,
}

/// Decodes the message; unknown fields are skipped, as protobuf does.
pub fn decode(bytes: &[u8]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut is = CodedInputStream::from_bytes(bytes);
    let err = |e: containerd_shim::protos::protobuf::Error| format!("CheckpointOptions: {e}");
    while let Some(tag) = is.read_raw_tag_or_eof().map_err(err)? {
        match tag >> 3 {
            1 => o.exit = is.read_bool().map_err(err)?,
            2 => o.open_tcp = is.read_bool().map_err(err)?,
            3 => o.external_unix_sockets = is.read_bool().map_err(err)?,
            4 => o.terminal = is.read_bool().map_err(err)?,
            5 => o.file_locks = is.read_bool().map_err(err)?,
            6 => o.empty_namespaces.push(is.read_string().map_err(err)?),
            7 => o.cgroups_mode = is.read_string().map_err(err)?,
            8 => o.image_path = is.read_string().map_err(err)?,
            9 => o.work_path = is.read_string().map_err(err)?,
            _ => {
                let wire = WireType::new(tag & 7)
                    .ok_or_else(|| format!("CheckpointOptions: bad wire type in tag {tag}"))?;
                is.skip_field(wire).map_err(err)?;
            }
        }
    }
    Ok(o)
}

/// `checkpoint` arguments for container `id` into `path` (the request's path, unless
/// the options name an image path): the task keeps running unless `exit` is set.
pub fn args(o: &Options, path: &str, id: &str) -> Vec<String> {
    let image = if o.image_path.is_empty() {
        path
    } else {
        &o.image_path
    };
    let mut a = vec![
        "checkpoint".to_string(),
        "--image-path".into(),
        image.into(),
    ];
    if !o.work_path.is_empty() {
        a.extend(["--work-path".into(), o.work_path.clone()]);
    }
    for (on, flag) in [
        (!o.exit, "--leave-running"),
        (o.open_tcp, "--tcp-established"),
        (o.external_unix_sockets, "--ext-unix-sk"),
        (o.terminal, "--shell-job"),
        (o.file_locks, "--file-locks"),
    ] {
        if on {
            a.push(flag.into());
        }
    }
    if !o.cgroups_mode.is_empty() {
        a.extend(["--manage-cgroups-mode".into(), o.cgroups_mode.clone()]);
    }
    for ns in &o.empty_namespaces {
        a.extend(["--empty-ns".into(), ns.clone()]);
    }
    a.push(id.into());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_wire_and_builds_runc_flags() {
        // exit=false, open_tcp=true, file_locks=true, empty_namespaces=["network"],
        // cgroups_mode="soft", work_path="/w", and an unknown field 15 (varint).
        let mut b = vec![0x10, 1, 0x28, 1, 0x32, 7];
        b.extend(b"network");
        b.extend([0x3a, 4]);
        b.extend(b"soft");
        b.extend([0x4a, 2]);
        b.extend(b"/w");
        b.extend([0x78, 5]);
        let o = decode(&b).unwrap();
        assert!(o.open_tcp && o.file_locks && !o.exit);
        assert_eq!(o.empty_namespaces, vec!["network"]);
        assert_eq!(
            args(&o, "/img", "c1").join(" "),
            "checkpoint --image-path /img --work-path /w --leave-running --tcp-established \
             --file-locks --manage-cgroups-mode soft --empty-ns network c1"
        );
        assert_eq!(decode(&[]).unwrap(), Options::default());
        assert!(decode(&[0x0a]).is_err());
    }
}
