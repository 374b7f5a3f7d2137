// ev_context_s: one loaded artifact, its runtime, and the locks that make it safe to share.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend.h"
#include "decoder.h"
#include "manifest.h"

struct ev_context_s {
    // Serializes every call that touches the model state.
    std::mutex mu;

    // ev_cancel bumps the epoch; a call is cancelled when the epoch moved since it began.
    std::atomic<uint64_t> cancel_epoch{0};

    // ev_free waits on these until no call is inside the context any more.
    std::mutex life_mu;
    std::condition_variable idle_cv;
    int active_calls = 0;
    bool closing = false;

    ev::Manifest manifest;
    std::unique_ptr<ev::Backend> backend;
    std::unique_ptr<ev::Decoder> decoder;
    // One more runtime (VM) per extra batch worker thread, created on first use.
    std::vector<std::unique_ptr<ev::Backend>> worker_backends;
    std::vector<std::unique_ptr<ev::Decoder>> worker_decoders;
    ev::Rng rng;

    std::string device;
    int32_t num_threads = 0;
    uint64_t memory_limit = 0;
    bool auto_unload = false;
    bool over_limit = false;

    ev_memory_pressure_callback pressure_cb = nullptr;
    void* pressure_user_data = nullptr;
};
