#include "core/errors.h"

namespace ev {

const char* const kRebuildHint =
    "rebuild the artifact with `edge-veda compile NAME -o DIR` for this library version (or pull it again)";

namespace {

struct LastError {
    const void* ctx = nullptr;
    std::string text;
};

// Thread-local, like errno: concurrent callers of one context never see each other's errors.
thread_local LastError t_last_error;

}  // namespace

ev_error_t set_last_error(const void* ctx, ev_error_t code, const std::string& message,
                          const std::string& hint) {
    try {
        t_last_error.ctx = ctx;
        t_last_error.text = std::string(ev_error_string(code)) + ": " + message;
        if (!hint.empty()) t_last_error.text += "\nhint: " + hint;
    } catch (...) {
        t_last_error.text.clear();  // out of memory while reporting: keep the code at least
    }
    return code;
}

const char* last_error_message(const void* ctx) {
    if (t_last_error.ctx != ctx) return "";
    return t_last_error.text.c_str();
}

}  // namespace ev
