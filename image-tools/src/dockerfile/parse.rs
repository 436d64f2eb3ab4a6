//! From Dockerfile text to raw instructions, as buildkit's parser does it: parser
//! directives at the top (`# escape=`, `# syntax=`, `# check=`), comment lines, lines
//! continued with the escape character (comment lines inside a continuation dropped,
//! empty continuation lines allowed), the instruction name (any case), leading
//! `--flag[=value]` words, the JSON (exec) or shell form of the rest, and the heredocs
//! (`<<EOF`, `<<-EOF`, `<<"EOF"`) of RUN, COPY and ADD, whose bodies follow the
//! instruction line.

use super::ParseError;

pub const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// The instructions whose rest may be a JSON array (buildkit's parseMaybeJSON and
/// parseMaybeJSONToList).
const MAYBE_JSON: [&str; 7] = ["RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    /// `None` for a bare `--name`.
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// A JSON array of strings (the exec form).
    Json(Vec<String>),
    /// The rest of the line as written (continuations joined).
    Shell(String),
}

/// A heredoc: `<<NAME` in the instruction, its body on the lines after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The body, each line with its newline (leading tabs kept: see [`Heredoc::body`]).
    pub content: String,
    /// `<<-`: leading tabs of the body's lines are stripped.
    pub chomp: bool,
    /// False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no expansion.
    pub expand: bool,
}

impl Heredoc {
    /// The body as used: tabs stripped for `<<-`.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// The instructions that take heredocs (buildkit's heredocDirectives).
const HEREDOC_INSTRUCTIONS: [&str; 3] = ["RUN", "COPY", "ADD"];

/// `<<NAME`, `<<-NAME`, `<<"NAME"`, `2<<NAME` as a word of the instruction (buildkit's
/// `^(\d*)<<(-?)([^<]*)$`): (chomp, name, expand).
pub fn heredoc_marker(word: &str) -> Option<(bool, String, bool)> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let quoted = rest.contains(['"', '\'']);
    let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
    if name.is_empty() {
        return None;
    }
    Some((chomp, name, !quoted))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInstruction {
    /// The line the instruction starts on (1-based) and the line it ends on.
    pub line: usize,
    pub end_line: usize,
    /// Upper case.
    pub keyword: String,
    pub flags: Vec<Flag>,
    pub args: Args,
    /// The instruction as one line, continuations joined (for messages).
    pub original: String,
    /// Its heredocs, in the order they appear.
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// The file's name in messages (`Dockerfile`).
    pub file: String,
    pub escape: char,
    /// `# syntax=` as written: recorded, not acted on (there is one frontend here).
    pub syntax: Option<String>,
    pub instructions: Vec<RawInstruction>,
}

const DIRECTIVES: [&str; 3] = ["syntax", "escape", "check"];

/// `# name = value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if name_len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(name_len);
    let value = after.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape character (and the blanks after it): the line continues.
fn continued(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest.to_string(), true),
        None => (line.to_string(), false),
    }
}

pub fn parse(text: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: file.to_string(),
        line,
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut df = Dockerfile {
        file: file.to_string(),
        escape: '\\',
        ..Dockerfile::default()
    };

    let mut i = 0;
    let mut seen = Vec::new();
    while i < lines.len() {
        let Some((name, value)) = directive(lines[i]) else {
            break;
        };
        if !DIRECTIVES.contains(&name.as_str()) {
            break;
        }
        if seen.contains(&name) {
            return Err(err(
                i + 1,
                format!("only one {name} parser directive can be used"),
            ));
        }
        match name.as_str() {
            "escape" => {
                df.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(err(
                            i + 1,
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => df.syntax = Some(value),
            _ => {}
        }
        seen.push(name);
        i += 1;
    }

    while i < lines.len() {
        let start = i;
        let first = lines[i].trim_start();
        i += 1;
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        let (mut joined, mut more) = continued(first, df.escape);
        while more && i < lines.len() {
            let l = lines[i];
            i += 1;
            if is_comment(l) {
                continue;
            }
            if l.trim().is_empty() {
                // An empty continuation line: docker warns and goes on.
                continue;
            }
            let (part, again) = continued(l, df.escape);
            joined.push_str(&part);
            more = again;
        }
        if joined.trim().is_empty() {
            continue;
        }
        let mut ins = instruction(&joined, df.escape).map_err(|m| err(start + 1, m))?;
        if HEREDOC_INSTRUCTIONS.contains(&ins.keyword.as_str()) {
            if let Args::Shell(text) = &ins.args {
                for w in super::words::split_words(text, df.escape) {
                    let Some((chomp, name, expand)) = heredoc_marker(&w) else {
                        continue;
                    };
                    let mut content = String::new();
                    loop {
                        let Some(l) = lines.get(i) else {
                            return Err(err(
                                start + 1,
                                format!("unterminated heredoc <<{name}: no line {name} ends it before the end of the file"),
                            ));
                        };
                        i += 1;
                        let cmp = if chomp { l.trim_start_matches('\t') } else { l };
                        if cmp == name {
                            break;
                        }
                        content.push_str(l);
                        content.push('\n');
                    }
                    ins.heredocs.push(Heredoc {
                        name,
                        content,
                        chomp,
                        expand,
                    });
                }
            }
        }
        df.instructions.push(ins.with_lines(start + 1, i));
    }
    Ok(df)
}

impl RawInstruction {
    fn with_lines(mut self, line: usize, end_line: usize) -> Self {
        self.line = line;
        self.end_line = end_line;
        self
    }
}

/// One joined line: `NAME [--flag[=v]]... rest`.
pub fn instruction(line: &str, escape: char) -> Result<RawInstruction, String> {
    let line = line.trim();
    let (name, rest) = match line.find(char::is_whitespace) {
        Some(p) => (&line[..p], line[p..].trim_start()),
        None => (line, ""),
    };
    let keyword = name.to_ascii_uppercase();
    if !INSTRUCTIONS.contains(&keyword.as_str()) {
        return Err(format!("unknown instruction: {name}"));
    }
    let (flags, rest) = if keyword == "ONBUILD" {
        (Vec::new(), rest)
    } else {
        extract_flags(rest)
    };
    let args = if MAYBE_JSON.contains(&keyword.as_str()) {
        maybe_json(rest)
    } else {
        Args::Shell(rest.to_string())
    };
    let _ = escape;
    Ok(RawInstruction {
        line: 0,
        end_line: 0,
        keyword,
        flags,
        args,
        original: line.to_string(),
        heredocs: Vec::new(),
    })
}

/// Leading `--name[=value]` words; the first other word ends them (`--` alone too).
fn extract_flags(mut rest: &str) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..end];
        rest = after[end..].trim_start();
        if word.is_empty() {
            break;
        }
        flags.push(match word.split_once('=') {
            Some((n, v)) => Flag {
                name: n.to_string(),
                value: Some(v.to_string()),
            },
            None => Flag {
                name: word.to_string(),
                value: None,
            },
        });
    }
    (flags, rest)
}

/// A JSON array of strings is the exec form; anything else (even a `[` that does not
/// parse) is the shell form, as docker.
fn maybe_json(rest: &str) -> Args {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return Args::Json(v);
        }
    }
    Args::Shell(rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> RawInstruction {
        let df = parse(text, "Dockerfile").unwrap();
        assert_eq!(df.instructions.len(), 1, "{text:?}: {:?}", df.instructions);
        df.instructions.into_iter().next().unwrap()
    }

    fn shell(s: &str) -> Args {
        Args::Shell(s.to_string())
    }

    #[test]
    fn forms_and_continuations() {
        let cases: &[(&str, &str, Args)] = &[
            ("RUN echo hi", "RUN", shell("echo hi")),
            ("run echo hi", "RUN", shell("echo hi")),
            ("  Run   echo hi  ", "RUN", shell("echo hi")),
            (
                r#"CMD ["a", "b c"]"#,
                "CMD",
                Args::Json(vec!["a".into(), "b c".into()]),
            ),
            // Not valid JSON: the shell form, as docker.
            ("CMD [a, b]", "CMD", shell("[a, b]")),
            (r#"CMD ["a", 1]"#, "CMD", shell(r#"["a", 1]"#)),
            // JSON form is only for the instructions that take it.
            (r#"ENV ["a"]"#, "ENV", shell(r#"["a"]"#)),
            (
                "RUN echo a \\\n  && echo b",
                "RUN",
                shell("echo a   && echo b"),
            ),
            ("RUN echo a \\  \n b", "RUN", shell("echo a  b")),
            // A comment line inside a continuation is dropped; an empty one too.
            ("RUN a \\\n# note\n\n b", "RUN", shell("a  b")),
            ("RUN a \\\n  # indented note\n b", "RUN", shell("a  b")),
            // The escape character in the middle of a line stays.
            ("RUN echo a\\b", "RUN", shell("echo a\\b")),
            // A continuation at the end of the file ends the instruction.
            ("RUN a \\", "RUN", shell("a")),
            ("RUN a \r\n", "RUN", shell("a")),
        ];
        for (text, kw, args) in cases {
            let i = one(text);
            assert_eq!(&i.keyword, kw, "{text:?}");
            assert_eq!(&i.args, args, "{text:?}");
        }
    }

    #[test]
    fn escape_directive() {
        let df = parse("# escape=`\nRUN dir c:\\ `\n  /w\nCOPY a\\ b\\ c:\\", "D").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions[0].args, shell("dir c:\\   /w"));
        assert_eq!(df.instructions[1].args, shell("a\\ b\\ c:\\"));
        // A backslash no longer continues.
        let df = parse("#escape = `\nRUN a \\\nRUN b", "D").unwrap();
        assert_eq!(df.instructions.len(), 2);
    }

    #[test]
    fn directives_only_at_the_top() {
        let df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x", "D").unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(df.escape, '`');
        // After a comment, an empty line or an instruction, it is a comment.
        for text in [
            "# hello\n# escape=`\nRUN a \\\n b",
            "\n# escape=`\nRUN a \\\n b",
            "FROM x\n# escape=`\nRUN a \\\n b",
            "# unknown=1\n# escape=`\nRUN a \\\n b",
        ] {
            let df = parse(text, "D").unwrap();
            assert_eq!(df.escape, '\\', "{text:?}");
        }
        let e = parse("# escape=`\n# escape=\\\nFROM x", "Dockerfile").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Dockerfile:2: only one escape parser directive can be used"
        );
        let e = parse("# escape=x\nFROM x", "Dockerfile").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("invalid escape token 'x'"), "{e}");
    }

    #[test]
    fn flags() {
        let i = one("COPY --chown=1:2 --chmod=644 --link a b");
        assert_eq!(
            i.flags,
            vec![
                Flag {
                    name: "chown".into(),
                    value: Some("1:2".into())
                },
                Flag {
                    name: "chmod".into(),
                    value: Some("644".into())
                },
                Flag {
                    name: "link".into(),
                    value: None
                },
            ]
        );
        assert_eq!(i.args, shell("a b"));
        let i = one(r#"COPY --from=build ["a", "b"]"#);
        assert_eq!(i.flags.len(), 1);
        assert_eq!(i.args, Args::Json(vec!["a".into(), "b".into()]));
        // Flags stop at the first other word.
        let i = one("RUN echo --not-a-flag");
        assert!(i.flags.is_empty());
        let i = one("HEALTHCHECK --interval=5s CMD true");
        assert_eq!(i.flags[0].name, "interval");
        assert_eq!(i.args, shell("CMD true"));
    }

    #[test]
    fn lines_and_errors() {
        let df = parse("# c\nFROM x\n\nRUN a \\\n  b\n# c\nCMD c\n", "Dockerfile").unwrap();
        let lines: Vec<(usize, usize)> = df
            .instructions
            .iter()
            .map(|i| (i.line, i.end_line))
            .collect();
        assert_eq!(lines, vec![(2, 2), (4, 5), (7, 7)]);
        let e = parse("FROM x\nRUN a\n\n# c\nRUNN b\n", "Dockerfile").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:5: unknown instruction: RUNN");
        let e = parse("FROM x\n  frum y", "sub/Dockerfile.dev").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sub/Dockerfile.dev:2: unknown instruction: frum"
        );
    }

    #[test]
    fn heredocs() {
        let df = parse(
            "FROM x\nRUN <<EOF\necho a\n  EOF\nEOF\nRUN <<-\"A\" cat - <<'B' > /x\n\t\tone $X\n\tA\ntwo\nB\nCOPY <<a <<b /dir/\n1\na\n2\nb\nCMD x",
            "D",
        )
        .unwrap();
        let i = &df.instructions;
        assert_eq!(i.len(), 5);
        assert_eq!((i[1].line, i[1].end_line), (2, 5));
        assert_eq!(
            i[1].heredocs,
            vec![Heredoc {
                name: "EOF".into(),
                content: "echo a\n  EOF\n".into(),
                chomp: false,
                expand: true
            }]
        );
        assert_eq!(i[2].heredocs.len(), 2);
        assert!(i[2].heredocs[0].chomp && !i[2].heredocs[0].expand);
        assert_eq!(i[2].heredocs[0].content, "\t\tone $X\n");
        assert_eq!(i[2].heredocs[0].body(), "one $X\n");
        assert_eq!(i[2].heredocs[1].name, "B");
        assert_eq!(i[2].heredocs[1].content, "two\n");
        assert!(!i[2].heredocs[1].expand);
        assert_eq!(i[3].heredocs.len(), 2);
        assert_eq!(i[3].heredocs[1].content, "2\n");
        assert_eq!(i[4].keyword, "CMD");
        // Not markers: a here-string, a bare <<, heredocs on other instructions.
        assert!(heredoc_marker("<<<x").is_none());
        assert!(heredoc_marker("<<").is_none());
        assert_eq!(heredoc_marker("2<<E"), Some((false, "E".into(), true)));
        let df = parse("FROM x\nENV A=<<EOF\nRUN true", "D").unwrap();
        assert_eq!(df.instructions.len(), 3);
        let e = parse("FROM x\n\nRUN <<EOF\necho\nEOF \n", "Dockerfile").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unterminated heredoc <<EOF"), "{e}");
    }

    #[test]
    fn bom_and_onbuild() {
        let df = parse("\u{feff}FROM x\nONBUILD RUN --network=none echo", "D").unwrap();
        assert_eq!(df.instructions[0].keyword, "FROM");
        // ONBUILD keeps its trigger whole, flags included.
        assert_eq!(df.instructions[1].args, shell("RUN --network=none echo"));
    }
}
