//! What every runtime test file shares: which runtime binary is under test.

use std::path::PathBuf;

/// The binary under test: sangja, or `SANGJA_TEST_RUNTIME` (runc) to show the
/// expectations are runc's.
pub fn runtime() -> PathBuf {
    std::env::var_os("SANGJA_TEST_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sangja")))
}

pub fn is_sangja() -> bool {
    std::env::var_os("SANGJA_TEST_RUNTIME").is_none()
}
