//! A conformance case and its outcome.

use crate::harness::Ctx;
use crate::host::Need;

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The runtime did not do what the config and the spec ask.
    #[error("{0}")]
    Fail(String),
    /// The case cannot run here (a host feature is missing).
    #[error("{0}")]
    Skip(String),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error("harness: {0}")]
    Harness(String),
}

pub type CaseResult = Result<(), CaseError>;

/// What the table shows for one case on one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

pub struct Case {
    /// Stable, unique, `area.what` (e.g. `process.cwd`).
    pub id: &'static str,
    /// The runtime-spec field or area it checks.
    pub field: &'static str,
    pub needs: &'static [Need],
    /// Where runc 1.1.5 lacks the feature or departs from the spec.
    pub note: Option<&'static str>,
    pub run: fn(&mut Ctx) -> CaseResult,
}

/// Fails the case with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::case::CaseError::Fail(format!($($arg)*)))
    };
}

/// Fails the case unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail!($($arg)*);
        }
    };
}

/// Fails unless `got == want`, naming what was compared.
#[macro_export]
macro_rules! ensure_eq {
    ($got:expr, $want:expr, $what:expr) => {
        // `match` keeps temporaries in the operands alive for the comparison.
        match (&$got, &$want) {
            (g, w) => {
                if g != w {
                    $crate::fail!("{}: expected {:?}, got {:?}", $what, w, g);
                }
            }
        }
    };
}
