// libtorch's own optimisers (the classes tch's `nn::sgd` / `nn::adamw` build), made here so that
// their state — momentum buffers, Adam moments and step counts, each group's options — can be
// written out and read back (`Optimizer::save` / `load` through a serialize archive), which tch
// does not expose. Parameters are given in tch's order (the VarStore's trainable variables), so a
// state saved by one process is put back on the same parameters by the next.
#include "fused_optim.h"

#include <ATen/autocast_mode.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/archive.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

using Sink = void (*)(void *ctx, const void *data, size_t len);

static void message(const std::exception &e, char *err, size_t err_len) {
  std::string what = e.what();
  std::snprintf(err, err_len, "%s", what.substr(0, what.find('\n')).c_str());
}

static std::vector<at::Tensor> tensors(void **params, size_t n) {
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < n; ++i) out.push_back(*static_cast<at::Tensor *>(params[i]));
  return out;
}

static torch::optim::SGDOptions sgd_options(double lr, double momentum, double dampening,
                                            double weight_decay, int nesterov) {
  return torch::optim::SGDOptions(lr)
      .momentum(momentum)
      .dampening(dampening)
      .weight_decay(weight_decay)
      .nesterov(nesterov != 0);
}

static torch::optim::Optimizer *opt(void *o) { return static_cast<torch::optim::Optimizer *>(o); }

extern "C" void *ddbench_optim_sgd(void **params, size_t n, double lr, double momentum,
                                   double dampening, double weight_decay, int nesterov, int fused,
                                   char *err, size_t err_len) {
  try {
    auto o = sgd_options(lr, momentum, dampening, weight_decay, nesterov);
    if (fused) return new FusedSGD(tensors(params, n), o);
    return new torch::optim::SGD(tensors(params, n), o);
  } catch (const std::exception &e) {
    message(e, err, err_len);
    return nullptr;
  }
}

extern "C" void *ddbench_optim_adamw(void **params, size_t n, double lr, double beta1,
                                     double beta2, double weight_decay, double eps, int fused,
                                     char *err, size_t err_len) {
  try {
    auto o = torch::optim::AdamWOptions(lr)
                 .betas(std::make_tuple(beta1, beta2))
                 .weight_decay(weight_decay)
                 .eps(eps)
                 .amsgrad(false);
    if (fused) return new FusedAdamW(tensors(params, n), o);
    return new torch::optim::AdamW(tensors(params, n), o);
  } catch (const std::exception &e) {
    message(e, err, err_len);
    return nullptr;
  }
}

// One fused SGD step over `n` parameters, their gradients and (momentum not 0) their momentum
// buffers, written as a first step's when `first` (an update made outside an optimiser, such as the
// teacher's, whose buffers live by name in its checkpoints). 0, or 1 with the message.
extern "C" int ddbench_fused_sgd_(void **params, void **grads, void **bufs, size_t n, double lr,
                                  double momentum, double dampening, double weight_decay,
                                  int nesterov, int first, char *err, size_t err_len) {
  try {
    auto o = sgd_options(lr, momentum, dampening, weight_decay, nesterov);
    at::NoGradGuard no_grad;
    fused_sgd(tensors(params, n), tensors(grads, n),
              momentum == 0 ? std::vector<at::Tensor>{} : tensors(bufs, n), o, first != 0);
    at::autocast::clear_cache();
    return 0;
  } catch (const std::exception &e) {
    message(e, err, err_len);
    return 1;
  }
}

extern "C" void ddbench_optim_free(void *o) { delete opt(o); }

// Sets the learning rate of every group (as tch's `set_lr`).
extern "C" void ddbench_optim_set_lr(void *o, double lr) {
  for (auto &g : opt(o)->param_groups()) g.options().set_lr(lr);
}

extern "C" int ddbench_optim_zero_grad(void *o, char *err, size_t err_len) {
  try {
    opt(o)->zero_grad();
    return 0;
  } catch (const std::exception &e) {
    message(e, err, err_len);
    return 1;
  }
}

// One step. The parameters changed, so autocast's cached low-precision copies of them (kept while
// an autocast region lasts, and ddbench's spans a whole training) are stale: they are dropped.
extern "C" int ddbench_optim_step(void *o, char *err, size_t err_len) {
  try {
    opt(o)->step();
    at::autocast::clear_cache();
    return 0;
  } catch (const std::exception &e) {
    message(e, err, err_len);
    return 1;
  }
}

// Writes the optimiser's state (libtorch's archive format) through `sink`.
extern "C" int ddbench_optim_save(void *o, Sink sink, void *ctx, char *err, size_t err_len) {
  try {
    torch::serialize::OutputArchive archive;
    opt(o)->save(archive);
    archive.save_to([&](const void *data, size_t len) -> size_t {
      sink(ctx, data, len);
      return len;
    });
    return 0;
  } catch (const std::exception &e) {
    message(e, err, err_len);
    return 1;
  }
}

// Reads a state `ddbench_optim_save` wrote back into an optimiser over the same parameters
// (tensors onto the first parameter's device).
extern "C" int ddbench_optim_load(void *o, const char *data, size_t len, char *err,
                                  size_t err_len) {
  try {
    std::optional<c10::Device> device;
    for (auto &g : opt(o)->param_groups())
      if (!device && !g.params().empty()) device = g.params()[0].device();
    torch::serialize::InputArchive archive;
    archive.load_from(data, len, device);
    opt(o)->load(archive);
    return 0;
  } catch (const std::exception &e) {
    message(e, err, err_len);
    return 1;
  }
}
