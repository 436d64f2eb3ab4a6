//! `runc update`'s flags onto `LinuxResources`, with runc 1.1.5's parsing and
//! merging rules, so the CLI command is a thin wrapper.

use std::io::Read;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("invalid value for {flag}: {reason}")]
    Value { flag: &'static str, reason: String },
    #[error("reading resources from {source_name}: {reason}")]
    Resources { source_name: String, reason: String },
}

/// The flags exactly as typed (None = not given). `resources` is `-r/--resources`:
/// a file path or "-" for standard input; when given, the other flags are ignored.
#[derive(Debug, Clone, Default)]
pub struct UpdateFlags {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub kernel_memory: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    pub cpu_period: Option<String>,
    pub cpu_quota: Option<String>,
    pub cpu_share: Option<String>,
    pub cpu_rt_period: Option<String>,
    pub cpu_rt_runtime: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<String>,
    pub blkio_weight: Option<String>,
    pub resources: Option<String>,
}

/// docker/go-units RAMInBytes, which runc uses: a decimal number with an optional
/// binary unit (k, m, g, t, p; "kb", "KiB" ... accepted), e.g. "512m" = 536870912.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let t = s.trim_end();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, mut unit) = t.split_at(digits_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    unit = unit.strip_prefix(' ').unwrap_or(unit);
    let lower = unit.to_ascii_lowercase();
    let mut chars = lower.chars();
    let mult: f64 = match chars.next() {
        None => 1.0,
        Some(c) => {
            let m = match c {
                'k' => 1024f64,
                'm' => 1024f64.powi(2),
                'g' => 1024f64.powi(3),
                't' => 1024f64.powi(4),
                'p' => 1024f64.powi(5),
                'b' => {
                    if chars.next().is_some() {
                        return Err(bad());
                    }
                    return Ok(n as i64);
                }
                _ => return Err(bad()),
            };
            let rest: String = chars.collect();
            if !matches!(rest.as_str(), "" | "b" | "i" | "ib") {
                return Err(bad());
            }
            m
        }
    };
    Ok((n * mult) as i64)
}

fn mem(flag: &'static str, v: &Option<String>) -> Result<Option<i64>, UpdateError> {
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some("-1") => Ok(Some(-1)),
        Some(s) => ram_in_bytes(s)
            .map(Some)
            .map_err(|reason| UpdateError::Value { flag, reason }),
    }
}

fn num<T: std::str::FromStr>(
    flag: &'static str,
    v: &Option<String>,
) -> Result<Option<T>, UpdateError>
where
    T::Err: std::fmt::Display,
{
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|e| UpdateError::Value {
            flag,
            reason: format!("parsing {s:?}: {e}"),
        }),
    }
}

/// The resources runc 1.1.5's `update` starts from: memory, cpu, blockIO weight and
/// pids present with zero values ("leave alone"), so a partial `-r` document or a
/// single flag changes only what it names.
fn zeroed() -> LinuxResources {
    let mut m = LinuxMemory::default();
    m.set_limit(Some(0));
    m.set_reservation(Some(0));
    m.set_swap(Some(0));
    let mut c = LinuxCpu::default();
    c.set_shares(Some(0));
    c.set_quota(Some(0));
    c.set_period(Some(0));
    c.set_realtime_runtime(Some(0));
    c.set_realtime_period(Some(0));
    let mut b = LinuxBlockIo::default();
    b.set_weight(Some(0));
    let mut r = LinuxResources::default();
    r.set_memory(Some(m));
    r.set_cpu(Some(c));
    r.set_block_io(Some(b));
    r.set_pids(Some(LinuxPids::default()));
    r
}

/// Builds the resources to apply from `update`'s flags. `stdin` is read for `-r -`.
/// Devices are never part of an update (runc skips them), so `devices` stays None.
pub fn update_from_flags(
    f: &UpdateFlags,
    stdin: &mut dyn Read,
) -> Result<LinuxResources, UpdateError> {
    let mut r = zeroed();
    if let Some(src) = f.resources.as_deref().filter(|s| !s.is_empty()) {
        let mut text = String::new();
        let res = if src == "-" {
            stdin.read_to_string(&mut text)
        } else {
            std::fs::File::open(src).and_then(|mut file| file.read_to_string(&mut text))
        };
        let rerr = |reason: String| UpdateError::Resources {
            source_name: if src == "-" {
                "standard input".into()
            } else {
                src.into()
            },
            reason,
        };
        res.map_err(|e| rerr(e.to_string()))?;
        let given: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| rerr(e.to_string()))?;
        // Go's decoder fills the pre-set struct: fields absent from the document keep
        // their zero ("leave alone"); merge the JSON the same way.
        let mut base = serde_json::to_value(&r).expect("plain data");
        merge_json(&mut base, &given);
        r = serde_json::from_value(base).map_err(|e| rerr(e.to_string()))?;
        r.set_devices(None);
    } else {
        let mut m = (*r.memory()).unwrap_or_default();
        if let Some(v) = mem("memory", &f.memory)? {
            m.set_limit(Some(v));
        }
        if let Some(v) = mem("memory-swap", &f.memory_swap)? {
            m.set_swap(Some(v));
        }
        if let Some(v) = mem("memory-reservation", &f.memory_reservation)? {
            m.set_reservation(Some(v));
        }
        if let Some(v) = mem("kernel-memory", &f.kernel_memory)? {
            m.set_kernel(Some(v));
        }
        if let Some(v) = mem("kernel-memory-tcp", &f.kernel_memory_tcp)? {
            m.set_kernel_tcp(Some(v));
        }
        r.set_memory(Some(m));
        let mut c = r.cpu().clone().unwrap_or_default();
        if let Some(v) = num::<u64>("cpu-period", &f.cpu_period)? {
            c.set_period(Some(v));
        }
        if let Some(v) = num::<u64>("cpu-rt-period", &f.cpu_rt_period)? {
            c.set_realtime_period(Some(v));
        }
        if let Some(v) = num::<u64>("cpu-share", &f.cpu_share)? {
            c.set_shares(Some(v));
        }
        if let Some(v) = num::<i64>("cpu-quota", &f.cpu_quota)? {
            c.set_quota(Some(v));
        }
        if let Some(v) = num::<i64>("cpu-rt-runtime", &f.cpu_rt_runtime)? {
            c.set_realtime_runtime(Some(v));
        }
        if let Some(v) = f.cpuset_cpus.as_ref().filter(|s| !s.is_empty()) {
            c.set_cpus(Some(v.clone()));
        }
        if let Some(v) = f.cpuset_mems.as_ref().filter(|s| !s.is_empty()) {
            c.set_mems(Some(v.clone()));
        }
        r.set_cpu(Some(c));
        if let Some(v) = num::<u16>("blkio-weight", &f.blkio_weight)? {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(v));
            r.set_block_io(Some(b));
        }
        if let Some(v) = num::<i64>("pids-limit", &f.pids_limit)? {
            let mut p = LinuxPids::default();
            p.set_limit(v);
            r.set_pids(Some(p));
        }
    }
    Ok(r)
}

fn merge_json(base: &mut serde_json::Value, given: &serde_json::Value) {
    match (base, given) {
        (serde_json::Value::Object(b), serde_json::Value::Object(g)) => {
            for (k, v) in g {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge_json(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, g) => *b = g.clone(),
    }
}

/// The resources to record after a successful update: every non-zero value of the
/// update replaces the saved one (zero means "unchanged", as it did for the cgroup
/// files); devices and what `update` cannot change are kept.
pub fn merge_update(saved: &LinuxResources, update: &LinuxResources) -> LinuxResources {
    let mut out_v = serde_json::to_value(saved).expect("plain data");
    let mut upd = serde_json::to_value(update).expect("plain data");
    prune_zero(&mut upd);
    if let Some(o) = upd.as_object_mut() {
        o.remove("devices");
    }
    merge_json(&mut out_v, &upd);
    serde_json::from_value(out_v).unwrap_or_else(|_| saved.clone())
}

fn prune_zero(v: &mut serde_json::Value) {
    if let serde_json::Value::Object(o) = v {
        for x in o.values_mut() {
            prune_zero(x);
        }
        o.retain(|_, x| match x {
            serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
            serde_json::Value::String(s) => !s.is_empty(),
            serde_json::Value::Object(m) => !m.is_empty(),
            serde_json::Value::Null => false,
            _ => true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(ram_in_bytes("200M").unwrap(), 200 << 20);
        assert_eq!(ram_in_bytes("1k").unwrap(), 1024);
        assert_eq!(ram_in_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(ram_in_bytes("1KiB").unwrap(), 1024);
        assert_eq!(ram_in_bytes("1 kb").unwrap(), 1024);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert_eq!(ram_in_bytes("100b").unwrap(), 100);
        for bad in ["", "m", "-5", "1x", "1.m", "1kbb"] {
            assert!(ram_in_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_set_only_what_they_name() {
        let f = UpdateFlags {
            memory: Some("200M".into()),
            memory_swap: Some("-1".into()),
            cpu_quota: Some("50000".into()),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some("-1".into()),
            blkio_weight: Some("300".into()),
            ..Default::default()
        };
        let r = update_from_flags(&f, &mut std::io::empty()).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!(
            (m.limit(), m.swap(), m.reservation()),
            (Some(200 << 20), Some(-1), Some(0))
        );
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(
            (c.quota(), c.period(), c.cpus().as_deref()),
            (Some(50000), Some(0), Some("0"))
        );
        assert_eq!(r.pids().as_ref().unwrap().limit(), -1);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        assert!(r.devices().is_none());
        let e = update_from_flags(
            &UpdateFlags {
                memory: Some("lots".into()),
                ..Default::default()
            },
            &mut std::io::empty(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value for memory: invalid size: 'lots'"
        );
        assert!(update_from_flags(
            &UpdateFlags {
                cpu_share: Some("-3".into()),
                ..Default::default()
            },
            &mut std::io::empty()
        )
        .unwrap_err()
        .to_string()
        .contains("cpu-share"));
    }

    #[test]
    fn resources_document_overrides_flags_and_keeps_zeros() {
        let f = UpdateFlags {
            resources: Some("-".into()),
            memory: Some("1g".into()),
            ..Default::default()
        };
        let doc = br#"{"memory":{"limit":1048576},"pids":{"limit":20},"unified":{"pids.max":"9"},"devices":[{"allow":true}]}"#;
        let r = update_from_flags(&f, &mut &doc[..]).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(1048576), Some(0)));
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(0));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 20);
        assert_eq!(r.unified().as_ref().unwrap()["pids.max"], "9");
        assert!(r.devices().is_none());
        assert!(update_from_flags(&f, &mut &b"{not json"[..]).is_err());
    }

    #[test]
    fn merge_keeps_saved_values_for_zeros() {
        let saved: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":100,"reservation":50},"pids":{"limit":10},"devices":[{"allow":false,"access":"rwm"}]}"#,
        )
        .unwrap();
        let upd = update_from_flags(
            &UpdateFlags {
                memory: Some("200".into()),
                ..Default::default()
            },
            &mut std::io::empty(),
        )
        .unwrap();
        let m = merge_update(&saved, &upd);
        let mem = m.memory().as_ref().unwrap();
        assert_eq!((mem.limit(), mem.reservation()), (Some(200), Some(50)));
        assert_eq!(m.pids().as_ref().unwrap().limit(), 10);
        assert_eq!(m.devices().as_ref().unwrap().len(), 1);
    }
}
