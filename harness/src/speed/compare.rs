//! `ddbench speed --compare`: the repository's PyTorch reference run in the same call, and the
//! ratio table.

use super::{Figure, SpeedArgs};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// `bench/pytorch_reference.py` of this checkout (found from the binary's folder upwards, then
/// the working directory).
fn script() -> Result<PathBuf> {
    let rel = Path::new("bench/pytorch_reference.py");
    let exe = std::env::current_exe().ok();
    let from_exe = exe
        .iter()
        .flat_map(|p| p.ancestors().skip(1))
        .map(|d| d.join(rel));
    from_exe
        .chain(std::iter::once(rel.to_path_buf()))
        .find(|p| p.is_file())
        .context(
            "bench/pytorch_reference.py not found next to this build or in the working directory",
        )
}

fn python(args: &SpeedArgs, script: &Path) -> PathBuf {
    if let Some(p) = &args.python {
        return p.clone();
    }
    let venv = script
        .parent()
        .and_then(Path::parent)
        .map(|r| r.join(".venv/bin/python"));
    venv.filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// The reference's figures, run with this call's device, batch, calls and filter.
pub fn reference(
    args: &SpeedArgs,
    dev: tch::Device,
    batch: i64,
    levers: super::levers::Levers,
) -> Result<Vec<Figure>> {
    let script = script()?;
    let py = python(args, &script);
    let mut cmd = std::process::Command::new(&py);
    cmd.arg(&script)
        .args(["--device", if dev.is_cuda() { "cuda" } else { "cpu" }])
        .args([
            "--batch",
            &batch.to_string(),
            "--iters",
            &args.iters.to_string(),
        ]);
    if let Some(o) = &args.only {
        cmd.args(["--only", o]);
    }
    if args.e2e {
        cmd.args(["--e2e", "--e2e-scale", &args.e2e_scale.to_string()]);
    }
    if dev.is_cuda() {
        // the figures a CUDA user would reach for beyond eager: torch.compile and bf16 autocast
        cmd.args(["--compile", "--bf16"]);
    } else if levers.bf16 {
        // ddbench's figures use bf16 autocast on this CPU: the reference's bf16 figure beside them
        cmd.arg("--bf16");
    }
    if levers.fused {
        // ddbench's optimiser steps are fused: PyTorch's fused=True figures beside them
        cmd.arg("--fused");
    }
    if args.tuned_reference {
        cmd.arg("--malloc-tuned");
    }
    if levers.shared_pass {
        // ddbench's GUARD steps share their clean pass: the reference written that way beside them
        cmd.arg("--shared-pass");
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {} {}", py.display(), script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("reference line {l}")))
        .collect()
}
