// Speed levers libtorch has and tch does not expose: autocast to a chosen dtype (tch's own
// `autocast` can only pick float16 on CUDA) and the channels-last memory format.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/cpu/Utils.h>

static at::DeviceType device_type(int cuda) { return cuda ? at::kCUDA : at::kCPU; }

// Sets autocast on `cuda` (else CPU) to `enabled` with bfloat16 (`bf16`) or float16; writes the
// previous state (enabled, bf16) so the caller can restore it. Returns 0, or 1 on an exception.
extern "C" int ddbench_autocast_set(int cuda, int enabled, int bf16, int *was_enabled, int *was_bf16) {
  try {
    auto d = device_type(cuda);
    *was_enabled = at::autocast::is_autocast_enabled(d) ? 1 : 0;
    *was_bf16 = at::autocast::get_autocast_dtype(d) == at::kBFloat16 ? 1 : 0;
    at::autocast::set_autocast_dtype(d, bf16 ? at::kBFloat16 : at::kHalf);
    at::autocast::set_autocast_enabled(d, enabled != 0);
    if (!enabled) at::autocast::clear_cache();
    return 0;
  } catch (...) {
    return 1;
  }
}

// Drops autocast's cached low-precision copies of the weights (after the weights changed).
extern "C" void ddbench_autocast_clear_cache() { at::autocast::clear_cache(); }

// `t` (a tch tensor: an at::Tensor*) rewritten in place in channels-last layout when 4-D
// (parameters keep their identity, as Python's `model.to(memory_format=...)`). 0, or 1 on error.
extern "C" int ddbench_channels_last_(void *t) {
  try {
    auto *x = static_cast<at::Tensor *>(t);
    if (x->dim() == 4) x->set_data(x->contiguous(at::MemoryFormat::ChannelsLast));
    return 0;
  } catch (...) {
    return 1;
  }
}

// Whether `t` is laid out channels-last.
extern "C" int ddbench_is_channels_last(void *t) {
  auto *x = static_cast<at::Tensor *>(t);
  return x->dim() == 4 && x->is_contiguous(at::MemoryFormat::ChannelsLast) ? 1 : 0;
}

// Whether this CPU computes bfloat16 dot products natively (AVX512-BF16 or AMX-BF16, as libtorch's
// cpuinfo sees it): where oneDNN's bf16 convolutions beat float32 instead of emulating bf16.
extern "C" int ddbench_cpu_has_native_bf16() {
  try {
    auto caps = at::cpu::get_cpu_capabilities();
    for (const char *k : {"avx512_bf16", "amx_bf16"}) {
      auto it = caps.find(k);
      if (it != caps.end() && it->second.isBool() && it->second.toBool()) return 1;
    }
    return 0;
  } catch (...) {
    return 0;
  }
}
