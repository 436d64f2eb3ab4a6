//! The build context: a directory whose files COPY and ADD read, seen through
//! `.dockerignore` (an excluded file does not exist for them), with sources resolved as
//! docker does: cleaned relative paths, globs, a symlinked source followed only while it
//! stays inside the context, never a path outside it.

use crate::dockerfile::ignore::{self, Ignore};
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("unable to prepare context: path {0:?} not found")]
    Missing(PathBuf),
    #[error("unable to prepare context: context must be a directory: {0}")]
    NotADirectory(PathBuf),
    #[error("forbidden path outside the build context: {0}")]
    Outside(String),
    #[error("{0:?} not found in the build context (or excluded by .dockerignore)")]
    NotFound(String),
    #[error("no source files were specified (nothing in the build context matches {0:?})")]
    NoMatch(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct Context {
    root: PathBuf,
    ignore: Ignore,
}

/// One file, directory or symlink a source brings in.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it lands relative to the source's destination (`""` for a file source itself).
    pub rel: String,
    pub path: PathBuf,
    pub meta: Metadata,
}

/// A resolved source: a file (or symlink target) or a directory whose contents are copied.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path in the context, relative.
    pub rel: String,
    pub path: PathBuf,
    pub is_dir: bool,
}

impl Context {
    /// The directory `dir`, with its `.dockerignore` if it has one.
    pub fn open(dir: &Path) -> Result<Context, ContextError> {
        let meta = fs::metadata(dir).map_err(|_| ContextError::Missing(dir.to_path_buf()))?;
        if !meta.is_dir() {
            return Err(ContextError::NotADirectory(dir.to_path_buf()));
        }
        let root = fs::canonicalize(dir).map_err(io_err(dir))?;
        let ignore_file = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&ignore_file) {
            Ok(t) => Ignore::parse(&t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(io_err(&ignore_file)(e)),
        };
        Ok(Context { root, ignore })
    }

    /// A directory without `.dockerignore`: an earlier stage's or an image's root
    /// filesystem (`COPY --from`).
    pub fn plain(dir: &Path) -> Result<Context, ContextError> {
        let root = fs::canonicalize(dir).map_err(io_err(dir))?;
        Ok(Context {
            root,
            ignore: Ignore::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether a .dockerignore leaves anything out.
    pub fn has_ignore(&self) -> bool {
        !self.ignore.patterns.is_empty()
    }

    pub fn excluded(&self, rel: &str) -> bool {
        !rel.is_empty() && rel != "." && self.ignore.excluded(rel)
    }

    /// What `src` (as written in COPY/ADD) names in the context.
    pub fn sources(&self, src: &str) -> Result<Vec<Source>, ContextError> {
        let rel = ignore::clean(src);
        if rel == ".." || rel.starts_with("../") {
            return Err(ContextError::Outside(src.to_string()));
        }
        if ignore::has_magic(&rel) {
            let mut out = Vec::new();
            for e in self.walk_all()? {
                if ignore::glob(&rel, &e.rel, false) {
                    out.push(self.source(&e.rel, src)?);
                }
            }
            if out.is_empty() {
                return Err(ContextError::NoMatch(src.to_string()));
            }
            return Ok(out);
        }
        Ok(vec![self.source(if rel == "." { "" } else { &rel }, src)?])
    }

    fn source(&self, rel: &str, src: &str) -> Result<Source, ContextError> {
        if self.excluded(rel) {
            return Err(ContextError::NotFound(src.to_string()));
        }
        let path = self.root.join(rel);
        let lmeta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContextError::NotFound(src.to_string()))
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        // Every parent, and a symlinked source itself, must resolve inside the context.
        let real = match fs::canonicalize(&path) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(if lmeta.file_type().is_symlink() {
                    ContextError::NotFound(src.to_string())
                } else {
                    io_err(&path)(e)
                })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        if !real.starts_with(&self.root) {
            return Err(ContextError::Outside(src.to_string()));
        }
        let meta = fs::metadata(&real).map_err(io_err(&real))?;
        Ok(Source {
            rel: rel.to_string(),
            path: real,
            is_dir: meta.is_dir(),
        })
    }

    /// Every entry of the context (not excluded), relative paths, sorted.
    fn walk_all(&self) -> Result<Vec<Entry>, ContextError> {
        let mut out = Vec::new();
        self.walk_into(&self.root, "", "", &mut out)?;
        Ok(out)
    }

    /// The entries a source brings in: itself for a file, its contents for a directory.
    pub fn entries(&self, source: &Source) -> Result<Vec<Entry>, ContextError> {
        if !source.is_dir {
            let meta = fs::metadata(&source.path).map_err(io_err(&source.path))?;
            return Ok(vec![Entry {
                rel: String::new(),
                path: source.path.clone(),
                meta,
            }]);
        }
        let mut out = Vec::new();
        let ctx_rel = source
            .path
            .strip_prefix(&self.root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.walk_into(&source.path, &ctx_rel, "", &mut out)?;
        Ok(out)
    }

    /// `dir` is at `ctx_rel` in the context; entries get `prefix` + name.
    fn walk_into(
        &self,
        dir: &Path,
        ctx_rel: &str,
        prefix: &str,
        out: &mut Vec<Entry>,
    ) -> Result<(), ContextError> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err(dir))?;
        names.sort();
        for name in names {
            let name = name.to_string_lossy().into_owned();
            let in_ctx = if ctx_rel.is_empty() {
                name.clone()
            } else {
                format!("{ctx_rel}/{name}")
            };
            let rel = format!("{prefix}{name}");
            let path = dir.join(&name);
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            let excluded = self.excluded(&in_ctx);
            if meta.is_dir() {
                if excluded && !self.ignore.may_include_below(&in_ctx) {
                    continue;
                }
                let mut below = Vec::new();
                self.walk_into(&path, &in_ctx, &format!("{rel}/"), &mut below)?;
                if !excluded || !below.is_empty() {
                    out.push(Entry {
                        rel: rel.clone(),
                        path: path.clone(),
                        meta,
                    });
                }
                out.extend(below);
            } else if !excluded {
                out.push(Entry { rel, path, meta });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ctx() -> (tempfile::TempDir, Context) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("dir/sub")).unwrap();
        fs::write(r.join("dir/a.txt"), "a").unwrap();
        fs::write(r.join("dir/sub/b.txt"), "b").unwrap();
        fs::write(r.join("dir/skip.log"), "x").unwrap();
        fs::write(r.join("top.txt"), "t").unwrap();
        fs::write(r.join("secret"), "s").unwrap();
        fs::write(r.join(".dockerignore"), "secret\n**/*.log\n").unwrap();
        symlink("top.txt", r.join("inside")).unwrap();
        symlink("/etc/passwd", r.join("out-abs")).unwrap();
        symlink("../../etc", r.join("out-rel")).unwrap();
        let c = Context::open(r).unwrap();
        (d, c)
    }

    #[test]
    fn sources_and_rules() {
        let (_d, c) = ctx();
        let s = c.sources("dir/").unwrap();
        assert!(s[0].is_dir);
        let rels: Vec<String> = c
            .entries(&s[0])
            .unwrap()
            .into_iter()
            .map(|e| e.rel)
            .collect();
        assert_eq!(rels, vec!["a.txt", "sub", "sub/b.txt"]);
        let s = c.sources("/top.txt").unwrap();
        assert!(!s[0].is_dir);
        let g: Vec<String> = c
            .sources("*.txt")
            .unwrap()
            .into_iter()
            .map(|s| s.rel)
            .collect();
        assert_eq!(g, vec!["top.txt"]);
        let g: Vec<String> = c
            .sources("dir/*")
            .unwrap()
            .into_iter()
            .map(|s| s.rel)
            .collect();
        assert_eq!(g, vec!["dir/a.txt", "dir/sub"]);
        assert_eq!(
            c.sources("inside").unwrap()[0].path,
            c.root().join("top.txt")
        );
        for (src, want) in [
            ("../x", "outside"),
            ("dir/../../x", "outside"),
            ("out-abs", "outside"),
            ("out-rel", "outside"),
            ("secret", "not found"),
            ("dir/skip.log", "not found"),
            ("missing", "not found"),
            ("*.none", "no source files"),
        ] {
            let e = c.sources(src).unwrap_err().to_string();
            assert!(e.contains(want), "{src}: {e}");
        }
    }

    #[test]
    fn context_must_be_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("file");
        fs::write(&f, "").unwrap();
        assert!(matches!(
            Context::open(&f),
            Err(ContextError::NotADirectory(_))
        ));
        assert!(matches!(
            Context::open(&d.path().join("nope")),
            Err(ContextError::Missing(_))
        ));
    }
}
