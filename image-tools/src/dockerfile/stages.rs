//! A Dockerfile's build stages (no I/O): the global ARGs before the first FROM, one
//! stage per FROM (named by `AS name`, numbered from 0), what each stage needs from the
//! others (`FROM <stage>`, `COPY --from=<stage|index>`, `RUN --mount=...,from=<stage>`),
//! and the stages a target needs. A stage may only use the stages before it, as the
//! issue asks: a reference to itself or to a stage that comes back to it is a cycle, a
//! reference to a later stage is refused, each with the Dockerfile line.

use super::instruction::{self, Instruction};
use super::parse::Dockerfile;
use super::ParseError;

/// What a FROM, `--from` or `from=` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference (`scratch` included).
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// Lower case, as docker compares them.
    pub name: Option<String>,
    /// The FROM instruction's index in [`Dockerfile::instructions`].
    pub from: usize,
    /// The instructions after the FROM, up to the next FROM (indices).
    pub body: std::ops::Range<usize>,
    pub base: Source,
    pub platform: Option<String>,
    /// The earlier stages this one needs, sorted, once each.
    pub deps: Vec<usize>,
}

impl Stage {
    /// How progress names the stage: its name, or `stage-N`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The global ARGs with their values (a build arg, else the default).
    pub globals: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
    /// The stage the image is made of: `--target`, else the last one.
    pub target: usize,
    /// Per stage: whether the target needs it (the target itself included).
    pub needed: Vec<bool>,
}

/// A stage name as docker allows it.
fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// The stage `v` names for stage `current` (a number is an index, else a stage name;
/// anything else an image). `names` holds every stage's name, `line` is for messages.
fn reference(
    names: &[Option<String>],
    current: usize,
    v: &str,
    what: &str,
) -> Result<Source, String> {
    if let Ok(i) = v.parse::<usize>() {
        if i >= current {
            return Err(format!(
                "{what}={v}: a stage can only use the stages before it (this is stage {current})"
            ));
        }
        return Ok(Source::Stage(i));
    }
    let lower = v.to_ascii_lowercase();
    match names
        .iter()
        .position(|n| n.as_deref() == Some(lower.as_str()))
    {
        Some(i) if i < current => Ok(Source::Stage(i)),
        Some(i) if i == current => Err(format!(
            "circular dependency detected on stage: {lower} ({what}={v} names its own stage)"
        )),
        Some(i) => Err(format!("later:{i}")),
        None => Ok(Source::Image(v.to_string())),
    }
}

/// Splits `df` into stages and finds what `target` (a stage name) needs. `build_args`
/// give the global ARGs their values; `predefined` are global ARGs with no ARG line
/// (BuildKit's automatic platform ARGs).
pub fn plan(
    df: &Dockerfile,
    build_args: &[(String, String)],
    predefined: &[(String, String)],
    target: Option<&str>,
) -> Result<Plan, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: df.file.clone(),
        line,
        message,
    };
    let arg = |k: &str| {
        build_args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let mut globals: Vec<(String, Option<String>)> = predefined
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    let mut froms: Vec<(usize, Option<String>, String, Option<String>)> = Vec::new();
    for (i, raw) in df.instructions.iter().enumerate() {
        if raw.keyword != "FROM" && !froms.is_empty() {
            continue;
        }
        let mut lookup = |n: &str| {
            globals
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .and_then(|(_, v)| v.clone())
        };
        let typed =
            instruction::resolve(raw, df.escape, &mut lookup).map_err(|m| err(raw.line, m))?;
        match typed {
            Instruction::Arg(list) => {
                for (k, default) in list {
                    let auto = predefined
                        .iter()
                        .find(|(n, _)| *n == k)
                        .map(|(_, v)| v.clone());
                    let v = arg(&k).or(default).or(auto);
                    globals.push((k, v));
                }
            }
            Instruction::From {
                image,
                name,
                platform,
            } => {
                if let Some(n) = &name {
                    if !valid_name(n) {
                        return Err(err(
                            raw.line,
                            format!("invalid name for build stage: {n:?}, name can't start with a number or contain symbols"),
                        ));
                    }
                    if froms.iter().any(|f| f.1.as_deref() == Some(n.as_str())) {
                        return Err(err(raw.line, format!("duplicate stage name {n:?}")));
                    }
                }
                froms.push((i, name, image, platform));
            }
            _ => return Err(err(raw.line, "no build stage in current context".into())),
        }
    }
    if froms.is_empty() {
        return Err(err(0, "no FROM instruction".into()));
    }
    let names: Vec<Option<String>> = froms.iter().map(|f| f.1.clone()).collect();
    let mut stages = Vec::new();
    // Every stage reference, forward ones included, to tell a cycle from a later stage.
    let mut refs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); froms.len()];
    let mut later: Vec<(usize, usize, usize, String)> = Vec::new();
    for (s, (from, name, image, platform)) in froms.iter().enumerate() {
        let end = froms
            .get(s + 1)
            .map(|f| f.0)
            .unwrap_or(df.instructions.len());
        let raw = &df.instructions[*from];
        let mut note = |r: Result<Source, String>,
                        line: usize,
                        what: &str,
                        deps: &mut Vec<usize>|
         -> Result<Source, ParseError> {
            match r {
                Ok(Source::Stage(j)) => {
                    deps.push(j);
                    refs[s].push((j, line));
                    Ok(Source::Stage(j))
                }
                Ok(other) => Ok(other),
                Err(m) => match m.strip_prefix("later:") {
                    Some(j) => {
                        let j: usize = j.parse().expect("an index");
                        refs[s].push((j, line));
                        later.push((s, j, line, what.to_string()));
                        Ok(Source::Stage(j))
                    }
                    None => Err(err(line, m)),
                },
            }
        };
        let mut deps = Vec::new();
        let base = if image.eq_ignore_ascii_case("scratch") {
            Source::Image("scratch".into())
        } else {
            note(
                reference(&names, s, image, "FROM"),
                raw.line,
                &format!("FROM {image}"),
                &mut deps,
            )?
        };
        for i in from + 1..end {
            let raw = &df.instructions[i];
            for f in &raw.flags {
                let v = match (raw.keyword.as_str(), f.name.as_str()) {
                    ("COPY", "from") => f.value.clone().unwrap_or_default(),
                    ("RUN", "mount") => match mount_from(f.value.as_deref().unwrap_or("")) {
                        Some(v) => v,
                        None => continue,
                    },
                    _ => continue,
                };
                if v.is_empty() {
                    return Err(err(
                        raw.line,
                        format!("{} --{}: empty", raw.keyword, f.name),
                    ));
                }
                note(
                    reference(&names, s, &v, "--from"),
                    raw.line,
                    &format!("{} --from={v}", raw.keyword),
                    &mut deps,
                )?;
            }
        }
        deps.sort_unstable();
        deps.dedup();
        stages.push(Stage {
            index: s,
            name: name.clone(),
            from: *from,
            body: from + 1..end,
            base,
            platform: platform.clone(),
            deps,
        });
    }
    if let Some((s, j, line, what)) = later.first() {
        let reaches = |start: usize, goal: usize| {
            let mut seen = vec![false; refs.len()];
            let mut todo = vec![start];
            while let Some(n) = todo.pop() {
                if n == goal {
                    return true;
                }
                if !std::mem::replace(&mut seen[n], true) {
                    todo.extend(refs[n].iter().map(|r| r.0));
                }
            }
            false
        };
        let name = stages[*j].label();
        let message = if reaches(*j, *s) {
            format!(
                "circular dependency detected on stage: {} ({what}: stage {name} needs it back)",
                stages[*s].label()
            )
        } else {
            format!(
                "{what}: stage {name} is defined later (line {}); a stage can only use the stages before it",
                df.instructions[stages[*j].from].line
            )
        };
        return Err(err(*line, message));
    }
    let target = match target {
        None => stages.len() - 1,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            stages
                .iter()
                .position(|s| s.name.as_deref() == Some(lower.as_str()))
                .ok_or_else(|| {
                    err(
                        0,
                        format!("--target {t}: failed to reach build target {t} in Dockerfile (no stage has that name)"),
                    )
                })?
        }
    };
    let mut needed = vec![false; stages.len()];
    let mut todo = vec![target];
    while let Some(s) = todo.pop() {
        if !std::mem::replace(&mut needed[s], true) {
            todo.extend(stages[s].deps.iter().copied());
        }
    }
    Ok(Plan {
        globals,
        stages,
        target,
        needed,
    })
}

/// The `from=` of a `--mount` value, if it has one.
pub fn mount_from(value: &str) -> Option<String> {
    value
        .split(',')
        .find_map(|kv| kv.trim().strip_prefix("from="))
        .map(str::to_string)
}

impl Plan {
    /// What `v` (a `--from` or `from=` value met while running `stage`) names.
    pub fn source(&self, stage: usize, v: &str) -> Result<Source, String> {
        let names: Vec<Option<String>> = self.stages.iter().map(|s| s.name.clone()).collect();
        reference(&names, stage, v, "--from").map_err(|m| match m.strip_prefix("later:") {
            Some(_) => format!("--from={v}: a stage can only use the stages before it"),
            None => m,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(text: &str, target: Option<&str>) -> Result<Plan, String> {
        let df = super::super::parse(text, "Dockerfile").map_err(|e| e.to_string())?;
        plan(&df, &[("V".into(), "3.1".into())], &[], target).map_err(|e| e.to_string())
    }

    #[test]
    fn stages_and_needs() {
        let p = plan_of(
            "ARG V=1\nARG BASE=busybox:$V\nFROM $BASE AS build\nRUN x\n\
             FROM scratch AS unused\nCOPY a b\n\
             FROM build AS mid\nCOPY --from=0 /a /b\n\
             FROM scratch\nCOPY --from=mid /a /a\nCOPY --from=img:1 /x /x\n\
             RUN --mount=type=bind,from=build,target=/m true\n",
            None,
        )
        .unwrap();
        assert_eq!(
            p.globals,
            vec![
                ("V".into(), Some("3.1".into())),
                ("BASE".into(), Some("busybox:3.1".into()))
            ]
        );
        assert_eq!(p.stages.len(), 4);
        assert_eq!(p.stages[0].base, Source::Image("busybox:3.1".into()));
        assert_eq!(p.stages[1].base, Source::Image("scratch".into()));
        assert_eq!(p.stages[2].base, Source::Stage(0));
        assert_eq!(p.stages[2].deps, vec![0]);
        assert_eq!(p.stages[3].deps, vec![0, 2]);
        assert_eq!(p.stages[3].label(), "stage-3");
        assert_eq!(p.target, 3);
        assert_eq!(p.needed, vec![true, false, true, true]);
        let p = plan_of("FROM a AS x\nFROM b AS y\nFROM x AS z\n", Some("Y")).unwrap();
        assert_eq!(p.target, 1);
        assert_eq!(p.needed, vec![false, true, false]);
        assert_eq!(p.source(2, "x"), Ok(Source::Stage(0)));
        assert_eq!(p.source(2, "1"), Ok(Source::Stage(1)));
        assert_eq!(p.source(2, "alpine"), Ok(Source::Image("alpine".into())));
    }

    #[test]
    fn bad_stages() {
        for (text, target, want) in [
            (
                "FROM a AS x\nCOPY --from=x /a /b\n",
                None,
                "Dockerfile:2: circular dependency detected on stage: x",
            ),
            (
                "FROM a AS x\nCOPY --from=y /a /b\nFROM b AS y\nCOPY --from=x /a /b\n",
                None,
                "Dockerfile:2: circular dependency detected on stage: x",
            ),
            (
                "FROM a AS x\nCOPY --from=y /a /b\nFROM b AS y\n",
                None,
                "Dockerfile:2: COPY --from=y: stage y is defined later (line 3)",
            ),
            (
                "FROM a\nCOPY --from=1 /a /b\nFROM b\n",
                None,
                "Dockerfile:2: --from=1: a stage can only use the stages before it",
            ),
            (
                "FROM y AS x\nFROM b AS y\n",
                None,
                "Dockerfile:1: FROM y: stage y is defined later",
            ),
            (
                "FROM a AS x\nFROM b AS x\n",
                None,
                "Dockerfile:2: duplicate stage name",
            ),
            ("FROM a AS 1x\n", None, "invalid name for build stage"),
            (
                "FROM a AS x\n",
                Some("nope"),
                "failed to reach build target nope",
            ),
            ("ENV a=b\nFROM a\n", None, "Dockerfile:1: no build stage"),
        ] {
            let e = plan_of(text, target).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
