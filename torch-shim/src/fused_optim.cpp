// The fused steps of `fused_optim.h`.
#include "fused_optim.h"

#include <ATen/ATen.h>

#include <map>

using torch::optim::AdamWOptions;
using torch::optim::AdamWParamState;
using torch::optim::SGDOptions;
using torch::optim::SGDParamState;

void fused_sgd(const std::vector<at::Tensor> &params, const std::vector<at::Tensor> &grads,
               const std::vector<at::Tensor> &bufs, const SGDOptions &o, bool first) {
  if (params.empty()) return;
  at::_fused_sgd_(params, grads, bufs, o.weight_decay(), o.momentum(), o.lr(), o.dampening(),
                  o.nesterov(), /*maximize=*/false, first);
}

// The loss of `closure`, if there is one, computed with gradients (as libtorch's optimisers do).
static at::Tensor evaluate(const torch::optim::Optimizer::LossClosure &closure) {
  if (closure == nullptr) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

// The parameters of one group that have a gradient, split by whether their momentum buffer
// exists (libtorch makes it on a parameter's first step, the clone of that step's gradient).
struct SgdLists {
  std::vector<at::Tensor> params, grads, bufs;
};

at::Tensor FusedSGD::step(LossClosure closure) {
  at::Tensor loss = evaluate(closure);
  at::NoGradGuard no_grad;
  for (auto &group : param_groups_) {
    auto &o = static_cast<SGDOptions &>(group.options());
    SgdLists later, first;
    for (auto &p : group.params()) {
      if (!p.grad().defined()) continue;
      if (o.momentum() == 0) {
        later.params.push_back(p);
        later.grads.push_back(p.grad());
        continue;
      }
      auto it = state_.find(p.unsafeGetTensorImpl());
      SgdLists &into = it == state_.end() ? first : later;
      at::Tensor buf;
      if (it == state_.end()) {
        buf = at::empty_like(p.grad(), at::MemoryFormat::Preserve);
        auto s = std::make_unique<SGDParamState>();
        s->momentum_buffer(buf);
        state_[p.unsafeGetTensorImpl()] = std::move(s);
      } else {
        buf = static_cast<SGDParamState &>(*it->second).momentum_buffer();
      }
      into.params.push_back(p);
      into.grads.push_back(p.grad());
      into.bufs.push_back(buf);
    }
    fused_sgd(later.params, later.grads, later.bufs, o, false);
    fused_sgd(first.params, first.grads, first.bufs, o, true);
  }
  return loss;
}

// The parameters of one group that have a gradient and reach the same step count (libtorch counts
// per parameter; they differ only where some parameter had no gradient at some step).
struct AdamLists {
  std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs;
};

at::Tensor FusedAdamW::step(LossClosure closure) {
  at::Tensor loss = evaluate(closure);
  at::NoGradGuard no_grad;
  for (auto &group : param_groups_) {
    auto &o = static_cast<AdamWOptions &>(group.options());
    TORCH_CHECK(!o.amsgrad(), "the fused AdamW here has no AMSGrad");
    std::map<int64_t, AdamLists> by_step;
    for (auto &p : group.params()) {
      if (!p.grad().defined()) continue;
      auto key = p.unsafeGetTensorImpl();
      if (state_.find(key) == state_.end()) {
        auto s = std::make_unique<AdamWParamState>();
        s->step(0);
        s->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        s->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        state_[key] = std::move(s);
      }
      auto &s = static_cast<AdamWParamState &>(*state_[key]);
      s.step(s.step() + 1);
      auto &l = by_step[s.step()];
      l.params.push_back(p);
      l.grads.push_back(p.grad());
      l.exp_avgs.push_back(s.exp_avg());
      l.exp_avg_sqs.push_back(s.exp_avg_sq());
    }
    for (auto &[step, l] : by_step) {
      // the kernel reads each parameter's step count from a float tensor on its device: one
      // fill for all of them (no copy from the host)
      auto steps = at::full({static_cast<int64_t>(l.params.size())}, static_cast<double>(step),
                            l.params[0].options().dtype(at::kFloat));
      at::_fused_adamw_(l.params, l.grads, l.exp_avgs, l.exp_avg_sqs, {}, steps.unbind(0),
                        o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.weight_decay(),
                        o.eps(), /*amsgrad=*/false, /*maximize=*/false);
    }
  }
  return loss;
}
