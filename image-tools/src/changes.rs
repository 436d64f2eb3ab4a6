//! `--change` instructions for `import` (the Dockerfile subset `docker import` takes):
//! CMD, ENTRYPOINT, ENV, WORKDIR, USER, VOLUME, LABEL, EXPOSE, STOPSIGNAL.

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("--change {change:?}: {reason}")]
    Invalid { change: String, reason: String },
}

/// Applies one instruction to an image config's `config` object (docker field names).
pub fn apply(config: &mut Map<String, Value>, change: &str) -> Result<(), ChangeError> {
    let invalid = |reason: &str| ChangeError::Invalid {
        change: change.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = change.trim();
    let (instr, rest) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    let rest = rest.trim();
    let instr = instr.to_ascii_uppercase();
    if rest.is_empty() {
        return Err(invalid(&format!("{instr} needs an argument")));
    }
    match instr.as_str() {
        "CMD" | "ENTRYPOINT" => {
            let args = command_form(rest).map_err(|r| invalid(&r))?;
            let key = if instr == "CMD" { "Cmd" } else { "Entrypoint" };
            config.insert(key.into(), Value::from(args));
        }
        "ENV" => {
            let env = config
                .entry("Env")
                .or_insert_with(|| Value::Array(Vec::new()));
            let list = env
                .as_array_mut()
                .ok_or_else(|| invalid("config Env is not a list"))?;
            for (k, v) in key_values(rest).map_err(|r| invalid(&r))? {
                list.retain(|e| {
                    e.as_str()
                        .and_then(|s| s.split_once('='))
                        .map(|(ek, _)| ek != k)
                        .unwrap_or(true)
                });
                list.push(Value::from(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let labels = config
                .entry("Labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if labels.is_null() {
                *labels = Value::Object(Map::new());
            }
            let map = labels
                .as_object_mut()
                .ok_or_else(|| invalid("config Labels is not a map"))?;
            for (k, v) in key_values(rest).map_err(|r| invalid(&r))? {
                map.insert(k, Value::from(v));
            }
        }
        "WORKDIR" => {
            if !rest.starts_with('/') {
                return Err(invalid("WORKDIR must be an absolute path"));
            }
            config.insert("WorkingDir".into(), Value::from(rest));
        }
        "USER" => {
            config.insert("User".into(), Value::from(rest));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), Value::from(rest));
        }
        "VOLUME" | "EXPOSE" => {
            let items: Vec<String> = if rest.starts_with('[') {
                serde_json::from_str(rest)
                    .map_err(|e| invalid(&format!("not a JSON list of strings: {e}")))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            let key = if instr == "VOLUME" {
                "Volumes"
            } else {
                "ExposedPorts"
            };
            let slot = config
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if slot.is_null() {
                *slot = Value::Object(Map::new());
            }
            let map = slot
                .as_object_mut()
                .ok_or_else(|| invalid(&format!("config {key} is not a map")))?;
            for item in items {
                let item = if instr == "EXPOSE" {
                    let (port, proto) = item.split_once('/').unwrap_or((&item, "tcp"));
                    if port.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(invalid(&format!("{item:?} is not PORT[/tcp|udp|sctp]")));
                    }
                    format!("{port}/{proto}")
                } else {
                    if !item.starts_with('/') {
                        return Err(invalid(&format!("volume {item:?} is not an absolute path")));
                    }
                    item
                };
                map.insert(item, Value::Object(Map::new()));
            }
        }
        other => {
            return Err(invalid(&format!(
                "{other} is not an instruction import accepts"
            )))
        }
    }
    Ok(())
}

/// JSON form `["a","b"]`, or shell form run through `/bin/sh -c`.
fn command_form(rest: &str) -> Result<Vec<String>, String> {
    if rest.starts_with('[') {
        serde_json::from_str(rest).map_err(|e| format!("not a JSON list of strings: {e}"))
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
    }
}

/// `k=v k2="v 2"`, or the legacy `k v with spaces` form.
fn key_values(rest: &str) -> Result<Vec<(String, String)>, String> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or("expected KEY=VALUE or KEY VALUE")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            if c.is_whitespace() {
                return Err(format!("{key:?} has no '='"));
            }
            key.push(c);
        }
        let mut value = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            match quote {
                Some(q) if c == q => {
                    quote = None;
                }
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c.is_whitespace() => break,
                _ => value.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err(format!("unterminated quote in the value of {key}"));
        }
        if key.is_empty() {
            return Err("empty key".into());
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_instructions() {
        let mut c = Map::new();
        apply(&mut c, r#"CMD ["sh","-c","echo hi"]"#).unwrap();
        apply(&mut c, "ENTRYPOINT /bin/run me").unwrap();
        apply(&mut c, "ENV A=1 B=\"two words\"").unwrap();
        apply(&mut c, "ENV A=3").unwrap();
        apply(&mut c, "ENV LEGACY some value").unwrap();
        apply(&mut c, "WORKDIR /srv").unwrap();
        apply(&mut c, "user nobody").unwrap();
        apply(&mut c, "VOLUME /data /cache").unwrap();
        apply(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply(&mut c, "LABEL a=b").unwrap();
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/bin/run me"]));
        assert_eq!(c["Env"], json!(["B=two words", "A=3", "LEGACY=some value"]));
        assert_eq!(c["WorkingDir"], json!("/srv"));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(c["Volumes"], json!({"/data": {}, "/cache": {}}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"a": "b"}));
    }

    #[test]
    fn rejects_bad_changes() {
        let mut c = Map::new();
        for bad in [
            "RUN true",
            "CMD",
            "WORKDIR rel",
            "EXPOSE http",
            "VOLUME data",
            "CMD [\"a\"",
            "ENV A=\"x",
        ] {
            assert!(apply(&mut c, bad).is_err(), "{bad}");
        }
    }
}
