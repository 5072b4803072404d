//! The `cuda-graphs` lever: a hot loop's fixed-shape step captured once as a CUDA graph
//! (`ddbench_torch_shim::graph`) and replayed, so the GPU runs the whole step (crop + flip,
//! forward, backward, optimiser) as one launch instead of waiting on the host between kernels.
//! The train step is the one graphed here: the same work as the eager figure's one-batch epoch
//! (the batch is not shuffled: one batch has nothing to shuffle). At capture, the batch's loss
//! before and after a few replays is logged, the evidence that the replays train.

use super::levers::Levers;
use ddbench_nn::{Model, TrainConfig};
use ddbench_torch_shim::graph::CudaGraph;
use ddbench_torch_shim::levers::AutocastBf16;
use std::cell::RefCell;
use tch::{Device, Kind, Tensor};

/// The cross-entropy of `model` on the batch (no augmentation, no gradient), read on the host.
fn batch_loss(model: &Model, x: &Tensor, y: &Tensor) -> f64 {
    tch::no_grad(|| {
        model
            .forward_t(x, false)
            .log_softmax(-1, Kind::Float)
            .nll_loss(y)
            .double_value(&[])
    })
}

/// One SGD step of `model` on the batch (`cfg`'s optimiser and augmentation), captured; each
/// call of the result replays it. `name` labels the log line.
pub fn train_step(
    name: &str,
    dev: Device,
    l: Levers,
    model: Model,
    x: &Tensor,
    y: &Tensor,
    cfg: &TrainConfig,
) -> Result<Box<dyn FnMut()>, String> {
    let opt = RefCell::new(ddbench_nn::train::optimizer(
        model.vs.trainable_variables(),
        cfg,
    )?);
    let (x, y) = (x.shallow_clone(), y.shallow_clone());
    let before = batch_loss(&model, &x, &y);
    let graph = {
        // autocast acts when the kernels are captured, not when they are replayed
        let _bf16 = match l.bf16 {
            true => Some(AutocastBf16::new(dev)?),
            false => None,
        };
        CudaGraph::capture(dev, 3, &mut || opt.borrow_mut().zero_grad(), &mut || {
            let xa = cfg.augment.apply(&x, cfg.crop_pad, cfg.flip);
            let loss = model
                .forward_t(&xa, true)
                .log_softmax(-1, Kind::Float)
                .nll_loss(&y);
            loss.f_backward().map_err(|e| e.to_string())?;
            opt.borrow_mut().step()
        })?
    };
    for _ in 0..5 {
        graph.replay()?;
    }
    eprintln!(
        "lever cuda-graphs: {name} captured; loss on the batch {before:.4} before, {:.4} after 3 \
         warm-up steps and 5 replays",
        batch_loss(&model, &x, &y)
    );
    Ok(Box::new(move || {
        let _keep = (&model, &opt, &x, &y);
        graph.replay().expect("CUDA graph replay");
    }))
}
