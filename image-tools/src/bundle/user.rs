//! The image's `User` (`name`, `uid`, `name:group`, `uid:gid`, ...) resolved through the
//! rootfs's /etc/passwd and /etc/group, read inside the rootfs (symlinks cannot point
//! the lookup at host files), following the rules of runc's libcontainer/user.

use crate::layer::inroot::{InPath, Root};
use std::io::Read;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("user {spec:?}: {reason}")]
    Invalid { spec: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_in_root(root: &Root, path: &str) -> String {
    let Ok(p) = InPath::parse(path.as_bytes()) else {
        return String::new();
    };
    let mut text = String::new();
    if let Ok(mut f) = root.open_file(&p) {
        // A file that is not text simply has no usable entries.
        let _ = f.read_to_string(&mut text);
    }
    text
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

pub fn resolve(root: &Root, spec: &str) -> Result<ExecUser, UserError> {
    resolve_with(
        &read_in_root(root, "/etc/passwd"),
        &read_in_root(root, "/etc/group"),
        spec,
    )
}

pub fn resolve_with(passwd: &str, group: &str, spec: &str) -> Result<ExecUser, UserError> {
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let mut out = ExecUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".into(),
    };
    let mut matched_name = None;
    if !user_part.is_empty() {
        let numeric = user_part.parse::<u32>().ok();
        let found = users.iter().find(|u| match numeric {
            Some(n) => u.uid == n,
            None => u.name == user_part,
        });
        match (found, numeric) {
            (Some(u), _) => {
                out.uid = u.uid;
                out.gid = u.gid;
                out.home = if u.home.is_empty() {
                    "/".into()
                } else {
                    u.home.clone()
                };
                matched_name = Some(u.name.clone());
            }
            (None, Some(n)) => out.uid = n,
            (None, None) => return Err(UserError::NoUser(user_part.to_string())),
        }
    } else if let Some(root_user) = users.iter().find(|u| u.uid == 0) {
        out.home = if root_user.home.is_empty() {
            "/".into()
        } else {
            root_user.home.clone()
        };
        matched_name = Some(root_user.name.clone());
    }
    match group_part {
        Some("") => {
            return Err(UserError::Invalid {
                spec: spec.to_string(),
                reason: "empty group after ':'".into(),
            })
        }
        Some(g) => {
            out.gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => groups
                    .iter()
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .ok_or_else(|| UserError::NoGroup(g.to_string()))?,
            };
        }
        None => {
            if let Some(name) = &matched_name {
                for g in &groups {
                    if g.members.iter().any(|m| m == name) && !out.additional_gids.contains(&g.gid)
                    {
                        out.additional_gids.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nbob:x:1000:\naudio:x:29:bob\nvideo:x:44:bob,www\n";

    fn r(spec: &str) -> Result<ExecUser, UserError> {
        resolve_with(PASSWD, GROUP, spec)
    }

    #[test]
    fn resolves_like_runc() {
        assert_eq!(
            r("").unwrap(),
            ExecUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/root".into()
            }
        );
        assert_eq!(
            r("bob").unwrap(),
            ExecUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![29, 44],
                home: "/home/bob".into()
            }
        );
        assert_eq!(r("33").unwrap().gid, 33);
        assert_eq!(r("33").unwrap().additional_gids, vec![44]);
        assert_eq!(
            r("4242").unwrap(),
            ExecUser {
                uid: 4242,
                gid: 0,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        assert_eq!(r("bob:audio").unwrap().gid, 29);
        assert!(r("bob:audio").unwrap().additional_gids.is_empty());
        assert_eq!(
            r("7:9").unwrap(),
            ExecUser {
                uid: 7,
                gid: 9,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        assert_eq!(r("nobody").unwrap_err(), UserError::NoUser("nobody".into()));
        assert_eq!(
            r("bob:staff").unwrap_err(),
            UserError::NoGroup("staff".into())
        );
        assert!(r("bob:").is_err());
    }
}
