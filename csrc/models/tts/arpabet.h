// ARPAbet (CMUdict, the g2p kind's output) → Kokoro's phoneme symbols (misaki's US English
// conventions, which Kokoro's English voices were trained on). docs/tts.md has the table.
#pragma once

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
// word token, [begin, end) byte offsets of its phonemes in the result.
struct WordOffsets {
    std::string word;
    size_t begin = 0, end = 0;
};
std::string tokens_to_kokoro(const std::vector<PhonemizedToken>& tokens, std::vector<WordOffsets>* word_spans);

}  // namespace tts
}  // namespace ev
