//! `RUN --mount=...` values, parsed and checked as BuildKit's Dockerfile frontend does
//! (no I/O): comma-separated `key=value` fields (a bare key is `key=true`), keys matched
//! without case, `type` defaulting to `bind`; each type takes only its own keys.

/// What `sharing=` asks of a cache mount used by several builds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Every user writes the same directory.
    Shared,
    /// A second user gets a fresh directory of its own.
    Private,
    /// A second user waits until the first is done.
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// The context (or `from=` a stage or image) at `source`, read-only unless `rw`
    /// (whose writes are thrown away after the step).
    Bind {
        target: String,
        source: String,
        from: Option<String>,
        rw: bool,
    },
    /// A directory kept in the store between builds, named by `id` (default the target).
    Cache {
        target: String,
        id: String,
        sharing: Sharing,
        readonly: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
    /// A `build --secret`: a file at `target` (default /run/secrets/ID), or the
    /// environment variable `env`.
    Secret {
        id: String,
        target: Option<String>,
        env: Option<String>,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl Mount {
    /// Where it appears in the container (none for a secret given as a variable).
    pub fn target(&self) -> Option<String> {
        match self {
            Mount::Bind { target, .. } | Mount::Cache { target, .. } => Some(target.clone()),
            Mount::Tmpfs { target, .. } => Some(target.clone()),
            Mount::Secret {
                id, target, env, ..
            } => match (target, env) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(_)) => None,
                (None, None) => Some(format!("/run/secrets/{id}")),
            },
        }
    }
}

fn boolean(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!(
            "invalid value for {key}: {other:?} (want true or false)"
        )),
    }
}

fn number(key: &str, v: Option<&str>, radix: u32) -> Result<u32, String> {
    v.and_then(|v| u32::from_str_radix(v, radix).ok())
        .ok_or_else(|| format!("invalid value for {key}: {:?}", v.unwrap_or("")))
}

/// Go's `units.RAMInBytes` as tmpfs `size=` takes it: a number with an optional
/// k/m/g/t suffix (powers of 1024, optional trailing `b`).
fn ram_bytes(v: &str) -> Option<u64> {
    let lower = v.trim().to_ascii_lowercase();
    let t = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

/// Parses one `--mount` value.
pub fn parse(value: &str) -> Result<Mount, String> {
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for f in value.split(',') {
        let f = f.trim();
        if f.is_empty() {
            continue;
        }
        match f.split_once('=') {
            Some((k, v)) => fields.push((k.to_ascii_lowercase(), Some(v.to_string()))),
            None => fields.push((f.to_ascii_lowercase(), None)),
        }
    }
    let kind = fields
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.clone().unwrap_or_default().to_ascii_lowercase())
        .unwrap_or_else(|| "bind".into());
    let allowed: &[&str] = match kind.as_str() {
        "bind" => &["from", "source", "src", "rw", "readwrite", "readonly", "ro"],
        "cache" => &[
            "id", "sharing", "readonly", "ro", "rw", "readwrite", "mode", "uid", "gid", "from",
            "source", "src",
        ],
        "tmpfs" => &["size"],
        "secret" => &["id", "required", "mode", "uid", "gid", "env"],
        "ssh" => return Err("--mount type=ssh: no SSH agent forwarding here (not implemented)".into()),
        other => {
            return Err(format!(
                "--mount {value:?}: unsupported mount type {other:?} (want bind, cache, tmpfs or secret)"
            ))
        }
    };
    let mut target = None;
    let get = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    };
    for (k, v) in &fields {
        match k.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => {
                let t = v.clone().unwrap_or_default();
                if t.is_empty() {
                    return Err(format!("--mount {value:?}: {k} is empty"));
                }
                target = Some(t);
            }
            k if allowed.contains(&k) => {}
            _ => {
                return Err(format!(
                    "--mount {value:?}: unexpected key {k:?} for a {kind} mount"
                ))
            }
        }
    }
    let need_target = || {
        target
            .clone()
            .ok_or_else(|| format!("--mount {value:?}: no target"))
    };
    let flag = |name: &str| -> Result<Option<bool>, String> {
        get(name).map(|v| boolean(name, v)).transpose()
    };
    let ro = || -> Result<bool, String> {
        let rw = flag("rw")?.or(flag("readwrite")?).map(|b| !b);
        Ok(flag("readonly")?.or(flag("ro")?).or(rw).unwrap_or(false))
    };
    let uid_gid_mode = |mode: u32| -> Result<(u32, u32, u32), String> {
        Ok((
            get("mode")
                .map(|v| number("mode", v, 8))
                .transpose()?
                .unwrap_or(mode),
            get("uid")
                .map(|v| number("uid", v, 10))
                .transpose()?
                .unwrap_or(0),
            get("gid")
                .map(|v| number("gid", v, 10))
                .transpose()?
                .unwrap_or(0),
        ))
    };
    Ok(match kind.as_str() {
        "bind" => {
            let rw = flag("rw")?.or(flag("readwrite")?);
            let readonly = flag("readonly")?.or(flag("ro")?);
            Mount::Bind {
                target: need_target()?,
                source: get("source")
                    .or(get("src"))
                    .flatten()
                    .unwrap_or("")
                    .to_string(),
                from: get("from").flatten().map(str::to_string),
                rw: rw.unwrap_or(false) && !readonly.unwrap_or(false),
            }
        }
        "cache" => {
            let target = need_target()?;
            if get("from").is_some() || get("source").is_some() || get("src").is_some() {
                return Err(format!(
                    "--mount {value:?}: a cache mount seeded from= a stage or image is not implemented"
                ));
            }
            let sharing = match get("sharing").flatten().map(str::to_ascii_lowercase) {
                None => Sharing::Shared,
                Some(s) => match s.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        return Err(format!(
                            "--mount {value:?}: unrecognized sharing {s:?} (want shared, private or locked)"
                        ))
                    }
                },
            };
            let (mode, uid, gid) = uid_gid_mode(0o755)?;
            Mount::Cache {
                id: get("id")
                    .flatten()
                    .filter(|i| !i.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| target.clone()),
                target,
                sharing,
                readonly: ro()?,
                mode,
                uid,
                gid,
            }
        }
        "tmpfs" => Mount::Tmpfs {
            target: need_target()?,
            size: match get("size") {
                None => None,
                Some(v) => Some(
                    v.and_then(ram_bytes)
                        .ok_or_else(|| format!("--mount {value:?}: invalid size"))?,
                ),
            },
        },
        _ => {
            let (mode, uid, gid) = uid_gid_mode(0o400)?;
            let env = get("env").flatten().map(str::to_string);
            // The id defaults to the target's file name (BuildKit).
            let id = match get("id").flatten().filter(|i| !i.is_empty()) {
                Some(i) => i.to_string(),
                None => target
                    .as_deref()
                    .and_then(|t| t.rsplit('/').next())
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .or_else(|| env.clone())
                    .ok_or_else(|| format!("--mount {value:?}: a secret needs id= or target="))?,
            };
            Mount::Secret {
                id,
                target,
                env,
                required: flag("required")?.unwrap_or(false),
                mode,
                uid,
                gid,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts() {
        assert_eq!(
            parse("type=cache,target=/root/.cache,id=x,sharing=locked").unwrap(),
            Mount::Cache {
                target: "/root/.cache".into(),
                id: "x".into(),
                sharing: Sharing::Locked,
                readonly: false,
                mode: 0o755,
                uid: 0,
                gid: 0
            }
        );
        match parse("type=cache,dst=/c").unwrap() {
            Mount::Cache { id, .. } => assert_eq!(id, "/c"),
            m => panic!("{m:?}"),
        }
        assert_eq!(
            parse("target=/m,source=sub,rw").unwrap(),
            Mount::Bind {
                target: "/m".into(),
                source: "sub".into(),
                from: None,
                rw: true
            }
        );
        assert_eq!(
            parse("type=tmpfs,target=/t,size=1m").unwrap(),
            Mount::Tmpfs {
                target: "/t".into(),
                size: Some(1 << 20)
            }
        );
        let s = parse("type=secret,id=tok,required").unwrap();
        assert_eq!(s.target().as_deref(), Some("/run/secrets/tok"));
        let s = parse("type=secret,target=/a/b").unwrap();
        assert!(matches!(&s, Mount::Secret { id, .. } if id == "b"));
        let s = parse("type=secret,id=t,env=TOKEN").unwrap();
        assert_eq!(s.target(), None);
    }

    #[test]
    fn bad_mounts() {
        for (v, want) in [
            ("type=nfs,target=/x", "unsupported mount type \"nfs\""),
            ("type=cache,target=/x,color=red", "unexpected key \"color\""),
            ("type=tmpfs,target=/x,from=a", "unexpected key \"from\""),
            ("type=cache", "no target"),
            ("type=cache,target=/x,sharing=some", "unrecognized sharing"),
            ("type=bind,target=/x,rw=maybe", "invalid value for rw"),
            ("type=tmpfs,target=/x,size=lots", "invalid size"),
            ("type=secret", "needs id= or target="),
            ("type=ssh", "type=ssh"),
        ] {
            let e = parse(v).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
