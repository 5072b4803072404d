// The state of libtorch's default generator of a device (CPU: the Mersenne twister; CUDA: seed and
// Philox offset), read and restored, so that a training stopped between epochs draws, once
// resumed, exactly what it would have drawn. tch can seed a generator but not read one.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/core/Generator.h>

#include <cstdio>
#include <mutex>
#include <string>

static c10::Device device_of(int cuda, int index) {
  return cuda ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index)) : c10::Device(c10::kCPU);
}

// A heap `at::Tensor*` (uint8, CPU) holding the state, or null with the reason in `err`.
extern "C" void *ddbench_rng_get_state(int cuda, int index, char *err, size_t err_len) {
  try {
    auto gen = at::globalContext().defaultGenerator(device_of(cuda, index));
    std::lock_guard<std::mutex> lock(gen.mutex());
    return new at::Tensor(gen.get_state());
  } catch (const std::exception &e) {
    std::string what = e.what();
    std::snprintf(err, err_len, "%s", what.substr(0, what.find('\n')).c_str());
    return nullptr;
  }
}

extern "C" int ddbench_rng_set_state(int cuda, int index, void *state, char *err, size_t err_len) {
  try {
    auto gen = at::globalContext().defaultGenerator(device_of(cuda, index));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(*static_cast<at::Tensor *>(state));
    return 0;
  } catch (const std::exception &e) {
    std::string what = e.what();
    std::snprintf(err, err_len, "%s", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
