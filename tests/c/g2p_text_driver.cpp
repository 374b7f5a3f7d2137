// Test driver for the G2P text front end and lexicon (csrc/models/g2p), run by
// tests/test_g2p_text.py. Reads one command per line on stdin, answers one line each:
//
//   tok HEX            tokenize_text(bytes) -> "OK" then TAB + ("W"|"P") + token, per token;
//                      or "ERR CODE MESSAGE"
//   tokg HEX           the same with TextMode::kG2pEn (g2p-en's steps alone, no English reader)
//   tokc HEX           as tok, each word followed by "/" and its `cased` form
//   toks HEX           as tok, each token followed by "@BEGIN-END", its source byte span
//   toksg HEX          the same with TextMode::kG2pEn
//   read HEX           read_english(bytes) -> "OK HEX"
//   num HEX            normalize_numbers(bytes) -> "OK HEX"
//   card DIGITS AND    cardinal_words(DIGITS, AND != 0) -> the words
//   ord DIGITS         ordinal_words(DIGITS)
//   open PATH          Lexicon::open on the file's bytes (an exact-size heap copy, so an
//                      out-of-bounds read shows under AddressSanitizer) -> "OK WORDS SYMBOLS"
//                      or "ERR CODE MESSAGE"
//   lex WORD           lookup -> the phoneme symbols joined by spaces, or "-" when absent
//   bench-tok PATH N   tokenizes the file N times -> "OK MB/s TOKENS"
//   bench-open N       Lexicon::open (the validation) of the open image N times -> "OK ms"
//   bench-lex N        N lookups of the lexicon's words in scattered order -> "OK lookups/s"
//
// HEX is the input's bytes in hexadecimal, so any byte string (newlines, NULs, invalid UTF-8)
// travels on one line.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "models/lexicon.h"
#include "models/g2p/english.h"
#include "models/g2p/text.h"

namespace {

std::string from_hex(const std::string& hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) break;
        out += static_cast<char>(hi * 16 + lo);
    }
    return out;
}

std::string to_hex(const std::string& s) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

bool read_file(const std::string& path, std::vector<unsigned char>* out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return true;
}

}  // namespace

int main() {
    std::ios::sync_with_stdio(false);
    std::unique_ptr<unsigned char[]> image;  // the lexicon's bytes, alive while `lexicon` is
    size_t image_size = 0;
    std::unique_ptr<ev::Lexicon> lexicon;
    std::string line, out;
    while (std::getline(std::cin, line)) {
        const size_t sp = line.find(' ');
        const std::string cmd = line.substr(0, sp);
        const std::string arg = sp == std::string::npos ? std::string() : line.substr(sp + 1);
        out.clear();
        try {
            if (cmd == "tok" || cmd == "tokg" || cmd == "tokc" || cmd == "toks" || cmd == "toksg") {
                out = "OK";
                const bool g2p_en = cmd == "tokg" || cmd == "toksg";
                const auto mode = g2p_en ? ev::g2p::TextMode::kG2pEn : ev::g2p::TextMode::kEnglish;
                for (const auto& t : ev::g2p::tokenize_text(from_hex(arg), mode)) {
                    out += '\t';
                    out += t.is_punctuation ? 'P' : 'W';
                    out += t.text;
                    if (cmd == "tokc" && !t.is_punctuation) out += "/" + t.cased;
                    if (cmd == "toks" || cmd == "toksg")
                        out += "@" + std::to_string(t.source_begin) + "-" + std::to_string(t.source_end);
                }
            } else if (cmd == "read") {
                out = "OK " + to_hex(ev::g2p::read_english(from_hex(arg)));
            } else if (cmd == "num") {
                out = "OK " + to_hex(ev::g2p::normalize_numbers(from_hex(arg)));
            } else if (cmd == "card") {
                std::istringstream in(arg);
                std::string digits;
                int with_and = 0;
                in >> digits >> with_and;
                out = ev::g2p::cardinal_words(digits, with_and != 0);
            } else if (cmd == "ord") {
                out = ev::g2p::ordinal_words(arg);
            } else if (cmd == "open") {
                lexicon.reset();
                image.reset();
                std::vector<unsigned char> bytes;
                if (!read_file(arg, &bytes)) {
                    out = "ERR io cannot read " + arg;
                } else {
                    // An exact-size copy: AddressSanitizer flags any read past its end.
                    image.reset(new unsigned char[bytes.empty() ? 1 : bytes.size()]);
                    std::copy(bytes.begin(), bytes.end(), image.get());
                    image_size = bytes.size();
                    lexicon = ev::Lexicon::open(image.get(), bytes.size());
                    out = "OK " + std::to_string(lexicon->size()) + " " + std::to_string(lexicon->symbol_count());
                }
            } else if (cmd == "lex") {
                ev::PhonemeSpan span;
                if (!lexicon) {
                    out = "ERR usage no lexicon open";
                } else if (!lexicon->find(arg, &span)) {
                    out = "-";
                } else {
                    for (size_t i = 0; i < span.size; ++i) {
                        if (i) out += ' ';
                        out += lexicon->symbol(span.ids[i]);
                    }
                }
            } else if (cmd == "bench-tok") {
                std::istringstream in(arg);
                std::string path;
                int repeats = 1;
                in >> path >> repeats;
                std::vector<unsigned char> bytes;
                if (!read_file(path, &bytes)) throw std::runtime_error("cannot read " + path);
                const std::string text(bytes.begin(), bytes.end());
                size_t tokens = 0;
                const auto t0 = std::chrono::steady_clock::now();
                for (int r = 0; r < repeats; ++r) tokens += ev::g2p::tokenize_text(text).size();
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                out = "OK " + std::to_string(double(text.size()) * repeats / s / 1e6) + " " +
                      std::to_string(tokens / (repeats > 0 ? repeats : 1));
            } else if (cmd == "bench-open") {
                if (!lexicon) throw std::runtime_error("no lexicon open");
                const int repeats = std::stoi(arg);
                const auto t0 = std::chrono::steady_clock::now();
                for (int r = 0; r < repeats; ++r) ev::Lexicon::open(image.get(), image_size);
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                out = "OK " + std::to_string(s / repeats * 1e3) + " ms";
            } else if (cmd == "bench-lex") {
                if (!lexicon || lexicon->size() == 0) throw std::runtime_error("no lexicon open");
                const long repeats = std::stol(arg);
                std::vector<std::string> words;
                const size_t n = lexicon->size();
                // A fixed stride through the sorted table: scattered, like words of running text.
                for (size_t i = 0, k = 0; i < n; ++i, k = (k + 7919) % n) words.emplace_back(lexicon->word_at(k));
                size_t found = 0;
                ev::PhonemeSpan span;
                const auto t0 = std::chrono::steady_clock::now();
                for (long r = 0; r < repeats; ++r) found += lexicon->find(words[size_t(r) % n], &span);
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                out = "OK " + std::to_string(double(repeats) / s) + " " + std::to_string(found);
            } else {
                out = "ERR usage unknown command " + cmd;
            }
        } catch (const ev::Error& e) {
            out = "ERR " + std::to_string(static_cast<int>(e.code())) + " " + e.what();
        } catch (const std::exception& e) {
            out = std::string("ERR exception ") + e.what();
        }
        std::cout << out << '\n';
    }
    return 0;
}
