//! /proc/self/mountinfo, one object per mount.

use serde_json::{json, Value};

/// Undoes the octal escapes (`\040` for a space, ...) the kernel writes in paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|oct| u8::from_str_radix(oct, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one mountinfo line; `None` for a line that does not have its fields.
pub fn parse_line(line: &str) -> Option<Value> {
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    if l.len() < 6 || r.len() < 3 {
        return None;
    }
    let optional: Vec<&str> = l[6..].to_vec();
    let propagation = if optional.iter().any(|o| o.starts_with("shared:")) {
        "shared"
    } else if optional.iter().any(|o| o.starts_with("master:")) {
        "slave"
    } else if optional.contains(&"unbindable") {
        "unbindable"
    } else {
        "private"
    };
    Some(json!({
        "id": l[0].parse::<u64>().ok(),
        "parent": l[1].parse::<u64>().ok(),
        "dev": l[2],
        "root": unescape(l[3]),
        "target": unescape(l[4]),
        "options": l[5].split(',').collect::<Vec<_>>(),
        "optional": optional,
        "propagation": propagation,
        "fstype": r[0],
        "source": unescape(r[1]),
        "super_options": r[2].split(',').collect::<Vec<_>>(),
    }))
}

pub fn mountinfo() -> Value {
    match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(text) => Value::Array(text.lines().filter_map(parse_line).collect()),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_propagation_and_escapes() {
        let m = parse_line(
            "97 95 0:52 / /dev/my\\040shm rw,nosuid,nodev shared:5 master:3 - tmpfs shm rw,size=65536k",
        )
        .unwrap();
        assert_eq!(m["target"], "/dev/my shm");
        assert_eq!(m["propagation"], "shared");
        assert_eq!(m["options"], serde_json::json!(["rw", "nosuid", "nodev"]));
        assert_eq!(m["super_options"], serde_json::json!(["rw", "size=65536k"]));
        assert_eq!(m["fstype"], "tmpfs");
        let slave = parse_line("1 0 0:1 / /a ro master:7 - proc proc rw").unwrap();
        assert_eq!(slave["propagation"], "slave");
        let private = parse_line("1 0 0:1 / /b ro - proc proc rw").unwrap();
        assert_eq!(private["propagation"], "private");
        assert!(parse_line("garbage").is_none());
    }
}
