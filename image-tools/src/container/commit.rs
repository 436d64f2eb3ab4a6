//! `commit`: not written yet.
