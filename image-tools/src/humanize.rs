//! Sizes and ages the way docker's CLI prints them (go-units).

/// Decimal units with three significant digits: `4.26MB`, `512B`, `1.2GB`.
pub fn size(bytes: u64) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"])
}

/// Binary units, as docker's memory columns: `7.773GiB`, `512KiB`, `0B`.
pub fn binary_size(bytes: u64) -> String {
    scaled(
        bytes,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
    )
}

/// go-units' CustomSize with `%.4g`.
fn scaled(bytes: u64, base: f64, units: &[&str]) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    let text = format!("{value:.4}");
    // %.4g: four significant digits, trailing zeros dropped.
    let digits_before = text.find('.').unwrap_or(text.len());
    let decimals = 4usize.saturating_sub(digits_before);
    let mut s = format!("{value:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[unit])
}

/// `About a minute ago`, `3 hours ago`, `2 weeks ago`.
pub fn since(created: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(created) else {
        return "N/A".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
    if secs < 0 {
        return "Less than a second ago".into();
    }
    format!("{} ago", duration(secs as u64))
}

/// How long since `started`, as docker's `Up 5 seconds`: `5 seconds`, `About a minute`.
pub fn elapsed(started: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(started) else {
        return String::new();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
    duration(secs.max(0) as u64)
}

/// Go's time.Duration String (`5m0s`, `1.5s`, `300ms`, `0s`).
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (v, unit) = if ns < 1_000 {
            (ns as f64, "ns")
        } else if ns < 1_000_000 {
            (ns as f64 / 1e3, "µs")
        } else {
            (ns as f64 / 1e6, "ms")
        };
        return format!("{}{unit}", trim_float(v));
    }
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = (ns % 60_000_000_000) as f64 / 1e9;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => plural(s, "second"),
        s if s / 60 == 1 => "About a minute".into(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if (s as f64 / 3600.0).round() as u64 == 1 => "About an hour".into(),
        s if s < 48 * 3600 => plural((s as f64 / 3600.0).round() as u64, "hour"),
        s if s < 7 * 24 * 3600 * 2 => plural(s / (24 * 3600), "day"),
        s if s < 30 * 24 * 3600 * 3 => plural(s / (7 * 24 * 3600), "week"),
        s if s < 365 * 24 * 3600 * 2 => plural(s / (30 * 24 * 3600), "month"),
        s => plural(s / (365 * 24 * 3600), "year"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(512), "512B");
        assert_eq!(size(4_261_000), "4.261MB");
        assert_eq!(size(1_000_000), "1MB");
        assert_eq!(size(1_234_567_890), "1.235GB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(5), "5 seconds");
        assert_eq!(duration(70), "About a minute");
        assert_eq!(duration(3 * 3600), "3 hours");
        assert_eq!(duration(3 * 24 * 3600), "3 days");
        assert_eq!(duration(20 * 24 * 3600), "2 weeks");
        assert_eq!(since("not a time"), "N/A");
        assert_eq!(elapsed("not a time"), "");
        let now = chrono::Utc::now().to_rfc3339();
        assert_eq!(elapsed(&now), "Less than a second");
    }
}
