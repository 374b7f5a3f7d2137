// Tokenization and the autoregressive decoding loop (greedy and seeded sampling), independent
// of the runtime: it drives any ev::Backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "edge_veda.h"
#include "manifest.h"

namespace ev {

// splitmix64: tiny, fast, and identical on every platform, so a seed means the same
// output everywhere.
class Rng {
public:
    explicit Rng(uint64_t seed = 0) : state_(seed) {}
    uint64_t next_u64();
    double next_unit();  // uniform in [0, 1)

private:
    uint64_t state_;
};

// Copy of ev_generation_params that owns its strings, normalized against the manifest.
struct SamplingParams {
    int32_t max_tokens = 0;
    float temperature = 0.0f;
    float top_p = 1.0f;
    int32_t top_k = 0;
    float repeat_penalty = 1.0f;
    bool reseed = false;
    uint64_t seed = 0;
    std::vector<std::string> stop_sequences;

    // Validates `p` (nullptr = defaults) and reads only the fields its struct_size covers.
    static SamplingParams from_abi(const ev_generation_params* p, const Manifest& m);
};

struct DecodeState {
    SamplingParams params;
    Rng rng;
    std::vector<float> h;
    std::vector<float> logits;
    std::vector<int32_t> produced;
    std::string text;          // the output so far, tokens joined by the manifest separator
    int32_t next_input = 0;    // decoder input of the next step
    int32_t steps = 0;
    bool done = false;
};

class Decoder {
public:
    Decoder(const Manifest& manifest, Backend& backend);

    // UTF-8 prompt -> input ids, one per code point (as Python's list(str) splits a word).
    // A prompt longer than the manifest's limits.max_input_chars is refused after reading at
    // most 4 * limit + 4 bytes of it, so a huge prompt costs no more than a long one.
    std::vector<int32_t> tokenize(const char* utf8) const;

    // Runs the encoder over tokenize()'s ids and prepares `state` for step().
    void begin(DecodeState& state, const std::vector<int32_t>& ids) const;

    // Decodes one token. Returns false (and sets state.done) when the output is complete;
    // otherwise stores the new token id in *token.
    bool step(DecodeState& state, int32_t* token) const;

    // True when `params` ask for plain argmax decoding that the backend's fused greedy kernel
    // computes in one call (same tokens as step() would produce).
    bool fused_greedy_applies(const SamplingParams& params) const;
    // The fused path: the whole output text of `prompt` in one backend call.
    std::string run_fused_greedy(const std::vector<int32_t>& ids, const SamplingParams& params) const;

    const std::string& token_text(int32_t id) const { return m_.output_vocab[static_cast<size_t>(id)]; }

private:
    int32_t choose(DecodeState& state) const;

    const Manifest& m_;
    Backend& backend_;
    int32_t ascii_ids_[128];
};

}  // namespace ev
