//! Mount options as runc reads them: flags, propagation, recursive attributes
//! (mount_setattr), sangja/runc extensions, and everything else passed to the kernel as data.

use nix::mount::MsFlags;

use crate::syscall::*;

#[derive(Debug, Clone)]
pub struct MountOptions {
    pub set: MsFlags,
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub rec_set: u64,
    pub rec_clear: u64,
    pub data: Vec<String>,
    pub idmap: bool,
    pub recursive_idmap: bool,
    pub tmpcopyup: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            set: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clear: 0,
            data: Vec::new(),
            idmap: false,
            recursive_idmap: false,
            tmpcopyup: false,
        }
    }
}

impl MountOptions {
    pub fn flags(&self) -> MsFlags {
        // difference(), not `& !`: bitflags truncates unknown bits (MS_NOSYMFOLLOW) on `!`.
        self.set.difference(self.clear)
    }
    pub fn is_bind(&self) -> bool {
        self.set.contains(MsFlags::MS_BIND)
    }
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let (set, clear): (MsFlags, MsFlags) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
            "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "acl" => (MsFlags::MS_POSIXACL, MsFlags::empty()),
            "noacl" => (MsFlags::empty(), MsFlags::MS_POSIXACL),
            "nosymfollow" => (
                MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
                MsFlags::empty(),
            ),
            "symfollow" => (
                MsFlags::empty(),
                MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
            ),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            _ => {
                if let Some(p) = propagation(opt) {
                    o.propagation.push(p);
                } else if let Some((set, clear)) = recursive(opt) {
                    o.rec_set |= set;
                    o.rec_clear |= clear;
                } else {
                    match opt.as_str() {
                        "idmap" => o.idmap = true,
                        "ridmap" => {
                            o.idmap = true;
                            o.recursive_idmap = true
                        }
                        "tmpcopyup" => o.tmpcopyup = true,
                        _ => o.data.push(opt.clone()),
                    }
                }
                continue;
            }
        };
        o.set = (o.set | set).difference(clear);
        o.clear = (o.clear | clear).difference(set);
    }
    o
}

pub fn propagation(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// The recursive forms applied through mount_setattr(AT_RECURSIVE): (set, clear).
fn recursive(opt: &str) -> Option<(u64, u64)> {
    Some(match opt {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
        "rnorelatime" => (0, 0),
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
        "ratime" => (0, 0),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
        "rnostrictatime" => (0, 0),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = p(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]);
        assert_eq!(
            o.flags(),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn flags_nix_does_not_name_survive() {
        let o = p(&["sync", "nosymfollow"]);
        assert_eq!(
            o.flags().bits(),
            (MsFlags::MS_SYNCHRONOUS.bits() | libc::MS_NOSYMFOLLOW)
        );
        assert_eq!(p(&["nosymfollow", "symfollow"]).flags(), MsFlags::empty());
    }

    #[test]
    fn later_option_wins() {
        let o = p(&["ro", "rw"]);
        assert!(!o.flags().contains(MsFlags::MS_RDONLY));
        let o = p(&["rbind", "rro", "rnosuid"]);
        assert!(o.is_bind() && o.set.contains(MsFlags::MS_REC));
        assert_eq!(o.rec_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
    }
}
