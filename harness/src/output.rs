//! Terminal output: progress bars (hidden off a TTY or with --quiet) and log lines that do not
//! tear the bars.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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
        Ui {
            mp: MultiProgress::with_draw_target(target),
            quiet,
        }
    }

    /// A log line on stderr (suppressed by --quiet).
    pub fn log(&self, msg: &str) {
        if self.quiet {
            return;
        }
        if self.mp.is_hidden() {
            eprintln!("{msg}");
        } else {
            let _ = self.mp.println(msg);
        }
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
