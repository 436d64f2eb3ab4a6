//! `.dockerignore` as docker reads it (moby's patternmatcher): one pattern a line,
//! `#` comments, blanks trimmed, `!` for exceptions, each pattern cleaned and made
//! relative; Go `filepath.Match` syntax plus `**` for any number of directories; a path
//! is excluded when the last pattern matching it (or one of its parent directories) is
//! not an exception. Also the glob matcher COPY and ADD sources use.

use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    pub exception: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    pub patterns: Vec<Pattern>,
}

/// `filepath.Clean` of a slash path, made relative (no leading `/`).
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !path.starts_with('/') {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, raw) = match line.strip_prefix('!') {
                Some(r) => (true, r.trim()),
                None => (false, line),
            };
            if raw.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                text: clean(raw),
                exception,
            });
        }
        Ignore { patterns }
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let parts: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exception != matched {
                continue;
            }
            let mut hit = glob(&p.text, &path, true);
            if !hit {
                hit = (1..parts.len()).any(|i| glob(&p.text, &parts[..i].join("/"), true));
            }
            if hit {
                matched = !p.exception;
            }
        }
        matched
    }

    /// Whether an exception pattern could bring back something under the excluded
    /// directory `dir` (so a walk must still look inside it).
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir = clean(dir);
        self.patterns.iter().any(|p| {
            p.exception
                && (p.text.starts_with(&format!("{dir}/"))
                    || p.text.contains("**")
                    || p.text.contains('*'))
        })
    }
}

/// Whether the glob has any pattern characters (else it names one path).
pub fn has_magic(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Go `filepath.Match` over `/` paths (`*` and `?` never cross a `/`), with `**`
/// matching across directories when `double_star`.
pub fn glob(pattern: &str, path: &str, double_star: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    matches(&p, &s, double_star, &mut HashSet::new())
}

/// Whether suffix `p` of the pattern matches suffix `s` of the path. Suffix pairs already
/// seen failing (kept by their lengths in `failed`) are not tried again: without that,
/// runs of `*` backtrack exponentially (`c****************` took minutes; found by
/// `make fuzz`).
fn matches(p: &[char], s: &[char], ds: bool, failed: &mut HashSet<(usize, usize)>) -> bool {
    let key = (p.len(), s.len());
    if failed.contains(&key) {
        return false;
    }
    let hit = matches_here(p, s, ds, failed);
    if !hit {
        failed.insert(key);
    }
    hit
}

fn matches_here(p: &[char], s: &[char], ds: bool, failed: &mut HashSet<(usize, usize)>) -> bool {
    let Some(&c) = p.first() else {
        return s.is_empty();
    };
    match c {
        '*' if ds && p.get(1) == Some(&'*') => {
            let rest = &p[2..];
            // `**/x` also matches `x`; `x/**` also matches `x`.
            if rest.first() == Some(&'/') && matches(&rest[1..], s, ds, failed) {
                return true;
            }
            (0..=s.len()).any(|i| matches(rest, &s[i..], ds, failed))
        }
        '*' => {
            let limit = s.iter().position(|c| *c == '/').unwrap_or(s.len());
            (0..=limit).any(|i| matches(&p[1..], &s[i..], ds, failed))
        }
        '?' => !s.is_empty() && s[0] != '/' && matches(&p[1..], &s[1..], ds, failed),
        '[' => match class(&p[1..], s.first().copied()) {
            Some((true, used)) => matches(&p[1 + used..], &s[1..], ds, failed),
            _ => false,
        },
        '\\' if p.len() > 1 => {
            !s.is_empty() && s[0] == p[1] && matches(&p[2..], &s[1..], ds, failed)
        }
        '/' if ds && p.len() == 3 && p[1] == '*' && p[2] == '*' => {
            s.is_empty() || (s[0] == '/' && matches(&p[1..], &s[1..], ds, failed))
        }
        c => !s.is_empty() && s[0] == c && matches(&p[1..], &s[1..], ds, failed),
    }
}

/// A `[...]` class after its `[`: whether `c` is in it, and how many pattern chars it
/// used (through the `]`). `None` for a malformed class.
fn class(p: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let c = c.filter(|c| *c != '/')?;
    let mut i = 0;
    let negate = matches!(p.first(), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        i += 1;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|h| *h != ']') {
            i += 2;
            p[i - 1]
        } else {
            lo
        };
        if lo <= c && c <= hi {
            hit = true;
        }
    }
    Some((hit != negate, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `make fuzz` (dockerfile target, a .dockerignore line `c****...`): runs
    /// of `*` backtracked exponentially; this never finished before the fix.
    #[test]
    fn star_runs_do_not_backtrack_exponentially() {
        let pattern = format!("c{}x", "*".repeat(40));
        let path = format!("c{}", "a".repeat(60));
        assert!(!glob(&pattern, &path, true));
        assert!(!glob(&pattern, &path, false));
        assert!(glob(&pattern, &format!("{path}x"), true));
    }

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.txt", "a.txt", true),
            ("*.txt", "d/a.txt", false),
            ("*/*.txt", "d/a.txt", true),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[!a-c]x", "dx", true),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("**/*.go", "x.go", true),
            ("**/*.go", "a/b/x.go", true),
            ("a/**", "a/b/c", true),
            ("a/**", "a", true),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("**", "anything/at/all", true),
            ("temp?", "temp1", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(glob(p, s, true), *want, "{p:?} {s:?}");
        }
        // COPY sources: Go filepath.Match, `**` is `*` `*`.
        assert!(!glob("**/x", "a/b/x", false));
        assert!(glob("*", "abc", false));
    }

    #[test]
    fn dockerignore_rules() {
        // docker's documented example, plus exceptions and later lines winning.
        let ig = Ignore::parse(
            "# comment\n*/temp*\n*/*/temp*\ntemp?\n\n*.md\n!README*.md\nREADME-secret.md\n/abs/\n  spaced  \n./dot/../dir\n",
        );
        let cases: &[(&str, bool)] = &[
            ("somedir/temporary.txt", true),
            ("somedir/subdir/temporary.txt", true),
            ("tempa", true),
            ("tempab", false),
            ("a.md", true),
            ("README.md", false),
            ("README-secret.md", true),
            ("abs", true),
            ("abs/inner/file", true),
            ("spaced", true),
            ("dir/file", true),
            ("keep.txt", false),
            // A parent directory matching excludes what is below.
            ("tempa/x/y", true),
        ];
        for (path, want) in cases {
            assert_eq!(ig.excluded(path), *want, "{path:?}");
        }
        let ig = Ignore::parse("**\n!src/**\n");
        assert!(ig.excluded("Dockerfile"));
        assert!(!ig.excluded("src/main.rs"));
        let ig = Ignore::parse("data\n!data/keep\n");
        assert!(ig.excluded("data/x"));
        assert!(!ig.excluded("data/keep"));
        assert!(ig.may_include_below("data"));
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("/a/./b/../c/"), "a/c");
        assert_eq!(clean("."), ".");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("/../x"), "x");
    }
}
