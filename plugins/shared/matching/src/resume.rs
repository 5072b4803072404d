//! A matching distillation (DC, DSA, DM) that survives a stop. After an outer iteration, once the
//! host's checkpoint interval has passed (`DDBENCH_CHECKPOINT_EVERY`, seconds, set by the harness
//! from `--checkpoint-every`; 300 without it), or at once when SIGUSR1 asks, everything the next
//! iteration needs — the synthetic images, the image optimiser's momentum, the host generator and
//! the shuffled class members it draws real batches from, libtorch's generators, the pass counts
//! — goes to `CACHE/distilling/KEY.ckpt.pt` (KEY: the method, its resolved config, the data hash,
//! IPC and seed; written whole). A new call with the same inputs starts after the saved
//! iteration and ends with the very images an uninterrupted one gives; the file goes at the end.

use crate::common::ImageSgd;
use crate::gm::Passes;
use ddbench_nn::resume::{generators, SavedFile, StopOnUsr1, STOPPED};
use ddbench_nn::rng::HostRng;
use ddbench_plugin_api::DistillInput;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

/// The loop's state, borrowed from it.
pub struct State<'a> {
    pub syn: &'a Tensor,
    pub opt: &'a mut ImageSgd,
    pub rng: &'a mut HostRng,
    pub members: &'a mut Vec<Vec<i64>>,
    pub passes: &'a mut Passes,
}

pub struct Saver {
    file: PathBuf,
    every: Duration,
    last: Instant,
    stop: StopOnUsr1,
}

/// The interval the host asks for (`DDBENCH_CHECKPOINT_EVERY` seconds; 300 without it).
pub fn interval() -> Duration {
    let secs = std::env::var("DDBENCH_CHECKPOINT_EVERY")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(300.0);
    Duration::from_secs_f64(secs)
}

impl Saver {
    /// The saver of `method` on `input`; `method` names the code too (with its crate's
    /// version: a new version never resumes an old one's state); `config`: every setting of the
    /// method (its `Debug` text: floats in full).
    pub fn new(input: &DistillInput, method: &str, config: &str) -> Saver {
        use sha2::{Digest, Sha256};
        let text = serde_json::json!({
            "method": method, "config": config, "data": input.dataset_hash,
            "ipc": input.ipc, "seed": input.seed,
        })
        .to_string();
        let key = &hex::encode(Sha256::digest(text.as_bytes()))[..24];
        Saver {
            file: input
                .cache_dir
                .join("distilling")
                .join(format!("{key}.ckpt.pt")),
            every: interval(),
            last: Instant::now(),
            stop: StopOnUsr1::install(),
        }
    }

    /// Puts the saved state back into `st`; the outer iterations done (0 without a file).
    pub fn resume(&self, st: &mut State) -> Result<u64, String> {
        if !self.file.exists() {
            return Ok(0);
        }
        let saved = SavedFile::read(&self.file, "delete it to start over")?;
        let bad = |what: String| saved.bad(what);
        let get = |k: &str| saved.get(k);
        let dev = st.syn.device();
        let syn = get("syn")?;
        if syn.size() != st.syn.size() {
            return Err(bad(format!(
                "images {:?}, expected {:?}",
                syn.size(),
                st.syn.size()
            )));
        }
        tch::no_grad(|| st.syn.shallow_clone().copy_(syn));
        if let Ok(b) = saved.get("momentum") {
            st.opt.set_buffer(b.to_device(dev));
        }
        let v = Vec::<i64>::try_from(get("counters")?).map_err(|e| bad(e.to_string()))?;
        let [done, rng, forward, backward] = v[..] else {
            return Err(bad(format!(
                "'counters' has {} values, expected 4",
                v.len()
            )));
        };
        *st.rng = HostRng::from_state(rng as u64);
        *st.passes = Passes {
            forward: forward as u64,
            backward: backward as u64,
        };
        let flat = Vec::<i64>::try_from(get("members")?).map_err(|e| bad(e.to_string()))?;
        let lens = Vec::<i64>::try_from(get("member_counts")?).map_err(|e| bad(e.to_string()))?;
        if lens.len() != st.members.len() || lens.iter().sum::<i64>() as usize != flat.len() {
            return Err(bad("class members of another data set".into()));
        }
        let mut at = 0;
        for (m, &n) in st.members.iter_mut().zip(&lens) {
            *m = flat[at..at + n as usize].to_vec();
            at += n as usize;
        }
        for (name, d) in generators(dev) {
            ddbench_torch_shim::rng::set_state(d, get(name)?).map_err(bad)?;
        }
        Ok(done as u64)
    }

    /// After outer iteration `done` of `total`: saves when due or asked to stop (not after the
    /// last); a stop is an error once saved.
    pub fn after(&mut self, st: &State, done: u64, total: u64) -> Result<(), String> {
        let stop = self.stop.asked();
        if done >= total || !(stop || self.last.elapsed() >= self.every) {
            return Ok(());
        }
        self.save(st, done)?;
        self.last = Instant::now();
        if stop {
            return Err(format!(
                "{STOPPED} after outer iteration {done}/{total} (saved in {}; a rerun goes on from there)",
                self.file.display()
            ));
        }
        Ok(())
    }

    fn save(&self, st: &State, done: u64) -> Result<(), String> {
        let counters = [
            done as i64,
            st.rng.state() as i64,
            st.passes.forward as i64,
            st.passes.backward as i64,
        ];
        let flat: Vec<i64> = st.members.concat();
        let lens: Vec<i64> = st.members.iter().map(|m| m.len() as i64).collect();
        let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu);
        let mut named = vec![
            ("syn".to_string(), cpu(st.syn)),
            ("counters".into(), Tensor::from_slice(&counters)),
            (
                "members".into(),
                Tensor::from_slice(&flat).to_kind(Kind::Int64),
            ),
            ("member_counts".into(), Tensor::from_slice(&lens)),
        ];
        if let Some(b) = st.opt.buffer() {
            named.push(("momentum".into(), cpu(b)));
        }
        for (name, d) in generators(st.syn.device()) {
            named.push((name.into(), ddbench_torch_shim::rng::state(d)?));
        }
        ddbench_nn::resume::write_whole(&self.file, &named)
    }

    /// The distillation is done: its checkpoint goes.
    pub fn finish(self) {
        let _ = std::fs::remove_file(&self.file);
    }
}
