//! Build output on stderr. `plain` (and `auto` when stderr is not a terminal) is
//! BuildKit's plain log: `#N [i/n] INSTRUCTION`, RUN output as `#N 0.123 line`,
//! `#N CACHED`, `#N DONE 0.1s`, `#N ERROR: ...`, and the total at the end. On a terminal,
//! one indicatif line per step with its time, the running step's last output lines
//! folded under it (gone when it is done, kept when it fails). `quiet` prints nothing.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::RefCell;
use std::io::{IsTerminal, Write};

/// How many output lines a running step shows under it on a terminal.
const TAIL_LINES: usize = 6;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Plain,
    Quiet,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" | "tty" => Ok(Mode::Auto),
            "plain" => Ok(Mode::Plain),
            "quiet" => Ok(Mode::Quiet),
            _ => Err(format!("--progress {s:?}: want auto, plain or quiet")),
        }
    }
}

enum View {
    Plain,
    Quiet,
    Tty(MultiProgress),
}

pub struct Progress {
    view: View,
    next: usize,
    start: Instant,
    steps: usize,
}

pub struct Step {
    n: usize,
    start: Instant,
    bar: Option<ProgressBar>,
    label: String,
    /// The output lines shown under a running step (terminal view).
    tail: RefCell<Vec<ProgressBar>>,
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        let view = match mode {
            Mode::Quiet => View::Quiet,
            Mode::Plain => View::Plain,
            Mode::Auto if std::io::stderr().is_terminal() => {
                View::Tty(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            }
            Mode::Auto => View::Plain,
        };
        Progress {
            view,
            next: 0,
            start: Instant::now(),
            steps: 0,
        }
    }

    fn plain(&self, text: &str) {
        if matches!(self.view, View::Plain) {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "{text}");
        }
    }

    pub fn begin(&mut self, label: &str) -> Step {
        self.next += 1;
        self.steps += 1;
        let n = self.next;
        self.plain(&format!("#{n} {label}"));
        let bar = match &self.view {
            View::Tty(mp) => {
                let b = mp.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg:.dim}")
                        .expect("template parses"),
                );
                b.set_prefix(label.to_string());
                b.enable_steady_tick(Duration::from_millis(120));
                Some(b)
            }
            _ => None,
        };
        Step {
            n,
            start: Instant::now(),
            bar,
            label: label.to_string(),
            tail: RefCell::new(Vec::new()),
        }
    }

    pub fn line(&self, step: &Step, text: &str) {
        self.plain(&format!(
            "#{} {:.3} {text}",
            step.n,
            step.start.elapsed().as_secs_f64()
        ));
        if let (View::Tty(mp), Some(b)) = (&self.view, &step.bar) {
            let mut tail = step.tail.borrow_mut();
            let after = tail.last().unwrap_or(b).clone();
            let line = mp.insert_after(&after, ProgressBar::new_spinner());
            line.set_style(
                ProgressStyle::with_template("    {wide_msg:.dim}").expect("template parses"),
            );
            line.set_message(text.to_string());
            tail.push(line);
            if tail.len() > TAIL_LINES {
                let old = tail.remove(0);
                old.finish_and_clear();
                mp.remove(&old);
            }
        }
    }

    fn clear_tail(&self, step: &Step) {
        if let View::Tty(mp) = &self.view {
            for l in step.tail.borrow_mut().drain(..) {
                l.finish_and_clear();
                mp.remove(&l);
            }
        }
    }

    pub fn note(&self, step: &Step, text: &str) {
        self.plain(&format!("#{} {text}", step.n));
    }

    pub fn cached(&self, step: Step) {
        self.plain(&format!("#{} CACHED", step.n));
        self.clear_tail(&step);
        if let Some(b) = step.bar {
            b.set_style(
                ProgressStyle::with_template("=> CACHED {prefix}").expect("template parses"),
            );
            b.finish();
        }
    }

    pub fn done(&self, step: Step) {
        let t = secs(step.start.elapsed());
        self.plain(&format!("#{} DONE {t}", step.n));
        self.clear_tail(&step);
        if let Some(b) = step.bar {
            b.set_style(
                ProgressStyle::with_template("=> {prefix} {msg}").expect("template parses"),
            );
            b.finish_with_message(t);
        }
    }

    pub fn error(&self, step: Step, message: &str) {
        self.plain(&format!("#{} ERROR: {message}", step.n));
        if let Some(b) = step.bar {
            b.set_style(
                ProgressStyle::with_template("=> ERROR {prefix}").expect("template parses"),
            );
            b.abandon();
        }
        let _ = step.label;
    }

    /// The closing line: the whole build's time and how many steps it showed.
    pub fn finish(&self, ok: bool) {
        let line = format!(
            "[+] Building {} ({}/{}) {}",
            secs(self.start.elapsed()),
            self.steps,
            self.steps,
            if ok { "FINISHED" } else { "FAILED" }
        );
        match &self.view {
            View::Quiet => {}
            View::Plain => self.plain(&line),
            // Every bar is finished by now: the line goes below them.
            View::Tty(_) => eprintln!("{line}"),
        }
    }
}
