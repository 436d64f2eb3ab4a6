//! Every case, grouped by spec area. Each module exports `CASES`.

use crate::case::Case;

pub mod bad_input;
pub mod cgroups;
pub mod compat;
pub mod defaults;
pub mod hooks;
pub mod lifecycle;
pub mod namespaces;
pub mod operations;
pub mod process;
pub mod rootfs;
pub mod seccomp_profiles;
pub mod security;
pub mod util;

/// All cases in table order.
pub fn all() -> Vec<&'static Case> {
    [
        defaults::CASES,
        lifecycle::CASES,
        operations::CASES,
        bad_input::CASES,
        process::CASES,
        namespaces::CASES,
        rootfs::CASES,
        hooks::CASES,
        security::CASES,
        seccomp_profiles::CASES,
        cgroups::CASES,
        compat::CASES,
    ]
    .into_iter()
    .flat_map(|c| c.iter())
    .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_dotted() {
        let all = super::all();
        let mut ids: Vec<&str> = all.iter().map(|c| c.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate case id");
        assert!(all.iter().all(|c| c.id.contains('.')));
    }
}
