// Errors inside the library travel as ev::Error exceptions and are turned into an ev_error_t
// plus a thread-local message at the ABI boundary (api.cpp); nothing else may escape.
#pragma once

#include <stdexcept>
#include <string>

#include "edge_veda.h"

namespace ev {

class Error : public std::runtime_error {
public:
    // `hint` says what the caller can do about it: the paths tried, the values allowed.
    Error(ev_error_t code, const std::string& message, const std::string& hint)
        : std::runtime_error(message), code_(code), hint_(hint) {}
    ev_error_t code() const { return code_; }
    const std::string& hint() const { return hint_; }

private:
    ev_error_t code_;
    std::string hint_;
};

// The hint of every "this artifact does not match what reads it" error (manifest, weights,
// module, kind section): one sentence, so that every layer says the same thing.
extern const char* const kRebuildHint;

// Records the calling thread's last error for `ctx` (nullptr: ev_init) and returns `code`.
ev_error_t set_last_error(const void* ctx, ev_error_t code, const std::string& message,
                          const std::string& hint);
const char* last_error_message(const void* ctx);

}  // namespace ev
