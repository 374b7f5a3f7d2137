#include "core/sampling.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "core/errors.h"

namespace ev {

uint64_t Rng::next_u64() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double Rng::next_unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

#define EV_HAS_FIELD(ptr, type, field) \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

SamplingParams SamplingParams::from_abi(const ev_generation_params* p) {
    SamplingParams s;
    if (p != nullptr) {
        if (p->struct_size < sizeof(uint32_t) || p->struct_size > (1u << 16))
            throw Error(EV_ERR_INVALID_ARGUMENT,
                        "ev_generation_params.struct_size is " + std::to_string(p->struct_size),
                        "initialize params with ev_generation_params_default()");
        using P = ev_generation_params;
        if (EV_HAS_FIELD(p, P, max_tokens)) s.max_tokens = p->max_tokens;
        if (EV_HAS_FIELD(p, P, temperature)) s.temperature = p->temperature;
        if (EV_HAS_FIELD(p, P, top_p)) s.top_p = p->top_p;
        if (EV_HAS_FIELD(p, P, top_k)) s.top_k = p->top_k;
        if (EV_HAS_FIELD(p, P, repeat_penalty)) s.repeat_penalty = p->repeat_penalty;
        if (EV_HAS_FIELD(p, P, seed) && p->seed != EV_SEED_CONTEXT) {
            s.fixed_seed = true;
            s.seed = p->seed;
        }
        if (EV_HAS_FIELD(p, P, num_stop_sequences) && p->num_stop_sequences != 0) {
            if (p->num_stop_sequences < 0 || p->num_stop_sequences > 1024 || p->stop_sequences == nullptr)
                throw Error(EV_ERR_INVALID_ARGUMENT,
                            "num_stop_sequences is " + std::to_string(p->num_stop_sequences) +
                                (p->stop_sequences ? "" : " but stop_sequences is NULL"),
                            "pass 0..1024 sequences and a non-NULL array of non-NULL strings");
            for (int32_t i = 0; i < p->num_stop_sequences; ++i) {
                const char* seq = p->stop_sequences[i];
                if (seq == nullptr)
                    throw Error(EV_ERR_INVALID_ARGUMENT, "stop_sequences[" + std::to_string(i) + "] is NULL",
                                "every stop sequence must be a NUL-terminated string");
                if (*seq) s.stop_sequences.emplace_back(seq);
            }
        }
    }
    if (!(s.temperature >= 0.0f) || std::isinf(s.temperature))
        throw Error(EV_ERR_INVALID_ARGUMENT, "temperature is " + std::to_string(s.temperature),
                    "use 0 for greedy decoding or a finite value > 0 to sample");
    if (!(s.top_p > 0.0f && s.top_p <= 1.0f))
        throw Error(EV_ERR_INVALID_ARGUMENT, "top_p is " + std::to_string(s.top_p),
                    "top_p must be in (0, 1]; 1 turns nucleus sampling off");
    if (s.top_k < 0)
        throw Error(EV_ERR_INVALID_ARGUMENT, "top_k is " + std::to_string(s.top_k),
                    "top_k must be >= 0; 0 turns it off");
    if (!(s.repeat_penalty > 0.0f) || std::isinf(s.repeat_penalty))
        throw Error(EV_ERR_INVALID_ARGUMENT, "repeat_penalty is " + std::to_string(s.repeat_penalty),
                    "repeat_penalty must be a finite value > 0; 1 turns it off");
    return s;
}

int32_t choose_token(std::vector<float>& logits, int32_t n, const std::vector<int32_t>& produced,
                     const SamplingParams& p, Rng& rng) {
    if (p.repeat_penalty != 1.0f) {
        std::vector<bool> seen(static_cast<size_t>(n), false);
        for (int32_t t : produced) {
            if (seen[static_cast<size_t>(t)]) continue;
            seen[static_cast<size_t>(t)] = true;
            float& l = logits[static_cast<size_t>(t)];
            l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
        }
    }
    if (p.temperature <= 0.0f) {
        int32_t best = 0;  // first maximum, as numpy's argmax
        for (int32_t i = 1; i < n; ++i)
            if (logits[static_cast<size_t>(i)] > logits[static_cast<size_t>(best)]) best = i;
        return best;
    }
    std::vector<int32_t> order(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
    });
    size_t keep = order.size();
    if (p.top_k > 0 && static_cast<size_t>(p.top_k) < keep) keep = static_cast<size_t>(p.top_k);
    std::vector<double> prob(keep);
    const double top = logits[static_cast<size_t>(order[0])] / static_cast<double>(p.temperature);
    double sum = 0;
    for (size_t i = 0; i < keep; ++i) {
        prob[i] = std::exp(logits[static_cast<size_t>(order[i])] / static_cast<double>(p.temperature) - top);
        sum += prob[i];
    }
    if (p.top_p < 1.0f) {
        double cum = 0;
        size_t cut = keep;
        for (size_t i = 0; i < keep; ++i) {
            cum += prob[i] / sum;
            if (cum >= p.top_p) {
                cut = i + 1;
                break;
            }
        }
        keep = cut;
        sum = 0;
        for (size_t i = 0; i < keep; ++i) sum += prob[i];
    }
    double u = rng.next_unit() * sum;
    for (size_t i = 0; i < keep; ++i) {
        u -= prob[i];
        if (u < 0) return order[i];
    }
    return order[keep - 1];
}

}  // namespace ev
