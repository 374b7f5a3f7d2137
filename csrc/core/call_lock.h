// CallLock: the lock a call holds on its context for the whole call. Unlike a plain mutex, a
// wait that could never end is refused instead of entered: callbacks run user code while their
// call holds its context, and user code may call other contexts (a G2P front end's token
// callback synthesizing on the TTS context that uses it, two threads each inside a callback of
// the context the other wants). Every wait is checked against a process-wide wait-for graph
// (which thread holds which CallLock, which CallLock each waiting thread wants); a wait that
// would close a cycle, or a thread asking for a lock it holds, throws EV_ERR_INVALID_STATE.
#pragma once

#include <condition_variable>
#include <string>

namespace ev {

class CallLock {
public:
    CallLock() = default;
    CallLock(const CallLock&) = delete;
    CallLock& operator=(const CallLock&) = delete;

    // Takes the lock, waiting while another thread holds it. Throws ev::Error
    // (EV_ERR_INVALID_STATE, naming `function` and `model`) instead of waiting forever.
    void lock(const char* function, const std::string& model);
    void unlock();

    class Guard {
    public:
        Guard(CallLock& lock, const char* function, const std::string& model) : lock_(lock) {
            lock_.lock(function, model);
        }
        ~Guard() { lock_.unlock(); }
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;

    private:
        CallLock& lock_;
    };

private:
    friend struct LockGraph;
    const void* owner_ = nullptr;  // the holding thread's node; guarded by the graph's mutex
    std::condition_variable released_;
};

}  // namespace ev
