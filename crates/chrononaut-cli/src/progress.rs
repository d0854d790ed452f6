//! Progress of long commands (`convert`, the baseline of `track`), one way for every command:
//! on a terminal an indicatif bar on stderr, redrawn in place; otherwise (a pipe, a log file,
//! CI) a plain line every few seconds, so that a long run still shows it is alive. Nothing of it
//! reaches stdout, which scripts read.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often the plain-line form prints.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// A progress report on stderr for `total` units of work.
pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    unit: &'static str,
    total: u64,
    done: u64,
    last_line: Instant,
}

impl Progress {
    /// Progress over `total` `unit`s (e.g. "records"); `what` names the work in the plain
    /// lines ("converted", "baseline"). On a terminal the bar shows only when `total` is at
    /// least `min_total` (a short run is over before a bar helps).
    pub fn new(what: &'static str, unit: &'static str, total: u64, min_total: u64) -> Self {
        let bar = (std::io::stderr().is_terminal() && total >= min_total).then(|| {
            let template =
                format!("{what} [{{bar:30}}] {{pos}}/{{len}} {unit}{{msg}}, {{eta}} left");
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>.");
            let bar = ProgressBar::new(total).with_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self {
            bar,
            what,
            unit,
            total,
            done: 0,
            last_line: Instant::now(),
        }
    }

    /// `n` more units done; `detail` is shown beside the count (e.g. "1200 rows").
    pub fn advance(&mut self, n: u64, detail: &str) {
        self.done += n;
        if self.done > self.total {
            // More work turned up than counted at the start (writers kept writing).
            self.total = self.done;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_length(self.total);
                bar.set_position(self.done);
                if detail.is_empty() {
                    bar.set_message("");
                } else {
                    bar.set_message(format!(", {detail}"));
                }
            }
            None if self.last_line.elapsed() >= LINE_EVERY => {
                let _ = writeln!(
                    std::io::stderr(),
                    "chrononaut: {} {}/{} {}{}{detail}",
                    self.what,
                    self.done,
                    self.total,
                    self.unit,
                    if detail.is_empty() { "" } else { ", " }
                );
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    /// Sets the absolute position (for callbacks that report "done of all").
    pub fn set(&mut self, done: u64, total: u64, detail: &str) {
        self.total = total;
        let step = done.saturating_sub(self.done);
        self.advance(step, detail);
    }

    /// Ends the report: the bar stays on screen at its final state, and what follows starts
    /// on a line of its own.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
            eprintln!();
        }
    }
}
