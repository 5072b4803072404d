// torch.save files read by libtorch's unpickler (torch::jit::pickle_load: the zip format Python
// has written since torch 1.6), flattened to named tensors: a dict's values under their keys, a
// list's or tuple's under their indices, joined with '.' ("data.0.1"); other values (numbers,
// strings, None) are not tensors and are skipped.
#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstdio>
#include <string>
#include <vector>

using Emit = void (*)(void *ctx, const char *name, void *tensor);

static std::string join(const std::string &prefix, const std::string &key) {
  return prefix.empty() ? key : prefix + "." + key;
}

static std::string key_text(const c10::IValue &k) {
  if (k.isString()) return k.toStringRef();
  if (k.isInt()) return std::to_string(k.toInt());
  return "?";
}

static void walk(const c10::IValue &v, const std::string &name, Emit emit, void *ctx) {
  if (v.isTensor()) {
    emit(ctx, name.c_str(), new at::Tensor(v.toTensor()));
  } else if (v.isGenericDict()) {
    for (const auto &kv : v.toGenericDict()) walk(kv.value(), join(name, key_text(kv.key())), emit, ctx);
  } else if (v.isList()) {
    auto list = v.toListRef();
    for (size_t i = 0; i < list.size(); ++i) walk(list[i], join(name, std::to_string(i)), emit, ctx);
  } else if (v.isTuple()) {
    const auto &elems = v.toTupleRef().elements();
    for (size_t i = 0; i < elems.size(); ++i) walk(elems[i], join(name, std::to_string(i)), emit, ctx);
  }
}

// Returns 0 and emits every tensor, or 1 with the first line of libtorch's message in `err`.
extern "C" int ddbench_pickle_load(const char *data, size_t len, Emit emit, void *ctx, char *err,
                                   size_t err_len) {
  try {
    std::vector<char> bytes(data, data + len);
    walk(torch::jit::pickle_load(bytes), "", emit, ctx);
    return 0;
  } catch (const std::exception &e) {
    std::string what = e.what();
    std::snprintf(err, err_len, "%s", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
