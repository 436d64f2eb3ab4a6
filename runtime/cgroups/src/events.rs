//! The JSON objects `runc events` prints, one per line.

use serde::Serialize;

use crate::stats::Stats;

/// runc's `types.Event`: `{"type":"stats","id":"c1","data":{...}}` or
/// `{"type":"oom","id":"c1"}` (data omitted when empty).
#[derive(Debug, Clone, Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Stats>,
}

impl<'a> Event<'a> {
    pub fn stats(id: &'a str, data: &'a Stats) -> Event<'a> {
        Event {
            kind: "stats",
            id,
            data: Some(data),
        }
    }

    pub fn oom(id: &'a str) -> Event<'a> {
        Event {
            kind: "oom",
            id,
            data: None,
        }
    }

    /// One line of output, as runc's json.Encoder writes it.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("plain data serialises");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            Event::oom("c1").to_line(),
            "{\"type\":\"oom\",\"id\":\"c1\"}\n"
        );
        let s = Stats::default();
        let v: serde_json::Value = serde_json::from_str(&Event::stats("c1", &s).to_line()).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], "c1");
        assert!(v["data"]["memory"].is_object());
    }
}
