//! Raw instructions made typed, with docker's substitution applied where docker applies
//! it (not in RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK: the shell does that there),
//! flags checked per instruction, and each instruction's own syntax (ENV/LABEL pairs,
//! ARG defaults, EXPOSE ports, HEALTHCHECK options, ONBUILD triggers).

use super::parse::{self, Args, Heredoc, RawInstruction};
use super::words::{expand, expand_words, split_words};
use serde::{Deserialize, Serialize};

/// An exec-form list, or a shell-form string run through the image's SHELL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    pub sources: Vec<String>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub from: Option<String>,
    pub link: bool,
    /// COPY --parents: sources keep their parent directories (after a `/./` pivot).
    pub parents: bool,
    /// --exclude=PATTERN (repeatable): .dockerignore-style patterns left out.
    pub excludes: Vec<String>,
    /// ADD --checksum=sha256:...
    pub checksum: Option<String>,
    /// Sources written as `<<NAME`: files made from the heredoc (named NAME).
    pub heredocs: Vec<Heredoc>,
}

/// The image config's `Healthcheck`, as docker writes it (durations in nanoseconds,
/// zero values left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        command: Command,
        network: Option<String>,
        mounts: Vec<String>,
        security: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Copy(CopyArgs),
    Add(CopyArgs),
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Maintainer(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Workdir(String),
    User(String),
    Shell(Vec<String>),
    StopSignal(String),
    /// `None` for `HEALTHCHECK NONE`.
    Healthcheck(Option<Healthcheck>),
    /// The trigger as written.
    Onbuild(String),
}

type Lookup<'a> = &'a mut dyn FnMut(&str) -> Option<String>;

fn allowed_flags(keyword: &str) -> &'static [&'static str] {
    match keyword {
        "FROM" => &["platform"],
        "RUN" => &["mount", "network", "security"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    }
}

/// Makes `raw` typed, expanding variables through `lookup` where docker does.
pub fn resolve(
    raw: &RawInstruction,
    escape: char,
    lookup: Lookup<'_>,
) -> Result<Instruction, String> {
    let allowed = allowed_flags(&raw.keyword);
    for f in &raw.flags {
        if !allowed.contains(&f.name.as_str()) {
            return Err(format!("unknown flag: --{}", f.name));
        }
    }
    let flag = |name: &str| -> Option<String> {
        raw.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .map(|f| f.value.clone().unwrap_or_default())
    };
    let kw = raw.keyword.as_str();
    let shell_text = || match &raw.args {
        Args::Shell(s) => s.clone(),
        Args::Json(v) => serde_json::to_string(v).expect("strings serialise"),
    };
    let text = shell_text();
    let need_args = |what: &str| -> Result<(), String> {
        if text.trim().is_empty() && !matches!(&raw.args, Args::Json(v) if !v.is_empty()) {
            return Err(format!("{kw} requires {what}"));
        }
        Ok(())
    };
    let one_word = |lookup: Lookup<'_>| -> Result<String, String> {
        need_args("exactly one argument")?;
        expand(text.trim(), escape, lookup)
    };
    let command = || match &raw.args {
        Args::Json(v) => Command::Exec(v.clone()),
        Args::Shell(s) => Command::Shell(s.clone()),
    };
    Ok(match kw {
        "FROM" => {
            need_args("at least one argument")?;
            let words = split_words(&text, escape);
            let (image, name) = match words.as_slice() {
                [image] => (image.clone(), None),
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    (image.clone(), Some(name.clone()))
                }
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            let image = expand(&image, escape, lookup)?;
            if image.is_empty() {
                return Err("base name (empty) should not be blank".into());
            }
            Instruction::From {
                image,
                name: name.map(|n| n.to_ascii_lowercase()),
                platform: flag("platform")
                    .map(|p| expand(&p, escape, lookup))
                    .transpose()?,
            }
        }
        "RUN" => {
            need_args("at least one argument")?;
            Instruction::Run {
                command: command(),
                network: flag("network"),
                // Variables in a mount's fields are expanded (BuildKit).
                mounts: raw
                    .flags
                    .iter()
                    .filter(|f| f.name == "mount")
                    .map(|f| expand(f.value.as_deref().unwrap_or(""), escape, &mut *lookup))
                    .collect::<Result<Vec<_>, _>>()?,
                security: flag("security"),
                heredocs: raw.heredocs.clone(),
            }
        }
        "CMD" => {
            need_args("at least one argument")?;
            Instruction::Cmd(command())
        }
        "ENTRYPOINT" => {
            need_args("at least one argument")?;
            Instruction::Entrypoint(command())
        }
        "COPY" | "ADD" => {
            let mut paths = match &raw.args {
                Args::Json(v) => v
                    .iter()
                    .map(|p| expand(p, escape, &mut *lookup))
                    .collect::<Result<Vec<_>, _>>()?,
                Args::Shell(s) => expand_words(s, escape, &mut *lookup)?,
            };
            // `<<NAME` sources are the instruction's heredocs (in order).
            let mut heredocs = Vec::new();
            let mut docs = raw.heredocs.iter();
            let last = paths.len().saturating_sub(1);
            let mut i = 0;
            paths.retain(|p| {
                let keep = i == last || parse::heredoc_marker(p).is_none();
                i += 1;
                if !keep {
                    heredocs.extend(docs.next().cloned());
                }
                keep
            });
            if paths.len() + heredocs.len() < 2 {
                return Err(format!(
                    "{kw} requires at least two arguments, but only {} provided",
                    paths.len() + heredocs.len()
                ));
            }
            let dest = paths.pop().expect("two or more");
            let exp = |f: Option<String>, lookup: Lookup<'_>| {
                f.map(|v| expand(&v, escape, lookup)).transpose()
            };
            let args = CopyArgs {
                sources: paths,
                dest,
                chown: exp(flag("chown"), lookup)?,
                chmod: exp(flag("chmod"), lookup)?,
                from: flag("from"),
                link: flag("link").is_some_and(|v| v != "false"),
                parents: flag("parents").is_some_and(|v| v != "false"),
                excludes: raw
                    .flags
                    .iter()
                    .filter(|f| f.name == "exclude")
                    .map(|f| expand(f.value.as_deref().unwrap_or(""), escape, &mut *lookup))
                    .collect::<Result<Vec<_>, _>>()?,
                checksum: flag("checksum"),
                heredocs,
            };
            if kw == "COPY" {
                Instruction::Copy(args)
            } else {
                Instruction::Add(args)
            }
        }
        "ENV" | "LABEL" => {
            need_args("at least one argument")?;
            let pairs = name_values(kw, &text, escape, lookup)?;
            if kw == "ENV" {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            }
        }
        "ARG" => {
            need_args("at least one argument")?;
            let mut out = Vec::new();
            for w in split_words(&text, escape) {
                match w.split_once('=') {
                    Some((k, v)) => {
                        check_name("ARG", k)?;
                        out.push((k.to_string(), Some(expand(v, escape, &mut *lookup)?)));
                    }
                    None => {
                        check_name("ARG", &w)?;
                        out.push((w, None));
                    }
                }
            }
            Instruction::Arg(out)
        }
        "MAINTAINER" => {
            need_args("exactly one argument")?;
            Instruction::Maintainer(text.trim().to_string())
        }
        "EXPOSE" => {
            need_args("at least one argument")?;
            let mut ports = Vec::new();
            for p in expand_words(&text, escape, lookup)? {
                ports.push(port(&p)?);
            }
            Instruction::Expose(ports)
        }
        "VOLUME" => {
            let vols = match &raw.args {
                Args::Json(v) => v
                    .iter()
                    .map(|p| expand(p, escape, &mut *lookup))
                    .collect::<Result<Vec<_>, _>>()?,
                Args::Shell(s) => expand_words(s, escape, lookup)?,
            };
            let vols: Vec<String> = vols.into_iter().map(|v| v.trim().to_string()).collect();
            if vols.is_empty() || vols.iter().any(String::is_empty) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Instruction::Volume(vols)
        }
        "WORKDIR" => Instruction::Workdir(one_word(lookup)?),
        "USER" => {
            let u = one_word(lookup)?;
            if u.is_empty() {
                return Err("USER requires exactly one argument".into());
            }
            Instruction::User(u)
        }
        "STOPSIGNAL" => Instruction::StopSignal(one_word(lookup)?),
        "SHELL" => match &raw.args {
            Args::Json(v) if !v.is_empty() => Instruction::Shell(v.clone()),
            _ => return Err("SHELL requires the arguments to be in JSON form".into()),
        },
        "HEALTHCHECK" => healthcheck(raw, &text, escape, &flag)?,
        "ONBUILD" => {
            need_args("at least one argument")?;
            let trigger = parse::instruction(&text, escape)?;
            match trigger.keyword.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "FROM" | "MAINTAINER" => {
                    return Err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        trigger.keyword
                    ))
                }
                _ => {}
            }
            Instruction::Onbuild(text.trim().to_string())
        }
        other => return Err(format!("unknown instruction: {other}")),
    })
}

fn check_name(kw: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{kw} names can not be blank"));
    }
    Ok(())
}

/// `k=v k2="v 2"`, or the legacy `key value with blanks` (one pair).
fn name_values(
    kw: &str,
    text: &str,
    escape: char,
    lookup: Lookup<'_>,
) -> Result<Vec<(String, String)>, String> {
    let words = split_words(text, escape);
    let first = words.first().cloned().unwrap_or_default();
    if !first.contains('=') {
        // Legacy form: the first word is the key, the rest of the line its value.
        let rest = text.trim_start()[first.len()..].trim();
        if rest.is_empty() {
            return Err(format!("{kw} must have two arguments"));
        }
        let key = expand(&first, escape, &mut *lookup)?;
        return Ok(vec![(key, expand(rest, escape, lookup)?)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ));
        };
        let key = expand(k, escape, &mut *lookup)?;
        check_name(kw, &key)?;
        out.push((key, expand(v, escape, &mut *lookup)?));
    }
    Ok(out)
}

/// `80`, `80/tcp`, `53/udp`, `8000-8001/tcp` → docker's `80/tcp` keys.
fn port(p: &str) -> Result<String, String> {
    let (num, proto) = match p.split_once('/') {
        Some((n, pr)) => (n, pr.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let ok = |s: &str| s.parse::<u16>().is_ok();
    let valid = match num.split_once('-') {
        Some((a, b)) => ok(a) && ok(b),
        None => ok(num),
    };
    if !valid {
        return Err(format!("invalid containerPort: {num}"));
    }
    Ok(format!("{num}/{proto}"))
}

/// Go's time.ParseDuration: `1h2m3.5s`, `300ms`, `10us`, `0`.
pub fn duration_ns(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    if s == "0" {
        return Ok(0);
    }
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
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * mult;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

fn healthcheck(
    raw: &RawInstruction,
    text: &str,
    escape: char,
    flag: &dyn Fn(&str) -> Option<String>,
) -> Result<Instruction, String> {
    let text = text.trim();
    let (kind, rest) = match text.find(char::is_whitespace) {
        Some(p) => (&text[..p], text[p..].trim_start()),
        None => (text, ""),
    };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.is_empty() || !raw.flags.is_empty() {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            Ok(Instruction::Healthcheck(None))
        }
        "CMD" => {
            if rest.is_empty() {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            let test = match parse::instruction(&format!("CMD {rest}"), escape)?.args {
                Args::Json(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                Args::Shell(s) => vec!["CMD-SHELL".to_string(), s],
            };
            let dur = |name: &str| -> Result<i64, String> {
                match flag(name) {
                    None => Ok(0),
                    Some(v) => {
                        let ns = duration_ns(&v).map_err(|e| format!("--{name}: {e}"))?;
                        if ns != 0 && ns < 1_000_000 {
                            return Err(format!("--{name} cannot be less than 1ms"));
                        }
                        if ns < 0 {
                            return Err(format!("--{name} cannot be negative"));
                        }
                        Ok(ns)
                    }
                }
            };
            let retries = match flag("retries") {
                None => 0,
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|r| *r >= 0)
                    .ok_or_else(|| format!("--retries {v:?}: want a non-negative number"))?,
            };
            Ok(Instruction::Healthcheck(Some(Healthcheck {
                test,
                interval: dur("interval")?,
                timeout: dur("timeout")?,
                start_period: dur("start-period")?,
                start_interval: dur("start-interval")?,
                retries,
            })))
        }
        _ => Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_text(text: &str, vars: &[(&str, &str)]) -> Result<Instruction, String> {
        let df = parse::parse(text, "Dockerfile").map_err(|e| e.to_string())?;
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&df.instructions[0], df.escape, &mut |n| {
            vars.get(n).cloned()
        })
    }

    fn ok(text: &str) -> Instruction {
        resolve_text(text, &[("A", "a"), ("P", "8080")]).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn typed_table() {
        let cases: Vec<(&str, Instruction)> = vec![
            (
                "FROM busybox:$A AS Build",
                Instruction::From {
                    image: "busybox:a".into(),
                    name: Some("build".into()),
                    platform: None,
                },
            ),
            (
                "RUN echo $A",
                Instruction::Run {
                    command: Command::Shell("echo $A".into()),
                    network: None,
                    mounts: vec![],
                    security: None,
                    heredocs: vec![],
                },
            ),
            (
                r#"CMD ["echo", "$A"]"#,
                Instruction::Cmd(Command::Exec(vec!["echo".into(), "$A".into()])),
            ),
            ("ENV K=$A L=\"x y\"", Instruction::Env(pairs(&[("K", "a"), ("L", "x y")]))),
            ("ENV K value with  blanks", Instruction::Env(pairs(&[("K", "value with  blanks")]))),
            ("ENV K=", Instruction::Env(pairs(&[("K", "")]))),
            (
                "LABEL \"com.x\"=\"v 1\" b=$A",
                Instruction::Label(pairs(&[("com.x", "v 1"), ("b", "a")])),
            ),
            (
                "ARG X Y=$A",
                Instruction::Arg(vec![("X".into(), None), ("Y".into(), Some("a".into()))]),
            ),
            (
                "EXPOSE 80 $P/udp 53/UDP",
                Instruction::Expose(vec!["80/tcp".into(), "8080/udp".into(), "53/udp".into()]),
            ),
            (r#"VOLUME ["/data", "/$A"]"#, Instruction::Volume(vec!["/data".into(), "/a".into()])),
            ("VOLUME /x /y", Instruction::Volume(vec!["/x".into(), "/y".into()])),
            ("WORKDIR /app/$A", Instruction::Workdir("/app/a".into())),
            ("USER ${A}:1", Instruction::User("a:1".into())),
            ("STOPSIGNAL SIGKILL", Instruction::StopSignal("SIGKILL".into())),
            (
                r#"SHELL ["/bin/sh", "-ec"]"#,
                Instruction::Shell(vec!["/bin/sh".into(), "-ec".into()]),
            ),
            ("HEALTHCHECK NONE", Instruction::Healthcheck(None)),
            (
                "HEALTHCHECK --interval=5m --timeout=3s --retries=2 CMD curl -f http://x/ || exit 1",
                Instruction::Healthcheck(Some(Healthcheck {
                    test: vec!["CMD-SHELL".into(), "curl -f http://x/ || exit 1".into()],
                    interval: 300_000_000_000,
                    timeout: 3_000_000_000,
                    retries: 2,
                    ..Healthcheck::default()
                })),
            ),
            (
                r#"HEALTHCHECK --start-period=1m30s CMD ["true"]"#,
                Instruction::Healthcheck(Some(Healthcheck {
                    test: vec!["CMD".into(), "true".into()],
                    start_period: 90_000_000_000,
                    ..Healthcheck::default()
                })),
            ),
            ("ONBUILD RUN echo $A", Instruction::Onbuild("RUN echo $A".into())),
            ("MAINTAINER me <me@x>", Instruction::Maintainer("me <me@x>".into())),
            (
                "COPY --chown=$A:1 --chmod=640 a* b/ /dst/",
                Instruction::Copy(CopyArgs {
                    sources: vec!["a*".into(), "b/".into()],
                    dest: "/dst/".into(),
                    chown: Some("a:1".into()),
                    chmod: Some("640".into()),
                    ..CopyArgs::default()
                }),
            ),
            (
                r#"ADD ["$A b", "/x y/"]"#,
                Instruction::Add(CopyArgs {
                    sources: vec!["a b".into()],
                    dest: "/x y/".into(),
                    ..CopyArgs::default()
                }),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(ok(text), want, "{text}");
        }
    }

    #[test]
    fn typed_errors() {
        for (text, msg) in [
            ("COPY a", "COPY requires at least two arguments"),
            ("RUN --foo echo", "unknown flag: --foo"),
            ("COPY --network=none a b", "unknown flag: --network"),
            (
                "SHELL /bin/sh -c",
                "SHELL requires the arguments to be in JSON form",
            ),
            ("EXPOSE 80/xyz", "invalid proto: xyz"),
            ("EXPOSE abc", "invalid containerPort: abc"),
            ("ENV K", "ENV must have two arguments"),
            ("ENV a=b c", "can't find ="),
            ("HEALTHCHECK --interval=5 CMD x", "invalid duration"),
            (
                "HEALTHCHECK --interval=10us CMD x",
                "cannot be less than 1ms",
            ),
            ("HEALTHCHECK FOO", "Unknown type"),
            ("HEALTHCHECK CMD", "Missing command"),
            ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD"),
            ("ONBUILD FROM x", "FROM isn't allowed"),
            ("FROM a b", "FROM requires either one or three arguments"),
            ("RUN", "RUN requires at least one argument"),
            ("WORKDIR \"/x", "double-quote"),
            ("FROM $UNSET", "should not be blank"),
        ] {
            let e = resolve_text(text, &[]).unwrap_err();
            assert!(e.contains(msg), "{text}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ns("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(duration_ns("300ms"), Ok(300_000_000));
        assert_eq!(duration_ns("0"), Ok(0));
        assert!(duration_ns("5").is_err());
        assert!(duration_ns("").is_err());
    }
}
