// libtorch's SGD and AdamW stepping with ATen's fused multi-tensor kernels (`_fused_sgd_`,
// `_fused_adamw_`, as `torch.optim.SGD(fused=True)` / `AdamW(fused=True)`): one kernel per step
// for all parameters instead of a handful per parameter. They keep libtorch's state objects
// (momentum buffers; step counts and moments), so a state saved by one kind loads into the other.
#pragma once
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <vector>

class FusedSGD : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  at::Tensor step(LossClosure closure = nullptr) override;
};

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  at::Tensor step(LossClosure closure = nullptr) override;
};

// One fused SGD step over `params` (their `grads`, and `bufs` when momentum is not 0: written as
// the first step's when `first`, else updated), as libtorch's SGD steps each parameter.
void fused_sgd(const std::vector<at::Tensor> &params, const std::vector<at::Tensor> &grads,
               const std::vector<at::Tensor> &bufs, const torch::optim::SGDOptions &o, bool first);
