//! Progress: an indicatif bar on a terminal, a plain line a second
//! otherwise (logs and CI), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub(crate) enum Progress {
    Off,
    Bar(ProgressBar),
    Lines { what: String, last: Option<Instant> },
}

impl Progress {
    pub(crate) fn new(quiet: bool, what: &str) -> Progress {
        if quiet {
            return Progress::Off;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(1000);
            bar.set_style(
                ProgressStyle::with_template("{prefix:>8} [{bar:30}] {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_owned());
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                what: what.to_owned(),
                last: None,
            }
        }
    }

    pub(crate) fn warmup(&mut self, done: Duration, total: Duration) {
        match self {
            Progress::Off => {}
            Progress::Bar(b) => {
                b.set_position(fraction(done, total));
                b.set_message("warming up");
            }
            Progress::Lines { what, last } => {
                if last.is_none() {
                    eprintln!("{what}: warming up for {:.1}s", total.as_secs_f64());
                    *last = Some(Instant::now());
                }
            }
        }
    }

    pub(crate) fn measure(&mut self, done: Duration, total: Duration, rps: f64, mbs: f64) {
        let msg = if mbs >= 0.1 {
            format!("{rps:.0} req/s  {mbs:.1} MB/s")
        } else {
            format!("{rps:.0} req/s")
        };
        self.step(done, total, &msg);
    }

    /// Progress of something counted (connections opened).
    pub(crate) fn count(&mut self, done: u64, total: u64, msg: &str) {
        match self {
            Progress::Off => {}
            Progress::Bar(b) => {
                b.set_position(done * 1000 / total.max(1));
                b.set_message(format!("{done}/{total} {msg}"));
            }
            Progress::Lines { what, last } => {
                if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    eprintln!("{what}: {done}/{total} {msg}");
                    *last = Some(Instant::now());
                }
            }
        }
    }

    fn step(&mut self, done: Duration, total: Duration, msg: &str) {
        match self {
            Progress::Off => {}
            Progress::Bar(b) => {
                b.set_position(fraction(done, total));
                b.set_message(msg.to_owned());
            }
            Progress::Lines { what, last } => {
                if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    eprintln!("{what}: {:>5.1}s  {msg}", done.as_secs_f64());
                    *last = Some(Instant::now());
                }
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

fn fraction(done: Duration, total: Duration) -> u64 {
    if total.is_zero() {
        return 1000;
    }
    ((done.as_secs_f64() / total.as_secs_f64()).min(1.0) * 1000.0) as u64
}
