// Kind "g2p": see g2p.h for the behaviour and output format.
#include "models/g2p/g2p.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "core/errors.h"
#include "core/files.h"
#include "core/json.h"
#include "models/lexicon_file.h"
#include "core/weights.h"
#include "models/seq2seq_gru/seq2seq_gru.h"
#include "models/g2p/english.h"
#include "models/g2p/text.h"

namespace ev {
namespace {

const char* kWordSeparator = "|";
uint64_t word_seed(uint64_t prompt_seed, size_t token_index) {
    return prompt_seed ^ (static_cast<uint64_t>(token_index) * UINT64_C(0x9E3779B97F4A7C15));
}

// Hands the network the seeds this kind chose, one per network word in order.
class SeededCall final : public CallControl {
public:
    SeededCall(CallControl& outer, std::vector<uint64_t> seeds) : outer_(outer), seeds_(std::move(seeds)) {}
    void check_cancel() const override { outer_.check_cancel(); }
    uint64_t seed_for(const SamplingParams&) override { return next_ < seeds_.size() ? seeds_[next_++] : 0; }
    int32_t num_threads() const override { return outer_.num_threads(); }

private:
    CallControl& outer_;
    std::vector<uint64_t> seeds_;
    size_t next_ = 0;
};

// Cuts `text` before the first stop sequence and drops a separator left dangling by the cut.
void cut_at_stop(std::string& text, const std::vector<std::string>& stops) {
    size_t at = std::string::npos;
    for (const std::string& s : stops) at = std::min(at, text.find(s));
    if (at == std::string::npos) return;
    text.resize(at);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    if (text.size() >= 2 && text.compare(text.size() - 2, 2, " |") == 0) text.resize(text.size() - 2);
    else if (text == "|") text.clear();
    while (!text.empty() && text.back() == ' ') text.pop_back();
}

class G2p;

// Pull-style generation: the tokens of g2p.h's output format, one per next().
class G2pStream final : public TokenStream {
public:
    G2pStream(G2p& model, std::vector<g2p::TextToken> words, SamplingParams params, uint64_t seed)
        : model_(model), words_(std::move(words)), params_(std::move(params)), seed_(seed) {}
    bool next(CallControl& call, std::string* token, int32_t* id) override;

private:
    G2p& model_;
    std::vector<g2p::TextToken> words_;
    SamplingParams params_;
    uint64_t seed_;
    size_t index_ = 0;
    std::deque<std::pair<std::string, int32_t>> pending_;
    std::unique_ptr<TokenStream> network_;  // the current out-of-lexicon word
    std::string text_;                      // output so far (for stop sequences)
    bool done_ = false;
};

class G2p final : public ModelInstance, public Generator, public BatchGenerator, public Phonemizer {
public:
    explicit G2p(const KindInputs& in) : manifest_(in.manifest) {
        Fields section = in.manifest.kind_config();
        Fields network = section.object("network");
        Fields lex = section.object("lexicon");
        const std::string file = lex.string("file", 255);
        MappedLexicon mapped = open_lexicon_file(in.manifest, lex);  // verified with the listed files
        lexicon_file_ = std::move(mapped.file);
        lexicon_ = std::move(mapped.lexicon);
        // Lexicon ids are the network's output ids: the symbol tables must be the same.
        output_vocab_ = seq2seq_gru_output_vocab(network);
        bool same = lexicon_->symbol_count() == output_vocab_.size();
        for (size_t i = 0; same && i < output_vocab_.size(); ++i) same = lexicon_->symbol(i) == output_vocab_[i];
        if (!same)
            lex.fail("file", "'" + file + "' has another phoneme table than network.vocab.output");
        network_ = create_seq2seq_gru_from(in, network);
    }

    // The network's buffers plus the lexicon mapping (read-only, shared with the page cache).
    uint64_t working_bytes() const override { return network_->working_bytes() + lexicon_file_->bytes(); }

    void warmup(CallControl& call) override {
        network_->warmup(call);
        (void)g2p::tokenize_text("warm up 1");
        std::vector<int32_t> ids;
        (void)lexicon_->lookup("warm", &ids);
    }

    std::vector<PhonemizedToken> phonemize(const std::string& text, const SamplingParams& params,
                                           CallControl& call, const FrontEnd& /*frontend*/) override {
        const uint64_t seed = call.seed_for(params);
        return phonemize_seeded(tokens_of(text), params, seed, call);
    }

    std::string generate(const std::string& prompt, const SamplingParams& params, CallControl& call,
                         const TokenSink* sink) override {
        if (sink != nullptr) {
            std::unique_ptr<TokenStream> s = stream(prompt, params, call);
            std::string text, token;
            int32_t id = 0;
            while (s->next(call, &token, &id)) {
                (*sink)(token, id);
                if (!text.empty()) text += ' ';
                text += token;
            }
            cut_at_stop(text, params.stop_sequences);  // the stream stopped there already
            return text;
        }
        std::string out = join(phonemize(prompt, params, call, FrontEnd()));
        cut_at_stop(out, params.stop_sequences);
        return out;
    }

    std::unique_ptr<TokenStream> stream(const std::string& prompt, const SamplingParams& params,
                                        CallControl& call) override {
        const uint64_t seed = call.seed_for(params);
        return std::unique_ptr<TokenStream>(new G2pStream(*this, tokens_of(prompt), params, seed));
    }

    std::vector<std::string> generate_batch(const std::vector<std::string>& prompts, const SamplingParams& params,
                                            CallControl& call) override {
        std::vector<uint64_t> seeds(prompts.size());
        for (uint64_t& s : seeds) s = call.seed_for(params);  // one per prompt, in prompt order
        // Every prompt's lexicon work first, then all their network words in one parallel batch.
        std::vector<std::vector<PhonemizedToken>> results(prompts.size());
        std::vector<std::string> words;
        std::vector<uint64_t> word_seeds;
        std::vector<std::pair<size_t, size_t>> where;  // (prompt, token) of each network word
        for (size_t p = 0; p < prompts.size(); ++p) {
            call.check_cancel();
            std::vector<g2p::TextToken> tokens = tokens_of(prompts[p]);
            results[p] = look_up(tokens, params);
            for (size_t t = 0; t < results[p].size(); ++t)
                if (results[p][t].source == kSourceModel) {
                    words.push_back(results[p][t].token);
                    word_seeds.push_back(word_seed(seeds[p], t));
                    where.emplace_back(p, t);
                }
        }
        run_network(words, word_seeds, params, call, [&](size_t i, std::string phonemes) {
            results[where[i].first][where[i].second].phonemes = std::move(phonemes);
        });
        std::vector<std::string> out(prompts.size());
        for (size_t p = 0; p < prompts.size(); ++p) {
            out[p] = join(results[p]);
            cut_at_stop(out[p], params.stop_sequences);
        }
        return out;
    }

    // Lexicon words' phonemes as (symbol, id) pairs, at most params.max_tokens of them. A
    // word the lexicon lacks is still a lexicon word when it is a letter's name ("x.", CMUdict's
    // spelling; else the letter alone) or hyphenated with every part in the lexicon
    // ("thirty-four": the parts' phonemes in order; tokens_of() leaves only such hyphenated
    // words whole).
    bool lexicon_tokens(const std::string& word, const SamplingParams& params,
                        std::vector<std::pair<std::string, int32_t>>* out) const {
        out->clear();
        PhonemeSpan span;
        auto append = [&](const PhonemeSpan& sp) {
            for (size_t i = 0; i < sp.size; ++i)
                out->emplace_back(std::string(lexicon_->symbol(sp.ids[i])), static_cast<int32_t>(sp.ids[i]));
        };
        if (lexicon_->find(word, &span)) {
            append(span);
        } else if (word.size() == 2 && word[1] == '.' && lexicon_->find(word.substr(0, 1), &span)) {
            append(span);
        } else if (word.find('-') != std::string::npos) {
            for (const std::string& part : hyphen_parts(word)) {
                if (!lexicon_->find(part, &span)) {
                    out->clear();
                    return false;
                }
                append(span);
            }
            if (out->empty()) return false;
        } else {
            return false;
        }
        if (params.max_tokens > 0 && out->size() > static_cast<size_t>(params.max_tokens))
            out->resize(static_cast<size_t>(params.max_tokens));
        return true;
    }

    // The network's parameters for one word: the caller's, without stop sequences (they cut the
    // whole output) and with the word's seed fixed.
    static SamplingParams network_params(const SamplingParams& params) {
        SamplingParams p = params;
        p.stop_sequences.clear();
        p.fixed_seed = false;
        return p;
    }

    std::unique_ptr<TokenStream> network_stream(const std::string& word, const SamplingParams& params, uint64_t seed,
                                                CallControl& call) {
        SamplingParams p = network_params(params);
        p.fixed_seed = true;
        p.seed = seed;
        return network_->stream(word, p, call);
    }

private:
    static std::vector<std::string> hyphen_parts(const std::string& word) {
        std::vector<std::string> parts;
        size_t b = 0;
        for (size_t i = 0; i <= word.size(); ++i) {
            if (i < word.size() && word[i] != '-') continue;
            if (i > b) parts.push_back(word.substr(b, i - b));
            b = i + 1;
        }
        return parts;
    }

    bool in_lexicon(const std::string& word) const {
        PhonemeSpan span;
        return lexicon_->find(word, &span);
    }

    // One word as tokens: letter by letter ("g." "p." "u.") when read_as_letters() says so
    // (english.h: all capitals, 2-5 letters, the lexicon lacks it, or AI/AM/ID/PM/US), else itself.
    // `from`: the token the word comes from (its source span; the parts of a hyphenated word
    // and the letters of a spelled word share it).
    void add_word(const std::string& text, const std::string& cased, const g2p::TextToken& from,
                  std::vector<g2p::TextToken>& out) const {
        if (!g2p::read_as_letters(cased, in_lexicon(text))) {
            out.push_back(g2p::TextToken{text, false, cased, from.source_begin, from.source_end});
            return;
        }
        for (char c : text)
            out.push_back(g2p::TextToken{std::string{c, '.'}, false, std::string{c, '.'}, from.source_begin,
                                         from.source_end});
    }

    // The text front end's tokens, except that a whole input with no space and no digit that
    // the tokenizer splits ("a.m.", "'bout", "students'") but that is a lexicon word as a whole
    // is that one word: ev_generate on any dictionary word gives its pronunciation. Then each
    // word: acronyms spelled (add_word); a hyphenated word the lexicon lacks stays one word when
    // every part is a lexicon word read as such ("thirty-four", looked up part by part in
    // lexicon_tokens()), else becomes its parts, each a word of its own ("covid-nineteen",
    // "GPU-based"), so that the network guesses only the parts no lexicon has.
    std::vector<g2p::TextToken> tokens_of(const std::string& text) const {
        std::vector<g2p::TextToken> tokens = g2p::tokenize_text(text);
        if (tokens.size() >= 2 && whole_input_is_one_word(text, tokens)) {
            std::string whole;
            for (const g2p::TextToken& t : tokens) whole += t.text;
            return {g2p::TextToken{whole, false, whole, tokens.front().source_begin, tokens.back().source_end}};
        }
        std::vector<g2p::TextToken> out;
        out.reserve(tokens.size());
        for (g2p::TextToken& t : tokens) {
            if (t.is_punctuation || t.text.find('-') == std::string::npos || in_lexicon(t.text)) {
                if (t.is_punctuation) out.push_back(std::move(t));
                else add_word(t.text, t.cased, t, out);
                continue;
            }
            const std::vector<std::string> parts = hyphen_parts(t.text), cased = hyphen_parts(t.cased);
            bool known = !parts.empty();
            for (size_t k = 0; known && k < parts.size(); ++k)
                known = in_lexicon(parts[k]) && !g2p::read_as_letters(cased[k], true);
            if (known) {
                out.push_back(std::move(t));
                continue;
            }
            for (size_t k = 0; k < parts.size(); ++k) add_word(parts[k], cased[k], t, out);
        }
        return out;
    }

    bool whole_input_is_one_word(const std::string& text, const std::vector<g2p::TextToken>& tokens) const {
        for (const unsigned char c : text)
            if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= '0' && c <= '9')) return false;
        size_t size = 0;
        for (const g2p::TextToken& t : tokens) size += t.text.size();
        if (size > 255) return false;
        std::string whole;
        for (const g2p::TextToken& t : tokens) whole += t.text;
        return in_lexicon(whole);
    }

    std::vector<PhonemizedToken> look_up(const std::vector<g2p::TextToken>& tokens, const SamplingParams& params) const {
        std::vector<PhonemizedToken> out(tokens.size());
        std::vector<std::pair<std::string, int32_t>> phones;
        for (size_t i = 0; i < tokens.size(); ++i) {
            out[i].token = tokens[i].text;
            out[i].source_begin = static_cast<int64_t>(tokens[i].source_begin);
            out[i].source_end = static_cast<int64_t>(tokens[i].source_end);
            if (tokens[i].is_punctuation) {
                out[i].source = kSourcePunctuation;
            } else if (lexicon_tokens(tokens[i].text, params, &phones)) {
                out[i].source = kSourceLexicon;
                for (size_t k = 0; k < phones.size(); ++k) {
                    if (k) out[i].phonemes += ' ';
                    out[i].phonemes += phones[k].first;
                }
            } else {
                out[i].source = kSourceModel;
            }
        }
        return out;
    }

    template <typename Store>
    void run_network(const std::vector<std::string>& words, std::vector<uint64_t> seeds, const SamplingParams& params,
                     CallControl& call, Store store) {
        if (words.empty()) return;
        SeededCall seeded(call, std::move(seeds));
        const SamplingParams p = network_params(params);
        if (words.size() == 1) {
            store(0, network_->generate(words[0], p, seeded, nullptr));
            return;
        }
        std::vector<std::string> phonemes = network_->generate_batch(words, p, seeded);
        for (size_t i = 0; i < phonemes.size(); ++i) store(i, std::move(phonemes[i]));
    }

    std::vector<PhonemizedToken> phonemize_seeded(const std::vector<g2p::TextToken>& tokens,
                                                  const SamplingParams& params, uint64_t seed, CallControl& call) {
        std::vector<PhonemizedToken> out = look_up(tokens, params);
        std::vector<std::string> words;
        std::vector<uint64_t> seeds;
        std::vector<size_t> where;
        for (size_t t = 0; t < out.size(); ++t)
            if (out[t].source == kSourceModel) {
                words.push_back(out[t].token);
                seeds.push_back(word_seed(seed, t));
                where.push_back(t);
            }
        run_network(words, std::move(seeds), params, call,
                    [&](size_t i, std::string phonemes) { out[where[i]].phonemes = std::move(phonemes); });
        return out;
    }

    static std::string join(const std::vector<PhonemizedToken>& tokens) {
        std::string out;
        for (size_t i = 0; i < tokens.size(); ++i) {
            if (i) out += " | ";
            out += tokens[i].source == kSourcePunctuation ? tokens[i].token : tokens[i].phonemes;
        }
        return out;
    }

    const Manifest& manifest_;
    std::shared_ptr<const Weights> lexicon_file_;  // the lexicon file's read-only mapping
    std::unique_ptr<Lexicon> lexicon_;        // reads lexicon_file_ in place
    std::vector<std::string> output_vocab_;
    std::unique_ptr<Seq2SeqGruNetwork> network_;
};

bool G2pStream::next(CallControl& call, std::string* token, int32_t* id) {
    while (!done_) {
        call.check_cancel();
        if (!pending_.empty()) {
            std::pair<std::string, int32_t> t = std::move(pending_.front());
            pending_.pop_front();
            const size_t before = text_.size();
            if (!text_.empty()) text_ += ' ';
            text_ += t.first;
            if (!params_.stop_sequences.empty()) {
                std::string cut = text_;
                cut_at_stop(cut, params_.stop_sequences);
                if (cut != text_) {  // a stop sequence appeared: this token is not emitted
                    text_.resize(before);
                    done_ = true;
                    return false;
                }
            }
            if (token) *token = t.first;
            if (id) *id = t.second;
            return true;
        }
        if (network_) {
            std::string t;
            int32_t i = 0;
            if (network_->next(call, &t, &i)) pending_.emplace_back(std::move(t), i);
            else network_.reset();
            continue;
        }
        if (index_ >= words_.size()) {
            done_ = true;
            return false;
        }
        const size_t k = index_++;
        const g2p::TextToken& w = words_[k];
        if (k) pending_.emplace_back(kWordSeparator, -1);
        std::vector<std::pair<std::string, int32_t>> phones;
        if (w.is_punctuation) pending_.emplace_back(w.text, -1);
        else if (model_.lexicon_tokens(w.text, params_, &phones))
            for (auto& p : phones) pending_.push_back(std::move(p));
        else
            network_ = model_.network_stream(w.text, params_, word_seed(seed_, k), call);
    }
    return false;
}

}  // namespace

std::unique_ptr<ModelInstance> create_g2p(const KindInputs& inputs) {
    return std::unique_ptr<ModelInstance>(new G2p(inputs));
}

}  // namespace ev
