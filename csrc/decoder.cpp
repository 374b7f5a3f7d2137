#include "decoder.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "errors.h"

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

SamplingParams SamplingParams::from_abi(const ev_generation_params* p, const Manifest& m) {
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
            s.reseed = true;
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
    if (s.max_tokens <= 0) s.max_tokens = m.defaults.max_tokens;
    return s;
}

namespace {

// Decodes one UTF-8 code point at s; returns its length, or 0 for an invalid sequence.
int utf8_decode(const unsigned char* s, uint32_t* cp) {
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    int len;
    uint32_t v;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; v = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; v = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; v = s[0] & 0x07; }
    else return 0;
    for (int i = 1; i < len; ++i) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

}  // namespace

Decoder::Decoder(const Manifest& manifest, Backend& backend) : m_(manifest), backend_(backend) {
    // Input vocabularies of character models hold single characters; anything else maps to
    // <unk>, like g2p-en's `g2idx.get(char, unk)`.
    for (int32_t& id : ascii_ids_) id = m_.input_unk;
    for (size_t i = 0; i < m_.input_vocab.size(); ++i) {
        const std::string& g = m_.input_vocab[i];
        if (g.size() == 1 && static_cast<unsigned char>(g[0]) < 0x80)
            ascii_ids_[static_cast<unsigned char>(g[0])] = static_cast<int32_t>(i);
    }
}

std::vector<int32_t> Decoder::tokenize(const char* utf8) const {
    std::vector<int32_t> ids;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(utf8);
    const size_t limit = static_cast<size_t>(m_.max_input_chars);
    while (*p) {
        if (ids.size() == limit)
            throw Error(EV_ERR_INVALID_ARGUMENT,
                        "prompt is longer than " + std::to_string(limit) + " characters, this model's input limit",
                        "split the input into pieces of at most " + std::to_string(limit) +
                            " characters (code points); the limit is the artifact manifest's "
                            "limits.max_input_chars");
        uint32_t cp = 0;
        int len = utf8_decode(p, &cp);
        if (len == 0)
            throw Error(EV_ERR_INVALID_ARGUMENT,
                        "prompt is not valid UTF-8 at byte " +
                            std::to_string(p - reinterpret_cast<const unsigned char*>(utf8)),
                        "pass NUL-terminated UTF-8 text");
        p += len;
        if (m_.lowercase_ascii && cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
        ids.push_back(cp < 0x80 ? ascii_ids_[cp] : m_.input_unk);
    }
    ids.push_back(m_.input_eos);
    return ids;
}

void Decoder::begin(DecodeState& st, const std::vector<int32_t>& ids) const {
    st.h.assign(static_cast<size_t>(m_.hidden_size), 0.0f);
    st.logits.assign(static_cast<size_t>(m_.logits_size), 0.0f);
    st.produced.clear();
    st.text.clear();
    st.steps = 0;
    st.done = false;
    if (st.params.reseed) st.rng = Rng(st.params.seed);
    backend_.encode(ids.data(), static_cast<int64_t>(ids.size()), st.h.data());
    st.next_input = m_.output_bos;
}

bool Decoder::step(DecodeState& st, int32_t* token) const {
    if (st.done) return false;
    if (st.steps >= st.params.max_tokens) {
        st.done = true;
        return false;
    }
    backend_.decode_step(st.next_input, st.h.data(), st.h.data(), st.logits.data());
    ++st.steps;
    const int32_t tok = choose(st);
    if (tok == m_.output_eos) {
        st.done = true;
        return false;
    }
    if (!st.produced.empty()) st.text += m_.output_separator;
    st.text += token_text(tok);
    for (const std::string& stop : st.params.stop_sequences) {
        size_t at = st.text.find(stop);
        if (at != std::string::npos) {
            st.text.resize(at);
            // Drop a separator left dangling by the cut.
            const std::string& sep = m_.output_separator;
            if (!sep.empty() && st.text.size() >= sep.size() &&
                st.text.compare(st.text.size() - sep.size(), sep.size(), sep) == 0)
                st.text.resize(st.text.size() - sep.size());
            st.done = true;
            return false;
        }
    }
    st.produced.push_back(tok);
    st.next_input = tok;
    *token = tok;
    return true;
}

bool Decoder::fused_greedy_applies(const SamplingParams& p) const {
    return backend_.has_greedy() && p.temperature <= 0.0f && p.repeat_penalty == 1.0f &&
           p.stop_sequences.empty() && p.max_tokens <= m_.greedy_max_steps;
}

std::string Decoder::run_fused_greedy(const std::vector<int32_t>& ids, const SamplingParams& p) const {
    std::vector<int32_t> out(static_cast<size_t>(m_.greedy_max_steps));
    const int32_t n = backend_.greedy(ids.data(), static_cast<int64_t>(ids.size()), p.max_tokens, out.data());
    std::string text;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t id = out[static_cast<size_t>(i)];
        if (id < 0 || static_cast<size_t>(id) >= m_.output_vocab.size())
            throw Error(EV_ERR_MODEL_INVALID, "greedy decode produced token id " + std::to_string(id),
                        "rebuild the artifact with `edge-veda compile`");
        if (i) text += m_.output_separator;
        text += token_text(id);
    }
    return text;
}

int32_t Decoder::choose(DecodeState& st) const {
    const int32_t n = static_cast<int32_t>(m_.output_vocab.size());
    std::vector<float>& logits = st.logits;
    const SamplingParams& p = st.params;
    if (p.repeat_penalty != 1.0f) {
        std::vector<bool> seen(static_cast<size_t>(n), false);
        for (int32_t t : st.produced) {
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
            if (cum >= p.top_p) { cut = i + 1; break; }
        }
        keep = cut;
        sum = 0;
        for (size_t i = 0; i < keep; ++i) sum += prob[i];
    }
    double u = st.rng.next_unit() * sum;
    for (size_t i = 0; i < keep; ++i) {
        u -= prob[i];
        if (u < 0) return order[i];
    }
    return order[keep - 1];
}

}  // namespace ev
