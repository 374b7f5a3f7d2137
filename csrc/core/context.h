// ev_context_s: one loaded artifact — its manifest, compiled module, weights and the kind's
// model instance — and the locks, cancel epoch, RNG and memory accounting that make it safe to
// share between threads. Only api.cpp touches it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "call_lock.h"
#include "edge_veda.h"
#include "kind.h"
#include "manifest.h"
#include "runtime/runtime.h"
#include "runtime/weights.h"
#include "sampling.h"

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

    ev::Manifest manifest;
    const ev::KindEntry* kind = nullptr;
    // Loaded lazily and released together on a memory-pressure unload. A stream keeps the
    // instance it began on (and through it the module and weights) until it is freed.
    std::shared_ptr<ev::Module> module;
    std::shared_ptr<const ev::Weights> weights;
    std::shared_ptr<ev::ModelInstance> model;
    ev::Rng rng;

    std::string device;
    int32_t num_threads = 1;
    bool use_mmap = true;
    uint64_t memory_limit = 0;
    bool auto_unload = false;
    bool over_limit = false;

    ev_memory_pressure_callback pressure_cb = nullptr;
    void* pressure_user_data = nullptr;

    // ev_set_frontend: a G2P context that phonemizes text input (borrowed; guarded by mu).
    ev_context_s* frontend = nullptr;
    // What ev_status reports of an audio model, kept across memory-pressure unloads.
    int32_t sample_rate = 0;
    int32_t voice_count = 0;
    ev::StageTimings timings;
};
