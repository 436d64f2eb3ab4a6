//! Transfer progress: on a terminal one bar per blob (bytes, rate); otherwise plain
//! lines at the start and end of each blob; nothing with `--quiet`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

pub enum Mode {
    Quiet,
    Lines,
    Bars(MultiProgress),
}

pub struct Progress {
    mode: Mode,
    out: Mutex<()>,
}

/// One blob's progress.
pub struct Task<'a> {
    progress: &'a Progress,
    id: String,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Bars when stdout is a terminal, lines otherwise, nothing when `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stdout()))
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            out: Mutex::new(()),
        }
    }

    pub fn quiet() -> Progress {
        Progress {
            mode: Mode::Quiet,
            out: Mutex::new(()),
        }
    }

    /// A status line (not shown with `--quiet`).
    pub fn line(&self, text: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                let _g = self.out.lock();
                let _ = writeln!(std::io::stdout(), "{text}");
            }
            Mode::Bars(m) => {
                let _ = m.println(text);
            }
        }
    }

    /// Starts a blob of `total` bytes, shown as `id` (docker's 12-digit short form).
    pub fn task(&self, id: &str, total: u64, action: &str) -> Task<'_> {
        let bar = match &self.mode {
            Mode::Bars(m) => {
                let bar = m.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix}: {msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(id.to_string());
                bar.set_message(action.to_string());
                Some(bar)
            }
            Mode::Lines => {
                self.line(&format!("{id}: {action}"));
                None
            }
            Mode::Quiet => None,
        };
        Task {
            progress: self,
            id: id.to_string(),
            bar,
        }
    }
}

impl Task<'_> {
    pub fn add(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Back to zero for another attempt.
    pub fn restart(&self) {
        if let Some(b) = &self.bar {
            b.set_position(0);
        }
    }

    /// Ends the blob with a status; on a terminal its bar becomes a plain line above
    /// the bars still moving.
    pub fn finish(self, status: &str) {
        self.end(status);
    }

    pub fn fail(self, status: &str) {
        self.end(status);
    }

    fn end(&self, status: &str) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        self.progress.line(&format!("{}: {status}", self.id));
    }
}

/// A reader that reports what passes through it.
pub struct Counting<'a, R> {
    pub inner: R,
    pub task: &'a Task<'a>,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.task.add(n as u64);
        Ok(n)
    }
}
