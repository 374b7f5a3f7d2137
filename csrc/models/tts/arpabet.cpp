#include "models/tts/arpabet.h"

#include <cstring>

namespace ev {
namespace tts {
namespace {

struct Entry {
    const char* arpabet;  // without stress digit
    const char* kokoro;
    bool vowel;
};

// misaki's single-letter diphthongs (A = eɪ, I = aɪ, O = oʊ, W = aʊ, Y = ɔɪ); ɡ is U+0261.
const Entry kTable[] = {
    {"AA", "ɑ", true},  {"AE", "æ", true},  {"AH", "ʌ", true},  {"AO", "ɔ", true},  {"AW", "W", true},
    {"AY", "I", true},  {"EH", "ɛ", true},  {"ER", "ɜɹ", true}, {"EY", "A", true},  {"IH", "ɪ", true},
    {"IY", "i", true},  {"OW", "O", true},  {"OY", "Y", true},  {"UH", "ʊ", true},  {"UW", "u", true},
    {"B", "b", false},  {"CH", "ʧ", false}, {"D", "d", false},  {"DH", "ð", false}, {"F", "f", false},
    {"G", "ɡ", false},  {"HH", "h", false}, {"JH", "ʤ", false}, {"K", "k", false},  {"L", "l", false},
    {"M", "m", false},  {"N", "n", false},  {"NG", "ŋ", false}, {"P", "p", false},  {"R", "ɹ", false},
    {"S", "s", false},  {"SH", "ʃ", false}, {"T", "t", false},  {"TH", "θ", false}, {"V", "v", false},
    {"W", "w", false},  {"Y", "j", false},  {"Z", "z", false},  {"ZH", "ʒ", false},
};

const Entry* find(const std::string& base) {
    for (const Entry& e : kTable)
        if (base == e.arpabet) return &e;
    return nullptr;
}

bool is_punctuation(const PhonemizedToken& t) { return t.source == kSourcePunctuation; }

}  // namespace

std::string arpabet_to_kokoro(const std::string& arpabet) {
    std::string out;
    size_t i = 0;
    while (i < arpabet.size()) {
        while (i < arpabet.size() && arpabet[i] == ' ') ++i;
        size_t j = i;
        while (j < arpabet.size() && arpabet[j] != ' ') ++j;
        if (j == i) break;
        std::string ph = arpabet.substr(i, j - i);
        i = j;
        char stress = 0;
        if (!ph.empty() && ph.back() >= '0' && ph.back() <= '2') {
            stress = ph.back();
            ph.pop_back();
        }
        const Entry* e = find(ph);
        if (e == nullptr) continue;
        if (e->vowel) {
            if (stress == '1') out += "ˈ";
            else if (stress == '2') out += "ˌ";
            // Unstressed AH is the schwa, unstressed ER the r-coloured schwa.
            if (stress == '0' && ph == "AH") {
                out += "ə";
                continue;
            }
            if (stress == '0' && ph == "ER") {
                out += "əɹ";
                continue;
            }
        }
        out += e->kokoro;
    }
    return out;
}

std::string tokens_to_kokoro(const std::vector<PhonemizedToken>& tokens, std::vector<WordOffsets>* word_spans) {
    std::string out;
    for (const PhonemizedToken& t : tokens) {
        if (is_punctuation(t)) {
            out += t.token;  // attached to the word before it: "həlˈO, wˈɜɹld."
            continue;
        }
        std::string word = arpabet_to_kokoro(t.phonemes);
        if (word.empty()) continue;
        if (!out.empty()) out += ' ';
        if (word_spans) word_spans->push_back({t.token, out.size(), out.size() + word.size()});
        out += word;
    }
    return out;
}

}  // namespace tts
}  // namespace ev
