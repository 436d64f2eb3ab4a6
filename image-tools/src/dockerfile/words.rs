//! Docker's word processing for the instructions it expands (ENV, ARG, LABEL, FROM,
//! COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, ONBUILD's trigger when it runs):
//! `$V`, `${V}`, `${V:-word}`, `${V-word}`, `${V:+word}`, `${V+word}`, `${V:?msg}`,
//! `${V?msg}`, single quotes (literal), double quotes (variables expanded; the escape
//! character escapes only `"`, `$` and itself), and the escape character outside quotes
//! (the next character taken as is). As docker, an expanded value never splits a word.

/// Splits `text` into words on blanks outside quotes, keeping quotes and escapes for
/// [`expand`] (buildkit's parseWords, used for `ENV a=b c="d e"`).
pub fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ => {}
        }
        word.push(c);
        // An escaped character never opens, closes or splits (not inside '').
        if c == escape && quote != Some('\'') {
            if let Some(n) = chars.next() {
                word.push(n);
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

struct Scanner<'a, 'b> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: &'a mut (dyn FnMut(&str) -> Option<String> + 'b),
}

/// Expands one word: quotes removed, variables substituted (unset ones empty).
pub fn expand(
    word: &str,
    escape: char,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let mut s = Scanner {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        lookup,
    };
    let out = s.until(None)?;
    Ok(out)
}

/// Expands each blank-separated word of `text` ([`split_words`] then [`expand`]).
pub fn expand_words(
    text: &str,
    escape: char,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    split_words(text, escape)
        .iter()
        .map(|w| expand(w, escape, lookup))
        .collect()
}

/// Substitutes variables only (`$V`, `${V}`, `${V:-word}`, ...), leaving quotes and
/// escapes as written: a heredoc's body as BuildKit expands it (its lexer with raw
/// quotes and escapes). `\$` stays as written, unexpanded.
pub fn expand_vars(
    text: &str,
    escape: char,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && chars.get(i + 1) == Some(&'$') {
            out.push(c);
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('{') => {
                let Some(end) = chars[i..].iter().position(|c| *c == '}') else {
                    return Err(format!("missing '}}' in {text:?}"));
                };
                let piece: String = chars[i..i + end + 1].iter().collect();
                out.push_str(&expand(&piece, escape, lookup)?);
                i += end + 1;
            }
            Some(n) if n.is_ascii_alphabetic() || *n == '_' => {
                let len = chars[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                    .unwrap_or(chars.len() - i - 1);
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                out.push_str(&lookup(&name).unwrap_or_default());
                i += 1 + len;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

impl Scanner<'_, '_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Up to `stop` (consumed) or the end.
    fn until(&mut self, stop: Option<char>) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = self.next() {
            if Some(c) == stop {
                return Ok(out);
            }
            match c {
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.dollar()?),
                c if c == self.escape => match self.next() {
                    Some(n) => out.push(n),
                    None => out.push(c),
                },
                c => out.push(c),
            }
        }
        match stop {
            Some(s) => Err(format!(
                "unexpected end of statement while looking for matching {s}"
            )),
            None => Ok(out),
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('"') => return Ok(out),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.braced()
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok((self.lookup)(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn braced(&mut self) -> Result<String, String> {
        let name = self.name();
        if name.is_empty() {
            return Err(format!(
                "missing ':' in substitution: bad substitution near {:?}",
                self.chars[self.pos.saturating_sub(2)..]
                    .iter()
                    .collect::<String>()
            ));
        }
        let value = (self.lookup)(&name);
        match self.next() {
            Some('}') => Ok(value.unwrap_or_default()),
            Some(':') => {
                let op = self.next();
                let word = self.until(Some('}'))?;
                let set = value.as_deref().is_some_and(|v| !v.is_empty());
                modifier(&name, op, set, value, word)
            }
            Some(op @ ('-' | '+' | '?')) => {
                let word = self.until(Some('}'))?;
                let set = value.is_some();
                modifier(&name, Some(op), set, value, word)
            }
            Some(c) => Err(format!("unsupported modifier ({c}) in substitution")),
            None => Err("unexpected end of statement while looking for matching }".into()),
        }
    }
}

fn modifier(
    name: &str,
    op: Option<char>,
    set: bool,
    value: Option<String>,
    word: String,
) -> Result<String, String> {
    match op {
        Some('-') => Ok(if set { value.unwrap_or_default() } else { word }),
        Some('+') => Ok(if set { word } else { String::new() }),
        Some('?') if set => Ok(value.unwrap_or_default()),
        Some('?') => Err(if word.is_empty() {
            format!("{name}: is not allowed to be unset")
        } else {
            format!("{name}: {word}")
        }),
        Some(c) => Err(format!("unsupported modifier ({c}) in substitution")),
        None => Err("unexpected end of statement while looking for matching }".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_only() {
        let mut l = |n: &str| (n == "A").then(|| "x y".to_string());
        assert_eq!(
            expand_vars("'$A' \"${A}\" ${B:-d} \\$A $ $1 $A_\n", '\\', &mut l).unwrap(),
            "'x y' \"x y\" d \\$A $ $1 \n"
        );
    }
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([("A", "a"), ("B", "b c"), ("E", ""), ("X_1", "x")])
    }

    fn run(word: &str, escape: char) -> Result<String, String> {
        let env = env();
        expand(word, escape, &mut |n| env.get(n).map(|v| v.to_string()))
    }

    #[test]
    fn substitution_table() {
        // Docker's documented examples plus the corner cases of its lexer.
        let cases: &[(&str, &str)] = &[
            ("$A", "a"),
            ("${A}", "a"),
            ("x$A-y", "xa-y"),
            ("${A}x", "ax"),
            ("$X_1", "x"),
            ("$UNSET", ""),
            ("${UNSET}", ""),
            ("${A:-w}", "a"),
            ("${UNSET:-w}", "w"),
            ("${E:-w}", "w"),
            ("${E-w}", ""),
            ("${UNSET-w}", "w"),
            ("${A:+w}", "w"),
            ("${E:+w}", ""),
            ("${E+w}", "w"),
            ("${UNSET+w}", ""),
            ("${UNSET:-$A}", "a"),
            ("${UNSET:-${B}}", "b c"),
            ("${UNSET:-'q w'}", "q w"),
            ("\\$A", "$A"),
            ("\\${A}", "${A}"),
            ("'$A'", "$A"),
            ("\"$A\"", "a"),
            ("\"\\$A\"", "$A"),
            ("\"a\\b\"", "a\\b"),
            ("\"a\\\"b\"", "a\"b"),
            ("a\\ b", "a b"),
            ("$", "$"),
            ("a$", "a$"),
            ("$/x", "$/x"),
            ("${A:?msg}", "a"),
            ("hello\\", "hello\\"),
        ];
        for (word, want) in cases {
            assert_eq!(run(word, '\\').as_deref(), Ok(*want), "{word:?}");
        }
    }

    #[test]
    fn backtick_escape() {
        assert_eq!(run("`$A", '`').as_deref(), Ok("$A"));
        assert_eq!(run("c:\\$A", '`').as_deref(), Ok("c:\\a"));
    }

    #[test]
    fn errors() {
        for (word, msg) in [
            ("'abc", "single-quote"),
            ("\"abc", "double-quote"),
            ("${A", "matching }"),
            ("${A:-x", "matching }"),
            ("${UNSET:?gone}", "UNSET: gone"),
            ("${UNSET?}", "UNSET: is not allowed to be unset"),
            ("${A%x}", "unsupported modifier (%)"),
            ("${}", "bad substitution"),
        ] {
            let e = run(word, '\\').unwrap_err();
            assert!(e.contains(msg), "{word:?}: {e}");
        }
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"a=b c="d e" f='g h' i\ j"#, '\\'),
            vec!["a=b", r#"c="d e""#, "f='g h'", "i\\ j"]
        );
        let env = env();
        let got = expand_words(r#"x=$B y="$A z""#, '\\', &mut |n| {
            env.get(n).map(|v| v.to_string())
        })
        .unwrap();
        // An expanded value with a blank stays one word.
        assert_eq!(got, vec!["x=b c", "y=a z"]);
    }
}
