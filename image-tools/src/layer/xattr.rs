//! Extended attributes on paths that are never followed if they are symlinks
//! (the l*xattr calls), which is the kernel boundary nix does not wrap.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in name"))
}

pub fn lset(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let p = cstring(path.as_os_str().as_bytes())?;
    let n = cstring(name.as_bytes())?;
    // SAFETY: both strings are NUL-terminated and live across the call; value is a
    // valid slice whose length is passed alongside it.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Names of the attributes on `path` (not following a final symlink).
pub fn llist(path: &Path) -> io::Result<Vec<String>> {
    let p = cstring(path.as_os_str().as_bytes())?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: buf is writable for buf.len() bytes; p is NUL-terminated.
        let n = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(err),
        }
    }
    Ok(buf
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| OsStr::from_bytes(s).to_string_lossy().into_owned())
        .collect())
}

pub fn lget(path: &Path, name: &str) -> io::Result<Vec<u8>> {
    let p = cstring(path.as_os_str().as_bytes())?;
    let n = cstring(name.as_bytes())?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: buf is writable for buf.len() bytes; both strings are NUL-terminated.
        let len =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if len >= 0 {
            buf.truncate(len as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ERANGE) {
            buf.resize(buf.len() * 4, 0);
        } else {
            return Err(err);
        }
    }
}
