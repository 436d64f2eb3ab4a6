//! The checker's JSON, with accessors for what cases compare.

use serde_json::Value;

use crate::caps;

#[derive(Debug, Clone)]
pub struct Report(pub Value);

impl Report {
    pub fn parse(stdout: &str) -> Result<Report, String> {
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or_else(|| format!("checker printed no JSON; stdout was {:?}", truncate(stdout)))?;
        serde_json::from_str(line)
            .map(Report)
            .map_err(|e| format!("checker output is not JSON ({e}): {:?}", truncate(line)))
    }

    pub fn get(&self, pointer: &str) -> &Value {
        self.0.pointer(pointer).unwrap_or(&Value::Null)
    }

    /// A /proc/self/status field, e.g. `NoNewPrivs`.
    pub fn status(&self, key: &str) -> &str {
        self.0["status"][key].as_str().unwrap_or("")
    }

    /// The capability names of a status set (`CapEff`, `CapBnd`, ...), sorted.
    pub fn caps(&self, set: &str) -> Vec<String> {
        let mut v = caps::from_mask(self.status(set));
        v.sort();
        v
    }

    /// The last (topmost) mount at `target`.
    pub fn mount(&self, target: &str) -> Option<&Value> {
        self.0["mounts"]
            .as_array()?
            .iter()
            .rev()
            .find(|m| m["target"] == target)
    }

    /// Whether the topmost mount at `target` has `opt` among its per-mount or
    /// superblock options.
    pub fn mount_has(&self, target: &str, opt: &str) -> bool {
        self.mount(target)
            .map(|m| {
                m["options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o == opt)
                    || m["super_options"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|o| o == opt)
            })
            .unwrap_or(false)
    }

    pub fn device(&self, path: &str) -> Option<&Value> {
        self.0["devices"].get(path)
    }

    pub fn probe(&self, i: usize) -> &Value {
        self.0["probes"].get(i).unwrap_or(&Value::Null)
    }

    /// errno of probe `i`, `None` when it succeeded.
    pub fn probe_errno(&self, i: usize) -> Option<i64> {
        let p = self.probe(i);
        if p["ok"] == true {
            None
        } else {
            Some(p["errno"].as_i64().unwrap_or(-1))
        }
    }

    pub fn env(&self, key: &str) -> Option<&str> {
        self.0["env"][key].as_str()
    }

    pub fn rlimit(&self, name: &str) -> (Value, Value) {
        let r = &self.0["rlimits"][name];
        (r["soft"].clone(), r["hard"].clone())
    }

    pub fn ns(&self, kind: &str) -> &str {
        self.0["namespaces"][kind].as_str().unwrap_or("")
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

/// The host's own namespace link for `kind` (`net`, `mnt`, ...).
pub fn host_ns(kind: &str) -> String {
    ns_link("self", kind)
}

/// The namespace link of process `pid` for `kind`, as the host sees it.
pub fn pid_ns(pid: i32, kind: &str) -> String {
    ns_link(&pid.to_string(), kind)
}

fn ns_link(proc_entry: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{proc_entry}/ns/{kind}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_last_json_line_and_reads_fields() {
        let r = Report::parse(
            "noise\n{\"status\":{\"CapEff\":\"0000000000000001\"},\"mounts\":[{\"target\":\"/\",\"options\":[\"rw\"],\"super_options\":[]},{\"target\":\"/\",\"options\":[\"ro\"],\"super_options\":[\"mode=755\"]}],\"probes\":[{\"ok\":false,\"errno\":30}]}\n",
        )
        .unwrap();
        assert_eq!(r.caps("CapEff"), vec!["CAP_CHOWN".to_string()]);
        assert!(r.mount_has("/", "ro") && r.mount_has("/", "mode=755") && !r.mount_has("/", "rw"));
        assert_eq!(r.probe_errno(0), Some(30));
        assert!(Report::parse("no json").is_err());
    }
}
