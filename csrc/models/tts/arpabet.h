// ARPAbet (CMUdict, the g2p kind's output) → Kokoro's phoneme symbols (misaki's US English
// conventions, which Kokoro's English voices were trained on). docs/tts.md has the table.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "models/kind.h"

namespace ev {
namespace tts {

// One word's ARPAbet phonemes ("HH AH0 L OW1") as Kokoro symbols ("həlˈO"): vowels carry
// their stress mark (1 → ˈ, 2 → ˌ) immediately before them. Unknown phonemes are skipped.
std::string arpabet_to_kokoro(const std::string& arpabet);

// A phonemized text (the G2P front end's tokens) as one Kokoro phoneme string: words joined by
// spaces, punctuation attached to the word before it. `word_spans` (may be null) receives, per
// word token, [begin, end) byte offsets of its phonemes in the result, and the token's source
// span (PhonemizedToken::source_begin/source_end).
struct WordOffsets {
    std::string word;
    size_t begin = 0, end = 0;
    int64_t source_begin = -1, source_end = -1;
};
// The model's own pronunciation of a word (its lexicon), if it has one: true and *out set.
using WordLookup = std::function<bool(const std::string& word, std::string* out)>;
// One word token in the model's symbols: `own` (may be null) first, else its ARPAbet mapped;
// *from_own (may be null) says which.
std::string kokoro_word(const PhonemizedToken& token, const WordLookup* own, bool* from_own);
// Every token's word in the model's symbols ("" for punctuation), function words in their weak
// forms within a phrase (the/a/to/of/and/...: "tə", "ðə"); *from_own (may be null) says per
// token whether `own` gave it.
std::vector<std::string> kokoro_words(const std::vector<PhonemizedToken>& tokens, const WordLookup* own,
                                      std::vector<bool>* from_own);
// `own` (may be null) is asked first for each word; the ARPAbet mapping serves the rest.
std::string tokens_to_kokoro(const std::vector<PhonemizedToken>& tokens, std::vector<WordOffsets>* word_spans,
                             const WordLookup* own = nullptr);

}  // namespace tts
}  // namespace ev
