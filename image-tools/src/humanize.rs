//! Sizes and ages the way docker's CLI prints them (go-units).

/// Decimal units with three significant digits: `4.26MB`, `512B`, `1.2GB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
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
    format!("{s}{}", UNITS[unit])
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
