//! The running kernel's version, for profile rules and filter flags tied to one.

/// "6.18.0-1-amd64" or "4.8" -> (6, 18) / (4, 8).
pub(crate) fn parse(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// (major, minor) of the running kernel, `None` when /proc is not there to say.
pub(crate) fn running() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse(release.trim())
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_parse() {
        assert_eq!(super::parse("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(super::parse("4.8"), Some((4, 8)));
        assert_eq!(super::parse("5"), Some((5, 0)));
        assert_eq!(super::parse("vmlinuz"), None);
        assert!(super::running().is_some());
    }
}
