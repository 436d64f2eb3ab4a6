//! errno names as docker/podman profiles write them ("errno": "EPERM") to their numbers.

/// The number of the errno called `name` on Linux, for the names profiles use.
pub(crate) fn number(name: &str) -> Option<u32> {
    let n = match name {
        "EPERM" => libc::EPERM,
        "ENOENT" => libc::ENOENT,
        "ESRCH" => libc::ESRCH,
        "EINTR" => libc::EINTR,
        "EIO" => libc::EIO,
        "ENXIO" => libc::ENXIO,
        "E2BIG" => libc::E2BIG,
        "ENOEXEC" => libc::ENOEXEC,
        "EBADF" => libc::EBADF,
        "ECHILD" => libc::ECHILD,
        "EAGAIN" | "EWOULDBLOCK" => libc::EAGAIN,
        "ENOMEM" => libc::ENOMEM,
        "EACCES" => libc::EACCES,
        "EFAULT" => libc::EFAULT,
        "EBUSY" => libc::EBUSY,
        "EEXIST" => libc::EEXIST,
        "EXDEV" => libc::EXDEV,
        "ENODEV" => libc::ENODEV,
        "ENOTDIR" => libc::ENOTDIR,
        "EISDIR" => libc::EISDIR,
        "EINVAL" => libc::EINVAL,
        "ENFILE" => libc::ENFILE,
        "EMFILE" => libc::EMFILE,
        "ENOTTY" => libc::ENOTTY,
        "ETXTBSY" => libc::ETXTBSY,
        "EFBIG" => libc::EFBIG,
        "ENOSPC" => libc::ENOSPC,
        "ESPIPE" => libc::ESPIPE,
        "EROFS" => libc::EROFS,
        "EMLINK" => libc::EMLINK,
        "EPIPE" => libc::EPIPE,
        "EDOM" => libc::EDOM,
        "ERANGE" => libc::ERANGE,
        "ENOSYS" => libc::ENOSYS,
        "ENOTSUP" | "EOPNOTSUPP" => libc::EOPNOTSUPP,
        "EAFNOSUPPORT" => libc::EAFNOSUPPORT,
        "EPROTONOSUPPORT" => libc::EPROTONOSUPPORT,
        "ENOTSOCK" => libc::ENOTSOCK,
        "ECONNREFUSED" => libc::ECONNREFUSED,
        _ => return None,
    };
    u32::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_in_the_podman_profile_resolve() {
        assert_eq!(super::number("EPERM"), Some(1));
        assert_eq!(super::number("ENOSYS"), Some(38));
        assert_eq!(super::number("EINVAL"), Some(22));
        assert_eq!(super::number("EBOGUS"), None);
    }
}
