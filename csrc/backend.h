// The one internal interface between the library and a model runtime. backend_tvm.cpp is the
// only file that includes TVM headers; everything else speaks in plain pointers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "manifest.h"

namespace ev {

class Backend {
public:
    virtual ~Backend() = default;

    // Loads the compiled module and creates the VM; no-op when already loaded.
    virtual void load() = 0;
    // Drops the VM and the module (and with them the weights).
    virtual void unload() = 0;
    virtual bool loaded() const = 0;
    // Bytes this backend holds while loaded: weights plus working buffers.
    virtual uint64_t memory_bytes() const = 0;

    // Runs the encoder over `n` input ids and writes the final hidden state (hidden_size
    // floats) to h_out. All pointers are caller memory; nothing is retained.
    virtual void encode(const int32_t* ids, int64_t n, float* h_out) = 0;
    // One decoder step: consumes `token` and h_in; writes h_out (hidden_size floats) and
    // logits (logits_size floats). h_in and h_out may alias.
    virtual void decode_step(int32_t token, const float* h_in, float* h_out, float* logits) = 0;

    // Whole greedy decode in one call (argmax until the end token or max_steps); writes up to
    // max_steps ids to out_ids and returns their count. Only when has_greedy().
    virtual bool has_greedy() const = 0;
    virtual int32_t greedy(const int32_t* ids, int64_t n, int32_t max_steps, int32_t* out_ids) = 0;
};

struct BackendOptions {
    int32_t num_threads = 0;
};

// Creates a TVM-backed runtime for `manifest` (does not load yet). Throws ev::Error.
std::unique_ptr<Backend> make_tvm_backend(const Manifest& manifest, const BackendOptions& options);

}  // namespace ev
