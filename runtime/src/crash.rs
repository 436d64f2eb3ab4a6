//! Named crash points for the crash-consistency test (issue 27): with the test-only
//! `crash-points` feature, the process SIGKILLs itself when it reaches the point named by
//! `SANGJA_CRASH_AT`, as a daemon's OOM kill or a host crash would stop it there. Without
//! the feature (every shipped build) a point compiles to nothing and the variable means
//! nothing: the switch lives only in a build made for the test.

/// Every point the runtime has, in the order a lifecycle reaches them (the test walks this).
pub const POINTS: &[&str] = &[
    "create:dir-made",
    "create:bootstrap-sent",
    "create:cgroup-applied",
    "create:child-known",
    "create:hooks-done",
    "create:ready-saved",
    "start:fifo-opened",
    "start:released",
    "exec:cgroup-joined",
    "exec:child-known",
    "exec:ready",
    "delete:killed",
    "delete:cgroup-removed",
];

#[cfg(feature = "crash-points")]
pub fn point(name: &str) {
    debug_assert!(POINTS.contains(&name), "crash point {name} is not listed");
    if std::env::var("SANGJA_CRASH_AT").as_deref() == Ok(name) {
        // SIGKILL, not exit: nothing of ours (destructors, cleanup guards) may run.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub fn point(_name: &str) {}
