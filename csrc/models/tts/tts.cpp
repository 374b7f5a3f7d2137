// Kind "tts": see tts.h for the pipeline and docs/tts.md for the manifest section.
#include "models/tts/tts.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>
#include <utility>

#include "models/tts/arpabet.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/weights.h"
#include "core/utf8.h"
#include "models/lexicon_file.h"
#include "models/model_info.h"

namespace ev {
namespace {

// A piece's frames may not exceed this many per token (Kokoro predicts a few to a few dozen):
// bounds the alignment and the audio buffers whatever the module returns.
constexpr int64_t kMaxFramesPerToken = 256;
// A stream's parts of one piece (stream_cuts): each vocoded with kSeamFrames more on each side
// of a cut, crossfaded over those 2 * kSeamFrames, and with kLeftContextFrames /
// kRightContextFrames of context beyond that, vocoded and dropped (measured on "Hello there, and
// welcome." cut after "Hello": without left context the next part's first ~5 frames are near
// silence where the whole sentence has the "th"; 8 frames restore it, 12 are kept for margin;
// 4 frames of right context lift the part's fading end). The first part ends at the first word
// boundary after kFirstPartFrames of sound (200 ms) and keeps its whole leading pause: vocoding
// only its last 8 frames softened the first sound by ~4 dB); the last part keeps at least
// kMinLastPartFrames.
constexpr int64_t kSeamFrames = 2;
constexpr int64_t kLeftContextFrames = 12;
constexpr int64_t kRightContextFrames = 4;
constexpr int64_t kFirstPartFrames = 8;
constexpr int64_t kMinLastPartFrames = 12;

struct Config {
    int64_t sample_rate = 0;
    int64_t samples_per_frame = 0;
    int64_t max_phoneme_ids = 0;
    int64_t pad_id = 0;
    int64_t style_dim = 0;
    int64_t d_width = 0;
    int64_t t_en_width = 0;
    std::unordered_map<std::string, int64_t> vocab;     // one symbol (a code point, UTF-8) -> id
    std::vector<std::pair<std::string, std::string>> voices;  // name -> weights tensor, default first
};

Config parse_config(const Fields& f) {
    Config c;
    c.sample_rate = f.integer("sample_rate", 8000, 192000);
    c.samples_per_frame = f.integer("samples_per_frame", 1, 4800);
    c.max_phoneme_ids = f.integer("max_phoneme_ids", 1, 4096);
    c.pad_id = f.integer("pad_id", 0, 65535);
    c.style_dim = f.integer("style_dim", 1, 4096);
    c.d_width = f.integer("d_width", 1, 8192);
    c.t_en_width = f.integer("t_en_width", 1, 8192);
    Fields vocab = f.object("vocab");
    if (vocab.json().members().size() > 4096) f.fail("vocab", "has more than 4096 symbols");
    for (const auto& [symbol, id] : vocab.json().members()) {
        if (!id.is(Json::Type::Int) || id.integer() < 0 || id.integer() > 65535)
            vocab.fail(symbol, "must be an id from 0 to 65535");
        uint32_t cp = 0;
        if (symbol.empty() || utf8_decode(reinterpret_cast<const unsigned char*>(symbol.data()), symbol.size(), &cp) !=
                                  symbol.size())
            vocab.fail(symbol, "must be exactly one character");
        c.vocab[symbol] = id.integer();
    }
    Fields voices = f.object("voices");
    const std::string def = f.string("default_voice", 64);
    if (voices.json().members().empty() || voices.json().members().size() > 1024)
        f.fail("voices", "must name 1 to 1024 voices");
    for (const auto& [name, tensor] : voices.json().members()) {
        if (!tensor.is(Json::Type::String) || name.empty() || name.size() > 64)
            voices.fail(name, "must map a voice name (1-64 bytes) to a weights tensor name");
        if (name.find_first_of(",:") != std::string::npos) voices.fail(name, "a voice name cannot hold ',' or ':'");
        c.voices.emplace_back(name, tensor.str());
    }
    auto it = std::find_if(c.voices.begin(), c.voices.end(), [&](const auto& v) { return v.first == def; });
    if (it == c.voices.end()) f.fail("default_voice", "is not one of the voices");
    std::rotate(c.voices.begin(), it, it + 1);  // the default first
    return c;
}

constexpr auto tensor = input_tensor;
constexpr auto output = output_tensor;

float ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The ids of a phoneme string, and where its words are (runs of non-space input, as id ranges).
struct Tokenized {
    std::vector<int64_t> ids;
    std::vector<uint8_t> boundary;  // per id: 3 sentence end, 2 phrase end, 1 space, 0 none
    struct Word {
        std::string word;
        size_t begin = 0, end = 0;                   // id range
        int64_t source_begin = -1, source_end = -1;  // bytes of the input text; -1: phonemes
    };
    std::vector<Word> words;
};

uint8_t boundary_strength(const std::string& symbol) {
    if (symbol == "." || symbol == "!" || symbol == "?" || symbol == "…") return 3;
    if (symbol == "," || symbol == ";" || symbol == ":" || symbol == "—") return 2;
    if (symbol == " ") return 1;
    return 0;
}

// The bytes one synthesis holds at once beyond the weights: its host buffers plus the VM's
// intermediates (runtime/runtime.h: released_buffer_bytes, sampled before every kernel, counted
// from what was in use when the call began). Over `limit` (0 = none) the call stops with
// EV_ERR_OUT_OF_MEMORY before the kernel that would write the memory runs.
class WorkingMemory {
public:
    explicit WorkingMemory(uint64_t limit) : limit_(limit), vm_base_(released_buffer_bytes()) {}
    void set_host(uint64_t bytes) {
        host_ = bytes;
        check();
    }
    void sample_vm() {
        const uint64_t now = released_buffer_bytes();
        vm_ = now > vm_base_ ? now - vm_base_ : 0;
        check();
    }
    uint64_t peak() const { return peak_; }

private:
    void check() {
        const uint64_t now = host_ + vm_;
        peak_ = std::max(peak_, now);
        if (limit_ != 0 && now > limit_)
            throw Error(EV_ERR_OUT_OF_MEMORY,
                        "synthesizing this input needs more than ev_config.memory_limit_bytes allows (" +
                            std::to_string(limit_ >> 20) + " MiB beyond the weights; this piece reached " +
                            std::to_string(now >> 20) + " MiB)",
                        "pass shorter text (memory grows with the length of a sentence), or raise "
                        "memory_limit_bytes (0 = no limit)");
    }
    uint64_t limit_;
    uint64_t vm_base_;
    uint64_t host_ = 0, vm_ = 0, peak_ = 0;
};

class Tts final : public ModelInstance, public Synthesizer, public Phonemizer {
public:
    explicit Tts(const KindInputs& in) : manifest_(in.manifest), weights_(in.weights) {
        cfg_ = parse_config(in.manifest.kind_config());
        if (!weights_)
            throw Error(EV_ERR_MODEL_INVALID, manifest_.path() + ": kind tts needs a weights file", kRebuildHint);
        // symbolic lengths: see BufferPolicy (a pool would grow with every new input length);
        // interruptible: one vocoder call runs for seconds, and a cancel must land within a kernel
        vm_ = in.module->create_vm(weights_, BufferPolicy::Released, /*interruptible=*/true);
        durations_ = bind_role(*vm_, manifest_, "durations");
        audio_ = bind_role(*vm_, manifest_, "audio");
        check_model_info(ModelInfo::read(*vm_, manifest_));
        for (const auto& [name, tensor_name] : cfg_.voices) voices_.push_back(voice_table(name, tensor_name));
        const Fields section = in.manifest.kind_config();
        if (section.has("lexicons")) {
            const Fields lexicons = section.object("lexicons");
            if (lexicons.json().members().size() > 16) section.fail("lexicons", "has more than 16 languages");
            for (const auto& member : lexicons.json().members())
                lexicons_.push_back(open_lexicon(member.first, lexicons.object(member.first.c_str())));
        }
    }

    uint64_t working_bytes() const override { return working_bytes_; }
    int32_t sample_rate() const override { return static_cast<int32_t>(cfg_.sample_rate); }

    // ev_phonemize on a TTS context: what a text synthesis says, word by word, in the model's
    // symbols (space-separated code points), for the default voice's language; source
    // EV_SOURCE_LEXICON for the model's own lexicon and for CMUdict, EV_SOURCE_MODEL for the
    // G2P network. Needs the front end.
    std::vector<PhonemizedToken> phonemize(const std::string& text, const SamplingParams& /*params*/,
                                           CallControl& call, const FrontEnd& frontend) override {
        std::vector<PhonemizedToken> tokens = frontend(text);
        call.check_cancel();
        const tts::WordLookup own = own_pronunciation(lexicon_for(""));
        std::vector<bool> from_own;
        const std::vector<std::string> words = tts::kokoro_words(tokens, &own, &from_own);
        for (size_t i = 0; i < tokens.size(); ++i) {
            PhonemizedToken& t = tokens[i];
            if (t.source == kSourcePunctuation) continue;
            if (from_own[i]) t.source = kSourceLexicon;
            const std::string& word = words[i];
            std::string spaced;
            for (size_t at = 0; at < word.size();) {
                uint32_t cp = 0;
                size_t n = utf8_decode(reinterpret_cast<const unsigned char*>(word.data()) + at, word.size() - at, &cp);
                if (n == 0) n = 1;
                if (!spaced.empty()) spaced += ' ';
                spaced.append(word, at, n);
                at += n;
            }
            t.phonemes = std::move(spaced);
        }
        return tokens;
    }

    std::vector<std::string> voices() const override {
        std::vector<std::string> names;
        for (const auto& v : cfg_.voices) names.push_back(v.first);
        return names;
    }

    void warmup(CallControl& call) override {
        // Both stages once, on a short input of the first symbols of the vocabulary.
        std::vector<int64_t> ids;
        for (const auto& [symbol, id] : cfg_.vocab) {
            if (id != cfg_.pad_id && boundary_strength(symbol) == 0) ids.push_back(id);
            if (ids.size() == 8) break;
        }
        std::vector<float> style = blend("", static_cast<int64_t>(ids.size()));
        std::vector<float> samples;
        SynthesisReport report;
        WorkingMemory memory(0);
        const Durations dur = run_durations(ids, style, 1.0f, call, memory, report);
        run_audio(dur, 0, dur.total, style, call, memory, report, &samples);
    }

    SynthesisReport synthesize(const SynthesisRequest& request, CallControl& call, const AudioSink& sink,
                               std::vector<WordSpan>* words) override {
        SynthesisReport report;
        WorkingMemory memory(request.working_limit);
        std::string phonemes = request.input;
        std::vector<tts::WordOffsets> text_words;
        if (!request.phonemes) {
            const auto t0 = std::chrono::steady_clock::now();
            std::vector<PhonemizedToken> tokens = request.frontend(request.input);
            const tts::WordLookup own = own_pronunciation(lexicon_for(request.voice));
            phonemes = tts::tokens_to_kokoro(tokens, &text_words, &own);
            report.frontend_ms = ms_since(t0);
            call.check_cancel();
        }
        Tokenized tok = tokenize(phonemes, request.phonemes ? nullptr : &text_words);
        if (tok.ids.empty())
            throw Error(EV_ERR_INVALID_ARGUMENT, "the input has no phoneme the model knows",
                        request.phonemes ? "pass phonemes in the model's symbols (docs/tts.md lists them)"
                                         : "pass text with words in it (the front end found none it could say)");
        const std::vector<std::pair<size_t, size_t>> pieces = split(tok, request.sentence_pieces);
        if (pieces.empty())  // only spaces: nothing to say (an empty WAV or a stream without a final chunk)
            throw Error(EV_ERR_INVALID_ARGUMENT, "the input has only spaces, nothing to say",
                        request.phonemes ? "pass phonemes with at least one sound in the model's symbols"
                                         : "pass text with words in it");
        int64_t written = 0;
        int32_t chunk = 0;
        for (size_t p = 0; p < pieces.size(); ++p) {
            call.check_cancel();
            const auto [begin, end] = pieces[p];
            std::vector<int64_t> ids(tok.ids.begin() + static_cast<std::ptrdiff_t>(begin),
                                     tok.ids.begin() + static_cast<std::ptrdiff_t>(end));
            std::vector<float> style = blend(request.voice, static_cast<int64_t>(ids.size()));
            const Durations dur = run_durations(ids, style, request.speed, call, memory, report);
            if (words) word_spans(tok, begin, end, dur.frames, written, words);
            // A stream vocodes a sentence in parts when that makes the first audio come sooner
            // (stream_cuts); the parts share the sentence's durations, so the joined audio has
            // its timing exactly, and overlap by kSeamFrames on each side of a cut, crossfaded.
            const std::vector<int64_t> cuts = request.sentence_pieces
                                                  ? stream_cuts(tok, begin, dur.frames, written / cfg_.samples_per_frame)
                                                  : std::vector<int64_t>();
            const int64_t spf = cfg_.samples_per_frame;
            std::vector<float> held;  // the previous part's samples over the next seam's overlap
            for (size_t c = 0; c <= cuts.size(); ++c) {
                const int64_t from = c == 0 ? 0 : cuts[c - 1], to = c == cuts.size() ? dur.total : cuts[c];
                const int64_t lo = c == 0 ? 0 : from - kSeamFrames, hi = c == cuts.size() ? to : to + kSeamFrames;
                // vocoded with context beyond both ends, then cut back to [lo, hi): Kokoro fades
                // in over the first ~8 frames of any input and out over its last few
                const int64_t lo_ctx = c == 0 ? 0 : std::max<int64_t>(0, lo - kLeftContextFrames),
                              hi_ctx = c == cuts.size() ? hi : std::min(dur.total, hi + kRightContextFrames);
                std::vector<float> samples;
                run_audio(dur, lo_ctx, hi_ctx, style, call, memory, report, &samples);
                samples.erase(samples.begin() + (hi - lo_ctx) * spf, samples.end());
                samples.erase(samples.begin(), samples.begin() + (lo - lo_ctx) * spf);
                // samples cover frames [lo, hi); emitted: [from, to) less the next overlap held back
                if (c > 0) {  // crossfade the previous part's tail into this part's head
                    const size_t n = held.size();
                    for (size_t i = 0; i < n; ++i) {
                        const float w = (static_cast<float>(i) + 0.5f) / static_cast<float>(n);
                        samples[i] = held[i] * (1.0f - w) + samples[i] * w;
                    }
                }
                int64_t emit_to = static_cast<int64_t>(samples.size());
                if (c < cuts.size()) {
                    emit_to = (to - kSeamFrames - lo) * spf;
                    held.assign(samples.begin() + emit_to, samples.end());
                }
                AudioPiece piece;
                piece.samples = samples.data();
                piece.count = emit_to;
                piece.start = written;
                piece.index = chunk++;
                piece.final = p + 1 == pieces.size() && c == cuts.size();
                const double part = static_cast<double>(c + 1) / static_cast<double>(cuts.size() + 1);
                piece.progress = static_cast<float>((static_cast<double>(begin) +
                                                     part * static_cast<double>(end - begin)) /
                                                    static_cast<double>(tok.ids.size()));
                sink(piece);
                written += piece.count;
            }
        }
        working_bytes_ = memory.peak();
        return report;
    }

private:
    // A lexicon of the model's own pronunciations (misaki's, for Kokoro's English): its phoneme
    // ids are the model's vocabulary ids, its symbols named "k<id>" (the format's names are ASCII).
    struct WordLexicon {
        std::string language;             // "en-us", "en-gb"
        MappedLexicon mapped;
        std::vector<std::string> symbols;  // lexicon symbol id -> the model's symbol (UTF-8)
    };

    WordLexicon open_lexicon(const std::string& language, const Fields& entry) const {
        WordLexicon w;
        w.language = language;
        w.mapped = open_lexicon_file(manifest_, entry);
        std::unordered_map<int64_t, std::string> by_id;
        for (const auto& [symbol, id] : cfg_.vocab) by_id[id] = symbol;
        for (size_t i = 0; i < w.mapped.lexicon->symbol_count(); ++i) {
            const std::string_view name = w.mapped.lexicon->symbol(i);
            int64_t id = -1;
            if (name.size() >= 2 && name.size() <= 6 && name[0] == 'k') {
                id = 0;
                for (char c : name.substr(1)) id = (c >= '0' && c <= '9' && id >= 0) ? id * 10 + (c - '0') : -1;
            }
            if (id < 0 || id >= 65536)
                entry.fail("file", "phoneme symbol '" + std::string(name) + "' is not k<id> (a vocabulary id)");
            auto it = by_id.find(id);  // ids without a symbol (the pad) stay "": a word using one is not used
            w.symbols.push_back(it == by_id.end() ? std::string() : it->second);
        }
        return w;
    }

    // Looks words up in `lexicon` (may be null: finds nothing).
    static tts::WordLookup own_pronunciation(const WordLexicon* lexicon) {
        return [lexicon, ids = std::vector<int32_t>()](const std::string& word, std::string* out) mutable {
            if (lexicon == nullptr || !lexicon->mapped.lexicon->lookup(word, &ids)) return false;
            out->clear();
            for (int32_t id : ids) {
                const std::string& symbol = lexicon->symbols[static_cast<size_t>(id)];
                if (symbol.empty()) return false;
                *out += symbol;
            }
            return !out->empty();
        };
    }

    // The lexicon for a voice spec: the first voice's language letter (Kokoro's names: a = US,
    // b = British English); null when the artifact has none for it.
    const WordLexicon* lexicon_for(const std::string& voice_spec) const {
        const std::string& name = voice_spec.empty() ? cfg_.voices[0].first : voice_spec;
        const std::string want = !name.empty() && name[0] == 'b' ? "en-gb" : "en-us";
        for (const WordLexicon& w : lexicons_)
            if (w.language == want) return &w;
        return nullptr;
    }

    struct Voice {
        std::string name;
        const float* rows = nullptr;  // [rows, style_dim], in the mapped weights
        int64_t rows_count = 0;
    };

    Voice voice_table(const std::string& name, const std::string& tensor_name) const {
        const int64_t i = weights_->find(tensor_name);
        if (i < 0)
            throw Error(EV_ERR_MODEL_INVALID,
                        manifest_.path() + ": voice '" + name + "' names weights tensor '" + tensor_name +
                            "', which the weights file lacks",
                        kRebuildHint);
        const TensorSpec& spec = weights_->spec(static_cast<size_t>(i));
        int64_t elements = 1;
        for (int64_t d : spec.shape) elements *= d;
        if (spec.dtype.code != 2 || spec.dtype.bits != 32 || spec.shape.empty() || spec.shape.back() != cfg_.style_dim ||
            elements % cfg_.style_dim != 0)
            throw Error(EV_ERR_MODEL_INVALID,
                        manifest_.path() + ": voice tensor '" + tensor_name + "' is not float32 [rows, " +
                            std::to_string(cfg_.style_dim) + "]",
                        kRebuildHint);
        Voice v;
        v.name = name;
        v.rows = static_cast<const float*>(weights_->data(static_cast<size_t>(i)));
        v.rows_count = elements / cfg_.style_dim;
        return v;
    }

    // The module states the shapes it was compiled with (models/model_info.h); the manifest
    // must agree with it before any call.
    void check_model_info(const ModelInfo& info) const {
        info.expect("style_dim", cfg_.style_dim, "tts.style_dim");
        info.expect("samples_per_frame", cfg_.samples_per_frame, "tts.samples_per_frame");
        info.expect("d_width", cfg_.d_width, "tts.d_width");
        info.expect("t_en_width", cfg_.t_en_width, "tts.t_en_width");
        info.expect("max_phoneme_ids", cfg_.max_phoneme_ids, "tts.max_phoneme_ids");
        info.expect("sample_rate", cfg_.sample_rate, "tts.sample_rate");
        // Every id indexes the module's embedding tables: one past their rows reads past them.
        const int64_t rows = info.get("vocab_size");
        auto check_id = [&](const std::string& what, int64_t id) {
            if (id >= rows)
                throw Error(EV_ERR_MODEL_INVALID,
                            manifest_.path() + ": tts." + what + " is id " + std::to_string(id) +
                                ", the compiled module's embedding tables have " + std::to_string(rows) + " rows",
                            "the manifest does not describe this compiled module; " + std::string(kRebuildHint));
        };
        check_id("pad_id", cfg_.pad_id);
        for (const auto& [symbol, id] : cfg_.vocab) check_id("vocab[\"" + symbol + "\"]", id);
    }

    // The style vector for `count` ids: the voice's row count-1 (Kokoro's convention), or the
    // weighted mean of several voices' rows ("a:0.7,b:0.3"; weights normalized to sum 1).
    std::vector<float> blend(const std::string& spec, int64_t count) const {
        std::vector<std::pair<const Voice*, double>> parts;
        if (spec.empty()) {
            parts.emplace_back(&voices_[0], 1.0);
        } else {
            size_t at = 0;
            while (at <= spec.size()) {
                size_t comma = spec.find(',', at);
                if (comma == std::string::npos) comma = spec.size();
                std::string item = spec.substr(at, comma - at);
                at = comma + 1;
                double weight = 1.0;
                const size_t colon = item.find(':');
                if (colon != std::string::npos) {
                    const std::string w = item.substr(colon + 1);
                    char* end = nullptr;
                    weight = std::strtod(w.c_str(), &end);
                    if (w.empty() || end != w.c_str() + w.size() || !(weight > 0) || !std::isfinite(weight))
                        throw Error(EV_ERR_INVALID_ARGUMENT, "voice blend '" + spec + "': weight '" + w + "' is not a positive number",
                                    "write a blend as \"name:0.7,other:0.3\"");
                    item.resize(colon);
                }
                const Voice* v = nullptr;
                for (const Voice& cand : voices_)
                    if (cand.name == item) v = &cand;
                if (v == nullptr) {
                    std::string names;
                    for (const Voice& cand : voices_) names += (names.empty() ? "" : ", ") + cand.name;
                    throw Error(EV_ERR_INVALID_ARGUMENT, "no voice named '" + item + "' in model '" + manifest_.name + "'",
                                "voices: " + names + " (or a blend like \"" + voices_[0].name + ":0.5," +
                                    voices_.back().name + ":0.5\")");
                }
                parts.emplace_back(v, weight);
                if (parts.size() > 16)
                    throw Error(EV_ERR_INVALID_ARGUMENT, "a voice blend of more than 16 voices", "blend at most 16 voices");
            }
        }
        double total = 0;
        for (const auto& p : parts) total += p.second;
        if (!std::isfinite(total))  // each weight is finite, their sum need not be: 1e308 + 1e308
            throw Error(EV_ERR_INVALID_ARGUMENT, "voice blend '" + spec + "': the weights add up to infinity",
                        "use weights of ordinary size, e.g. \"name:0.7,other:0.3\" (they are normalized to sum 1)");
        std::vector<float> style(static_cast<size_t>(cfg_.style_dim), 0.0f);
        for (const auto& [v, w] : parts) {
            const int64_t row = std::clamp<int64_t>(count - 1, 0, v->rows_count - 1);
            const float* r = v->rows + row * cfg_.style_dim;
            for (int64_t k = 0; k < cfg_.style_dim; ++k) style[static_cast<size_t>(k)] += static_cast<float>(w / total) * r[k];
        }
        return style;
    }

    // The ids of `phonemes` (symbols outside the vocabulary are skipped, as Kokoro's own
    // tokenizer does) and its words as id ranges: the front end's words (byte ranges of
    // `phonemes`), or for phoneme input its space-separated runs.
    Tokenized tokenize(const std::string& phonemes, const std::vector<tts::WordOffsets>* text_words) const {
        Tokenized t;
        std::vector<size_t> id_byte;  // where each id's symbol starts in `phonemes`
        std::vector<tts::WordOffsets> runs;
        const unsigned char* p = reinterpret_cast<const unsigned char*>(phonemes.data());
        size_t i = 0;
        while (i < phonemes.size()) {
            uint32_t cp = 0;
            size_t len = utf8_decode(p + i, phonemes.size() - i, &cp);
            if (len == 0) len = 1;  // the core validated the input; be safe anyway
            const std::string symbol = phonemes.substr(i, len);
            if (symbol != " ") {
                if (runs.empty() || runs.back().end != i) runs.push_back({std::string(), i, i});
                runs.back().word += symbol;
                runs.back().end = i + len;
            }
            auto it = cfg_.vocab.find(symbol);
            if (it != cfg_.vocab.end() && it->second != cfg_.pad_id) {
                t.ids.push_back(it->second);
                t.boundary.push_back(boundary_strength(symbol));
                id_byte.push_back(i);
            }
            i += len;
        }
        auto first_id_at = [&](size_t byte) {
            return static_cast<size_t>(std::lower_bound(id_byte.begin(), id_byte.end(), byte) - id_byte.begin());
        };
        for (const tts::WordOffsets& w : text_words ? *text_words : runs) {
            const size_t b = first_id_at(w.begin), e = first_id_at(w.end);
            if (e > b) t.words.push_back({w.word, b, e, w.source_begin, w.source_end});
        }
        return t;
    }

    // Pieces of at most max_phoneme_ids ids, cut after the strongest boundary that fits;
    // `sentences`: also after every sentence end.
    std::vector<std::pair<size_t, size_t>> split(const Tokenized& t, bool sentences) const {
        std::vector<std::pair<size_t, size_t>> pieces;
        const size_t n = t.ids.size(), limit = static_cast<size_t>(cfg_.max_phoneme_ids);
        size_t start = 0;
        while (start < n) {
            // A piece starts at a sound, not at the space after the previous piece's end: each
            // sentence of a text sounds as it would alone.
            while (start < n && t.boundary[start] == 1) ++start;
            if (start == n) break;
            size_t end = std::min(n, start + limit);
            if (sentences) {
                for (size_t k = start; k < end; ++k)
                    if (t.boundary[k] == 3) {
                        end = k + 1;
                        break;
                    }
            }
            if (end < n && !(sentences && t.boundary[end - 1] == 3)) {
                for (uint8_t strength = 3; strength >= 1; --strength) {
                    size_t cut = 0;
                    for (size_t k = end; k > start + 1; --k)
                        if (t.boundary[k - 1] >= strength) {
                            cut = k;
                            break;
                        }
                    if (cut != 0) {
                        end = cut;
                        break;
                    }
                }
            }
            // A piece of only spaces and punctuation would be silence: fold it into the last one.
            bool has_sound = false;
            for (size_t k = start; k < end; ++k) has_sound |= t.boundary[k] == 0;
            if (!has_sound && !pieces.empty()) pieces.back().second = end;
            else pieces.emplace_back(start, end);
            start = end;
        }
        return pieces;
    }

    // The first stage's outputs for one piece: the frames of each token of [pad, ids..., pad]
    // and the per-token features the vocoder reads.
    struct Durations {
        int64_t tokens = 0;           // L: ids + 2
        std::vector<int64_t> frames;  // L
        std::vector<int64_t> first;   // L + 1: frames before token k
        int64_t total = 0;            // frames in all
        std::vector<float> d;         // [L, d_width]
        std::vector<float> t_en;      // [t_en_width, L]
    };

    Durations run_durations(const std::vector<int64_t>& ids, const std::vector<float>& style, float speed,
                            CallControl& call, WorkingMemory& memory, SynthesisReport& report) {
        const int64_t L = static_cast<int64_t>(ids.size()) + 2;
        const Interrupt interrupt = [&call, &memory] {
            call.check_cancel();
            memory.sample_vm();
        };
        std::vector<int64_t> tokens;
        tokens.reserve(static_cast<size_t>(L));
        tokens.push_back(cfg_.pad_id);
        tokens.insert(tokens.end(), ids.begin(), ids.end());
        tokens.push_back(cfg_.pad_id);
        Durations out;
        out.tokens = L;
        std::vector<float> dur(static_cast<size_t>(L));
        out.d.resize(static_cast<size_t>(L * cfg_.d_width));
        out.t_en.resize(static_cast<size_t>(L * cfg_.t_en_width));
        const auto t0 = std::chrono::steady_clock::now();
        {
            std::vector<TensorRef> in = {tensor(tokens.data(), kI64, {1, L}),
                                         tensor(style.data(), kF32, {1, cfg_.style_dim}), tensor(&speed, kF32, {1})};
            std::vector<TensorRef> res = {output(dur.data(), kF32, dur.size()), output(out.d.data(), kF32, out.d.size()),
                                          output(out.t_en.data(), kF32, out.t_en.size())};
            durations_->call(in, res, &interrupt);
            if (res[0].written != dur.size() || res[1].written != out.d.size() || res[2].written != out.t_en.size())
                throw Error(EV_ERR_MODEL_INVALID, "the durations stage returned tensors of other sizes", kRebuildHint);
        }
        report.durations_ms += ms_since(t0);
        call.check_cancel();
        out.frames.assign(static_cast<size_t>(L), 0);
        out.first.assign(static_cast<size_t>(L) + 1, 0);
        for (int64_t i = 0; i < L; ++i) {
            const float f = dur[static_cast<size_t>(i)];
            if (!std::isfinite(f) || f < 0 || f > static_cast<float>(kMaxFramesPerToken))
                throw Error(EV_ERR_RUNTIME, "the durations stage predicted " + std::to_string(f) + " frames for one token",
                            "try another speed or voice; report it if it persists");
            out.frames[static_cast<size_t>(i)] = static_cast<int64_t>(std::lround(f));
            out.first[static_cast<size_t>(i) + 1] = out.first[static_cast<size_t>(i)] + out.frames[static_cast<size_t>(i)];
        }
        out.total = out.first.back();
        if (out.total == 0) throw Error(EV_ERR_RUNTIME, "the durations stage predicted no frames at all", "try other input");
        return out;
    }

    // The vocoder on frames [lo, hi) of a piece: the tokens that cover them, aligned to them.
    // [0, total) is the whole piece, as ev_synthesize makes it.
    void run_audio(const Durations& dur, int64_t lo, int64_t hi, const std::vector<float>& style, CallControl& call,
                   WorkingMemory& memory, SynthesisReport& report, std::vector<float>* samples) {
        const Interrupt interrupt = [&call, &memory] {
            call.check_cancel();
            memory.sample_vm();
        };
        // tokens [t0, t1): the first whose frames end after lo, to the last that starts before hi
        int64_t t0 = 0, t1 = dur.tokens;
        while (t0 < dur.tokens && dur.first[static_cast<size_t>(t0) + 1] <= lo) ++t0;
        while (t1 > t0 && dur.first[static_cast<size_t>(t1) - 1] >= hi) --t1;
        const int64_t L = t1 - t0, F = hi - lo;
        // Host buffers of this part, counted before they are touched.
        memory.set_host(4 * (dur.d.size() + dur.t_en.size() + static_cast<uint64_t>(L * (F + cfg_.d_width + cfg_.t_en_width)) +
                             static_cast<uint64_t>(F * cfg_.samples_per_frame)));
        std::vector<float> alignment(static_cast<size_t>(L * F), 0.0f);
        for (int64_t i = 0; i < L; ++i) {
            const int64_t a = std::max(lo, dur.first[static_cast<size_t>(t0 + i)]),
                          b = std::min(hi, dur.first[static_cast<size_t>(t0 + i) + 1]);
            for (int64_t f = a; f < b; ++f) alignment[static_cast<size_t>(i * F + f - lo)] = 1.0f;
        }
        const bool whole = t0 == 0 && t1 == dur.tokens;
        std::vector<float> d_part, t_en_part;
        if (!whole) {
            d_part.assign(dur.d.begin() + t0 * cfg_.d_width, dur.d.begin() + t1 * cfg_.d_width);
            t_en_part.resize(static_cast<size_t>(cfg_.t_en_width * L));
            for (int64_t ch = 0; ch < cfg_.t_en_width; ++ch)
                std::copy(dur.t_en.begin() + ch * dur.tokens + t0, dur.t_en.begin() + ch * dur.tokens + t1,
                          t_en_part.begin() + ch * L);
        }
        const float* d = whole ? dur.d.data() : d_part.data();
        const float* t_en = whole ? dur.t_en.data() : t_en_part.data();
        samples->assign(static_cast<size_t>(F * cfg_.samples_per_frame), 0.0f);
        const auto start = std::chrono::steady_clock::now();
        {
            std::vector<TensorRef> in = {tensor(alignment.data(), kF32, {L, F}), tensor(d, kF32, {1, L, cfg_.d_width}),
                                         tensor(t_en, kF32, {1, cfg_.t_en_width, L}),
                                         tensor(style.data(), kF32, {1, cfg_.style_dim})};
            std::vector<TensorRef> out = {output(samples->data(), kF32, samples->size())};
            audio_->call(in, out, &interrupt);
            if (out[0].written != samples->size())
                throw Error(EV_ERR_MODEL_INVALID, "the audio stage returned another number of samples", kRebuildHint);
        }
        // One pass over the samples (cheap beside the vocoder): weights that are NaN or zeros
        // give NaN audio, which must not pass as a result.
        for (float v : *samples)
            if (!std::isfinite(v))
                throw Error(EV_ERR_MODEL_INVALID, manifest_.path() + ": the audio stage produced NaN or infinite samples",
                            "the weights are damaged; " + std::string(kRebuildHint));
        report.audio_ms += ms_since(start);
    }

    // Where a stream vocodes one piece (ids from `begin` of `t`) in parts: frame positions,
    // each in the middle of a space or a phrase mark, so the first part is short (the stream's
    // first audio comes after about kFirstPartFrames of sound) and no part is more than twice the
    // audio before it (the next part is ready before that audio has played, at a real-time
    // factor under 0.5). `before`: frames of the stream before this piece. A piece short enough
    // is not cut: each cut costs 2 * kSeamFrames of extra vocoding.
    std::vector<int64_t> stream_cuts(const Tokenized& t, size_t begin, const std::vector<int64_t>& frames,
                                     int64_t before) const {
        std::vector<int64_t> cuts;
        const int64_t L = static_cast<int64_t>(frames.size());
        int64_t total = 0;
        for (int64_t f : frames) total += f;
        int64_t last = 0;             // where the current part starts
        int64_t at = frames.front();  // where token k starts (token 0 is the leading pad)
        for (int64_t k = 1; k + 1 < L; at += frames[static_cast<size_t>(k)], ++k) {
            if (t.boundary[begin + static_cast<size_t>(k) - 1] == 0 || frames[static_cast<size_t>(k)] == 0) continue;
            const int64_t cut = at + frames[static_cast<size_t>(k)] / 2;
            const int64_t delivered = before + last;
            const int64_t budget = delivered == 0 ? frames.front() + kFirstPartFrames : 2 * delivered;
            // The first boundary at or past the budget: a part ends between words, never inside one.
            if (cut - last >= std::max(budget, 2 * kSeamFrames) && total - cut >= kMinLastPartFrames) {
                cuts.push_back(cut);
                last = cut;
            }
        }
        return cuts;
    }

    // The words of ids [begin, end): samples from the frames of their tokens (token = id + 1).
    void word_spans(const Tokenized& t, size_t begin, size_t end, const std::vector<int64_t>& frames, int64_t offset,
                    std::vector<WordSpan>* out) const {
        std::vector<int64_t> before(frames.size() + 1, 0);  // frames before token k
        for (size_t k = 0; k < frames.size(); ++k) before[k + 1] = before[k] + frames[k];
        for (const Tokenized::Word& w : t.words) {
            if (w.begin < begin || w.begin >= end) continue;
            const size_t b = w.begin - begin + 1, e = std::min(w.end, end) - begin + 1;
            out->push_back({w.word, offset + before[b] * cfg_.samples_per_frame,
                            offset + before[std::max(b, e)] * cfg_.samples_per_frame, w.source_begin, w.source_end});
        }
    }

    const Manifest& manifest_;
    std::shared_ptr<const Weights> weights_;
    Config cfg_;
    std::unique_ptr<Vm> vm_;
    std::unique_ptr<Function> durations_, audio_;
    std::vector<Voice> voices_;
    std::vector<WordLexicon> lexicons_;
    uint64_t working_bytes_ = 0;  // the peak of the last synthesis
};

}  // namespace

std::unique_ptr<ModelInstance> create_tts(const KindInputs& inputs) { return std::make_unique<Tts>(inputs); }

}  // namespace ev
