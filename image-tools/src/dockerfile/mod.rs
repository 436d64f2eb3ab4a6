//! Dockerfiles, parsed as docker documents them (no I/O here): parser directives,
//! comments, line continuations with the active escape character, JSON (exec) and shell
//! forms, instruction flags ([`parse`]); variable substitution with docker's `$V` /
//! `${V:-word}` rules ([`words`]); the typed instructions a build executes
//! ([`instruction`]); build stages and what each needs ([`stages`]); and `.dockerignore`
//! patterns ([`ignore`]).

pub mod ignore;
pub mod instruction;
pub mod mount;
pub mod parse;
pub mod stages;
pub mod words;

pub use parse::{parse, Args, Dockerfile, Flag, RawInstruction};

/// An error in a Dockerfile, shown as docker does: `Dockerfile:7: unknown instruction: RUNN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}
