// English text front end of the G2P model: the normalization and tokenization that g2p-en's
// `G2p.__call__` applies before it looks words up (g2p_en/g2p.py, g2p_en/expand.py), in C++17
// with no dependencies. Text in, tokens out; each token is a word (to look up or to predict)
// or a punctuation token that passes through.
//
// Step 0 (not g2p-en's): the English reader (english.h) writes out what g2p-en misreads: times,
// money, percent, units, phone numbers, numbers with thousands separators, decimals,
// abbreviations by context (TextMode::kG2pEn skips it, for the reference tests).
// Then g2p-en's steps, in its order:
//   1. numbers expanded as g2p-en's normalize_numbers does with inflect (normalize_numbers());
//   2. accents stripped (NFD, combining marks dropped), lowercased;
//   3. only a-z, apostrophe, space and . , ? ! - kept; everything else dropped;
//   4. "i.e." -> "that is", "e.g." -> "for example" (plain substring replacement, as g2p-en);
//   5. tokenized as nltk's TweetTokenizer splits that restricted alphabet.
// Deviation: every Unicode White_Space character (tab, newline, no-break space...) becomes a
// space before step 1; g2p-en deletes them, which glues the words of two lines together.
// docs/lexicon-format.md ("Text normalization") lists every deviation from g2p-en.
//
// Invalid UTF-8 is refused with ev::Error(EV_ERR_INVALID_ARGUMENT), like Decoder::tokenize.
// Time and memory are O(n) in the input; nothing recurses.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ev {
namespace g2p {

struct TextToken {
    std::string text;     // lowercase ASCII: a word ("don't", "well-known") or punctuation; a
                          // letter said by its name is "<letter>." ("p." in "7 pm")
    bool is_punctuation;  // true when the token has no letter (g2p-en passes it through)
    std::string cased;    // words: `text` with the source's ASCII capitals ("GPU"), those of
                          // shouted sentences dropped (english.h); what read_as_letters() reads
    // The bytes [source_begin, source_end) of the input the token was read from: the source
    // word ("Dr." for "doctor", "1984" for both "nineteen" and "eighty-four", "$3.50" for each
    // word of "three dollars and fifty cents"). Tokens of one source word share its span.
    size_t source_begin = 0, source_end = 0;
};

// Where each byte of a pass's output was read from: [begin[k], end[k]) bytes of the original
// input. Every pass reads left to right, so both arrays are non-decreasing and the source of
// output bytes [i, j) is [begin[i], end[j - 1]): passes compose in O(1) per byte.
struct SourceSpans {
    std::vector<size_t> begin, end;
    void add(size_t b, size_t e, size_t count = 1) {
        begin.insert(begin.end(), count, b);
        end.insert(end.end(), count, e);
    }
    // `count` output bytes read from bytes [i, j) (j > i) of the text `from` describes.
    void add_from(const SourceSpans& from, size_t i, size_t j, size_t count) {
        add(from.begin[i], from.end[j - 1], count);
    }
    // Bytes [i, j) of the text `from` describes, copied one for one.
    void copy_from(const SourceSpans& from, size_t i, size_t j) {
        begin.insert(begin.end(), from.begin.begin() + static_cast<std::ptrdiff_t>(i),
                     from.begin.begin() + static_cast<std::ptrdiff_t>(j));
        end.insert(end.end(), from.end.begin() + static_cast<std::ptrdiff_t>(i),
                   from.end.begin() + static_cast<std::ptrdiff_t>(j));
    }
    static SourceSpans identity(size_t n) {
        SourceSpans s;
        s.begin.resize(n);
        s.end.resize(n);
        for (size_t k = 0; k < n; ++k) {
            s.begin[k] = k;
            s.end[k] = k + 1;
        }
        return s;
    }
};

enum class TextMode {
    kEnglish,  // the English reader first (english.h), then g2p-en's steps: what the kinds use
    kG2pEn,    // g2p-en's steps alone (the reference tests compare them with g2p-en)
};

// The whole front end. Throws ev::Error(EV_ERR_INVALID_ARGUMENT) on invalid UTF-8.
std::vector<TextToken> tokenize_text(const std::string& utf8, TextMode mode = TextMode::kEnglish);

// Step 1 alone: g2p-en's normalize_numbers on UTF-8 text (bytes other than the ASCII digits,
// ',', '.', '$', "st"/"nd"/"rd"/"th" and the pound sign pass through unchanged).
// Does not validate UTF-8.
std::string normalize_numbers(const std::string& utf8);

// inflect's number_to_words as normalize_numbers uses it, exposed for tests.
// `digits`: ASCII digits only (leading zeros allowed). Numbers of 37 or more significant
// digits (where inflect raises NumOutOfRangeError) are read digit by digit.
std::string cardinal_words(const std::string& digits, bool with_and);
std::string ordinal_words(const std::string& digits);

}  // namespace g2p
}  // namespace ev
