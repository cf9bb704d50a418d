//! The event bus: executor tasks send, one dispatcher hands events to listeners.
//!
//! Events go through a channel so listeners never run inside engine calls and
//! see one event at a time, in the order they were sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::events::record::{Recorder, RunRecord};
use crate::events::{Event, Listener};

/// A cheap, clonable handle for sending events.
#[derive(Clone)]
pub struct Bus {
    tx: mpsc::UnboundedSender<Event>,
    /// The run folder, where each step's full output is written
    /// ([`crate::events::tail::log_file`]); `None`: kept nowhere.
    run_dir: Option<Arc<PathBuf>>,
}

/// Owns the listeners until the run ends.
pub struct Dispatcher {
    handle: JoinHandle<(Recorder, Vec<Box<dyn Listener>>)>,
    started: Instant,
    bus: Bus,
}

impl Bus {
    /// Starts a dispatcher feeding `listeners` and a [`Recorder`].
    pub fn start(listeners: Vec<Box<dyn Listener>>) -> (Bus, Dispatcher) {
        Bus::start_with(None, listeners)
    }

    /// Like [`Bus::start`], with each step's full output written under
    /// `run_dir` as it comes (see [`crate::events::tail`]).
    pub fn start_in(run_dir: &Path, listeners: Vec<Box<dyn Listener>>) -> (Bus, Dispatcher) {
        Bus::start_with(Some(run_dir), listeners)
    }

    fn start_with(run_dir: Option<&Path>, listeners: Vec<Box<dyn Listener>>) -> (Bus, Dispatcher) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        let handle = tokio::spawn(async move {
            let mut recorder = Recorder::default();
            let mut listeners = listeners;
            while let Some(event) = rx.recv().await {
                recorder.on_event(&event);
                for l in listeners.iter_mut() {
                    l.on_event(&event);
                }
                // The last event of a run; handles still held elsewhere
                // must not keep the dispatcher alive.
                if matches!(event, Event::RunFinished { .. }) {
                    break;
                }
            }
            (recorder, listeners)
        });
        let bus = Bus {
            tx,
            run_dir: run_dir.map(|d| Arc::new(d.to_path_buf())),
        };
        (
            bus.clone(),
            Dispatcher {
                handle,
                started: Instant::now(),
                bus,
            },
        )
    }

    /// Sends an event; a closed bus (run over) drops it. This is where
    /// events leave the executor: secrets are scrubbed here, once.
    pub fn emit(&self, mut event: Event) {
        event
            .texts_mut()
            .into_iter()
            .for_each(crate::secret::redact_in_place);
        let _ = self.tx.send(event);
    }
}

impl Bus {
    /// The run folder step logs go to, if any.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dir.as_deref().map(PathBuf::as_path)
    }
}

impl Dispatcher {
    /// Sends `RunFinished`, waits for every listener to see every event, and
    /// returns the record with the listeners (so they can print summaries).
    pub async fn finish(self) -> (RunRecord, Vec<Box<dyn Listener>>) {
        self.bus.emit(Event::RunFinished {
            duration: self.started.elapsed(),
        });
        let (recorder, listeners) = self.handle.await.expect("event dispatcher panicked");
        (recorder.record, listeners)
    }
}
