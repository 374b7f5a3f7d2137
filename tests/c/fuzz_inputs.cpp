// Seeded mutation fuzzer for what a hostile host or file can hand the library: manifests (the
// parser alone, then whole artifacts through ev_init) and prompts with random parameters.
// Built with AddressSanitizer + UndefinedBehaviorSanitizer by tests/test_sanitizers.py; a crash,
// a sanitizer report, an exception that is not an ev::Error, or EV_ERR_INTERNAL is a finding.
//
//   fuzz_inputs ARTIFACT_DIR SECONDS [SEED]
//
// The time is split between the three phases; the run prints per-phase iteration counts and
// "ok" on its last line. Deterministic for a seed up to where the clock stops it.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "edge_veda.h"
#include "core/errors.h"
#include "core/manifest.h"
#include "core/sha256.h"
#include "models/kind.h"
#include "runtime/runtime.h"

namespace {

class Rng {  // xorshift64*: small, deterministic everywhere
public:
    explicit Rng(uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
    uint64_t next() {
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        return s_ * 0x2545F4914F6CDD1Dull;
    }
    size_t below(size_t n) { return n ? static_cast<size_t>(next() % n) : 0; }
    bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }

private:
    uint64_t s_;
};

// Values that have broken JSON readers and manifest validators: bad numbers, bad escapes,
// paths that leave the directory, wrong types, deep nesting.
const char* const kDictionary[] = {
    "0", "-1", "1", "2", "1e9", "1e400", "-1e400", "-inf", "NaN", "0x1F", "01", "1.5", "1.9",
    "2147483647", "2147483648", "-2147483649", "4294967296", "9223372036854775807",
    "9223372036854775808", "18446744073709551616", "100029", "\"\\uD800\\u0041\"", "\"\\uDC00\"",
    "\"\\uD800\"", "\"\\u0000\"", "\"../x\"", "\"../../etc/passwd\"", "\"/etc/passwd\"", "\"\"",
    "\".\"", "\"a/b\"", "null", "true", "false", "[]", "{}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":", "\"\xff\xfe\"", "\"\xc3\x28\"", "\"\xf4\x90\x80\x80\"",
    "\"\\ud83d\\ude42\"", "[\"a\",\"b\"]", "[1,2,3]", "{\"size\":1,\"sha256\":\"00\"}", "-0", "1e-400",
};
constexpr size_t kDictionarySize = sizeof(kDictionary) / sizeof(kDictionary[0]);

// Spans of JSON scalar tokens (numbers, strings, literals) in `text`: mutating a whole token
// keeps most of the document parseable, so the fuzzer reaches validation, not just syntax.
std::vector<std::pair<size_t, size_t>> scalar_tokens(const std::string& text) {
    std::vector<std::pair<size_t, size_t>> spans;
    for (size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
            spans.emplace_back(i, std::min(j + 1, text.size()) - i);
            i = j + 1;
        } else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
            size_t j = i;
            while (j < text.size() && std::strchr(",}] \n\t\r", text[j]) == nullptr) ++j;
            spans.emplace_back(i, j - i);
            i = j;
        } else {
            ++i;
        }
    }
    return spans;
}

std::string mutate(const std::string& seed, Rng& rng) {
    std::string s = seed;
    const int rounds = 1 + static_cast<int>(rng.below(4));
    for (int r = 0; r < rounds; ++r) {
        switch (rng.below(8)) {
            case 0:
            case 1:
            case 2: {  // replace a scalar token with a dictionary value
                auto spans = scalar_tokens(s);
                if (spans.empty()) break;
                auto sp = spans[rng.below(spans.size())];
                s.replace(sp.first, sp.second, kDictionary[rng.below(kDictionarySize)]);
                break;
            }
            case 3:  // flip a bit
                if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
                break;
            case 4:  // insert a dictionary value anywhere
                s.insert(rng.below(s.size() + 1), kDictionary[rng.below(kDictionarySize)]);
                break;
            case 5: {  // delete a range
                if (s.empty()) break;
                size_t at = rng.below(s.size());
                s.erase(at, 1 + rng.below(std::min<size_t>(64, s.size() - at)));
                break;
            }
            case 6: {  // duplicate a range (repeated keys, long arrays)
                if (s.empty()) break;
                size_t at = rng.below(s.size());
                size_t len = 1 + rng.below(std::min<size_t>(256, s.size() - at));
                s.insert(at, s.substr(at, len));
                break;
            }
            default:  // truncate
                s.resize(rng.below(s.size() + 1));
                break;
        }
    }
    if (rng.chance(1)) s = std::string(100000 + rng.below(100000), '[') + s;  // nesting bomb
    return s;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    return buf.str();
}

void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

[[noreturn]] void finding(const std::string& what, const std::string& input) {
    const std::string path = "fuzz-finding.bin";
    write_file(path, input);
    std::fprintf(stderr, "FINDING: %s (input saved to %s)\n", what.c_str(), path.c_str());
    std::exit(3);
}

using Clock = std::chrono::steady_clock;

// Phase 1: the manifest parser alone, in memory.
uint64_t fuzz_manifest_parser(const std::string& dir, const std::string& seed, Rng& rng,
                              Clock::time_point until, uint64_t* accepted) {
    uint64_t n = 0;
    while (Clock::now() < until) {
        const std::string input = mutate(seed, rng);
        try {
            ev::Manifest::parse(input, dir, {&ev::parse_json, &ev::kind_supported, &ev::supported_kinds});
            ++*accepted;
        } catch (const ev::Error&) {
        } catch (const std::bad_alloc&) {
            finding("the parser ran out of memory", input);
        } catch (const std::exception& e) {
            finding(std::string("the parser threw a non-ev::Error: ") + e.what(), input);
        }
        ++n;
    }
    return n;
}

// Phase 2: whole artifacts through the public API: a mutated manifest, sealed again so the
// digest check passes and validation plus the module cross-check are what stand in the way.
uint64_t fuzz_artifact_init(const std::string& artifact, const std::string& seed, Rng& rng,
                            Clock::time_point until, uint64_t* accepted) {
    char tmpl[] = "/tmp/ev-fuzz-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) finding("mkdtemp failed", "");
    const std::string dir = tmpl;
    // Every other file of the artifact (the compiled library, ...), copied once.
    std::vector<std::string> copied;
    if (DIR* d = opendir(artifact.c_str())) {
        while (dirent* e = readdir(d)) {
            const std::string name = e->d_name;
            struct stat st;
            if (name == "manifest.json" || name == "manifest.json.sha256" ||
                stat((artifact + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            write_file(dir + "/" + name, read_file(artifact + "/" + name));
            copied.push_back(name);
        }
        closedir(d);
    }
    uint64_t n = 0;
    while (Clock::now() < until) {
        const std::string input = mutate(seed, rng);
        write_file(dir + "/manifest.json", input);
        write_file(dir + "/manifest.json.sha256", ev::sha256_hex(input.data(), input.size()) + "  manifest.json\n");
        ev_config cfg = ev_config_default();
        cfg.model_path = dir.c_str();
        ev_error_t err = EV_OK;
        ev_context ctx = ev_init(&cfg, &err);
        if (err == EV_ERR_INTERNAL) finding(std::string("ev_init: ") + ev_last_error_message(nullptr), input);
        if (ctx != nullptr) {
            ++*accepted;
            char* out = nullptr;
            ev_error_t rc = ev_generate(ctx, "hello", nullptr, &out);
            if (rc == EV_ERR_INTERNAL) finding(std::string("ev_generate: ") + ev_last_error_message(ctx), input);
            ev_free_string(out);
            ev_free(ctx);
        }
        ++n;
    }
    copied.push_back("manifest.json");
    copied.push_back("manifest.json.sha256");
    for (const std::string& name : copied) unlink((dir + "/" + name).c_str());
    rmdir(dir.c_str());
    return n;
}

std::string random_prompt(Rng& rng) {
    static const char* const kPieces[] = {"hello", "o'neill", "café", "日本語", "🙂", "\xff", "\xc3",
                                          "\xed\xa0\x80", "\xf4\x90\x80\x80", "A", "-", " ", "'",
                                          "\t", "zzzzzzzzzzzzzzzzzzzzzzzz", "\x7f", "\xc0\xaf"};
    std::string s;
    const size_t pieces = rng.chance(5) ? 200 + rng.below(2000) : rng.below(12);
    for (size_t i = 0; i < pieces; ++i) {
        if (rng.chance(20)) s.push_back(static_cast<char>(1 + rng.below(255)));
        else s += kPieces[rng.below(sizeof(kPieces) / sizeof(kPieces[0]))];
    }
    return s;
}

ev_generation_params random_params(Rng& rng, std::vector<std::string>& stops,
                                   std::vector<const char*>& stop_ptrs) {
    ev_generation_params p = ev_generation_params_default();
    if (rng.chance(50)) return p;
    const int32_t ints[] = {0, 1, 2, 19, 20, 21, -1, 1000000, INT32_MAX, INT32_MIN};
    const float floats[] = {0.0f, 0.5f, 1.0f, 2.0f, -1.0f, 1e30f, -0.0f, 1e-30f, __builtin_nanf(""), __builtin_inff()};
    p.max_tokens = ints[rng.below(10)];
    p.temperature = floats[rng.below(10)];
    p.top_p = floats[rng.below(10)];
    p.top_k = ints[rng.below(10)];
    p.repeat_penalty = floats[rng.below(10)];
    p.seed = rng.chance(50) ? EV_SEED_CONTEXT : rng.next();
    stops.clear();
    stop_ptrs.clear();
    for (size_t i = rng.below(3); i > 0; --i) stops.push_back(random_prompt(rng).substr(0, 8));
    for (const std::string& s : stops) stop_ptrs.push_back(s.c_str());
    p.stop_sequences = stop_ptrs.empty() ? nullptr : stop_ptrs.data();
    p.num_stop_sequences = static_cast<int32_t>(stop_ptrs.size());
    if (rng.chance(5)) p.struct_size = static_cast<uint32_t>(rng.below(2 * sizeof(p)));
    return p;
}

void check_rc(ev_context ctx, ev_error_t rc, const char* fn, const std::string& input) {
    if (rc == EV_ERR_INTERNAL) finding(std::string(fn) + ": " + ev_last_error_message(ctx), input);
}

// Phase 3: prompts and parameters through every generation entry point of one context.
uint64_t fuzz_prompts(const std::string& artifact, Rng& rng, Clock::time_point until, uint64_t* accepted) {
    ev_config cfg = ev_config_default();
    cfg.model_path = artifact.c_str();
    cfg.num_threads = 2;
    ev_error_t err = EV_OK;
    ev_context ctx = ev_init(&cfg, &err);
    if (ctx == nullptr) finding(std::string("cannot load the seed artifact: ") + ev_last_error_message(nullptr), "");
    std::vector<std::string> stops;
    std::vector<const char*> stop_ptrs;
    uint64_t n = 0;
    while (Clock::now() < until) {
        const std::string prompt = random_prompt(rng);
        ev_generation_params p = random_params(rng, stops, stop_ptrs);
        const ev_generation_params* pp = rng.chance(20) ? nullptr : &p;
        switch (rng.below(5)) {
            case 4: {  // ev_phonemize (kind g2p; others answer EV_ERR_UNSUPPORTED_OPERATION)
                ev_phonemes* ph = nullptr;
                ev_error_t rc = ev_phonemize(ctx, prompt.c_str(), pp, &ph);
                if (rc != EV_ERR_UNSUPPORTED_OPERATION) check_rc(ctx, rc, "ev_phonemize", prompt);
                if (rc == EV_OK) {
                    ++*accepted;
                    for (int32_t i = 0; i < ph->count; ++i)  // every string readable (ASan checks)
                        if (std::strlen(ph->tokens[i]) + std::strlen(ph->phonemes[i]) == 0 ||
                            ph->sources[i] < EV_SOURCE_LEXICON || ph->sources[i] > EV_SOURCE_PUNCTUATION)
                            finding("ev_phonemize returned an empty token or an unknown source", prompt);
                } else if (ph != nullptr) {
                    finding("ev_phonemize failed but left *out set", prompt);
                }
                ev_phonemes_free(ph);
                break;
            }
            case 0: {
                char* out = nullptr;
                ev_error_t rc = ev_generate(ctx, prompt.c_str(), pp, &out);
                check_rc(ctx, rc, "ev_generate", prompt);
                if (rc == EV_OK) ++*accepted;
                ev_free_string(out);
                break;
            }
            case 1: {
                std::vector<std::string> batch{prompt, random_prompt(rng), random_prompt(rng)};
                const char* prompts[3] = {batch[0].c_str(), batch[1].c_str(), batch[2].c_str()};
                char* outs[3] = {nullptr, nullptr, nullptr};
                ev_error_t rc = ev_generate_batch(ctx, prompts, 3, pp, outs);
                check_rc(ctx, rc, "ev_generate_batch", prompt);
                if (rc == EV_OK) ++*accepted;
                for (char* o : outs) ev_free_string(o);
                break;
            }
            case 2: {
                ev_stream stream = nullptr;
                ev_error_t rc = ev_stream_begin(ctx, prompt.c_str(), pp, &stream);
                check_rc(ctx, rc, "ev_stream_begin", prompt);
                const char* token = nullptr;
                for (int i = 0; rc == EV_OK && i < 64; ++i) {
                    rc = ev_stream_next(stream, &token, nullptr);
                    check_rc(ctx, rc, "ev_stream_next", prompt);
                }
                if (rc == EV_ERR_STREAM_END) ++*accepted;
                ev_stream_free(stream);
                break;
            }
            default: {
                int32_t count = 0;
                ev_error_t rc = ev_generate_stream(
                    ctx, prompt.c_str(), pp,
                    [](void* user, const char*, int32_t) { ++*static_cast<int32_t*>(user); }, &count);
                check_rc(ctx, rc, "ev_generate_stream", prompt);
                if (rc == EV_OK) ++*accepted;
                break;
            }
        }
        ++n;
    }
    char* out = nullptr;  // still usable after everything above
    // The network's answer (kind seq2seq-gru) or CMUdict's (kind g2p, the g2p-en artifact).
    if (ev_generate(ctx, "hello", nullptr, &out) != EV_OK ||
        (std::strcmp(out, "HH EH1 L OW0") != 0 && std::strcmp(out, "HH AH0 L OW1") != 0))
        finding("the context is unusable after the prompt phase", "");
    ev_free_string(out);
    ev_free(ctx);
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s ARTIFACT_DIR SECONDS [SEED]\n", argv[0]);
        return 2;
    }
    const std::string artifact = argv[1];
    const double seconds = std::atof(argv[2]);
    Rng rng(argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 20261123);
    const std::string seed = read_file(artifact + "/manifest.json");
    if (seed.empty()) {
        std::fprintf(stderr, "no manifest.json in %s\n", artifact.c_str());
        return 2;
    }
    auto phase_end = [&](double share) {
        return Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * share * 1000));
    };
    uint64_t ok1 = 0, ok2 = 0, ok3 = 0;
    const uint64_t n1 = fuzz_manifest_parser(artifact, seed, rng, phase_end(0.4), &ok1);
    std::printf("manifest parser: %llu inputs, %llu accepted\n", (unsigned long long)n1, (unsigned long long)ok1);
    std::fflush(stdout);
    const uint64_t n2 = fuzz_artifact_init(artifact, seed, rng, phase_end(0.3), &ok2);
    std::printf("artifact init: %llu inputs, %llu loaded\n", (unsigned long long)n2, (unsigned long long)ok2);
    std::fflush(stdout);
    const uint64_t n3 = fuzz_prompts(artifact, rng, phase_end(0.3), &ok3);
    std::printf("prompts: %llu calls, %llu completed\n", (unsigned long long)n3, (unsigned long long)ok3);
    std::printf("ok\n");
    return 0;
}
