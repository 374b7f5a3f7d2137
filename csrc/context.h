// ev_context_s: one loaded artifact — its manifest, compiled module, weights and the kind's
// model instance — and the locks, cancel epoch, RNG, memory accounting and status that make it
// safe to share between threads. Only api.cpp touches it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "core/call_lock.h"
#include "core/manifest.h"
#include "core/sampling.h"
#include "core/weights.h"
#include "edge_veda.h"
#include "models/kind.h"
#include "runtime/runtime.h"

namespace ev {

// What ev_status reports that changes while the context lives: published under the call lock
// at the end of every call (and at load, unload and ev_set_frontend), read under its own
// mutex, so that ev_status answers at once while a call runs for seconds.
struct StatusSnapshot {
    bool weights_loaded = false;
    uint32_t capabilities = 0;
    uint64_t memory_used = 0;
    bool weights_mapped = false;
    uint64_t weights_bytes = 0;
    int32_t sample_rate = 0;  // kept across memory-pressure unloads
    int32_t voice_count = 0;
    SynthesisReport last_synthesis;
    bool has_frontend = false;
};

}  // namespace ev

struct ev_context_s {
    // Serializes every call that touches the model state (and the RNG); refuses a wait that
    // could never end (core/call_lock.h).
    ev::CallLock mu;

    // ev_cancel bumps the epoch; a call is cancelled when the epoch moved since it began.
    std::atomic<uint64_t> cancel_epoch{0};

    // ev_free waits on these until no call is inside the context any more.
    std::mutex life_mu;
    std::condition_variable idle_cv;
    int active_calls = 0;
    bool closing = false;

    // Set by ev_init, then never changed (read without a lock).
    ev::Manifest manifest;
    const ev::KindEntry* kind = nullptr;
    std::string device;
    int32_t num_threads = 1;
    bool use_mmap = true;
    uint64_t memory_limit = 0;
    bool auto_unload = false;

    // Guarded by mu. Loaded lazily and released together on a memory-pressure unload. A stream
    // keeps the instance it began on (and through it the module and weights) until it is freed.
    std::shared_ptr<ev::Module> module;
    std::shared_ptr<const ev::Weights> weights;
    std::shared_ptr<ev::ModelInstance> model;
    ev::Rng rng;
    bool over_limit = false;
    ev_memory_pressure_callback pressure_cb = nullptr;
    void* pressure_user_data = nullptr;
    // ev_set_frontend: a G2P context that phonemizes text input (borrowed).
    ev_context_s* frontend = nullptr;
    ev::SynthesisReport last_synthesis;

    // Written under mu and status_mu, read by ev_status under status_mu alone.
    std::mutex status_mu;
    ev::StatusSnapshot status;
};
