//! Terminal output: progress bars (indicatif; hidden off a TTY or with --quiet) and log lines
//! through `tracing` (info for progress, warn for `warning:` lines, error for `error:` lines),
//! written as bare text on stderr above the bars, so they do not tear them.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, Write};
use std::sync::Mutex;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The bars of the live [`Ui`], if drawn: log lines are printed above them.
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Installs the process's log subscriber: each event is its message alone on one stderr line
/// (no time, level or target), as users and tests read it. Call once, from `main`.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(|| StderrAboveBars)
        .event_format(MessageOnly)
        .init();
}

/// Formats an event as its fields (for `info!("{msg}")`, the bare message) and a newline.
struct MessageOnly;

impl<S, N> FormatEvent<S, N> for MessageOnly
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Stderr, with the live bars (if any) cleared while a line is written and redrawn after.
struct StderrAboveBars;

impl Write for StderrAboveBars {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bars = BARS.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bars {
            Some(mp) => mp.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

pub struct Ui {
    mp: MultiProgress,
    quiet: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Ui {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let mp = MultiProgress::with_draw_target(target);
        if !mp.is_hidden() {
            *BARS.lock().unwrap_or_else(|e| e.into_inner()) = Some(mp.clone());
        }
        Ui { mp, quiet }
    }

    /// A log line on stderr (suppressed by --quiet): `error: …` lines at level error,
    /// `warning: …` lines at level warn, the others at level info.
    pub fn log(&self, msg: &str) {
        if self.quiet {
            return;
        }
        if msg.starts_with("error:") {
            tracing::error!("{msg}");
        } else if msg.starts_with("warning:") {
            tracing::warn!("{msg}");
        } else {
            tracing::info!("{msg}");
        }
    }

    /// A `warning: {msg}` line (suppressed by --quiet).
    pub fn warn(&self, msg: &str) {
        self.log(&format!("warning: {msg}"));
    }

    /// A bar of `len` steps labelled `what`; finish it with `finish_and_clear`.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let b = self.mp.add(ProgressBar::new(len).with_style(style));
        b.set_prefix(what.to_string());
        b
    }
}

impl Drop for Ui {
    /// Log lines stop going through this Ui's bars once it is gone.
    fn drop(&mut self) {
        if !self.mp.is_hidden() {
            *BARS.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}
