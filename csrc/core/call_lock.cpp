#include "core/call_lock.h"

#include <mutex>

#include "core/errors.h"

namespace ev {

// One per thread: the CallLock it waits for (at most one at a time).
struct ThreadNode {
    const CallLock* waiting_for = nullptr;
};

struct LockGraph {
    static std::mutex& mu() {
        static std::mutex m;  // built on first use; std::mutex's destructor does nothing, so a
                              // context freed during static destruction still finds it usable
        return m;
    }
    // Must hold mu(). Would `me` waiting for `lock` close a cycle? Follows holder -> the lock it
    // waits for -> its holder ... ; the graph has no cycle (none is ever let in), so the walk
    // ends; the bound only guards against a bug.
    static bool closes_cycle(const CallLock& lock, const ThreadNode* me) {
        const CallLock* l = &lock;
        for (int hops = 0; l != nullptr && hops < 100000; ++hops) {
            const ThreadNode* holder = static_cast<const ThreadNode*>(l->owner_);
            if (holder == nullptr) return false;
            if (holder == me) return true;
            l = holder->waiting_for;
        }
        return false;
    }
};

namespace {
thread_local ThreadNode t_node;

const char* kHint =
    "a callback (token, audio or memory-pressure) must not call a context that its own call is "
    "using, directly or through a TTS context's front end; return from the callback first, or "
    "hand the work to another thread that the callback does not wait for (ev_cancel is always allowed)";
}  // namespace

void CallLock::lock(const char* function, const std::string& model) {
    ThreadNode* me = &t_node;
    std::unique_lock<std::mutex> g(LockGraph::mu());
    while (owner_ != nullptr) {
        if (owner_ == me)
            throw Error(EV_ERR_INVALID_STATE,
                        std::string(function) + ": model '" + model +
                            "' is in use by the call that runs this callback, on this same thread",
                        kHint);
        if (LockGraph::closes_cycle(*this, me))
            throw Error(EV_ERR_INVALID_STATE,
                        std::string(function) + " would deadlock: model '" + model +
                            "' is held by a call that is waiting for a model this thread's call holds",
                        kHint);
        me->waiting_for = this;
        released_.wait(g);
        me->waiting_for = nullptr;
    }
    owner_ = me;
}

void CallLock::unlock() {
    std::lock_guard<std::mutex> g(LockGraph::mu());
    owner_ = nullptr;
    released_.notify_all();
}

}  // namespace ev
