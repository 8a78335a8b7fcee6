// libtorch's own distributed engine (c10d) for data-parallel training: a TCPStore for the
// rendezvous, a Gloo process group (compiled into libtorch_cpu), and the four collectives
// the trainer needs, behind a C ABI (see src/native/c10d.rs).
//
// Built with USE_C10D_GLOO and our own minimal declarations of the Gloo headers that
// ProcessGroupGloo.hpp includes (gloo_decls/README.md says why that is enough), when
// libtorch has c10d's headers (build.rs defines TCHVAE_C10D); otherwise every function
// reports that this build has no c10d.
#include "ffi_message.h"

#ifdef TCHVAE_C10D
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  std::chrono::milliseconds timeout;
};

// Waits for `work` at most the group's timeout; c10d's message on failure names the peer
// (Gloo: "Connection closed by peer [address]:port", "Timed out waiting ...").
void finish(const Group& g, const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait(g.timeout)) {
    throw std::runtime_error("the collective did not finish within " +
                             std::to_string(g.timeout.count()) + " ms");
  }
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case 0:
      return c10d::ReduceOp::SUM;
    case 1:
      return c10d::ReduceOp::MIN;
    case 2:
      return c10d::ReduceOp::MAX;
    default:
      throw std::invalid_argument("unknown reduce operation " + std::to_string(op));
  }
}

}  // namespace

extern "C" {

// Joins the group of `size` processes as `rank`: connects to the TCPStore at
// addr:port (hosted by rank 0 unless `agent_store`: then torchrun's agent hosts it and
// every rank is a client, its keys under `prefix`), then builds the Gloo process group,
// which waits for every rank. `timeout_ms` bounds the rendezvous and every collective.
// *out: a handle for the functions below, freed by tchvae_c10d_free.
char* tchvae_c10d_new(const char* addr, int port, int rank, int size, bool agent_store,
                      const char* prefix, int64_t timeout_ms, void** out) {
  return tchvae::guarded([&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(port);
    options.isServer = !agent_store && rank == 0;
    options.numWorkers = size;
    options.waitWorkers = false;
    options.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(addr, options);
    if (prefix != nullptr && prefix[0] != '\0') {
      store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
    }
    auto gloo_options = c10d::ProcessGroupGloo::Options::create_default(timeout);
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, gloo_options);
    *out = new Group{store, gloo, timeout};
  });
}

void tchvae_c10d_free(void* group) { delete static_cast<Group*>(group); }

// Reads members of the live group through ProcessGroupGloo.hpp and checks them against
// what the library wrote (the layout check of gloo_decls/README.md): the options it holds
// are the ones it was given, with create_default's one device and two threads a device.
char* tchvae_c10d_check_layout(void* group) {
  return tchvae::guarded([&] {
    auto& g = *static_cast<Group*>(group);
    auto options = g.gloo->getOptions();
    if (g.gloo->getBackendName() != "gloo" || options->devices.size() != 1 ||
        options->threads != 2 || g.gloo->getNumThreads() != 2 ||
        options->timeout != g.timeout) {
      throw std::runtime_error(
          "ProcessGroupGloo's layout in this build's headers does not match libtorch's");
    }
  });
}

// Every rank's `tensor` (contiguous, on the CPU) becomes the reduction over ranks in place:
// op 0 sum, 1 min, 2 max.
char* tchvae_c10d_allreduce(void* group, const at::Tensor* tensor, int op) {
  return tchvae::guarded([&] {
    auto& g = *static_cast<Group*>(group);
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = reduce_op(op);
    options.timeout = g.timeout;
    finish(g, g.gloo->allreduce(tensors, options));
  });
}

// Every rank's `tensor` becomes rank `root`'s, in place.
char* tchvae_c10d_broadcast(void* group, const at::Tensor* tensor, int root) {
  return tchvae::guarded([&] {
    auto& g = *static_cast<Group*>(group);
    std::vector<at::Tensor> tensors{*tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.timeout = g.timeout;
    finish(g, g.gloo->broadcast(tensors, options));
  });
}

// Sets how long every later collective may wait (the rendezvous may take longer).
char* tchvae_c10d_set_timeout(void* group, int64_t timeout_ms) {
  return tchvae::guarded([&] {
    auto& g = *static_cast<Group*>(group);
    g.timeout = std::chrono::milliseconds(timeout_ms);
    g.gloo->setTimeout(g.timeout);
  });
}

// Sets `key` in the group's store (a mark that this rank is alive and saw a failure).
char* tchvae_c10d_store_mark(void* group, const char* key) {
  return tchvae::guarded([&] {
    static_cast<Group*>(group)->store->set(key, std::vector<uint8_t>{1});
  });
}

// *out: whether `key` is set in the group's store (no waiting).
char* tchvae_c10d_store_has(void* group, const char* key, bool* out) {
  return tchvae::guarded([&] { *out = static_cast<Group*>(group)->store->check({key}); });
}

// Returns when every rank has called it.
char* tchvae_c10d_barrier(void* group) {
  return tchvae::guarded([&] {
    auto& g = *static_cast<Group*>(group);
    c10d::BarrierOptions options;
    options.timeout = g.timeout;
    finish(g, g.gloo->barrier(options));
  });
}

}  // extern "C"

#else  // no TCHVAE_C10D

namespace {
char* no_c10d() {
  return tchvae::copy_message(
      "this build of tch-vae has no c10d: the libtorch it was built against lacks "
      "torch/csrc/distributed/c10d/ProcessGroupGloo.hpp (a libtorch built without "
      "USE_DISTRIBUTED); build against the PyTorch wheel that scripts/setup.sh installs");
}
}  // namespace

extern "C" {
char* tchvae_c10d_new(const char*, int, int, int, bool, const char*, int64_t, void**) {
  return no_c10d();
}
void tchvae_c10d_free(void*) {}
char* tchvae_c10d_check_layout(void*) { return no_c10d(); }
char* tchvae_c10d_allreduce(void*, const void*, int) { return no_c10d(); }
char* tchvae_c10d_broadcast(void*, const void*, int) { return no_c10d(); }
char* tchvae_c10d_barrier(void*) { return no_c10d(); }
char* tchvae_c10d_set_timeout(void*, int64_t) { return no_c10d(); }
char* tchvae_c10d_store_mark(void*, const char*) { return no_c10d(); }
char* tchvae_c10d_store_has(void*, const char*, bool*) { return no_c10d(); }
}  // extern "C"

#endif
