// The ev_* entry points: argument checks, locking, cancellation, memory accounting, status, and
// the boundary where every exception is turned into an error code and a message. Every call on
// a model goes through one path (on_model: lock, cancel, input checks, kernel threads, load,
// capability, work, memory check, status); what a call does with the model is the kind's
// business (models/kind.h), found by capability. This file is the same for every kind.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "context.h"
#include "core/errors.h"
#include "core/system_lib.h"
#include "core/utf8.h"

using ev::Error;

static_assert(ev::Generator::kBit == EV_CAP_GENERATE && ev::BatchGenerator::kBit == EV_CAP_GENERATE_BATCH &&
                  ev::Phonemizer::kBit == EV_CAP_PHONEMIZE && ev::Synthesizer::kBit == EV_CAP_SYNTHESIZE,
              "models/kind.h capabilities are the ABI's EV_CAP_* bits");
static_assert(ev::kSourceLexicon == EV_SOURCE_LEXICON && ev::kSourceModel == EV_SOURCE_MODEL &&
                  ev::kSourcePunctuation == EV_SOURCE_PUNCTUATION,
              "models/kind.h sources are the ABI's EV_SOURCE_* values");

namespace {

#define EV_STR2(x) #x
#define EV_STR(x) EV_STR2(x)

// What reading a manifest needs from the layers above core (core/manifest.h).
const ev::ManifestReader kManifestReader{&ev::parse_json, &ev::kind_supported, &ev::supported_kinds};

ev_error_t invalid(const void* ctx, const std::string& what, const std::string& hint) {
    return ev::set_last_error(ctx, EV_ERR_INVALID_ARGUMENT, what, hint);
}

// Runs `body` and converts whatever it throws into an error code for `ctx`.
template <typename F>
ev_error_t guarded(const void* ctx, F&& body) {
    try {
        return body();
    } catch (const Error& e) {
        return ev::set_last_error(ctx, e.code(), e.what(), e.hint());
    } catch (const std::bad_alloc&) {
        return ev::set_last_error(ctx, EV_ERR_OUT_OF_MEMORY, "out of memory",
                                  "free memory or set a lower memory_limit_bytes");
    } catch (const std::exception& e) {
        return ev::set_last_error(ctx, EV_ERR_INTERNAL, e.what(),
                                  "this is a bug in libedge_veda; please report it");
    } catch (...) {
        return ev::set_last_error(ctx, EV_ERR_INTERNAL, "unknown exception",
                                  "this is a bug in libedge_veda; please report it");
    }
}

// The contexts whose callbacks are running on this thread, innermost first. A callback that
// calls back into one of them would wait for a lock its own caller holds; such calls are
// refused with EV_ERR_INVALID_STATE instead (the re-entrancy rule, edge_veda.h).
class ContextCall;
struct CallbackFrame {
    const ev_context_s* ctx;
    ContextCall* call;  // the call running the callback (null: a memory-pressure notification)
    const CallbackFrame* outer;
};
thread_local const CallbackFrame* t_callback_frames = nullptr;

class InCallback {
public:
    InCallback(const ev_context_s* ctx, ContextCall* call) : frame_{ctx, call, t_callback_frames} {
        t_callback_frames = &frame_;
    }
    ~InCallback() { t_callback_frames = frame_.outer; }
    InCallback(const InCallback&) = delete;
    InCallback& operator=(const InCallback&) = delete;

private:
    CallbackFrame frame_;
};

const CallbackFrame* callback_frame_of(const ev_context_s* ctx) {
    for (const CallbackFrame* f = t_callback_frames; f != nullptr; f = f->outer)
        if (f->ctx == ctx) return f;
    return nullptr;
}

bool inside_callback_of(const ev_context_s* ctx) { return callback_frame_of(ctx) != nullptr; }

ev_error_t reentrant_call(ev_context ctx, const char* function) {
    return ev::set_last_error(ctx, EV_ERR_INVALID_STATE,
                              std::string(function) + " was called from inside a callback of the same context",
                              "a token or memory-pressure callback must not call back into its own context "
                              "(only ev_cancel is allowed there); return from the callback first, or hand the "
                              "work to another thread that does not wait for the callback");
}

// Marks a call as inside the context for ev_free; refuses calls once ev_free has begun.
class CallScope {
public:
    explicit CallScope(ev_context ctx) : ctx_(ctx) {
        std::lock_guard<std::mutex> g(ctx_->life_mu);
        entered_ = !ctx_->closing;
        if (entered_) ++ctx_->active_calls;
    }
    ~CallScope() {
        if (!entered_) return;
        std::lock_guard<std::mutex> g(ctx_->life_mu);
        if (--ctx_->active_calls == 0) ctx_->idle_cv.notify_all();
    }
    bool entered() const { return entered_; }

private:
    ev_context ctx_;
    bool entered_ = false;
};

// What a running call may ask of the boundary (models/kind.h). The RNG is only touched by the
// thread that holds ctx->mu (seeds are drawn before a batch fans out). `function` names the
// entry point in messages; `outer` is the TTS call a front-end call runs for (its cancel
// reaches the front end's work too).
class ContextCall final : public ev::CallControl {
public:
    ContextCall(ev_context ctx, uint64_t epoch, const char* function, const ContextCall* outer = nullptr)
        : ctx_(ctx), epoch_(epoch), function_(function), outer_(outer) {}
    ContextCall(ev_context ctx, const char* function)
        : ContextCall(ctx, ctx->cancel_epoch.load(std::memory_order_acquire), function) {}

    void check_cancel() const override {
        if (cancelled_.load(std::memory_order_acquire) || ctx_->cancel_epoch.load(std::memory_order_acquire) != epoch_)
            throw Error(EV_ERR_CANCELLED, "cancelled by ev_cancel()",
                        "not an error in the model; run the call again if it is still wanted");
        if (outer_ != nullptr) outer_->check_cancel();
    }
    // ev_cancel from one of this call's own callbacks: stops this call only, not the calls
    // other threads have waiting for the context.
    void cancel() { cancelled_.store(true, std::memory_order_release); }
    uint64_t seed_for(const ev::SamplingParams& params) override {
        return params.fixed_seed ? params.seed : ctx_->rng.next_u64();
    }
    int32_t num_threads() const override { return ctx_->num_threads; }
    const char* function() const { return function_; }
    // The context's front end phonemizing `text` as part of this call (ev_set_frontend).
    std::vector<ev::PhonemizedToken> frontend_phonemize(const std::string& text);

private:
    ev_context ctx_;
    uint64_t epoch_;
    const char* function_;
    const ContextCall* outer_;
    std::atomic<bool> cancelled_{false};
};

// Sizes TVM's thread pool for the calling thread, for modules whose kernels use it (a pool
// costs threads, so modules without parallel kernels never create one).
void use_kernel_threads(ev_context ctx) {
    if (ctx->manifest.kernel_threads) ev::use_kernel_threads(ctx->num_threads);
}

// Tracked bytes: the weights once (however many VMs share them) plus the VMs' working buffers.
uint64_t memory_in_use(ev_context ctx) {
    if (!ctx->model) return 0;
    return (ctx->weights ? ctx->weights->bytes() : 0) + ctx->model->working_bytes();
}

// Must hold ctx->mu. Copies what ev_status reports into the snapshot it reads without mu.
void publish_status(ev_context ctx) {
    ev::StatusSnapshot s;
    {
        std::lock_guard<std::mutex> g(ctx->status_mu);
        s = ctx->status;  // keeps sample_rate and voice_count across an unload
    }
    s.weights_loaded = ctx->model != nullptr;
    s.memory_used = memory_in_use(ctx);
    s.weights_mapped = ctx->weights && ctx->weights->mapped();
    s.weights_bytes = ctx->weights ? ctx->weights->bytes() : 0;
    if (ctx->model) {
        s.capabilities = ev::capabilities_of(*ctx->model);
        if (ev::Synthesizer* tts = ev::find<ev::Synthesizer>(*ctx->model)) {
            s.sample_rate = tts->sample_rate();
            s.voice_count = static_cast<int32_t>(tts->voices().size());
        }
    } else {
        s.capabilities = 0;
    }
    s.last_synthesis = ctx->last_synthesis;
    s.has_frontend = ctx->frontend != nullptr;
    std::lock_guard<std::mutex> g(ctx->status_mu);
    ctx->status = s;
}

// Must hold ctx->mu. Creates the module, weights and model instance if a memory-pressure
// unload (or nothing yet) left them absent; the files are verified again first, since they may
// have been replaced meanwhile (an unchanged file costs one stat).
ev::ModelInstance& loaded_model(ev_context ctx) {
    if (ctx->model) return *ctx->model;
    ctx->manifest.verify_files();
    std::shared_ptr<ev::Module> module = ev::load_module(ctx->manifest.module);
    std::shared_ptr<const ev::Weights> weights;
    if (ctx->manifest.has_weights)
        weights = ev::Weights::open(ctx->manifest.real_dir + "/" + ctx->manifest.weights.file,
                                    ctx->manifest.weights, ctx->use_mmap);
    ev::KindInputs inputs{ctx->manifest, module, weights, ctx->num_threads};
    std::shared_ptr<ev::ModelInstance> model(ctx->kind->create(inputs).release());
    ctx->module = std::move(module);
    ctx->weights = std::move(weights);
    ctx->model = std::move(model);
    publish_status(ctx);
    return *ctx->model;
}

void unload(ev_context ctx) {
    ctx->model.reset();
    ctx->weights.reset();
    ctx->module.reset();
    publish_status(ctx);
}

// Must hold ctx->mu. Fires the callback when tracked memory crosses the limit and unloads
// the weights when asked to; publishes the status either way.
void after_call(ev_context ctx) {
    const uint64_t used = memory_in_use(ctx);
    const bool over = ctx->memory_limit != 0 && used > ctx->memory_limit;
    if (over && !ctx->over_limit) {
        if (ctx->pressure_cb) {
            InCallback in_callback(ctx, nullptr);
            ctx->pressure_cb(ctx->pressure_user_data, static_cast<size_t>(used),
                             static_cast<size_t>(ctx->memory_limit));
        }
        if (ctx->auto_unload) {
            ctx->over_limit = false;
            unload(ctx);
            return;
        }
    }
    ctx->over_limit = over;
    publish_status(ctx);
}

// The capability `Capability` of the loaded model, or the call is EV_ERR_UNSUPPORTED_OPERATION.
template <typename Capability>
Capability& require(ev_context ctx, ev::ModelInstance& model, const char* function) {
    if (Capability* c = ev::find<Capability>(model)) return *c;
    throw Error(EV_ERR_UNSUPPORTED_OPERATION,
                std::string(function) + " is not an operation of model kind '" + ctx->manifest.kind + "'",
                "ev_status_info.capabilities lists what this model supports (EV_CAP_* bits)");
}

// THE call path: everything a call on a model does around its work, once. Locks the context
// for the call, honours a cancel that came before it, checks its inputs (`check_inputs`, before
// anything is loaded), sizes the calling thread's kernel threads, (re)loads the model, finds
// the capability, runs `work(capability)`, honours a cancel that came during it, then checks
// memory and publishes the status. Throws ev::Error; entry points wrap it in `guarded`.
template <typename Capability, typename Check, typename Work>
void on_model(ev_context ctx, ContextCall& call, Check&& check_inputs, Work&& work) {
    ev::CallLock::Guard g(ctx->mu, call.function(), ctx->manifest.name);
    call.check_cancel();
    check_inputs();
    use_kernel_threads(ctx);
    Capability& capability = require<Capability>(ctx, loaded_model(ctx), call.function());
    work(capability);
    call.check_cancel();
    after_call(ctx);
}

// An entry point's whole body after its argument checks: on_model inside `guarded`.
template <typename Capability, typename Check, typename Work>
ev_error_t model_call(ev_context ctx, const char* function, Check&& check_inputs, Work&& work) {
    return guarded(ctx, [&]() -> ev_error_t {
        ContextCall call(ctx, function);
        on_model<Capability>(ctx, call, check_inputs, [&](Capability& c) { work(c, call); });
        return EV_OK;
    });
}

constexpr auto kNoInputs = [] {};

std::string checked_prompt(const char* prompt, int64_t max_chars, const std::string& what);

// The caller holds ctx_->mu. Lock order: a TTS context, then its front end, here and in
// ev_set_frontend. A callback that would invert it (a front end's callback calling its TTS
// context) is refused by the CallLock instead of deadlocking (core/call_lock.h).
std::vector<ev::PhonemizedToken> ContextCall::frontend_phonemize(const std::string& text) {
    ev_context fe = ctx_->frontend;
    if (fe == nullptr)
        throw Error(EV_ERR_INVALID_STATE, "text input needs a front end, and this context has none",
                    "call ev_set_frontend(ctx, g2p_context) with a G2P model's context, or pass phonemes "
                    "(EV_TTS_INPUT_PHONEMES)");
    CallScope scope(fe);
    if (!scope.entered())
        throw Error(EV_ERR_INVALID_STATE, "the front-end context is being freed",
                    "call ev_set_frontend(ctx, NULL) before freeing the front end, or give it another one");
    ContextCall call(fe, fe->cancel_epoch.load(std::memory_order_acquire), function_, this);
    std::string checked;
    std::vector<ev::PhonemizedToken> tokens;
    on_model<ev::Phonemizer>(
        fe, call, [&] { checked = checked_prompt(text.c_str(), fe->manifest.max_input_chars, "text (front end)"); },
        [&](ev::Phonemizer& g2p) {
            tokens = g2p.phonemize(checked, ev::SamplingParams::from_abi(nullptr), call, ev::FrontEnd());
        });
    return tokens;
}

// A prompt the model accepts: valid UTF-8 of at most the model's limit in code points. The work
// is bounded by the limit, not by the prompt (a 100 MB prompt is refused after limit*4 bytes).
std::string checked_prompt(const char* prompt, int64_t max_chars, const std::string& what) {
    const size_t max_bytes = static_cast<size_t>(max_chars) * 4;
    const size_t n = strnlen(prompt, max_bytes + 1);
    const Error too_long(EV_ERR_INVALID_ARGUMENT, what + " is longer than " + std::to_string(max_chars) + " characters",
                         "this model accepts at most " + std::to_string(max_chars) +
                             " characters per input (manifest limits.max_input_chars): split the text");
    if (n > max_bytes) throw too_long;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(prompt);
    int64_t chars = 0;
    for (size_t i = 0; i < n; ++chars) {
        uint32_t cp = 0;
        const size_t len = ev::utf8_decode(p + i, n - i, &cp);
        if (len == 0)
            throw Error(EV_ERR_INVALID_ARGUMENT, what + " is not valid UTF-8 at byte " + std::to_string(i),
                        "pass NUL-terminated UTF-8 text");
        i += len;
    }
    if (chars > max_chars) throw too_long;
    return std::string(prompt, n);
}

char* copy_string(const std::string& text) {
    char* copy = static_cast<char*>(std::malloc(text.size() + 1));
    if (copy == nullptr) throw std::bad_alloc();
    std::memcpy(copy, text.c_str(), text.size() + 1);
    return copy;
}

}  // namespace

struct ev_stream_s {
    ev_context ctx = nullptr;
    uint64_t epoch = 0;
    // The instance the stream began on stays alive with it, even across an unload.
    std::shared_ptr<ev::ModelInstance> model;
    std::unique_ptr<ev::TokenStream> tokens;
    std::string token;
    bool done = false;
};

extern "C" {

const char* ev_version(void) {
    return EV_STR(EV_VERSION_MAJOR) "." EV_STR(EV_VERSION_MINOR) "." EV_STR(EV_VERSION_PATCH);
}

int32_t ev_abi_version(void) { return EV_ABI_VERSION; }

int32_t ev_abi_minor(void) { return EV_ABI_MINOR; }

const char* ev_runtime_version(void) { return ev::tvm_version(); }

const char* ev_error_string(ev_error_t code) {
    switch (code) {
        case EV_OK: return "EV_OK";
        case EV_ERR_INVALID_ARGUMENT: return "EV_ERR_INVALID_ARGUMENT";
        case EV_ERR_MODEL_NOT_FOUND: return "EV_ERR_MODEL_NOT_FOUND";
        case EV_ERR_MODEL_INVALID: return "EV_ERR_MODEL_INVALID";
        case EV_ERR_UNSUPPORTED_DEVICE: return "EV_ERR_UNSUPPORTED_DEVICE";
        case EV_ERR_OUT_OF_MEMORY: return "EV_ERR_OUT_OF_MEMORY";
        case EV_ERR_RUNTIME: return "EV_ERR_RUNTIME";
        case EV_ERR_CANCELLED: return "EV_ERR_CANCELLED";
        case EV_ERR_INVALID_STATE: return "EV_ERR_INVALID_STATE";
        case EV_ERR_STREAM_END: return "EV_ERR_STREAM_END";
        case EV_ERR_INTERNAL: return "EV_ERR_INTERNAL";
        case EV_ERR_UNSUPPORTED_OPERATION: return "EV_ERR_UNSUPPORTED_OPERATION";
        default: return "EV_ERR_UNKNOWN";
    }
}

const char* ev_last_error_message(ev_context ctx) { return ev::last_error_message(ctx); }

ev_config ev_config_default(void) {
    ev_config c;
    std::memset(&c, 0, sizeof(c));
    c.struct_size = sizeof(ev_config);
    c.device = EV_DEVICE_CPU;
    c.use_mmap = 1;
    return c;
}

ev_generation_params ev_generation_params_default(void) {
    ev_generation_params p;
    std::memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(ev_generation_params);
    p.top_p = 1.0f;
    p.repeat_penalty = 1.0f;
    p.seed = EV_SEED_CONTEXT;
    return p;
}

ev_context ev_init(const ev_config* config, ev_error_t* out_error) {
    ev_context result = nullptr;
    ev_error_t code = guarded(nullptr, [&]() -> ev_error_t {
        if (config == nullptr)
            return invalid(nullptr, "config is NULL", "pass a config from ev_config_default()");
        if (config->struct_size < offsetof(ev_config, use_mmap) + sizeof(int32_t) ||
            config->struct_size > (1u << 16))
            return invalid(nullptr, "ev_config.struct_size is " + std::to_string(config->struct_size),
                           "initialize the config with ev_config_default()");
        if (config->model_path == nullptr || config->model_path[0] == '\0')
            return invalid(nullptr, "config.model_path is empty",
                           "set model_path to an artifact directory (edge-veda compile g2p-en -o DIR)");
        const std::string device = config->device ? config->device : EV_DEVICE_CPU;
        if (device != EV_DEVICE_CPU)
            return ev::set_last_error(nullptr, EV_ERR_UNSUPPORTED_DEVICE,
                                      "device '" + device + "' is not supported by this build",
                                      "allowed devices: \"cpu\"");
        if (config->num_threads < 0)
            return invalid(nullptr, "num_threads is " + std::to_string(config->num_threads),
                           "use 0 for the default or a positive thread count (at most EV_MAX_THREADS, " +
                               std::to_string(EV_MAX_THREADS) + "; more are clamped)");

        std::unique_ptr<ev_context_s> ctx(new ev_context_s());
        ctx->manifest = ev::Manifest::load(ev::Manifest::find_dir(config->model_path), kManifestReader);
        ctx->kind = ev::find_kind(ctx->manifest.kind);  // Manifest::parse refused unknown kinds
        ctx->device = device;
        const int32_t wanted = config->num_threads > 0
                                   ? config->num_threads
                                   : static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
        ctx->num_threads = std::min<int32_t>(wanted, EV_MAX_THREADS);
        ctx->use_mmap = config->use_mmap != 0;
        ctx->memory_limit = config->memory_limit_bytes;
        ctx->auto_unload = config->auto_unload_on_memory_pressure != 0;
        ctx->rng = ev::Rng(config->seed);
        use_kernel_threads(ctx.get());
        {
            ev::CallLock::Guard g(ctx->mu, "ev_init", ctx->manifest.name);
            loaded_model(ctx.get());
        }
        result = ctx.release();
        return EV_OK;
    });
    if (out_error) *out_error = code;
    return result;
}

void ev_free(ev_context ctx) {
    if (ctx == nullptr) return;
    // From inside its own callback, ev_free would wait for the call that runs the callback:
    // it does nothing instead (documented in edge_veda.h); free the context after that call.
    if (inside_callback_of(ctx)) return;
    try {
        {
            std::unique_lock<std::mutex> g(ctx->life_mu);
            ctx->closing = true;
            ctx->cancel_epoch.fetch_add(1, std::memory_order_acq_rel);
            ctx->idle_cv.wait(g, [&] { return ctx->active_calls == 0; });
        }
        delete ctx;
    } catch (...) {
        // Nothing can be reported from a void function; never let it cross the boundary.
    }
}

#define EV_ENTER(ctx)                                                                          \
    if ((ctx) == nullptr)                                                                      \
        return invalid(nullptr, std::string(__func__) + ": context is NULL",                   \
                       "create a context with ev_init() and check it is not NULL");            \
    if (inside_callback_of(ctx)) return reentrant_call(ctx, __func__);                         \
    CallScope scope_(ctx);                                                                     \
    if (!scope_.entered())                                                                     \
        return ev::set_last_error(ctx, EV_ERR_CANCELLED, "the context is being freed",         \
                                  "do not call a context after ev_free() has begun");

ev_error_t ev_warmup(ev_context ctx) {
    EV_ENTER(ctx);
    return model_call<ev::ModelInstance>(ctx, "ev_warmup", kNoInputs,
                                         [&](ev::ModelInstance& model, ContextCall& call) { model.warmup(call); });
}

ev_error_t ev_status(ev_context ctx, ev_status_info* out) {
    // Never waits for a running call: it reads the snapshot the calls publish (context.h), so
    // a host may poll it while a synthesis runs. From a callback of ctx it is still refused
    // (the re-entrancy rule is one rule for every function that takes the context).
    EV_ENTER(ctx);
    if (out == nullptr) return invalid(ctx, "ev_status: out is NULL", "pass a pointer to an ev_status_info");
    if (out->struct_size < sizeof(uint32_t) || out->struct_size > (1u << 16))
        return invalid(ctx, "ev_status_info.struct_size is " + std::to_string(out->struct_size),
                       "set out->struct_size = sizeof(ev_status_info) before the call");
    return guarded(ctx, [&]() -> ev_error_t {
        ev::StatusSnapshot now;
        {
            std::lock_guard<std::mutex> g(ctx->status_mu);
            now = ctx->status;
        }
        ev_status_info s;
        std::memset(&s, 0, sizeof(s));
        s.struct_size = out->struct_size;
        s.initialized = 1;
        s.weights_loaded = now.weights_loaded ? 1 : 0;
        s.num_threads = ctx->num_threads;
        s.memory_used_bytes = now.memory_used;
        s.memory_limit_bytes = ctx->memory_limit;
        s.device = ctx->device.c_str();
        s.artifact_path = ctx->manifest.dir.c_str();
        s.model_name = ctx->manifest.name.c_str();
        s.model_kind = ctx->manifest.kind.c_str();
        s.capabilities = now.capabilities;
        s.weights_mapped = now.weights_mapped ? 1 : 0;
        s.weights_bytes = now.weights_bytes;
        s.max_input_chars = static_cast<int32_t>(ctx->manifest.max_input_chars);
        s.sample_rate = now.sample_rate;
        s.voice_count = now.voice_count;
        s.last_frontend_ms = now.last_synthesis.frontend_ms;
        s.last_durations_ms = now.last_synthesis.durations_ms;
        s.last_audio_ms = now.last_synthesis.audio_ms;
        s.has_frontend = now.has_frontend ? 1 : 0;
        std::memcpy(out, &s, std::min<size_t>(out->struct_size, sizeof(s)));
        return EV_OK;
    });
}

namespace {

// The shared body of ev_generate and ev_generate_stream.
std::string run_generation(ev_context ctx, const char* prompt, const ev_generation_params* params,
                           ev_token_callback cb, void* user_data) {
    ContextCall call(ctx, cb ? "ev_generate_stream" : "ev_generate");
    const ev::SamplingParams sp = ev::SamplingParams::from_abi(params);
    std::string text, out;
    on_model<ev::Generator>(
        ctx, call, [&] { text = checked_prompt(prompt, ctx->manifest.max_input_chars, "prompt"); },
        [&](ev::Generator& model) {
            ev::TokenSink sink = [&](const std::string& token, int32_t id) {
                InCallback in_callback(ctx, &call);
                cb(user_data, token.c_str(), id);
            };
            out = model.generate(text, sp, call, cb ? &sink : nullptr);
        });
    return out;
}

}  // namespace

ev_error_t ev_generate(ev_context ctx, const char* prompt, const ev_generation_params* params,
                       char** out) {
    if (out) *out = nullptr;
    EV_ENTER(ctx);
    if (prompt == nullptr) return invalid(ctx, "ev_generate: prompt is NULL", "pass a NUL-terminated UTF-8 string");
    if (out == nullptr) return invalid(ctx, "ev_generate: out is NULL", "pass the address of a char* to receive the result");
    return guarded(ctx, [&]() -> ev_error_t {
        *out = copy_string(run_generation(ctx, prompt, params, nullptr, nullptr));
        return EV_OK;
    });
}

void ev_free_string(char* str) { std::free(str); }

ev_error_t ev_generate_batch(ev_context ctx, const char* const* prompts, int32_t count,
                             const ev_generation_params* params, char** outs) {
    if (outs && count > 0) std::memset(outs, 0, sizeof(char*) * static_cast<size_t>(count));
    EV_ENTER(ctx);
    if (count < 0) return invalid(ctx, "ev_generate_batch: count is " + std::to_string(count), "pass count >= 0");
    if (count > 0 && (prompts == nullptr || outs == nullptr))
        return invalid(ctx, std::string("ev_generate_batch: ") + (prompts ? "outs" : "prompts") + " is NULL",
                       "pass arrays of `count` prompts and `count` char* slots");
    for (int32_t i = 0; i < count; ++i)
        if (prompts[i] == nullptr)
            return invalid(ctx, "ev_generate_batch: prompts[" + std::to_string(i) + "] is NULL",
                           "every prompt must be a NUL-terminated UTF-8 string");
    std::vector<std::string> texts(static_cast<size_t>(count));
    std::vector<std::string> results;
    // Every prompt is checked (UTF-8, length limit) before any runs.
    auto check_prompts = [&] {
        for (int32_t i = 0; i < count; ++i)
            texts[static_cast<size_t>(i)] =
                checked_prompt(prompts[i], ctx->manifest.max_input_chars, "prompts[" + std::to_string(i) + "]");
    };
    ev_error_t rc = model_call<ev::BatchGenerator>(ctx, "ev_generate_batch", check_prompts,
                                                   [&](ev::BatchGenerator& model, ContextCall& call) {
        results = model.generate_batch(texts, ev::SamplingParams::from_abi(params), call);
    });
    if (rc == EV_OK)
        rc = guarded(ctx, [&]() -> ev_error_t {
            for (int32_t i = 0; i < count; ++i) outs[i] = copy_string(results[static_cast<size_t>(i)]);
            return EV_OK;
        });
    if (rc != EV_OK && outs)
        for (int32_t i = 0; i < count; ++i) {
            std::free(outs[i]);
            outs[i] = nullptr;
        }
    return rc;
}

ev_error_t ev_generate_stream(ev_context ctx, const char* prompt, const ev_generation_params* params,
                              ev_token_callback callback, void* user_data) {
    EV_ENTER(ctx);
    if (prompt == nullptr) return invalid(ctx, "ev_generate_stream: prompt is NULL", "pass a NUL-terminated UTF-8 string");
    if (callback == nullptr)
        return invalid(ctx, "ev_generate_stream: callback is NULL",
                       "pass a token callback, or use ev_generate / ev_stream_begin");
    return guarded(ctx, [&]() -> ev_error_t {
        run_generation(ctx, prompt, params, callback, user_data);
        return EV_OK;
    });
}

ev_error_t ev_stream_begin(ev_context ctx, const char* prompt, const ev_generation_params* params,
                           ev_stream* out_stream) {
    if (out_stream) *out_stream = nullptr;
    EV_ENTER(ctx);
    if (prompt == nullptr) return invalid(ctx, "ev_stream_begin: prompt is NULL", "pass a NUL-terminated UTF-8 string");
    if (out_stream == nullptr) return invalid(ctx, "ev_stream_begin: out_stream is NULL", "pass the address of an ev_stream");
    return guarded(ctx, [&]() -> ev_error_t {
        std::unique_ptr<ev_stream_s> s(new ev_stream_s());
        s->ctx = ctx;
        s->epoch = ctx->cancel_epoch.load(std::memory_order_acquire);
        ContextCall call(ctx, s->epoch, "ev_stream_begin");
        std::string text;
        on_model<ev::Generator>(
            ctx, call, [&] { text = checked_prompt(prompt, ctx->manifest.max_input_chars, "prompt"); },
            [&](ev::Generator& model) {
                s->model = ctx->model;
                s->tokens = model.stream(text, ev::SamplingParams::from_abi(params), call);
            });
        *out_stream = s.release();
        return EV_OK;
    });
}

ev_error_t ev_stream_next(ev_stream stream, const char** out_token, int32_t* out_token_id) {
    if (out_token) *out_token = nullptr;
    if (stream == nullptr) return invalid(nullptr, "ev_stream_next: stream is NULL", "create one with ev_stream_begin()");
    if (out_token == nullptr) return invalid(stream->ctx, "ev_stream_next: out_token is NULL", "pass the address of a const char*");
    ev_context ctx = stream->ctx;
    EV_ENTER(ctx);
    return guarded(ctx, [&]() -> ev_error_t {
        ev::CallLock::Guard g(ctx->mu, "ev_stream_next", ctx->manifest.name);
        if (stream->done) return EV_ERR_STREAM_END;
        ContextCall call(ctx, stream->epoch, "ev_stream_next");
        use_kernel_threads(ctx);
        int32_t id = 0;
        if (!stream->tokens->next(call, &stream->token, &id)) {
            stream->done = true;
            after_call(ctx);
            return EV_ERR_STREAM_END;
        }
        *out_token = stream->token.c_str();
        if (out_token_id) *out_token_id = id;
        return EV_OK;
    });
}

// No lock: the stream shares nothing with the context but the model instance's reference
// count, and may be freed from a callback of its context.
void ev_stream_free(ev_stream stream) { delete stream; }

namespace {

// One malloc'd block: the struct, the pointer arrays, the sources, then the strings.
ev_phonemes* copy_phonemes(const std::vector<ev::PhonemizedToken>& tokens) {
    const size_t n = tokens.size();
    if (n > static_cast<size_t>(INT32_MAX)) throw std::bad_alloc();
    auto align = [](size_t v) { return (v + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1); };
    const size_t head = align(sizeof(ev_phonemes));
    const size_t ptrs = align(2 * n * sizeof(char*));
    const size_t srcs = align(n * sizeof(int32_t));
    const size_t spans = align(2 * n * sizeof(int64_t));
    size_t strings = 0;
    for (const ev::PhonemizedToken& t : tokens) strings += t.token.size() + 1 + t.phonemes.size() + 1;
    unsigned char* block = static_cast<unsigned char*>(std::malloc(head + ptrs + srcs + spans + strings));
    if (block == nullptr) throw std::bad_alloc();
    ev_phonemes* out = reinterpret_cast<ev_phonemes*>(block);
    std::memset(out, 0, sizeof(ev_phonemes));
    const char** token_ptrs = reinterpret_cast<const char**>(block + head);
    const char** phoneme_ptrs = token_ptrs + n;
    int32_t* sources = reinterpret_cast<int32_t*>(block + head + ptrs);
    int64_t* source_begin = reinterpret_cast<int64_t*>(block + head + ptrs + srcs);
    int64_t* source_end = source_begin + n;
    char* text = reinterpret_cast<char*>(block + head + ptrs + srcs + spans);
    for (size_t i = 0; i < n; ++i) {
        std::memcpy(text, tokens[i].token.c_str(), tokens[i].token.size() + 1);
        token_ptrs[i] = text;
        text += tokens[i].token.size() + 1;
        std::memcpy(text, tokens[i].phonemes.c_str(), tokens[i].phonemes.size() + 1);
        phoneme_ptrs[i] = text;
        text += tokens[i].phonemes.size() + 1;
        sources[i] = tokens[i].source;
        source_begin[i] = tokens[i].source_begin;
        source_end[i] = tokens[i].source_end;
    }
    out->struct_size = sizeof(ev_phonemes);
    out->count = static_cast<int32_t>(n);
    out->tokens = token_ptrs;
    out->phonemes = phoneme_ptrs;
    out->sources = sources;
    out->source_begin = source_begin;
    out->source_end = source_end;
    return out;
}

}  // namespace

ev_error_t ev_phonemize(ev_context ctx, const char* text, const ev_generation_params* params, ev_phonemes** out) {
    if (out) *out = nullptr;
    EV_ENTER(ctx);
    if (text == nullptr) return invalid(ctx, "ev_phonemize: text is NULL", "pass a NUL-terminated UTF-8 string");
    if (out == nullptr)
        return invalid(ctx, "ev_phonemize: out is NULL", "pass the address of an ev_phonemes* to receive the result");
    std::string checked;
    std::vector<ev::PhonemizedToken> tokens;
    const ev_error_t rc = model_call<ev::Phonemizer>(
        ctx, "ev_phonemize", [&] { checked = checked_prompt(text, ctx->manifest.max_input_chars, "text"); },
        [&](ev::Phonemizer& model, ContextCall& call) {
            const ev::FrontEnd frontend = [&call](const std::string& t) { return call.frontend_phonemize(t); };
            tokens = model.phonemize(checked, ev::SamplingParams::from_abi(params), call, frontend);
        });
    if (rc != EV_OK) return rc;
    return guarded(ctx, [&]() -> ev_error_t {
        *out = copy_phonemes(tokens);
        return EV_OK;
    });
}

void ev_phonemes_free(ev_phonemes* phonemes) { std::free(phonemes); }

ev_synthesis_params ev_synthesis_params_default(void) {
    ev_synthesis_params p;
    std::memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(ev_synthesis_params);
    p.input = EV_TTS_INPUT_TEXT;
    p.speed = 1.0f;
    p.voice = nullptr;
    return p;
}

namespace {

constexpr float kMinSpeed = 0.25f, kMaxSpeed = 4.0f;

// ev_synthesis_params (NULL: the defaults) as a request; throws EV_ERR_INVALID_ARGUMENT.
ev::SynthesisRequest synthesis_request(const ev_synthesis_params* params) {
    ev_synthesis_params p = ev_synthesis_params_default();
    if (params != nullptr) {
        if (params->struct_size < offsetof(ev_synthesis_params, voice) + sizeof(params->voice) ||
            params->struct_size > (1u << 16))
            throw Error(EV_ERR_INVALID_ARGUMENT,
                        "ev_synthesis_params.struct_size is " + std::to_string(params->struct_size),
                        "start from ev_synthesis_params_default()");
        std::memcpy(&p, params, std::min<size_t>(params->struct_size, sizeof(p)));
    }
    if (p.input != EV_TTS_INPUT_TEXT && p.input != EV_TTS_INPUT_PHONEMES)
        throw Error(EV_ERR_INVALID_ARGUMENT, "ev_synthesis_params.input is " + std::to_string(p.input),
                    "use EV_TTS_INPUT_TEXT (0) or EV_TTS_INPUT_PHONEMES (1)");
    if (!(p.speed >= kMinSpeed && p.speed <= kMaxSpeed))  // also refuses NaN
        throw Error(EV_ERR_INVALID_ARGUMENT, "ev_synthesis_params.speed is " + std::to_string(p.speed),
                    "use a speed from 0.25 to 4 (1 = the model's own pace)");
    ev::SynthesisRequest r;
    r.phonemes = p.input == EV_TTS_INPUT_PHONEMES;
    r.speed = p.speed;
    if (p.voice != nullptr) {
        const size_t n = strnlen(p.voice, 1025);
        if (n > 1024)
            throw Error(EV_ERR_INVALID_ARGUMENT, "ev_synthesis_params.voice is longer than 1024 bytes",
                        "name a voice from ev_voices(), or a blend like \"a:0.7,b:0.3\"");
        r.voice.assign(p.voice, n);
    }
    return r;
}

// Must hold ctx->mu. What a synthesis may hold beyond the weights under ev_config's
// memory_limit_bytes (0: no limit); a limit the weights alone exceed leaves nothing to run with.
uint64_t working_limit(ev_context ctx) {
    if (ctx->memory_limit == 0) return 0;
    const uint64_t weights = ctx->weights ? ctx->weights->bytes() : 0;
    if (ctx->memory_limit <= weights)
        throw Error(EV_ERR_OUT_OF_MEMORY,
                    "memory_limit_bytes (" + std::to_string(ctx->memory_limit >> 20) + " MiB) is below the weights alone (" +
                        std::to_string(weights >> 20) + " MiB): a synthesis cannot run within it",
                    "raise ev_config.memory_limit_bytes above the weights plus what your longest sentence needs, or "
                    "set it to 0 (no limit)");
    return ctx->memory_limit - weights;
}

// One block: the struct, the samples, the word arrays, the word strings.
ev_audio* copy_audio(const std::vector<float>& samples, const std::vector<ev::WordSpan>& words, int32_t rate) {
    const size_t n = words.size();
    const size_t head = (sizeof(ev_audio) + 63) / 64 * 64;
    const size_t sample_bytes = (samples.size() * sizeof(float) + 7) / 8 * 8;
    const size_t span_bytes = 4 * n * sizeof(int64_t);  // start, end, source begin, source end
    const size_t ptr_bytes = n * sizeof(char*);
    size_t strings = 0;
    for (const ev::WordSpan& w : words) strings += w.word.size() + 1;
    unsigned char* block =
        static_cast<unsigned char*>(std::malloc(head + sample_bytes + span_bytes + ptr_bytes + strings));
    if (block == nullptr) throw std::bad_alloc();
    ev_audio* out = reinterpret_cast<ev_audio*>(block);
    std::memset(out, 0, sizeof(ev_audio));
    float* data = reinterpret_cast<float*>(block + head);
    if (!samples.empty()) std::memcpy(data, samples.data(), samples.size() * sizeof(float));
    int64_t* starts = reinterpret_cast<int64_t*>(block + head + sample_bytes);
    int64_t* ends = starts + n;
    int64_t* source_begin = ends + n;
    int64_t* source_end = source_begin + n;
    const char** names = reinterpret_cast<const char**>(block + head + sample_bytes + span_bytes);
    char* text = reinterpret_cast<char*>(block + head + sample_bytes + span_bytes + ptr_bytes);
    for (size_t i = 0; i < n; ++i) {
        starts[i] = words[i].start;
        ends[i] = words[i].end;
        source_begin[i] = words[i].source_begin;
        source_end[i] = words[i].source_end;
        std::memcpy(text, words[i].word.c_str(), words[i].word.size() + 1);
        names[i] = text;
        text += words[i].word.size() + 1;
    }
    out->struct_size = sizeof(ev_audio);
    out->sample_rate = rate;
    out->sample_count = static_cast<int64_t>(samples.size());
    out->samples = data;
    out->word_count = static_cast<int32_t>(n);
    out->words = names;
    out->word_start = starts;
    out->word_end = ends;
    out->word_source_begin = source_begin;
    out->word_source_end = source_end;
    return out;
}

// The body both synthesis calls share; `sink` gets the pieces.
ev_error_t run_synthesis(ev_context ctx, const char* input, const ev_synthesis_params* params, bool stream,
                         const char* function, const ev::AudioSink& sink, std::vector<ev::WordSpan>* words,
                         int32_t* rate) {
    ev::SynthesisRequest request;
    auto check_inputs = [&] {
        request = synthesis_request(params);
        request.sentence_pieces = stream;
        request.input = checked_prompt(input, ctx->manifest.max_input_chars, "input");
    };
    return model_call<ev::Synthesizer>(ctx, function, check_inputs, [&](ev::Synthesizer& model, ContextCall& call) {
        request.frontend = [&call](const std::string& text) { return call.frontend_phonemize(text); };
        request.working_limit = working_limit(ctx);
        if (rate) *rate = model.sample_rate();
        // The sink may run the host's callback: ev_cancel there stops this call only.
        const ev::AudioSink framed = [&](const ev::AudioPiece& piece) {
            InCallback in_callback(ctx, &call);
            sink(piece);
        };
        ctx->last_synthesis = model.synthesize(request, call, framed, words);
    });
}

}  // namespace

ev_error_t ev_synthesize(ev_context ctx, const char* input, const ev_synthesis_params* params, ev_audio** out) {
    if (out) *out = nullptr;
    EV_ENTER(ctx);
    if (input == nullptr) return invalid(ctx, "ev_synthesize: input is NULL", "pass a NUL-terminated UTF-8 string");
    if (out == nullptr)
        return invalid(ctx, "ev_synthesize: out is NULL", "pass the address of an ev_audio* to receive the result");
    std::vector<float> samples;
    std::vector<ev::WordSpan> words;
    int32_t rate = 0;
    const ev::AudioSink sink = [&](const ev::AudioPiece& piece) {
        samples.insert(samples.end(), piece.samples, piece.samples + piece.count);
    };
    ev_error_t rc = run_synthesis(ctx, input, params, false, "ev_synthesize", sink, &words, &rate);
    if (rc != EV_OK) return rc;
    return guarded(ctx, [&]() -> ev_error_t {
        *out = copy_audio(samples, words, rate);
        return EV_OK;
    });
}

void ev_audio_free(ev_audio* audio) { std::free(audio); }

ev_error_t ev_synthesize_stream(ev_context ctx, const char* input, const ev_synthesis_params* params,
                                ev_audio_callback callback, void* user_data) {
    EV_ENTER(ctx);
    if (input == nullptr)
        return invalid(ctx, "ev_synthesize_stream: input is NULL", "pass a NUL-terminated UTF-8 string");
    if (callback == nullptr)
        return invalid(ctx, "ev_synthesize_stream: callback is NULL", "pass a function that receives the chunks");
    const ev::AudioSink sink = [&](const ev::AudioPiece& piece) {
        ev_audio_chunk chunk;
        std::memset(&chunk, 0, sizeof(chunk));
        chunk.struct_size = sizeof(ev_audio_chunk);
        chunk.chunk_index = piece.index;
        chunk.start_sample = piece.start;
        chunk.sample_count = piece.count;
        chunk.samples = piece.samples;
        chunk.is_final = piece.final ? 1 : 0;
        chunk.progress = piece.progress;
        callback(&chunk, user_data);
    };
    return run_synthesis(ctx, input, params, true, "ev_synthesize_stream", sink, nullptr, nullptr);
}

ev_error_t ev_voices(ev_context ctx, char** out_names) {
    if (out_names) *out_names = nullptr;
    EV_ENTER(ctx);
    if (out_names == nullptr)
        return invalid(ctx, "ev_voices: out_names is NULL", "pass the address of a char* to receive the names");
    return model_call<ev::Synthesizer>(ctx, "ev_voices", kNoInputs, [&](ev::Synthesizer& model, ContextCall&) {
        std::string joined;
        for (const std::string& v : model.voices()) joined += (joined.empty() ? "" : ",") + v;
        *out_names = copy_string(joined);
    });
}

namespace {

// One malloc'd block: the struct, the pointer array, then the strings.
ev_voice_list* copy_voice_list(const std::vector<std::string>& names) {
    const size_t n = names.size();
    if (n > static_cast<size_t>(INT32_MAX)) throw std::bad_alloc();
    const size_t head = (sizeof(ev_voice_list) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
                        alignof(std::max_align_t);
    size_t strings = 0;
    for (const std::string& name : names) strings += name.size() + 1;
    unsigned char* block = static_cast<unsigned char*>(std::malloc(head + n * sizeof(char*) + strings));
    if (block == nullptr) throw std::bad_alloc();
    ev_voice_list* out = reinterpret_cast<ev_voice_list*>(block);
    std::memset(out, 0, sizeof(ev_voice_list));
    const char** ptrs = reinterpret_cast<const char**>(block + head);
    char* text = reinterpret_cast<char*>(block + head + n * sizeof(char*));
    for (size_t i = 0; i < n; ++i) {
        std::memcpy(text, names[i].c_str(), names[i].size() + 1);
        ptrs[i] = text;
        text += names[i].size() + 1;
    }
    out->struct_size = sizeof(ev_voice_list);
    out->count = static_cast<int32_t>(n);
    out->names = ptrs;
    return out;
}

}  // namespace

ev_error_t ev_list_voices(ev_context ctx, ev_voice_list** out) {
    if (out) *out = nullptr;
    EV_ENTER(ctx);
    if (out == nullptr)
        return invalid(ctx, "ev_list_voices: out is NULL", "pass the address of an ev_voice_list* to receive the list");
    return model_call<ev::Synthesizer>(ctx, "ev_list_voices", kNoInputs, [&](ev::Synthesizer& model, ContextCall&) {
        *out = copy_voice_list(model.voices());
    });
}

void ev_voice_list_free(ev_voice_list* list) { std::free(list); }

ev_error_t ev_set_frontend(ev_context ctx, ev_context frontend) {
    EV_ENTER(ctx);
    if (frontend == ctx)
        return invalid(ctx, "ev_set_frontend: a context cannot be its own front end",
                       "pass a G2P model's context (or NULL to remove the front end)");
    return guarded(ctx, [&]() -> ev_error_t {
        // The lock order of a synthesis: the TTS context, then its front end.
        ev::CallLock::Guard g(ctx->mu, "ev_set_frontend", ctx->manifest.name);
        if (frontend != nullptr) {
            // The front end must phonemize; ask it (under its own lock) before taking it.
            ev::CallLock::Guard fg(frontend->mu, "ev_set_frontend", frontend->manifest.name);
            ev::ModelInstance& fm = loaded_model(frontend);
            if (ev::find<ev::Phonemizer>(fm) == nullptr || ev::find<ev::Synthesizer>(fm) != nullptr)
                throw Error(EV_ERR_UNSUPPORTED_OPERATION,
                            "ev_set_frontend: model '" + frontend->manifest.name + "' (kind " +
                                frontend->manifest.kind + ") is not a text front end",
                            "pass the context of a G2P model (kind g2p, e.g. g2p-en)");
            if (frontend->frontend != nullptr)
                throw Error(EV_ERR_INVALID_ARGUMENT, "ev_set_frontend: the front end has a front end itself",
                            "pass a G2P model's context");
        }
        ctx->frontend = frontend;
        publish_status(ctx);
        return EV_OK;
    });
}

void ev_register_system_lib_model(const ev_system_lib_model* model) {
    // Runs from static constructors, possibly before main: no error state to set, nothing may
    // throw; anything unusable is ignored (the model then reads as not linked at ev_init).
    constexpr size_t kNeeded = offsetof(ev_system_lib_model, name) + sizeof(model->name);
    if (model == nullptr || model->struct_size < kNeeded) return;
    for (const char* s : {model->prefix, model->tvm_version, model->name}) {
        if (s == nullptr || *s == '\0' || strnlen(s, 257) > 256) return;
    }
    try {
        ev::register_system_lib_model({model->prefix, model->ev_abi_version, model->tvm_version, model->name});
    } catch (...) {
    }
}

ev_error_t ev_cancel(ev_context ctx) {
    if (ctx == nullptr) return invalid(nullptr, "ev_cancel: context is NULL", "pass a context from ev_init()");
    // From a token or audio callback: the call running that callback, and nothing queued.
    const CallbackFrame* frame = callback_frame_of(ctx);
    if (frame != nullptr && frame->call != nullptr) {
        frame->call->cancel();
        return EV_OK;
    }
    ctx->cancel_epoch.fetch_add(1, std::memory_order_acq_rel);
    return EV_OK;
}

ev_error_t ev_set_memory_pressure_callback(ev_context ctx, ev_memory_pressure_callback callback,
                                           void* user_data) {
    EV_ENTER(ctx);
    return guarded(ctx, [&]() -> ev_error_t {
        ev::CallLock::Guard g(ctx->mu, "ev_set_memory_pressure_callback", ctx->manifest.name);
        ctx->pressure_cb = callback;
        ctx->pressure_user_data = callback ? user_data : nullptr;
        return EV_OK;
    });
}

ev_error_t ev_notify_memory_pressure(ev_context ctx, int32_t level) {
    EV_ENTER(ctx);
    if (level != EV_MEMORY_PRESSURE_MODERATE && level != EV_MEMORY_PRESSURE_CRITICAL)
        return invalid(ctx, "memory pressure level " + std::to_string(level) + " is unknown",
                       "use EV_MEMORY_PRESSURE_MODERATE (1) or EV_MEMORY_PRESSURE_CRITICAL (2)");
    return guarded(ctx, [&]() -> ev_error_t {
        ev::CallLock::Guard g(ctx->mu, "ev_notify_memory_pressure", ctx->manifest.name);
        const uint64_t used = memory_in_use(ctx);
        if (ctx->pressure_cb) {
            InCallback in_callback(ctx, nullptr);
            ctx->pressure_cb(ctx->pressure_user_data, static_cast<size_t>(used),
                             static_cast<size_t>(ctx->memory_limit));
        }
        if (ctx->auto_unload) unload(ctx);
        return EV_OK;
    });
}

}  // extern "C"
