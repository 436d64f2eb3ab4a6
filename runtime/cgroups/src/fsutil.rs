//! Reading and writing cgroup control files, with errors that name the file and field.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use crate::Error;

/// Writes one value with a single write(2): the kernel parses each write on its own.
/// No O_CREAT (the file must exist: a missing one means a missing controller), and
/// O_APPEND, which cgroupfs ignores, so on a fixture tree the file keeps every write
/// in order, like the sequence the kernel saw.
pub(crate) fn write(dir: &Path, file: &str, value: &str, field: &str) -> Result<(), Error> {
    let res = fs::OpenOptions::new()
        .append(true)
        .open(dir.join(file))
        .and_then(|mut f| f.write_all(value.as_bytes()));
    tracing::debug!(dir = %dir.display(), file, value, "cgroup write");
    res.map_err(|source| Error::Write {
        field: field.to_string(),
        file: file.to_string(),
        value: value.to_string(),
        dir: dir.to_path_buf(),
        source,
    })
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String, Error> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
}

pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

fn parse_err(dir: &Path, file: &str, content: &str, reason: &str) -> Error {
    Error::Parse {
        path: dir.join(file),
        content: content.to_string(),
        reason: reason.to_string(),
    }
}

/// A single number; "max" (v2) reads as u64::MAX, as runc's GetCgroupParamUint does.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64, Error> {
    let s = read(dir, file)?;
    parse_u64(s.trim()).ok_or_else(|| parse_err(dir, file, &s, "not a number"))
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    match s.parse::<u64>() {
        Ok(v) => Some(v),
        // A negative value (v1 "-1") means unlimited; runc reports it as 0.
        Err(_) if s.parse::<i64>().is_ok() => Some(0),
        Err(_) => None,
    }
}

/// The number, or 0 when the file does not exist (an optional kernel feature).
pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<u64, Error> {
    if !exists(dir, file) {
        return Ok(0);
    }
    read_u64(dir, file)
}

/// "key value" lines (memory.stat, cpu.stat, cgroup.events ...).
pub(crate) fn read_keyed(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>, Error> {
    let s = read(dir, file)?;
    let mut out = BTreeMap::new();
    for line in s.lines() {
        let mut it = line.split_whitespace();
        if let (Some(k), Some(v)) = (it.next(), it.next()) {
            let v = parse_u64(v).ok_or_else(|| parse_err(dir, file, line, "not a number"))?;
            out.insert(k.to_string(), v);
        }
    }
    Ok(out)
}

/// The pids listed in cgroup.procs.
pub(crate) fn read_pids(dir: &Path) -> Result<Vec<i32>, Error> {
    let s = read(dir, "cgroup.procs")?;
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse::<i32>()
                .map_err(|_| parse_err(dir, "cgroup.procs", l, "not a pid"))
        })
        .collect()
}

/// The pids of `dir` and every cgroup below it.
pub(crate) fn read_pids_recursive(dir: &Path) -> Result<Vec<i32>, Error> {
    let mut out = read_pids(dir)?;
    let entries = fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.extend(read_pids_recursive(&e.path())?);
        }
    }
    Ok(out)
}
