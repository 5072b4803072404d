//! `ddbench speed`: images per second of the hot loops (`workloads.rs`), as JSON lines; with
//! `--compare`, the PyTorch reference of this repository (`bench/pytorch_reference.py`, the same
//! models, batch, loss and augmentation in eager PyTorch) runs in the same call on the same
//! device, and a table of ratios (ddbench / PyTorch, > 1: ddbench faster) follows. Every figure
//! carries its device, batch, dtype and lever set; `--out FILE` appends them as JSON lines.

mod compare;
pub mod end_to_end;
mod graphed;
pub mod levers;
pub mod steps;
mod table;
pub mod workloads;

use crate::device::{self, DeviceChoice};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct SpeedArgs {
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Batch size (default 256 on CUDA, 32 on CPU).
    #[arg(long)]
    pub batch: Option<i64>,
    /// Timed calls per figure (after warm-up calls; the attacks and the student take half, the five
    /// students a quarter).
    #[arg(long, default_value_t = 20)]
    pub iters: u32,
    /// Only the figures whose name contains this text (or one of these comma-separated texts).
    #[arg(long)]
    pub only: Option<String>,
    /// Also run bench/pytorch_reference.py with the same device, batch and calls, and print
    /// the ratios.
    #[arg(long)]
    pub compare: bool,
    /// Run the reference with ddbench's glibc malloc tuning (`ddbench::alloc`: no mmap for large
    /// blocks, no trimming; its figures say `malloc-tuned`), so that the ratios compare the code
    /// and not the allocator; by default it runs as a user's script does.
    #[arg(long, requires = "compare")]
    pub tuned_reference: bool,
    /// The Python that runs the reference (default: .venv/bin/python, else python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Measure this many rounds, each ddbench's figures then (with --compare) the reference's;
    /// every line carries its round, and the table gives medians and the range of the per-round
    /// ratios (a 2-core CPU's figures move by ±15 % between calls).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Append every figure (both sides) to this JSON-lines file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Speed levers for ddbench's figures, comma-separated: bf16 (autocast), channels-last,
    /// cudnn-benchmark, cuda-graphs, fused (optimiser steps), shared-pass (GUARD's clean pass
    /// shared by ĝ and the curvature term); a lever the device cannot use falls back with a line
    /// (bf16 runs on CUDA and on CPUs with native bf16, fused and shared-pass everywhere, the
    /// others on CUDA only).
    #[arg(long, default_value = "eager")]
    pub levers: levers::Levers,
    /// The end-to-end workloads instead of the hot loops, each run once: a DD cell (five IPC 10
    /// students, 300 epochs, clean eval on 10,000, PGD-10 on 1,000), GUARD and PGD-AT teacher
    /// epochs on 50,000 images, AutoAttack standard on 1,000.
    #[arg(long)]
    pub e2e: bool,
    /// Scales every count of --e2e (epochs, images), for machines that cannot run the full size.
    #[arg(long, default_value_t = 1.0)]
    pub e2e_scale: f64,
}

/// One measured figure.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Figure {
    pub figure: String,
    /// Images per second.
    pub value: f64,
    #[serde(rename = "impl")]
    pub implementation: String,
    pub device: String,
    pub batch: i64,
    #[serde(default)]
    pub dtype: String,
    /// The speed levers in use (`eager`; `compiled`, `bf16`, `fused` on the reference's).
    #[serde(default)]
    pub levers: String,
    /// Its round (1, 2, …) when `--rounds` is above 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
}

/// Whether figure `name` is selected by `--only`'s comma-separated texts (every figure without).
fn wanted(only: Option<&str>, name: &str) -> bool {
    only.is_none_or(|o| o.split(',').any(|part| name.contains(part)))
}

fn sync(d: tch::Device) {
    if let tch::Device::Cuda(i) = d {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Seconds per call of `f`, after `warm` untimed calls.
pub fn time_it(dev: tch::Device, iters: u32, warm: u32, f: &mut dyn FnMut()) -> f64 {
    for _ in 0..warm {
        f();
    }
    sync(dev);
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync(dev);
    t.elapsed().as_secs_f64() / iters as f64
}

/// ddbench's figures on `dev`.
fn measure(
    dev: tch::Device,
    desc: &str,
    b: i64,
    args: &SpeedArgs,
    l: levers::Levers,
    round: Option<u32>,
) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let list = if args.e2e {
        end_to_end::all(dev, b, l, args.e2e_scale)?
    } else {
        workloads::all(dev, b, l)?
    };
    for mut w in list {
        if !wanted(args.only.as_deref(), &w.figure) {
            continue;
        }
        let heavy = w.figure.contains("pgd10")
            || w.figure.contains("square")
            || w.figure.contains("student");
        let several = w.figure.contains("students") || w.figure == "e2e.dd_cell";
        let (iters, warm) = match (several, heavy) {
            _ if args.e2e => (1, 0),
            (true, _) => ((args.iters / 4).max(1), 1),
            (false, true) => ((args.iters / 2).max(1), 2),
            (false, false) => (args.iters, 2),
        };
        let s = time_it(dev, iters, warm, &mut w.run);
        let f = Figure {
            figure: w.figure,
            value: (w.images as f64 / s * 100.0).round() / 100.0,
            implementation: "ddbench".into(),
            device: desc.into(),
            batch: b,
            dtype: l.dtype().into(),
            levers: match (several, l.name().as_str()) {
                (true, "eager") => "batched".into(),
                (true, n) => format!("batched+{n}"),
                (false, n) => n.into(),
            },
            round,
        };
        println!("{}", serde_json::to_string(&f)?);
        out.push(f);
    }
    Ok(out)
}

pub fn run(args: &SpeedArgs) -> Result<()> {
    let (dev, desc) = device::select(args.device)?;
    let b = args.batch.unwrap_or(if dev.is_cuda() { 256 } else { 32 });
    let l = args
        .levers
        .resolve(dev, &|m| eprintln!("ddbench speed: {m}"));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 1..=args.rounds {
        let round = (args.rounds > 1).then_some(r);
        ours.extend(measure(dev, &desc, b, args, l, round)?);
        if args.compare {
            for mut f in compare::reference(args, dev, b, l)? {
                f.round = round;
                println!("{}", serde_json::to_string(&f)?);
                theirs.push(f);
            }
        }
    }
    if args.compare {
        println!("\n{}", table::table(&ours, &theirs));
    }
    let figures = [ours, theirs].concat();
    if let Some(p) = &args.out {
        let mut text = String::new();
        for f in &figures {
            text.push_str(&serde_json::to_string(f)?);
            text.push('\n');
        }
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .with_context(|| format!("appending to {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_selects_figures_containing_any_of_its_texts() {
        let w = |o: Option<&str>, n: &str| super::wanted(o, n);
        assert!(w(None, "convnet3.train_step"));
        assert!(w(Some("convnet3"), "convnet3.train_step"));
        assert!(!w(Some("resnet18"), "convnet3.train_step"));
        let steps = Some("_step,student_ipc10");
        assert!(w(steps, "resnet18.guard_cifar_step"));
        assert!(w(steps, "convnet3.student_ipc10"));
        assert!(!w(steps, "convnet3.pgd10_linf"));
        assert!(!w(steps, "convnet3.students5_ipc10"));
    }
}
