//! The files docker writes for each container on a bridge network and bind-mounts over
//! the image's: /etc/hosts (its own name, `--add-host` entries and, on a user-defined
//! network, every peer's name, kept up to date as podman does without a DNS plugin),
//! /etc/resolv.conf (`--dns`, else the host's without loopback resolvers) and
//! /etc/hostname. They live in the container directory and are rewritten in place, so
//! a running container sees changes through its bind mounts.

use super::NetworkError;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The files, and where each goes in the container.
pub const FILES: [(&str, &str); 3] = [
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
    ("hostname", "/etc/hostname"),
];

/// `--add-host NAME:IP`.
pub fn parse_add_host(value: &str) -> Result<(String, IpAddr), NetworkError> {
    let bad = |reason: &str| NetworkError::Flag {
        flag: "--add-host",
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let (name, ip) = value
        .split_once(':')
        .or_else(|| value.split_once('='))
        .ok_or_else(|| bad("want NAME:IP"))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad("the name is empty or has spaces"));
    }
    let ip = ip
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| bad("not an IP address"))?;
    Ok((name.to_string(), ip))
}

/// `--dns IP`.
pub fn parse_dns(value: &str) -> Result<IpAddr, NetworkError> {
    value.parse().map_err(|_| NetworkError::Flag {
        flag: "--dns",
        value: value.to_string(),
        reason: "not an IP address".into(),
    })
}

/// One /etc/hosts line's worth: an address and its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ip: String,
    pub names: Vec<String>,
}

/// docker's /etc/hosts: localhost lines, `--add-host`s, peers, then the container's own.
pub fn hosts_text(own: &Entry, added: &[(String, IpAddr)], peers: &[Entry]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for (name, ip) in added {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    for p in peers {
        s.push_str(&format!("{}\t{}\n", p.ip, p.names.join(" ")));
    }
    s.push_str(&format!("{}\t{}\n", own.ip, own.names.join(" ")));
    s
}

/// `--dns` servers, else the host's resolv.conf without loopback nameservers (they
/// mean nothing inside the container's own network namespace).
pub fn resolv_text(dns: &[IpAddr], host: &str) -> String {
    if !dns.is_empty() {
        return dns.iter().map(|d| format!("nameserver {d}\n")).collect();
    }
    let mut text: String = host
        .lines()
        .filter(|l| {
            let mut w = l.split_whitespace();
            !(w.next() == Some("nameserver")
                && w.next()
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
                    .is_some_and(|ip| ip.is_loopback()))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    // docker's fallback when only loopback resolvers were there (systemd-resolved's).
    if !text.lines().any(|l| l.starts_with("nameserver")) {
        text.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    text
}

/// Overwrites the file's content without replacing it (a bind mount holds the inode).
pub fn write_in_place(path: &Path, text: &str) -> Result<(), NetworkError> {
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| NetworkError::Io {
            path: path.to_path_buf(),
            source,
        })
}

pub fn file(container_dir: &Path, name: &str) -> PathBuf {
    container_dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        let own = Entry {
            ip: "10.222.1.2".into(),
            names: vec!["abc".into(), "web".into()],
        };
        let peer = Entry {
            ip: "10.222.1.3".into(),
            names: vec!["db".into()],
        };
        let added = vec![parse_add_host("gw:10.0.0.1").unwrap()];
        let t = hosts_text(&own, &added, &[peer]);
        assert!(t.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(t.contains("10.0.0.1\tgw\n10.222.1.3\tdb\n10.222.1.2\tabc web\n"));
        assert!(parse_add_host("nocolon").is_err());
        assert!(parse_add_host("x:notip").is_err());
        let r = resolv_text(
            &[],
            "search lan\nnameserver 127.0.0.53\nnameserver 10.1.1.1\n",
        );
        assert_eq!(r, "search lan\nnameserver 10.1.1.1\n");
        assert_eq!(
            resolv_text(&[parse_dns("9.9.9.9").unwrap()], ""),
            "nameserver 9.9.9.9\n"
        );
        assert_eq!(
            resolv_text(&[], "nameserver 127.0.0.53\n"),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert!(parse_dns("x").is_err());
    }
}
