//! runc-shaped logging: `--log FILE` (default stderr) and `--log-format text|json`.
//! json writes one `{"level","msg","time"}` object per line, which containerd's shim reads
//! to explain a failure; text writes logrus-style `time="..." level=... msg="..."` lines.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown log-format {other:?} (text or json)")),
        }
    }
}

struct LineLayer {
    out: Mutex<File>,
    format: Format,
    max: Level,
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Formats one log line (without the newline) in runc's shape.
pub fn format_line(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => serde_json::json!({"level": level, "msg": msg, "time": time}).to_string(),
        Format::Text => format!("time={time:?} level={level} msg={msg:?}"),
    }
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > self.max {
            return;
        }
        let mut msg = Message::default();
        event.record(&mut msg);
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut line = format_line(
            self.format,
            &level.as_str().to_ascii_lowercase(),
            &msg.0,
            &time,
        );
        line.push('\n');
        if let Ok(mut out) = self.out.lock() {
            // A log that cannot be written must not turn into a second failure.
            let _ = out.write_all(line.as_bytes());
        }
    }
}

/// Where the log goes, kept so the container init can be handed the same file.
pub struct LogTarget {
    pub fd: Option<RawFd>,
    pub format: Format,
    pub debug: bool,
}

/// Installs the global subscriber. `file` None means stderr.
pub fn init(
    file: Option<&std::path::Path>,
    format: Format,
    debug: bool,
) -> std::io::Result<LogTarget> {
    let (out, fd) = match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let fd = f.as_raw_fd();
            (f, Some(fd))
        }
        None => (stderr_file()?, None),
    };
    install(out, format, debug);
    Ok(LogTarget { fd, format, debug })
}

/// Installs a subscriber writing to an inherited descriptor (the container init's log pipe).
pub fn init_from_fd(fd: RawFd, format: Format, debug: bool) {
    // SAFETY: the parent handed this descriptor to us for logging and nothing else owns it.
    let f = unsafe { File::from_raw_fd(fd) };
    install(f, format, debug);
}

fn stderr_file() -> std::io::Result<File> {
    let fd = nix::unistd::dup(std::io::stderr())?;
    Ok(File::from(fd))
}

fn install(out: File, format: Format, debug: bool) {
    let max = if debug { Level::DEBUG } else { Level::INFO };
    let layer = LineLayer {
        out: Mutex::new(out),
        format,
        max,
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_fields() {
        let line = format_line(
            Format::Json,
            "error",
            "container not running",
            "2026-01-01T00:00:00Z",
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container not running");
        assert_eq!(v["time"], "2026-01-01T00:00:00Z");
    }

    #[test]
    fn text_line_quotes_message() {
        let line = format_line(Format::Text, "warning", "a \"b\"", "t");
        assert_eq!(line, "time=\"t\" level=warning msg=\"a \\\"b\\\"\"");
    }
}
