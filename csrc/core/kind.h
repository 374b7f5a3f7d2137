// Model kinds: how the core drives one kind of model. A kind is a folder under csrc/models/
// that implements ModelInstance and adds one line to the registry (csrc/models/registry.cpp).
//
// The core (api.cpp, context) owns everything that is the same for every kind: argument checks,
// the error boundary, locks, cancellation, the context RNG, memory accounting, the manifest's
// common header, file verification, the compiled module and the weights. A kind owns what
// differs: its section of the manifest, tokenization, the loop that calls the module's
// functions, and which ev_* operations it supports.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "manifest.h"
#include "runtime/runtime.h"
#include "sampling.h"

namespace ev {

// Operations a kind may support (ev_status_info.capabilities reports them as EV_CAP_* bits).
// Calling an operation the kind lacks is EV_ERR_UNSUPPORTED_OPERATION.
constexpr uint32_t kCapGenerate = 1u << 0;       // ev_generate, ev_generate_stream, ev_stream_*
constexpr uint32_t kCapGenerateBatch = 1u << 1;  // ev_generate_batch
constexpr uint32_t kCapPhonemize = 1u << 2;      // ev_phonemize
constexpr uint32_t kCapSynthesize = 1u << 3;     // ev_synthesize, ev_synthesize_stream, ev_voices

// Where one token's phonemes came from (ev_phonemes.sources: the EV_SOURCE_* constants).
constexpr int32_t kSourceLexicon = 1;
constexpr int32_t kSourceModel = 2;
constexpr int32_t kSourcePunctuation = 3;

// One token of a phonemized text.
struct PhonemizedToken {
    std::string token;     // the word or punctuation as the text front end produced it
    std::string phonemes;  // space-separated phonemes; "" for punctuation
    int32_t source = 0;    // kSource*
};

// One synthesis (ev_synthesize / ev_synthesize_stream).
struct SynthesisRequest {
    std::string input;             // checked UTF-8: text, or phonemes when `phonemes`
    bool phonemes = false;         // EV_TTS_INPUT_PHONEMES
    float speed = 1.0f;
    std::string voice;             // "" = the model's default; a name or "a:0.7,b:0.3"
    bool sentence_pieces = false;  // cut at every sentence end (streaming: early first chunk)
};

// A piece of synthesized audio handed to the core as soon as it exists.
struct AudioPiece {
    const float* samples = nullptr;
    int64_t count = 0;
    int64_t start = 0;      // position of samples[0] in the utterance
    int32_t index = 0;      // 0, 1, ...
    bool final = false;     // the last piece of the call
    float progress = 0.0f;  // fraction of the input done, 0..1
};
using AudioSink = std::function<void(const AudioPiece&)>;

// Where one input word is in the audio.
struct WordSpan {
    std::string word;
    int64_t start = 0;  // first sample
    int64_t end = 0;    // one past the last sample
};

// Milliseconds the last synthesis spent per stage (ev_status_info).
struct StageTimings {
    float frontend_ms = 0;
    float durations_ms = 0;
    float audio_ms = 0;
};

// What a running call may ask of the core.
class CallControl {
public:
    virtual ~CallControl() = default;
    // Throws EV_ERR_CANCELLED once ev_cancel() (or ev_free) moved the context's epoch after the
    // call began. Kinds call it between steps; it is cheap (one atomic load).
    virtual void check_cancel() const = 0;
    // The seed of one generation: params.seed when fixed, otherwise the next draw of the
    // context's RNG (EV_SEED_CONTEXT). Every path draws exactly one seed per prompt, in prompt
    // order, so a config seed makes any sequence of calls reproducible.
    virtual uint64_t seed_for(const SamplingParams& params) = 0;
    // Kernel threads the call may use (ev_config.num_threads, capped).
    virtual int32_t num_threads() const = 0;
    // Phonemizes `text` with the context's front end (ev_set_frontend: a G2P context, locked
    // for the call). Throws EV_ERR_INVALID_STATE when there is none.
    virtual std::vector<PhonemizedToken> frontend_phonemize(const std::string& text);
};

// Receives each output token of a generation as it is decoded.
using TokenSink = std::function<void(const std::string& token, int32_t id)>;

// A pull-style generation (ev_stream_*): one token per next().
class TokenStream {
public:
    virtual ~TokenStream() = default;
    // Decodes the next token; false when the output is complete.
    virtual bool next(CallControl& call, std::string* token, int32_t* id) = 0;
};

// One loaded model of a kind. Created by the kind's factory once the core has verified the
// artifact, loaded the module and opened the weights; destroyed on ev_free or a memory-pressure
// unload (then created again at the next call). Not thread-safe: the core serializes calls.
class ModelInstance {
public:
    virtual ~ModelInstance() = default;
    virtual uint32_t capabilities() const = 0;
    // Bytes this instance holds beyond the shared weights (VMs' working buffers).
    virtual uint64_t working_bytes() const = 0;
    // Largest input the model accepts, in code points (manifest "limits", or the kind's default).
    virtual int64_t max_input_chars() const = 0;
    // Runs every kernel once so that the first real call is not slower than the rest.
    virtual void warmup(CallControl& call) = 0;

    // kCapGenerate. `sink` (may be null) receives each token as it is decoded.
    virtual std::string generate(const std::string& prompt, const SamplingParams& params, CallControl& call,
                                 const TokenSink* sink);
    virtual std::unique_ptr<TokenStream> stream(const std::string& prompt, const SamplingParams& params,
                                                CallControl& call);
    // kCapGenerateBatch: one output per prompt, what generate() gives for each.
    virtual std::vector<std::string> generate_batch(const std::vector<std::string>& prompts,
                                                    const SamplingParams& params, CallControl& call);
    // kCapPhonemize: one entry per word or punctuation token of `text`, in order.
    virtual std::vector<PhonemizedToken> phonemize(const std::string& text, const SamplingParams& params,
                                                   CallControl& call);
    // kCapSynthesize: the audio of `request`, piece by piece to `sink`, in order; `words` (may be
    // null) receives where each input word is.
    virtual void synthesize(const SynthesisRequest& request, CallControl& call, const AudioSink& sink,
                            std::vector<WordSpan>* words);
    virtual std::vector<std::string> voices() const { return {}; }  // the default first
    virtual int32_t sample_rate() const { return 0; }
    virtual StageTimings last_timings() const { return {}; }
};

// What the core hands a kind's factory.
struct KindInputs {
    const Manifest& manifest;          // common header + the kind's own section (manifest.kind_config)
    std::shared_ptr<Module> module;    // the compiled module, loaded once per context
    std::shared_ptr<const Weights> weights;  // mapped once per context; may be null
    int32_t num_threads;               // effective ev_config.num_threads
};

using KindFactory = std::unique_ptr<ModelInstance> (*)(const KindInputs& inputs);

struct KindEntry {
    const char* name;     // the manifest's "kind"
    KindFactory create;
};

// The kind registered under `name`, or nullptr.
const KindEntry* find_kind(const std::string& name);
// "seq2seq-gru, ..." for messages.
std::string supported_kinds();

[[noreturn]] void unsupported_operation(const std::string& kind, const char* operation);

}  // namespace ev
