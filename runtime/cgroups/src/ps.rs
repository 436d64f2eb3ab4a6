//! `runc ps`: the host's `ps` output narrowed to the container's processes.

#[derive(Debug, thiserror::Error)]
pub enum PsError {
    #[error("couldn't find PID field in ps output")]
    NoPidColumn,
    #[error("unable to parse pid: {0:?}")]
    BadPid(String),
}

/// Keeps the header line and every line whose PID column is one of `pids`, as runc
/// does with the output of `ps <args>` (`-ef` when none are given).
pub fn filter_ps_output(output: &str, pids: &[i32]) -> Result<String, PsError> {
    let mut lines = output.split('\n');
    let header = lines.next().unwrap_or_default();
    let idx = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or(PsError::NoPidColumn)?;
    let mut out = format!("{header}\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let field = line.split_whitespace().nth(idx).unwrap_or_default();
        let pid: i32 = field
            .parse()
            .map_err(|_| PsError::BadPid(field.to_string()))?;
        if pids.contains(&pid) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// `ps --format json`: the pid list as one JSON array line.
pub fn pids_json(pids: &[i32]) -> String {
    format!(
        "{}\n",
        serde_json::to_string(pids).expect("numbers serialise")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrows_to_container_pids() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\nroot           1       0  0 10:00 ?        00:00:01 init\nroot         742       1  0 10:01 ?        00:00:00 sleep 100\n";
        assert_eq!(
            filter_ps_output(out, &[742]).unwrap(),
            "UID          PID    PPID  C STIME TTY          TIME CMD\nroot         742       1  0 10:01 ?        00:00:00 sleep 100\n"
        );
        assert!(matches!(
            filter_ps_output("A B\n1 2\n", &[1]),
            Err(PsError::NoPidColumn)
        ));
        assert!(matches!(
            filter_ps_output("PID X\nabc d\n", &[1]),
            Err(PsError::BadPid(_))
        ));
        assert_eq!(pids_json(&[3, 4]), "[3,4]\n");
    }
}
