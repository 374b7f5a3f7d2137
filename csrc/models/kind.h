// Model kinds: how the ABI boundary (api.cpp) drives one kind of model. A kind is a folder under
// csrc/models/ whose model class derives from ModelInstance and from each capability interface
// it has (Generator, BatchGenerator, Phonemizer, Synthesizer); it adds one line to the registry
// (models/registry.cpp).
//
// api.cpp owns everything that is the same for every kind: argument checks, the error boundary,
// locks, cancellation, the context RNG, memory accounting and status, verification, the module
// and the weights. A kind owns what differs: its section of the manifest, tokenization, the
// loops that call the module's functions, and its capabilities. The layers below (core/, then
// runtime/) know nothing of kinds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/manifest.h"
#include "core/sampling.h"
#include "runtime/runtime.h"

namespace ev {

// Where one token's phonemes came from (ev_phonemes.sources: the EV_SOURCE_* constants).
constexpr int32_t kSourceLexicon = 1;
constexpr int32_t kSourceModel = 2;
constexpr int32_t kSourcePunctuation = 3;

// One token of a phonemized text.
struct PhonemizedToken {
    std::string token;     // the word or punctuation as the text front end produced it
    std::string phonemes;  // space-separated phonemes; "" for punctuation
    int32_t source = 0;    // kSource*
    // Bytes [source_begin, source_end) of the input text the token was read from (the source
    // word: "Dr.", "1984", "$3.50"; tokens of one source word share it); -1 when unknown.
    int64_t source_begin = -1, source_end = -1;
};

// What a running call may ask of the boundary.
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
};

// One loaded model of a kind. Created by the kind's factory once the boundary has verified the
// artifact, loaded the module and opened the weights; destroyed on ev_free or a memory-pressure
// unload (then created again at the next call). Not thread-safe: the boundary serializes calls.
class ModelInstance {
public:
    virtual ~ModelInstance() = default;
    // Bytes this instance holds beyond the shared weights (VMs' working buffers; for inputs of
    // any length, the most the last call held at once).
    virtual uint64_t working_bytes() const = 0;
    // Runs every kernel once so that the first real call is not slower than the rest.
    virtual void warmup(CallControl& call) = 0;
};

// ---- Capabilities: each is an interface with its EV_CAP_* bit. A kind lacking one answers
// EV_ERR_UNSUPPORTED_OPERATION without any code of its own (find<>() returns null).

// Receives each output token of a generation as it is decoded.
using TokenSink = std::function<void(const std::string& token, int32_t id)>;

// A pull-style generation (ev_stream_*): one token per next().
class TokenStream {
public:
    virtual ~TokenStream() = default;
    // Decodes the next token; false when the output is complete.
    virtual bool next(CallControl& call, std::string* token, int32_t* id) = 0;
};

// ev_generate, ev_generate_stream, ev_stream_*.
class Generator {
public:
    static constexpr uint32_t kBit = 1u << 0;  // EV_CAP_GENERATE
    virtual ~Generator() = default;
    // `sink` (may be null) receives each token as it is decoded.
    virtual std::string generate(const std::string& prompt, const SamplingParams& params, CallControl& call,
                                 const TokenSink* sink) = 0;
    virtual std::unique_ptr<TokenStream> stream(const std::string& prompt, const SamplingParams& params,
                                                CallControl& call) = 0;
};

// ev_generate_batch: one output per prompt, what generate() gives for each.
class BatchGenerator {
public:
    static constexpr uint32_t kBit = 1u << 1;  // EV_CAP_GENERATE_BATCH
    virtual ~BatchGenerator() = default;
    virtual std::vector<std::string> generate_batch(const std::vector<std::string>& prompts,
                                                    const SamplingParams& params, CallControl& call) = 0;
};

// ev_phonemize: one entry per word or punctuation token of `text`, in order.
// Phonemizes text for a synthesis: the context's front end (ev_set_frontend), run as part of
// the synthesis call (its cancel reaches it). Throws EV_ERR_INVALID_STATE when there is none.
using FrontEnd = std::function<std::vector<PhonemizedToken>(const std::string& text)>;

class Phonemizer {
public:
    static constexpr uint32_t kBit = 1u << 2;  // EV_CAP_PHONEMIZE
    virtual ~Phonemizer() = default;
    // `frontend`: the context's front end, for kinds that phonemize through another model (tts:
    // the G2P front end's words in the model's own symbols); a G2P kind is its own front end and
    // ignores it.
    virtual std::vector<PhonemizedToken> phonemize(const std::string& text, const SamplingParams& params,
                                                   CallControl& call, const FrontEnd& frontend) = 0;
};

// One synthesis (ev_synthesize / ev_synthesize_stream).
struct SynthesisRequest {
    std::string input;             // checked UTF-8: text, or phonemes when `phonemes`
    bool phonemes = false;         // EV_TTS_INPUT_PHONEMES
    float speed = 1.0f;
    std::string voice;             // "" = the model's default; a name or "a:0.7,b:0.3"
    bool sentence_pieces = false;  // cut at every sentence end (streaming: early first chunk)
    FrontEnd frontend;             // text input only
    // 0 = none. The most bytes the synthesis may hold beyond the weights at once
    // (ev_config.memory_limit_bytes less the weights); more is EV_ERR_OUT_OF_MEMORY.
    uint64_t working_limit = 0;
};

// A piece of synthesized audio handed to the boundary as soon as it exists.
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
    std::string word;   // the word as the front end spoke it ("nineteen")
    int64_t start = 0;  // first sample
    int64_t end = 0;    // one past the last sample
    int64_t source_begin = -1, source_end = -1;  // its bytes in the input text; -1: phoneme input
};

// What a synthesis reports besides its audio: milliseconds per stage (ev_status_info's
// last_*_ms fields).
struct SynthesisReport {
    float frontend_ms = 0;
    float durations_ms = 0;
    float audio_ms = 0;
};

// ev_synthesize, ev_synthesize_stream, ev_voices.
class Synthesizer {
public:
    static constexpr uint32_t kBit = 1u << 3;  // EV_CAP_SYNTHESIZE
    virtual ~Synthesizer() = default;
    // The audio of `request`, piece by piece to `sink`, in order; `words` (may be null)
    // receives where each input word is.
    virtual SynthesisReport synthesize(const SynthesisRequest& request, CallControl& call, const AudioSink& sink,
                                       std::vector<WordSpan>* words) = 0;
    virtual std::vector<std::string> voices() const = 0;  // the default first
    virtual int32_t sample_rate() const = 0;
};

// The capability interface `Capability` of `model`, or null when its kind lacks it.
template <typename Capability>
Capability* find(ModelInstance& model) {
    return dynamic_cast<Capability*>(&model);
}

// The function the manifest binds to `role` ("functions" section), on `vm` with its weights;
// null when the manifest has none and `required` is false. Throws EV_ERR_MODEL_INVALID naming
// the kind and the role when a required one is missing.
std::unique_ptr<Function> bind_role(Vm& vm, const Manifest& manifest, const char* role, bool required = true);

// The EV_CAP_* bits of every capability `model` has.
uint32_t capabilities_of(ModelInstance& model);

// What the boundary hands a kind's factory.
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

// The kind registered under `name`, or nullptr (models/registry.cpp).
const KindEntry* find_kind(const std::string& name);
bool kind_supported(const std::string& name);
// "seq2seq-gru, ..." for messages.
std::string supported_kinds();

}  // namespace ev
