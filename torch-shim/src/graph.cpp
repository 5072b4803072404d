// CUDA graphs through libtorch's at::cuda::CUDAGraph: work queued on a side stream (as capture
// needs), captured once, replayed as one launch. Built only where the CUDA headers are (the torch
// wheel's nvidia packages); elsewhere every entry says so.
#include <cstdio>
#include <string>

#ifdef DDBENCH_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>

namespace {
struct Graph {
  explicit Graph(int dev)
      : side(c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(dev))),
        prev(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(dev))) {}
  at::cuda::CUDAGraph graph;
  c10::cuda::CUDAStream side;
  c10::cuda::CUDAStream prev;
};

// `to` starts after what `from` has queued so far. (A host wait: streams are switched only around
// a capture, never in a timed loop; it also keeps this file off cuda_runtime.h, whose `crt/`
// headers the torch wheel's nvidia packages do not ship.)
void follow(c10::cuda::CUDAStream to, c10::cuda::CUDAStream from) {
  (void)to;
  from.synchronize();
}
}  // namespace

static void message(const std::exception &e, char *err, size_t err_len) {
  std::string what = e.what();
  std::snprintf(err, err_len, "%s", what.substr(0, what.find('\n')).c_str());
}

#define TRY(body)                 \
  try {                           \
    body;                         \
    return 0;                     \
  } catch (const std::exception &e) { \
    message(e, err, err_len);     \
    return 1;                     \
  }

extern "C" int ddbench_graph_built() { return 1; }

extern "C" void *ddbench_graph_new(int dev, char *err, size_t err_len) {
  try {
    return new Graph(dev);
  } catch (const std::exception &e) {
    message(e, err, err_len);
    return nullptr;
  }
}

extern "C" void ddbench_graph_free(void *g) { delete static_cast<Graph *>(g); }

// From now on the thread's current stream is the graph's side stream, after what it had queued.
extern "C" int ddbench_graph_enter(void *g, char *err, size_t err_len) {
  TRY({
    auto *x = static_cast<Graph *>(g);
    x->prev = c10::cuda::getCurrentCUDAStream(x->side.device_index());
    follow(x->side, x->prev);
    c10::cuda::setCurrentCUDAStream(x->side);
  })
}

// Back to the stream before `enter`, after what the side stream queued.
extern "C" int ddbench_graph_leave(void *g, char *err, size_t err_len) {
  TRY({
    auto *x = static_cast<Graph *>(g);
    follow(x->prev, x->side);
    c10::cuda::setCurrentCUDAStream(x->prev);
  })
}

extern "C" int ddbench_graph_capture_begin(void *g, char *err, size_t err_len) {
  TRY(static_cast<Graph *>(g)->graph.capture_begin())
}

extern "C" int ddbench_graph_capture_end(void *g, char *err, size_t err_len) {
  TRY(static_cast<Graph *>(g)->graph.capture_end())
}

extern "C" int ddbench_graph_replay(void *g, char *err, size_t err_len) {
  TRY(static_cast<Graph *>(g)->graph.replay())
}

#else

static int unbuilt(char *err, size_t err_len) {
  std::snprintf(err, err_len, "%s",
                "this build has no CUDA graphs (no CUDA headers beside the torch wheel)");
  return 1;
}

extern "C" int ddbench_graph_built() { return 0; }
extern "C" void *ddbench_graph_new(int, char *err, size_t err_len) {
  unbuilt(err, err_len);
  return nullptr;
}
extern "C" void ddbench_graph_free(void *) {}
extern "C" int ddbench_graph_enter(void *, char *err, size_t err_len) { return unbuilt(err, err_len); }
extern "C" int ddbench_graph_leave(void *, char *err, size_t err_len) { return unbuilt(err, err_len); }
extern "C" int ddbench_graph_capture_begin(void *, char *err, size_t err_len) {
  return unbuilt(err, err_len);
}
extern "C" int ddbench_graph_capture_end(void *, char *err, size_t err_len) {
  return unbuilt(err, err_len);
}
extern "C" int ddbench_graph_replay(void *, char *err, size_t err_len) { return unbuilt(err, err_len); }

#endif
