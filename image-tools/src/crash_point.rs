//! Named points where a test build of `sangja-image` kills itself with SIGKILL, to prove
//! that a crash at any step leaves a store `fsck` passes and a retry completes.
//!
//! Only a binary built with the `crash-points` feature (debug assertions on: see lib.rs)
//! reads `SANGJA_IMAGE_CRASH_AT`; in every other build [`reach`] is an empty function and
//! no environment variable changes what the tool does.

/// The environment variable naming the point to die at (crash-points builds only).
pub const ENV: &str = "SANGJA_IMAGE_CRASH_AT";

/// Every point, for tests to iterate over and for the binary to check names against.
pub const POINTS: &[&str] = &[
    // pull: the manifest is staged, no blob yet.
    "pull-manifest-staged",
    // pull: one blob fetched into the staging directory.
    "pull-blob-fetched",
    // any transaction (pull, build, load): some blobs renamed into blobs/, index not updated.
    "commit-blobs-moved",
    // any transaction: index written, staging directory not yet removed.
    "commit-index-written",
    // push: one blob uploaded, the manifest not yet.
    "push-blob-uploaded",
    // rm: the index no longer names the image, its blobs are not yet collected.
    "rm-index-updated",
    // gc: some unreferenced blobs removed, others not.
    "gc-blob-removed",
    // container removal: the directory renamed to .removing-*, not yet deleted.
    "container-remove-renamed",
    // run: the container directory made and its root mounted, no record yet.
    "run-rootfs-mounted",
    // run: volumes made and the network planned, no record yet.
    "run-volumes-made",
    // run: the record saved; no network attached, no config.json, no runtime yet.
    "run-record-saved",
    // run in the foreground: the runtime runs the container, nobody waits for it.
    "run-runtime-spawned",
    // run -d: the monitor started, the command has not answered.
    "run-monitor-spawned",
    // run: the network attached (netns, veth, lease, port rules), config.json not written.
    "container-network-attached",
];

/// Dies here with SIGKILL when this is the point `SANGJA_IMAGE_CRASH_AT` names.
#[inline]
pub fn reach(point: &str) {
    debug_assert!(POINTS.contains(&point), "unlisted crash point {point}");
    #[cfg(feature = "crash-points")]
    if std::env::var(ENV).is_ok_and(|v| v == point) {
        tracing::warn!(point, "crash point reached: killing myself with SIGKILL");
        // Nothing is flushed or unwound: this is what a kill -9 at this line leaves.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
