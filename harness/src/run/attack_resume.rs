//! An attack row that survives a stop: after a batch, once the run's checkpoint interval has
//! passed (or at once when SIGUSR1 asks the run to stop), the batches done so far — robust
//! flags, adversarial predictions, perturbation norms, the adversarial images when they are to be
//! saved, the call counts and seconds — go to the row's checkpoint; a rerun starts after them.
//! Each batch's attack is seeded by (cell seed, batch index), so a resumed row equals an
//! uninterrupted one.

use super::checkpoints::{interval, write_whole};
use super::evaluate::Batches;
use super::Ctx;
use ddbench_nn::resume::SavedFile;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

pub struct AttackSaver<'a> {
    file: PathBuf,
    every: Duration,
    last: Instant,
    stop: &'a dyn Fn() -> bool,
    device: Device,
}

fn cat(parts: &[Tensor]) -> Tensor {
    Tensor::cat(parts, 0).to_device(Device::Cpu)
}

impl<'a> AttackSaver<'a> {
    pub fn new(file: &Path, ctx: &Ctx<'a>) -> Self {
        AttackSaver {
            file: file.to_path_buf(),
            every: interval(ctx.cfg),
            last: Instant::now(),
            stop: ctx.stop,
            device: ctx.device,
        }
    }

    /// The batches a checkpoint holds and how many (none without a file, or when the images
    /// are wanted and it has none).
    pub fn load(&self, adversarial: bool, nb: i64) -> Result<(Batches, i64), String> {
        if !self.file.exists() {
            return Ok((Batches::default(), 0));
        }
        let saved = SavedFile::read(&self.file, "delete it to start the attack over")?;
        let bad = |what: String| saved.bad(what);
        let get = |k: &str| saved.get(k).map(|t| t.to_device(self.device));
        if adversarial && !saved.has("adversarial") {
            return Ok((Batches::default(), 0));
        }
        let done = get("done")?.int64_value(&[0]);
        if !(1..=nb).contains(&done) {
            return Err(bad(format!("{done} batches done, expected 1 to {nb}")));
        }
        let calls = get("calls")?;
        let out = Batches {
            robust: vec![get("robust")?.to_kind(Kind::Bool)],
            adv_pred: vec![get("adv_pred")?],
            pert: vec![get("pert")?],
            adversarial: if adversarial {
                vec![get("adversarial")?]
            } else {
                Vec::new()
            },
            forward: calls.int64_value(&[0]) as u64,
            backward: calls.int64_value(&[1]) as u64,
            earlier_seconds: get("seconds")?.double_value(&[0]),
        };
        Ok((out, done))
    }

    /// After batch `done` of `nb`: saves when due or asked to stop (not after the last one);
    /// a stop is an error once saved.
    pub fn after_batch(
        &mut self,
        out: &Batches,
        done: i64,
        nb: i64,
        seconds: f64,
    ) -> Result<(), String> {
        let stop = (self.stop)();
        if done >= nb || !(stop || self.last.elapsed() >= self.every) {
            return Ok(());
        }
        let mut named = vec![
            ("done".to_string(), Tensor::from_slice(&[done])),
            (
                "calls".into(),
                Tensor::from_slice(&[out.forward as i64, out.backward as i64]),
            ),
            ("seconds".into(), Tensor::from_slice(&[seconds])),
            ("robust".into(), cat(&out.robust).to_kind(Kind::Uint8)),
            ("adv_pred".into(), cat(&out.adv_pred)),
            ("pert".into(), cat(&out.pert)),
        ];
        if !out.adversarial.is_empty() {
            named.push(("adversarial".into(), cat(&out.adversarial)));
        }
        write_whole(&self.file, &named)?;
        self.last = Instant::now();
        if stop {
            return Err(format!(
                "{} after batch {done}/{nb} (saved in {}; a rerun goes on from there)",
                ddbench_nn::resume::STOPPED,
                self.file.display()
            ));
        }
        Ok(())
    }

    /// The attack is done: its checkpoint goes.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.file);
    }
}
