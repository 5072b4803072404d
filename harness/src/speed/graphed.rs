//! The `cuda-graphs` lever: a hot loop's fixed-shape step (`steps.rs`) captured once as a CUDA
//! graph (`ddbench_torch_shim::graph`) and replayed, so the GPU runs the whole step (crop + flip,
//! forward, backward — double backward for GUARD's CIFAR form, the ten PGD steps of adversarial
//! training — and the optimiser) as one launch instead of waiting on the host between kernels.
//! At capture, the batch's loss before and after the warm-up steps and a few replays is logged:
//! the evidence that the replays train.

use super::levers::Levers;
use super::steps::Step;
use ddbench_torch_shim::graph::CudaGraph;
use ddbench_torch_shim::levers::AutocastBf16;
use tch::Device;

/// `step` captured on `dev` (under bf16 autocast when that lever is on); each call of the result
/// replays it `replays` times. `loss` reads the batch's loss for the log line, labelled `figure`.
pub fn replayed(
    figure: &str,
    dev: Device,
    l: Levers,
    mut step: Step,
    replays: usize,
    loss: &dyn Fn() -> f64,
) -> Result<Box<dyn FnMut()>, String> {
    let before = loss();
    let graph = {
        // autocast acts when the kernels are captured, not when they are replayed
        let _bf16 = match l.bf16 {
            true => Some(AutocastBf16::new(dev)?),
            false => None,
        };
        CudaGraph::capture(dev, 3, &mut *step)?
    };
    for _ in 0..5 {
        graph.replay()?;
    }
    eprintln!(
        "lever cuda-graphs: {figure} captured; loss on the batch {before:.4} before, {:.4} after 3 \
         warm-up steps and 5 replays",
        loss()
    );
    Ok(Box::new(move || {
        let _keep = &step; // the tensors the graph was captured with
        for _ in 0..replays {
            graph.replay().expect("CUDA graph replay");
        }
    }))
}
