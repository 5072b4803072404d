//! The speed levers `ddbench speed --levers` turns on, each checked against the device: bf16
//! autocast (through the `ddbench-torch-shim` C++ shim) on CUDA and on a CPU that computes bf16
//! natively (AVX512-BF16 or AMX; elsewhere libtorch emulates it, slower than float32);
//! channels-last (shim) and cuDNN autotuning on CUDA only (channels-last ConvNet-3 steps ran at
//! half the speed of contiguous ones on the CPU). A lever the device cannot use falls back to
//! float32 / contiguous / nothing with a log line, never a crash. Fused optimiser steps (`fused`:
//! ATen's multi-tensor SGD/AdamW kernels for the students and teachers) and GUARD's shared clean
//! pass (`shared-pass`: one forward and one input backward fewer per teacher step) run on every
//! device.
//! CUDA graphs (`graphed.rs`: the train step captured and replayed) need CUDA and a build
//! against the CUDA headers; a capture that fails falls back to eager steps with a line.

use ddbench_nn::{Model, TrainConfig};
use ddbench_sre2l::Sre2lConfig;
use ddbench_torch_shim::levers::{channels_last_, computes_bf16, AutocastBf16};
use tch::{Device, Tensor};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Levers {
    pub bf16: bool,
    pub channels_last: bool,
    pub cudnn_benchmark: bool,
    pub cuda_graphs: bool,
    pub fused: bool,
    /// GUARD teacher steps with one clean pass for ĝ and the curvature term (an algorithmic
    /// lever: one forward and one input backward fewer; every device).
    pub shared_pass: bool,
}

impl std::str::FromStr for Levers {
    type Err = String;
    /// A comma-separated list: `bf16`, `channels-last`, `cudnn-benchmark`, `cuda-graphs`,
    /// `fused`, `shared-pass`, or `eager` (none).
    fn from_str(s: &str) -> Result<Levers, String> {
        let mut l = Levers::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "eager" => {}
                "bf16" => l.bf16 = true,
                "channels-last" => l.channels_last = true,
                "cudnn-benchmark" => l.cudnn_benchmark = true,
                "cuda-graphs" => l.cuda_graphs = true,
                "fused" => l.fused = true,
                "shared-pass" => l.shared_pass = true,
                other => {
                    return Err(format!(
                        "unknown lever '{other}' (expected bf16, channels-last, cudnn-benchmark, \
                         cuda-graphs, fused, shared-pass or eager)"
                    ))
                }
            }
        }
        Ok(l)
    }
}

impl Levers {
    /// What `dev` can use of these, each dropped one said through `log`.
    pub fn resolve(self, dev: Device, log: &dyn Fn(&str)) -> Levers {
        let mut l = self;
        if l.bf16 && !computes_bf16(dev) {
            log("lever bf16 autocast: this CPU has no native bf16 (AVX512-BF16 or AMX); float32");
            l.bf16 = false;
        }
        if !dev.is_cuda() {
            for (on, what) in [
                (
                    &mut l.channels_last,
                    "channels-last: CUDA only here; contiguous on the CPU",
                ),
                (
                    &mut l.cudnn_benchmark,
                    "cudnn-benchmark: no cuDNN on the CPU",
                ),
            ] {
                if *on {
                    log(&format!("lever {what}"));
                    *on = false;
                }
            }
        }
        if l.cuda_graphs && !dev.is_cuda() {
            log("lever cuda-graphs: CUDA only; eager steps");
            l.cuda_graphs = false;
        } else if l.cuda_graphs && !ddbench_torch_shim::graph::built() {
            log("lever cuda-graphs: this build has no CUDA graphs (no CUDA headers); eager steps");
            l.cuda_graphs = false;
        }
        l
    }

    /// The name figures carry: `eager`, or the levers in use joined by `+`.
    pub fn name(&self) -> String {
        let on: Vec<&str> = [
            (self.bf16, "bf16"),
            (self.channels_last, "channels-last"),
            (self.cudnn_benchmark, "cudnn-benchmark"),
            (self.cuda_graphs, "cuda-graphs"),
            (self.fused, "fused"),
            (self.shared_pass, "shared-pass"),
        ]
        .iter()
        .filter(|(b, _)| *b)
        .map(|(_, n)| *n)
        .collect();
        if on.is_empty() {
            "eager".into()
        } else {
            on.join("+")
        }
    }

    pub fn dtype(&self) -> &'static str {
        if self.bf16 {
            "bfloat16 (autocast)"
        } else {
            "float32"
        }
    }

    /// Process-wide settings (cuDNN autotuning).
    pub fn apply_global(&self) {
        if self.cudnn_benchmark {
            tch::Cuda::cudnn_set_benchmark(true);
        }
    }

    /// A student's training settings with this lever set's optimiser kernels.
    pub fn train(&self, cfg: TrainConfig) -> TrainConfig {
        TrainConfig {
            fused_optimizer: self.fused,
            ..cfg
        }
    }

    /// A teacher's settings with this lever set's optimiser kernels and GUARD pass.
    pub fn teacher(&self, cfg: Sre2lConfig) -> Sre2lConfig {
        Sre2lConfig {
            teacher_fused_sgd: self.fused,
            guard_shared_pass: self.shared_pass,
            ..cfg
        }
    }

    /// `model`'s parameters laid out channels-last when that lever is on.
    pub fn model(&self, model: &Model) {
        if self.channels_last {
            for v in model.vs.trainable_variables() {
                channels_last_(&v).expect("channels-last parameters");
            }
        }
    }

    /// An input batch laid out channels-last when that lever is on.
    pub fn input(&self, x: &Tensor) -> Tensor {
        let x = x.copy();
        if self.channels_last {
            channels_last_(&x).expect("channels-last input");
        }
        x
    }

    /// `run` under bf16 autocast when that lever is on.
    pub fn wrap(&self, dev: Device, mut run: Box<dyn FnMut()>) -> Box<dyn FnMut()> {
        if !self.bf16 {
            return run;
        }
        Box::new(move || {
            let _g = AutocastBf16::new(dev).expect("bf16 autocast");
            run()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levers_parse_and_fall_back_on_a_cpu_with_a_line_each() {
        let l: Levers = "bf16, channels-last,cudnn-benchmark,cuda-graphs,fused,shared-pass"
            .parse()
            .unwrap();
        assert!(l.bf16 && l.channels_last && l.cudnn_benchmark && l.cuda_graphs && l.fused);
        assert!(l.shared_pass);
        assert_eq!("eager".parse::<Levers>().unwrap(), Levers::default());
        assert!("fp8"
            .parse::<Levers>()
            .unwrap_err()
            .contains("unknown lever 'fp8'"));
        let said = std::cell::RefCell::new(Vec::<String>::new());
        let r = l.resolve(Device::Cpu, &|m| said.borrow_mut().push(m.into()));
        let said = said.into_inner();
        // bf16 stays on a CPU with native bf16 (this one's flags decide), fused everywhere, the
        // rest fall back
        let native = computes_bf16(Device::Cpu);
        let kept = Levers {
            bf16: native,
            fused: true,
            shared_pass: true,
            ..Levers::default()
        };
        assert_eq!(r, kept);
        let name = if native {
            "bf16+fused+shared-pass"
        } else {
            "fused+shared-pass"
        };
        assert_eq!(r.name(), name);
        assert!(r.train(TrainConfig::default()).fused_optimizer);
        let teacher = r.teacher(Sre2lConfig::default());
        assert!(teacher.teacher_fused_sgd && teacher.guard_shared_pass);
        let eager = Levers::default();
        assert!(!eager.train(TrainConfig::default()).fused_optimizer);
        assert!(!eager.teacher(Sre2lConfig::default()).guard_shared_pass);
        assert_eq!(said.len(), 4 - usize::from(native), "{said:?}");
        assert_eq!(
            said.iter()
                .any(|m| m.contains("bf16 autocast: this CPU has no native bf16")),
            !native,
            "{said:?}"
        );
        assert!(said
            .iter()
            .any(|m| m.contains("channels-last: CUDA only here")));
        assert!(
            said.last().unwrap().contains("cuda-graphs: CUDA only"),
            "{said:?}"
        );
        // on CUDA all stay (the graphs where this build has them)
        let r = l.resolve(Device::Cuda(0), &|_| {});
        let graphs = ddbench_torch_shim::graph::built();
        assert_eq!(r.cuda_graphs, graphs);
        let all = "bf16+channels-last+cudnn-benchmark+cuda-graphs+fused+shared-pass";
        let name = if graphs {
            all.to_string()
        } else {
            all.replace("+cuda-graphs", "")
        };
        assert_eq!(r.name(), name);
        assert_eq!(r.dtype(), "bfloat16 (autocast)");
    }

    #[test]
    fn the_lever_paths_run_where_libtorch_has_them() {
        // the CPU has libtorch's bf16 autocast and channels-last kernels, so the paths a CUDA
        // run takes are exercised here (resolve() is what keeps them off on a CPU)
        let l = Levers {
            bf16: true,
            channels_last: true,
            ..Levers::default()
        };
        let spec = ddbench_nn::ModelSpec::convnet([3, 16, 16], 4, vec![0.5; 3], vec![0.25; 3]);
        let m = Model::new(&spec, Device::Cpu);
        l.model(&m);
        let w = &m.vs.variables()["net.block0.conv.weight"];
        assert!(ddbench_torch_shim::levers::is_channels_last(w));
        let x = l.input(&Tensor::rand(
            [2, 3, 16, 16],
            (tch::Kind::Float, Device::Cpu),
        ));
        let out = std::rc::Rc::new(std::cell::RefCell::new(None));
        let o = out.clone();
        let m = std::rc::Rc::new(m);
        let mut run = l.wrap(
            Device::Cpu,
            Box::new(move || *o.borrow_mut() = Some(m.forward_t(&x, false).kind())),
        );
        run();
        assert_eq!(*out.borrow(), Some(tch::Kind::BFloat16));
    }
}
