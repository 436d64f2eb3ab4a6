//! The config.json every case starts from: what `runc spec` writes (kept here as
//! data, with `terminal: false` so it runs without a tty), and small edits by
//! JSON pointer so a case states only its changes.

use serde_json::{Map, Value};

const DEFAULT_CONFIG: &str = include_str!("default_config.json");

/// A config.json under construction.
#[derive(Debug, Clone)]
pub struct Config(pub Value);

impl Default for Config {
    fn default() -> Self {
        Config(serde_json::from_str(DEFAULT_CONFIG).expect("default_config.json is valid JSON"))
    }
}

impl Config {
    /// Sets the value at `pointer` (RFC 6901, e.g. `/process/cwd`), creating
    /// the objects on the way. An index equal to an array's length appends.
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        let mut cur = &mut self.0;
        let parts: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if let Value::Array(arr) = cur {
                let idx: usize = part.parse().unwrap_or(arr.len());
                if idx >= arr.len() {
                    arr.push(Value::Null);
                }
                let idx = idx.min(arr.len() - 1);
                if last {
                    arr[idx] = value;
                    return self;
                }
                cur = &mut arr[idx];
                if cur.is_null() {
                    *cur = Value::Object(Map::new());
                }
                continue;
            }
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            let obj = cur.as_object_mut().expect("made an object above");
            if last {
                obj.insert(part.clone(), value);
                return self;
            }
            let next_is_index = parts[i + 1].parse::<usize>().is_ok();
            cur = obj.entry(part.clone()).or_insert_with(|| {
                if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
        }
        self.0 = value;
        self
    }

    /// Removes the value at `pointer` if present.
    pub fn remove(&mut self, pointer: &str) -> &mut Self {
        if let Some((parent, key)) = pointer.rsplit_once('/') {
            let key = key.replace("~1", "/").replace("~0", "~");
            match self
                .0
                .pointer_mut(if parent.is_empty() { "" } else { parent })
            {
                Some(Value::Object(o)) => {
                    o.remove(&key);
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = key.parse::<usize>() {
                        if i < a.len() {
                            a.remove(i);
                        }
                    }
                }
                _ => {}
            }
        }
        self
    }

    /// Appends `value` to the array at `pointer`, creating it if missing.
    pub fn push(&mut self, pointer: &str, value: Value) -> &mut Self {
        match self.0.pointer_mut(pointer) {
            Some(Value::Array(a)) => a.push(value),
            _ => {
                self.set(pointer, Value::Array(vec![value]));
            }
        }
        self
    }

    /// The process args.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", serde_json::json!(args))
    }

    /// Adds a namespace entry of `kind` (with `path` if given), replacing an
    /// existing entry of that type.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(kind);
        let mut ns = serde_json::json!({ "type": kind });
        if let Some(p) = path {
            ns["path"] = Value::String(p.to_string());
        }
        self.push("/linux/namespaces", ns)
    }

    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        if let Some(Value::Array(a)) = self.0.pointer_mut("/linux/namespaces") {
            a.retain(|n| n["type"] != kind);
        }
        self
    }

    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.0.pointer(pointer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_is_runc_spec_without_terminal() {
        let c = Config::default();
        assert_eq!(c.get("/process/terminal"), Some(&json!(false)));
        assert_eq!(c.get("/root/path"), Some(&json!("rootfs")));
        assert_eq!(c.get("/hostname"), Some(&json!("runc")));
    }

    #[test]
    fn set_creates_objects_and_appends() {
        let mut c = Config(json!({}));
        c.set("/linux/sysctl/kernel.msgmax", json!("8192"));
        c.set("/mounts/0", json!({"destination": "/a"}));
        c.set("/mounts/5", json!({"destination": "/b"}));
        assert_eq!(
            c.0,
            json!({"linux": {"sysctl": {"kernel.msgmax": "8192"}},
            "mounts": [{"destination": "/a"}, {"destination": "/b"}]})
        );
    }

    #[test]
    fn remove_and_namespace_edits() {
        let mut c = Config::default();
        c.remove("/process");
        assert!(c.get("/process").is_none());
        c.namespace("pid", Some("/proc/1/ns/pid"));
        let ns = c.get("/linux/namespaces").unwrap().as_array().unwrap();
        assert_eq!(ns.iter().filter(|n| n["type"] == "pid").count(), 1);
        assert_eq!(ns.last().unwrap()["path"], "/proc/1/ns/pid");
        c.remove("/linux/namespaces/0");
        assert_eq!(
            c.get("/linux/namespaces")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            4
        );
    }
}
