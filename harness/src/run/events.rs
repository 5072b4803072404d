//! What a run tells the process that started it (`ddbench bench`), as JSON lines on a pipe
//! (`--events-fd N`): one event per line, never parsed out of log text.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::sync::Mutex;

/// One step of a run. `cell` is `METHOD ipc IPC seed SEED`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A cell's distillation starts.
    CellStarted { cell: String },
    /// A cell's student is trained: its clean accuracy on the whole test set (%).
    Trained { cell: String, clean_acc: f64 },
    /// A row is recorded (`attack` is `none` for a clean-only row).
    Recorded {
        cell: String,
        attack: String,
        eps: f64,
        robust_acc: f64,
    },
    /// A cell (or one of its attack rows) failed; the run goes on. `seed` tells seed-mates run
    /// together (`--seeds N`) apart; absent when the sender did not say.
    Failed {
        cell: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        reason: String,
    },
    /// The run stopped before its cells (bad flags, data, plugins): nothing was recorded.
    Fatal { reason: String },
    /// The run is over: how many failures it had.
    Finished { failures: usize },
}

/// Where events go: a pipe given by the parent, or nowhere.
#[derive(Default)]
pub struct EventSink {
    out: Option<Mutex<std::fs::File>>,
}

impl EventSink {
    /// Events to file descriptor `fd` (inherited from the parent), or nowhere for `None`.
    pub fn from_fd(fd: Option<i32>) -> EventSink {
        EventSink {
            out: fd.map(|fd| {
                // SAFETY: the parent opened `fd` for this process (`--events-fd`) and nothing
                // else in the process uses it; the sink owns it from here on.
                Mutex::new(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }),
        }
    }

    /// Writes one event line; a closed pipe (the parent is gone) is not the run's problem.
    pub fn emit(&self, e: &Event) {
        if let Some(out) = &self.out {
            let mut line = serde_json::to_string(e).unwrap_or_default();
            line.push('\n');
            let mut f = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Reads events line by line until the writer closes; a line that is not an event is skipped
/// and handed to `other` (a newer or older ddbench may say more).
pub fn read(
    from: impl std::io::Read,
    mut on_event: impl FnMut(Event),
    mut other: impl FnMut(&str),
) {
    for line in std::io::BufReader::new(from).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Event>(&line) {
            Ok(e) => on_event(e),
            Err(_) => other(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_cross_a_pipe_as_one_json_line_each() {
        let (r, w) = std::io::pipe().unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(std::os::fd::OwnedFd::from(w));
        let sink = EventSink::from_fd(Some(fd));
        let sent = vec![
            Event::CellStarted {
                cell: "random ipc 1 seed 0".into(),
            },
            Event::Failed {
                cell: "random ipc 1 seed 0".into(),
                seed: Some(0),
                reason: "training failed: \"nan\"\nsecond line".into(),
            },
            Event::Finished { failures: 1 },
        ];
        for e in &sent {
            sink.emit(e);
        }
        drop(sink);
        let (mut got, mut junk) = (Vec::new(), Vec::new());
        read(r, |e| got.push(e), |l| junk.push(l.to_string()));
        assert_eq!(got, sent);
        assert!(junk.is_empty());
    }

    #[test]
    fn a_line_that_is_no_event_is_passed_on_not_fatal() {
        let text = "{\"event\":\"fatal\",\"reason\":\"no data\"}\nnot json\n{\"event\":\"finished\",\"failures\":0}\n";
        let (mut got, mut junk) = (Vec::new(), Vec::new());
        read(
            text.as_bytes(),
            |e| got.push(e),
            |l| junk.push(l.to_string()),
        );
        assert_eq!(
            got,
            vec![
                Event::Fatal {
                    reason: "no data".into()
                },
                Event::Finished { failures: 0 }
            ]
        );
        assert_eq!(junk, vec!["not json".to_string()]);
    }
}
