//! Progress reporting for long work: indicatif bars on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::fsutil::human_size;

/// A sink for progress of many concurrent tasks.
pub trait Progress: Send + Sync {
    /// Start a task named `name` with an optional byte total.
    fn task(&self, name: &str, total: Option<u64>) -> Box<dyn Task>;
    /// A one-off status line.
    fn message(&self, msg: &str);
}

/// One task's progress.
pub trait Task: Send + Sync {
    /// `n` more bytes done.
    fn inc(&self, n: u64);
    /// Set the total once it is known.
    fn set_total(&self, total: u64);
    /// Done, with a closing note.
    fn finish(&self, msg: &str);
}

/// Pick the right reporter: bars when stderr is a terminal, plain lines otherwise; `quiet`
/// silences both.
pub fn auto(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::default())
    } else {
        Box::new(Lines)
    }
}

/// Reports nothing.
pub struct Silent;

struct SilentTask;

impl Progress for Silent {
    fn task(&self, _: &str, _: Option<u64>) -> Box<dyn Task> {
        Box::new(SilentTask)
    }
    fn message(&self, _: &str) {}
}

impl Task for SilentTask {
    fn inc(&self, _: u64) {}
    fn set_total(&self, _: u64) {}
    fn finish(&self, _: &str) {}
}

/// Plain lines on stderr: one when a task starts being slow (every 10 s), one when it ends.
pub struct Lines;

struct LineTask {
    name: String,
    state: Mutex<(u64, Option<u64>, Instant)>,
}

impl Progress for Lines {
    fn task(&self, name: &str, total: Option<u64>) -> Box<dyn Task> {
        Box::new(LineTask {
            name: name.to_string(),
            state: Mutex::new((0, total, Instant::now())),
        })
    }
    fn message(&self, msg: &str) {
        eprintln!("{msg}");
    }
}

impl Task for LineTask {
    fn inc(&self, n: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 += n;
        if s.2.elapsed() >= Duration::from_secs(10) {
            s.2 = Instant::now();
            match s.1 {
                Some(t) if t > 0 => eprintln!(
                    "  {}: {} of {} ({}%)",
                    self.name,
                    human_size(s.0),
                    human_size(t),
                    s.0 * 100 / t
                ),
                _ => eprintln!("  {}: {}", self.name, human_size(s.0)),
            }
        }
    }
    fn set_total(&self, total: u64) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = Some(total);
    }
    fn finish(&self, msg: &str) {
        eprintln!("{}: {msg}", self.name);
    }
}

/// indicatif bars, one per task.
#[derive(Default)]
pub struct Bars {
    multi: MultiProgress,
}

struct BarTask(ProgressBar);

impl Progress for Bars {
    fn task(&self, name: &str, total: Option<u64>) -> Box<dyn Task> {
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        let bar = self.multi.add(bar);
        let template = if total.is_some() {
            "{prefix:>24} {bar:30} {bytes:>10}/{total_bytes:10} {msg}"
        } else {
            "{prefix:>24} {spinner} {bytes:>10} {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Box::new(BarTask(bar))
    }
    fn message(&self, msg: &str) {
        let _ = self.multi.println(msg);
    }
}

impl Task for BarTask {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn finish(&self, msg: &str) {
        if self.0.length().is_some_and(|l| l < self.0.position()) {
            self.0.set_length(self.0.position());
        }
        self.0.finish_with_message(msg.to_string());
    }
}
