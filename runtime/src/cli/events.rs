use std::io::Write;
use std::time::{Duration, Instant};

use sangja_cgroups::{Event, OomWait};

use super::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Set the stats collection interval
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// The container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

/// Go's duration syntax as runc takes it: "5s", "500ms", "1m30s", "1h".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (e.g. 5s, 500ms, 1m30s)");
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * mult;
        rest = &rest[u..];
    }
    if total <= 0.0 {
        return Err("duration must be greater than 0".into());
    }
    Ok(Duration::from_secs_f64(total))
}

pub fn run(g: &Globals, a: Args) -> anyhow::Result<i32> {
    let (dir, st, _s, cg) = crate::container::running_cgroup(&g.root, &a.id)?;
    // Watching can last forever: other commands (exec, kill, delete) must not wait for it.
    drop(dir);
    let mut out = std::io::stdout().lock();
    if a.stats {
        let stats = cg.manager().stats()?;
        out.write_all(Event::stats(&a.id, &stats).to_line().as_bytes())?;
        return Ok(0);
    }
    let mut oom = match cg.manager().oom_watcher() {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("events: no OOM notifications for {}: {e}", a.id);
            None
        }
    };
    let mut next = Instant::now();
    loop {
        if Instant::now() >= next {
            if !crate::container::alive(&st) {
                return Ok(0);
            }
            match cg.manager().stats() {
                Ok(stats) => out.write_all(Event::stats(&a.id, &stats).to_line().as_bytes())?,
                Err(e) => tracing::warn!("events: reading stats: {e}"),
            }
            out.flush()?;
            next = Instant::now() + a.interval;
        }
        let left = next.saturating_duration_since(Instant::now());
        match oom.as_mut() {
            Some(w) => match w.wait(Some(left))? {
                OomWait::Oom(_) => {
                    out.write_all(Event::oom(&a.id).to_line().as_bytes())?;
                    out.flush()?;
                }
                OomWait::Timeout => {}
                OomWait::Gone => return Ok(0),
            },
            None => std::thread::sleep(left),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("x").is_err());
    }
}
