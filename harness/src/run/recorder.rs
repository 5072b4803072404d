//! The only writer of a run folder: `results.csv`, `per_sample.csv`, `manifest.json` (and, on
//! `--force`, `stale.csv`). Rows are written as soon as they exist; the manifest always
//! describes exactly the rows beside it.

use super::events::{Event, EventSink};
use super::grid::{Cell, Grid};
use super::manifest::{DatasetEntry, Manifest, NAttack, PluginEntry, RunBody, State, TeacherEval};
use super::rows::RowOutcome;
use super::setup::Setup;
use super::{reuse, RunConfig, RunSummary};
use crate::cell_key::CellKey;
use crate::output::Ui;
use crate::per_sample::PerSampleFile;
use crate::record::{ResultRow, ResultsFile};
use crate::sanity;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Recorder<'a> {
    ui: &'a Ui,
    events: &'a EventSink,
    /// The manifest as of now; its body's keys, failures and teachers follow the records.
    manifest: Manifest<RunBody<'a>>,
    manifest_path: PathBuf,
    results: ResultsFile,
    per_sample: PerSampleFile,
    /// The key of every row this folder may hold, by hash.
    keys: BTreeMap<String, CellKey>,
    /// The current cell's attack outcomes (recorded earlier or now), for the sanity checks.
    outcomes: Vec<sanity::Outcome>,
}

impl<'a> Recorder<'a> {
    /// Opens the folder's records; rows made with other inputs than `grid`'s are refused (or,
    /// with `--force`, set aside) before any work.
    pub fn open(
        cfg: &'a RunConfig,
        setup: &Setup,
        grid: &Grid,
        n_attacked: usize,
        command_line: &str,
        ui: &'a Ui,
        events: &'a EventSink,
    ) -> Result<Recorder<'a>> {
        let manifest_path = cfg.out.join("manifest.json");
        let warn = |m: &str| ui.log(&format!("warning: {m}"));
        let mut results = ResultsFile::open(&cfg.out.join("results.csv"), &warn)?;
        let mut keys = reuse::recorded_keys(&manifest_path);
        let wanted = grid.wanted();
        let found = reuse::conflicts(&results.rows, &keys, &wanted, &grid.shared);
        if !found.is_empty() && cfg.force {
            ui.log(&format!(
                "--force: moving {} row(s) made with other inputs to {}",
                found.len(),
                cfg.out.join("stale.csv").display()
            ));
        }
        reuse::settle(&cfg.out, &mut results, found, cfg.force)?;
        let live = |h: &String| results.rows.iter().any(|r| &r.key_hash == h);
        let stale_keys = keys.iter().filter(|(h, _)| !live(h));
        let stale_keys: BTreeMap<String, CellKey> =
            stale_keys.map(|(h, k)| (h.clone(), k.clone())).collect();
        keys.retain(|h, _| live(h));
        keys.extend(wanted.into_values().map(|k| (k.hash(), k)));
        let per_sample =
            PerSampleFile::open(&cfg.out.join("per_sample.csv"), |k| results.contains(k))?;
        let mut manifest = Manifest::new(
            command_line,
            State::Running,
            Some(setup.device_desc.clone()),
            run_body(cfg, setup, n_attacked, stale_keys),
        );
        manifest.plugins = setup
            .methods
            .iter()
            .chain(&setup.attacks)
            .map(PluginEntry::of)
            .collect();
        let mut r = Recorder {
            ui,
            events,
            manifest,
            manifest_path,
            results,
            per_sample,
            keys,
            outcomes: Vec::new(),
        };
        r.save_manifest()?;
        Ok(r)
    }

    /// Where progress events go.
    pub fn events(&self) -> &EventSink {
        self.events
    }

    /// Whether a row of these inputs is recorded.
    pub fn has(&self, id: &str) -> bool {
        self.results.contains(id)
    }

    /// Whether every row of `cell` is recorded.
    pub fn has_all(&self, cell: &Cell) -> bool {
        cell.rows.iter().all(|r| self.has(&r.id()))
    }

    /// Starts `cell`: the outcomes of its rows recorded earlier come back from `per_sample.csv`.
    pub fn begin_cell(&mut self, cell: &Cell) -> Result<()> {
        let done: Vec<String> = cell
            .rows
            .iter()
            .map(|r| r.id())
            .filter(|id| self.has(id))
            .collect();
        let mut stored = self.per_sample.load(&done)?;
        self.outcomes = self
            .results
            .rows
            .iter()
            .filter(|r| done.contains(&r.id()))
            .map(|r| sanity::Outcome::from_row(r, stored.remove(&r.id()).unwrap_or_default()))
            .collect();
        Ok(())
    }

    /// Records a clean-only row.
    pub fn record_clean(&mut self, cell: &Cell, row: ResultRow) -> Result<()> {
        self.event_recorded(cell, &row);
        self.results.push(row)?;
        self.save_manifest()
    }

    /// Records an attack row: per-sample lines first (lines of a row that never reaches
    /// `results.csv` are dropped when the file is next opened), then the row, then the sanity
    /// flags of the cell's rows.
    pub fn record_attack(&mut self, cell: &Cell, o: RowOutcome) -> Result<()> {
        self.per_sample.append(&o.sample_rows)?;
        self.outcomes
            .push(sanity::Outcome::from_row(&o.row, o.samples));
        self.event_recorded(cell, &o.row);
        self.results.push(o.row)?;
        let flags = sanity::check(&self.outcomes);
        let outcomes = &self.outcomes;
        self.results.set_flags(|k| {
            outcomes
                .iter()
                .any(|o| o.key == k)
                .then(|| sanity::flags_text(&flags, k))
        })?;
        for (k, f) in &flags {
            self.ui.log(&format!("sanity: {k}: {}", f.join(";")));
        }
        self.save_manifest()
    }

    fn event_recorded(&self, cell: &Cell, row: &ResultRow) {
        self.events.emit(&Event::Recorded {
            cell: cell.label(),
            attack: row.attack.clone(),
            eps: row.eps,
            robust_acc: row.robust_acc,
        });
    }

    /// A cell (or one row of it) failed: reported, recorded in the manifest, the run goes on.
    pub fn fail(&mut self, cell: &Cell, reason: String) -> Result<()> {
        self.ui.log(&format!("error: {reason}"));
        self.events.emit(&Event::Failed {
            cell: cell.label(),
            seed: Some(cell.seed),
            reason: reason.clone(),
        });
        self.manifest.body.failures.push(reason);
        self.save_manifest()
    }

    /// The teachers evaluated so far, for the manifest.
    pub fn set_teachers(&mut self, teachers: &BTreeMap<String, TeacherEval>) {
        self.manifest.body.teachers = teachers.clone();
    }

    fn save_manifest(&mut self) -> Result<()> {
        let rows = &self.results.rows;
        self.manifest.body.keys = rows
            .iter()
            .filter_map(|r| Some((r.key_hash.clone(), self.keys.get(&r.key_hash)?.clone())))
            .collect();
        self.manifest.save(&self.manifest_path)
    }

    /// Marks the run finished and hands back what it produced.
    pub fn finish(mut self) -> Result<RunSummary> {
        let failures = self.manifest.body.failures.clone();
        self.manifest.state = State::finished(failures.len());
        self.save_manifest()?;
        self.events.emit(&Event::Finished {
            failures: failures.len(),
        });
        Ok(RunSummary {
            n_attacked: self.manifest.body.n_attack.attacked,
            results: self.results.path.clone(),
            manifest: self.manifest_path,
            rows: self.results.rows,
            failures,
        })
    }
}

fn run_body<'a>(
    cfg: &'a RunConfig,
    setup: &Setup,
    attacked: usize,
    stale_keys: BTreeMap<String, CellKey>,
) -> RunBody<'a> {
    let data = &setup.data;
    RunBody {
        config: cfg,
        dataset: DatasetEntry {
            name: data.name.clone(),
            sha256: data.hash.clone(),
            shape: data.shape,
            classes: data.num_classes,
            train: data.train_labels.size()[0],
            test: data.test_labels.size()[0],
            normalization: Some(data.normalization.clone()),
        },
        n_attack: NAttack {
            asked: cfg.n_attack,
            attacked,
        },
        keys: BTreeMap::new(),
        stale_keys,
        failures: Vec::new(),
        teachers: BTreeMap::new(),
    }
}
