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

namespace {

// The model's own reading of a word its lexicon lacks as written but has in parts: a letter's
// name "x." (the front end's spelling: the letter alone, which misaki's lexicons read by its
// name when the reading is stressed; "a" is the article ɐ/A there, and CMUdict's "a." EY1 serves),
// or a hyphenated word whose every part it has ("thirty-four"), read as one word with
// the stress of a compound when its last part carries a primary stress: the earlier parts'
// primary stresses become secondary, as in misaki's own hyphenated entries ("forty-five"
// fˌɔɹɾifˈIv).
bool own_in_parts(const std::string& token, const WordLookup& own, std::string* out) {
    static const std::string kPrimary = "ˈ", kSecondary = "ˌ";
    if (token.size() == 2 && token[1] == '.' && token[0] >= 'a' && token[0] <= 'z')
        return own(token.substr(0, 1), out) && out->find(kPrimary) != std::string::npos;
    if (token.find('-') == std::string::npos) return false;
    std::vector<std::string> parts;
    std::string part;
    for (size_t b = 0, i = 0; i <= token.size(); ++i) {
        if (i < token.size() && token[i] != '-') continue;
        if (i > b) {
            if (!own(token.substr(b, i - b), &part)) return false;
            parts.push_back(part);
        }
        b = i + 1;
    }
    if (parts.empty()) return false;
    const bool last_primary = parts.back().find(kPrimary) != std::string::npos;
    out->clear();
    for (size_t k = 0; k < parts.size(); ++k) {
        if (last_primary && k + 1 < parts.size())
            for (size_t at = parts[k].find(kPrimary); at != std::string::npos; at = parts[k].find(kPrimary, at))
                parts[k].replace(at, kPrimary.size(), kSecondary);
        *out += parts[k];
    }
    return !out->empty();
}

}  // namespace

std::string kokoro_word(const PhonemizedToken& token, const WordLookup* own, bool* from_own) {
    std::string word;
    const bool found = own != nullptr && ((*own)(token.token, &word) || own_in_parts(token.token, *own, &word));
    if (from_own) *from_own = found;
    return found ? word : arpabet_to_kokoro(token.phonemes);
}

namespace {

// Does a word in Kokoro's symbols begin with a vowel sound (stress marks skipped)?
bool starts_with_vowel(const std::string& word) {
    static const char* const kVowels[] = {"a", "e", "i", "o", "u", "æ", "ɑ", "ɐ", "ɒ", "ɔ", "ə", "ɚ", "ɛ", "ɜ",
                                          "ɪ", "ʊ", "ʌ", "A", "I", "O", "W", "Y", "ᵻ", "ᵊ"};
    size_t at = 0;
    for (const char* mark : {"ˈ", "ˌ"})
        if (word.compare(at, std::strlen(mark), mark) == 0) at += std::strlen(mark);
    for (const char* v : kVowels)
        if (word.compare(at, std::strlen(v), v) == 0) return true;
    return false;
}

// The weak forms English speech uses for function words inside a phrase (a lexicon gives each
// word alone, i.e. its strong form): "the" ðə / ði before a vowel, "a" ɐ, "an" ən, "to" tə / tu
// before a vowel, and the reduced vowel of of, and, for, at, from, as, was, are, can, but. A word
// just before punctuation or at the end keeps its strong form ("where to?"), except the
// articles, which are never phrase-final in practice.
void apply_weak_forms(const std::vector<PhonemizedToken>& tokens, std::vector<std::string>& words) {
    struct Weak {
        const char* word;
        const char* weak;    // before a consonant sound
        const char* weak_v;  // before a vowel sound
        bool even_phrase_final;
    };
    static const Weak kWeak[] = {
        {"the", "ðə", "ði", true},   {"a", "ɐ", "ɐ", true},      {"an", "ən", "ən", true},
        {"to", "tə", "tu", false},   {"of", "əv", "əv", false},  {"and", "ənd", "ənd", false},
        {"for", "fəɹ", "fəɹ", false}, {"at", "ət", "ət", false},  {"from", "fɹəm", "fɹəm", false},
        {"as", "əz", "əz", false},   {"was", "wəz", "wəz", false}, {"are", "əɹ", "əɹ", false},
        {"can", "kən", "kən", false}, {"but", "bət", "bət", false},
    };
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i].source == kSourcePunctuation) continue;
        const Weak* w = nullptr;
        for (const Weak& k : kWeak)
            if (tokens[i].token == k.word) w = &k;
        if (w == nullptr) continue;
        size_t next = i + 1;  // the next token: a word, punctuation, or none
        const bool phrase_final = next >= tokens.size() || tokens[next].source == kSourcePunctuation;
        if (phrase_final && !w->even_phrase_final) continue;
        words[i] = (!phrase_final && starts_with_vowel(words[next])) ? w->weak_v : w->weak;
    }
}

}  // namespace

std::vector<std::string> kokoro_words(const std::vector<PhonemizedToken>& tokens, const WordLookup* own,
                                      std::vector<bool>* from_own) {
    std::vector<std::string> words(tokens.size());
    if (from_own) from_own->assign(tokens.size(), false);
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (is_punctuation(tokens[i])) continue;
        bool found = false;
        words[i] = kokoro_word(tokens[i], own, &found);
        if (from_own) (*from_own)[i] = found;
    }
    apply_weak_forms(tokens, words);
    return words;
}

std::string tokens_to_kokoro(const std::vector<PhonemizedToken>& tokens, std::vector<WordOffsets>* word_spans,
                             const WordLookup* own) {
    const std::vector<std::string> words = kokoro_words(tokens, own, nullptr);
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const PhonemizedToken& t = tokens[i];
        if (is_punctuation(t)) {
            out += t.token;  // attached to the word before it: "həlˈO, wˈɜɹld."
            continue;
        }
        if (words[i].empty()) continue;
        if (!out.empty()) out += ' ';
        if (word_spans)
            word_spans->push_back({t.token, out.size(), out.size() + words[i].size(), t.source_begin, t.source_end});
        out += words[i];
    }
    return out;
}

}  // namespace tts
}  // namespace ev
