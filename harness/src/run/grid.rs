//! The cells a run asks for (method × IPC × seed) and, per cell, its rows (attack × ε, or one
//! clean-only row), each with its slot and cell key.

use super::subset::SUBSET_SEED;
use super::RunConfig;
use crate::cell_key::{AttackKey, CellKey, EvalKey, PluginKey, SharedKey};
use crate::data::DeviceDataset;
use crate::plugin::Plugin;
use crate::record::{cell_key, row_id};
use crate::threat::norm_name;
use std::collections::{BTreeMap, HashMap};

/// One wanted row: its attack (none for a clean-only run), ε, slot and key.
pub struct WantedRow<'a> {
    pub attack: Option<&'a Plugin>,
    pub eps: f64,
    pub slot: String,
    pub key: CellKey,
}

impl WantedRow<'_> {
    /// The id a recorded row of these inputs has (`ResultRow::id`).
    pub fn id(&self) -> String {
        row_id(&self.slot, &self.key.hash())
    }
}

/// One student: a method at one IPC and seed, and the rows asked of it.
pub struct Cell<'a> {
    pub method: &'a Plugin,
    pub ipc: i64,
    pub seed: u64,
    pub rows: Vec<WantedRow<'a>>,
}

impl Cell<'_> {
    /// `METHOD ipc IPC seed SEED`, as logs, failures and events name the cell.
    pub fn label(&self) -> String {
        format!("{} ipc {} seed {}", self.method.name, self.ipc, self.seed)
    }

    /// The IPC handed to the method (0 for a method that ignores it).
    pub fn method_ipc(&self) -> i64 {
        if ignores_ipc(self.method) {
            0
        } else {
            self.ipc
        }
    }
}

fn ignores_ipc(method: &Plugin) -> bool {
    method.flags & ddbench_plugin_api::abi::FLAG_IGNORES_IPC != 0
}

/// Everything the rows of a run share, and the plugins they vary over.
pub struct Grid<'a> {
    pub cfg: &'a RunConfig,
    pub data: &'a DeviceDataset,
    pub shared: SharedKey,
    pub methods: &'a [Plugin],
    pub attacks: &'a [Plugin],
    pub eps: Vec<f64>,
}

impl<'a> Grid<'a> {
    pub fn new(
        cfg: &'a RunConfig,
        data: &'a DeviceDataset,
        methods: &'a [Plugin],
        attacks: &'a [Plugin],
    ) -> Grid<'a> {
        let mut shared = SharedKey::new(
            data,
            cfg.arch,
            cfg.width,
            cfg.depth,
            cfg.norm_layer,
            cfg.whitening,
            cfg.protocol,
            &cfg.train,
            &cfg.soft,
            EvalKey {
                n_attack: cfg.n_attack,
                subset_seed: SUBSET_SEED,
                attack_batch: cfg.attack_batch,
            },
        );
        shared.student.batched = cfg.batch_students;
        shared.student.bf16 = cfg.bf16_students;
        Grid {
            cfg,
            data,
            shared,
            methods,
            attacks,
            eps: cfg.eps_list(),
        }
    }

    /// Every cell, in run order: methods, then IPCs, then seeds.
    pub fn cells(&self) -> Vec<Cell<'a>> {
        let train_per_class = self.data.train_labels.size()[0] / self.data.num_classes;
        let mut cells = Vec::new();
        for method in self.methods {
            // a method that ignores the IPC runs once, at the whole set's count
            let ipcs = if ignores_ipc(method) {
                vec![train_per_class]
            } else {
                self.cfg.ipcs.clone()
            };
            for ipc in ipcs {
                for seed in self.cfg.seed_range() {
                    let rows = self.rows(method, ipc, seed);
                    cells.push(Cell {
                        method,
                        ipc,
                        seed,
                        rows,
                    });
                }
            }
        }
        cells
    }

    /// Each wanted row's slot and key.
    pub fn wanted(&self) -> HashMap<String, CellKey> {
        self.cells()
            .into_iter()
            .flat_map(|c| c.rows)
            .map(|r| (r.slot, r.key))
            .collect()
    }

    fn rows(&self, method: &'a Plugin, ipc: i64, seed: u64) -> Vec<WantedRow<'a>> {
        let key = |attack: Option<AttackKey>| CellKey {
            shared: self.shared.clone(),
            method: plugin_key(method, &self.cfg.method_config),
            ipc,
            seed,
            attack,
        };
        let arch = self.cfg.arch.to_string();
        let slot = |attack: &str, norm: &str, eps: f64| {
            cell_key(
                &self.data.name,
                &method.name,
                ipc,
                &arch,
                seed,
                attack,
                norm,
                eps,
            )
        };
        if self.attacks.is_empty() {
            return vec![WantedRow {
                attack: None,
                eps: 0.0,
                slot: slot("none", "", 0.0),
                key: key(None),
            }];
        }
        let norm = norm_name(self.cfg.norm);
        let attacks: &'a [Plugin] = self.attacks;
        attacks
            .iter()
            .flat_map(|a| self.eps.iter().map(move |&e| (a, e)))
            .map(|(a, eps)| WantedRow {
                attack: Some(a),
                eps,
                slot: slot(&a.name, norm, eps),
                key: key(Some(AttackKey {
                    plugin: plugin_key(a, &self.cfg.attack_config),
                    norm: norm.into(),
                    eps,
                })),
            })
            .collect()
    }
}

fn plugin_key(p: &Plugin, configs: &BTreeMap<String, serde_json::Value>) -> PluginKey {
    PluginKey {
        name: p.name.clone(),
        version: p.version.clone(),
        config: RunConfig::config_of(configs, &p.name),
    }
}
