// Sampling for autoregressive text kinds: the generation parameters of the ABI, normalized,
// and the choice of the next token from logits (argmax, or seeded temperature/top-k/top-p with
// a repeat penalty). No model here: any kind that produces logits uses it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edge_veda.h"

namespace ev {

// splitmix64: tiny, fast, and identical on every platform, so a seed means the same output
// everywhere.
class Rng {
public:
    explicit Rng(uint64_t seed = 0) : state_(seed) {}
    uint64_t next_u64();
    double next_unit();  // uniform in [0, 1)

private:
    uint64_t state_;
};

// Copy of ev_generation_params that owns its strings, validated.
struct SamplingParams {
    int32_t max_tokens = 0;      // <= 0: the model's default (the kind fills it in)
    float temperature = 0.0f;
    float top_p = 1.0f;
    int32_t top_k = 0;
    float repeat_penalty = 1.0f;
    bool fixed_seed = false;     // false: EV_SEED_CONTEXT (the seed is drawn from the context)
    uint64_t seed = 0;
    std::vector<std::string> stop_sequences;

    // Validates `p` (nullptr = defaults) and reads only the fields its struct_size covers.
    // Throws ev::Error (EV_ERR_INVALID_ARGUMENT).
    static SamplingParams from_abi(const ev_generation_params* p);

    bool greedy() const { return temperature <= 0.0f && repeat_penalty == 1.0f; }
};

// Chooses the next token among the first `vocab` logits (modified in place by the repeat
// penalty): argmax (first maximum, as numpy) when params.temperature is 0, otherwise a draw
// from `rng` after temperature, top-k and top-p.
int32_t choose_token(std::vector<float>& logits, int32_t vocab, const std::vector<int32_t>& produced,
                     const SamplingParams& params, Rng& rng);

}  // namespace ev
