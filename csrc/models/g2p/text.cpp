// English text front end: see text.h. Every step is a single left-to-right pass that mirrors
// one regular-expression substitution of g2p-en (or one rule of nltk's TweetTokenizer), so the
// whole pipeline is O(n) and never recurses or backtracks.
#include "models/g2p/text.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/utf8.h"
#include "models/g2p/english.h"

namespace ev {
namespace g2p {

namespace {

const char* const kUnits[10] = {"", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
const char* const kTeens[10] = {"ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
const char* const kTens[10] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
const char* const kDigitNames[10] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
// inflect's scale names; a nonzero group past the last one makes inflect raise.
const char* const kScales[12] = {"",            "thousand",   "million",     "billion",
                                 "trillion",    "quadrillion", "quintillion", "sextillion",
                                 "septillion",  "octillion",  "nonillion",   "decillion"};
constexpr size_t kMaxWordsDigits = 3 * 12;

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

// 1..99 as inflect's tenfn writes it: "seven", "twelve", "forty", "forty-two".
void append_tens(std::string& out, int tens, int units) {
    if (tens == 1) {
        out += kTeens[units];
        return;
    }
    out += kTens[tens];
    if (tens != 0 && units != 0) out += '-';
    out += kUnits[units];
}

// `digits` without its leading zeros ("" for zero).
std::string significant(const std::string& digits) {
    size_t b = 0;
    while (b < digits.size() && digits[b] == '0') ++b;
    return digits.substr(b);
}

void append_digit_by_digit(std::string& out, const std::string& sig) {
    for (size_t i = 0; i < sig.size(); ++i) {
        if (i) out += ' ';
        out += kDigitNames[sig[i] - '0'];
    }
}

// inflect's number_to_words(n, andword=...) for an integer given by its significant digits:
// nonzero three-digit groups joined by ", ", each "H hundred [and] TU SCALE"; when the last
// group is the units group and below one hundred, it follows the previous one after the
// andword instead of a comma ("one million and one"; "one million one" without andword).
std::string cardinal_sig(const std::string& sig, bool with_and) {
    if (sig.empty()) return "zero";
    if (sig.size() > kMaxWordsDigits) {  // inflect: NumOutOfRangeError
        std::string out;
        append_digit_by_digit(out, sig);
        return out;
    }
    std::string out;
    const size_t n = sig.size();
    const size_t groups = (n + 2) / 3;
    size_t pos = 0;
    size_t head = n - (groups - 1) * 3;  // digits in the most significant group
    bool any = false;
    for (size_t g = groups; g-- > 0;) {
        const size_t len = (g == groups - 1) ? head : 3;
        int d[3] = {0, 0, 0};
        for (size_t k = 0; k < len; ++k) d[3 - len + k] = sig[pos + k] - '0';
        pos += len;
        const int h = d[0], t = d[1], u = d[2];
        if (h == 0 && t == 0 && u == 0) continue;
        if (any) {
            if (g == 0 && h == 0)
                out += with_and ? " and " : " ";
            else
                out += ", ";
        }
        any = true;
        if (h != 0) {
            out += kUnits[h];
            out += " hundred";
            if (t != 0 || u != 0) {
                out += with_and ? " and " : " ";
                append_tens(out, t, u);
            }
        } else {
            append_tens(out, t, u);
        }
        if (g != 0) {
            out += ' ';
            out += kScales[g];
        }
    }
    return out;
}

// inflect's _sub_ord: the last word's ordinal form.
void make_ordinal(std::string& words) {
    struct Suffix {
        const char* cardinal;
        const char* ordinal;
    };
    static const Suffix kSuffixes[] = {{"ty", "tieth"},   {"one", "first"},  {"two", "second"},
                                       {"three", "third"}, {"five", "fifth"}, {"eight", "eighth"},
                                       {"nine", "ninth"}, {"twelve", "twelfth"}};
    for (const Suffix& s : kSuffixes) {
        const size_t len = std::char_traits<char>::length(s.cardinal);
        if (words.size() >= len && words.compare(words.size() - len, len, s.cardinal) == 0) {
            words.replace(words.size() - len, len, s.ordinal);
            return;
        }
    }
    words += "th";
}

// g2p-en's _expand_number: years 1001-2999 read in pairs, the rest as plain cardinals.
std::string expand_number(const std::string& digits) {
    const std::string sig = significant(digits);
    if (sig.size() == 4) {
        const int v = (sig[0] - '0') * 1000 + (sig[1] - '0') * 100 + (sig[2] - '0') * 10 + (sig[3] - '0');
        if (v > 1000 && v < 3000) {
            if (v == 2000) return "two thousand";
            std::string out;
            if (v > 2000 && v < 2010) {
                out = "two thousand ";
                out += kUnits[v % 10];
                return out;
            }
            append_tens(out, v / 1000, (v / 100) % 10);
            if (v % 100 == 0) {
                out += " hundred";
                return out;
            }
            out += ' ';
            const int low = v % 100;
            if (low < 10) {
                out += "oh ";
                out += kUnits[low];
            } else {
                append_tens(out, low / 10, low % 10);
            }
            return out;
        }
    }
    return cardinal_sig(sig, false);
}

// A digit string without commas, as Python's str(int(s)) writes it ("0" for "" or zeros).
std::string int_text(const std::string& s) {
    std::string digits;
    for (char c : s)
        if (is_digit(c)) digits += c;
    std::string sig = significant(digits);
    return sig.empty() ? std::string("0") : sig;
}

// g2p-en's _expand_dollars on the amount after '$' (digits, '.' and ',', ending in a digit).
// g2p-en's int() raises on a comma it did not remove earlier ("$,5"); here commas are ignored.
std::string expand_dollars(const std::string& amount) {
    std::vector<std::string> parts(1);
    for (char c : amount) {
        if (c == '.')
            parts.emplace_back();
        else
            parts.back() += c;
    }
    if (parts.size() > 2) return amount + " dollars";
    const std::string dollars = int_text(parts[0]);
    const std::string cents = parts.size() > 1 ? int_text(parts[1]) : std::string("0");
    const bool have_dollars = dollars != "0", have_cents = cents != "0";
    std::string out;
    if (have_dollars) out += dollars + (dollars == "1" ? " dollar" : " dollars");
    if (have_dollars && have_cents) out += ", ";
    if (have_cents) out += cents + (cents == "1" ? " cent" : " cents");
    if (!have_dollars && !have_cents) out = "zero dollars";
    return out;
}

// Pass 1 (_comma_number_re): in each run of digits and commas, the commas between its first
// and last digit go.
// A pass's text and where each of its bytes was read from.
struct Mapped {
    std::string text;
    SourceSpans spans;
    void copy(const Mapped& from, size_t i, size_t j) {  // from's bytes [i, j) as they are
        text.append(from.text, i, j - i);
        spans.copy_from(from.spans, i, j);
    }
    void write(const std::string& words, const Mapped& from, size_t i, size_t j) {  // read from [i, j)
        text += words;
        spans.add_from(from.spans, i, j, words.size());
    }
};

Mapped remove_number_commas(const Mapped& in) {
    const std::string& s = in.text;
    Mapped out;
    out.text.reserve(s.size());
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        if (!is_digit(s[i]) && s[i] != ',') {
            size_t j = i + 1;
            while (j < n && !is_digit(s[j]) && s[j] != ',') ++j;
            out.copy(in, i, j);
            i = j;
            continue;
        }
        size_t j = i;
        size_t first = std::string::npos, last = std::string::npos;
        for (; j < n && (is_digit(s[j]) || s[j] == ','); ++j) {
            if (is_digit(s[j])) {
                if (first == std::string::npos) first = j;
                last = j;
            }
        }
        for (size_t k = i; k < j; ++k) {
            if (s[k] == ',' && first != std::string::npos && k > first && k < last) continue;
            out.copy(in, k, k + 1);
        }
        i = j;
    }
    return out;
}

// Passes 2 and 3 (_pounds_re, _dollars_re): `sign` followed by a run of digits and commas
// (and dots when `allow_dot`); the match ends at the run's last digit.
template <typename Expand>
Mapped expand_currency(const Mapped& in, const char* sign, size_t sign_len, bool allow_dot, Expand expand) {
    const std::string& s = in.text;
    Mapped out;
    out.text.reserve(s.size() + 16);
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const size_t hit = s.find(sign, i, sign_len);
        if (hit == std::string::npos) {
            out.copy(in, i, n);
            break;
        }
        out.copy(in, i, hit);
        i = hit;
        size_t j = i + sign_len;
        size_t last = std::string::npos;
        for (; j < n && (is_digit(s[j]) || s[j] == ',' || (allow_dot && s[j] == '.')); ++j)
            if (is_digit(s[j])) last = j;
        if (last == std::string::npos) {
            out.copy(in, i, i + sign_len);
            i += sign_len;
            continue;
        }
        out.write(expand(s.substr(i + sign_len, last + 1 - (i + sign_len))), in, i, last + 1);
        i = last + 1;
    }
    return out;
}

// Pass 4 (_decimal_number_re): "12.34" -> "12 point 34".
Mapped expand_decimal_points(const Mapped& in) {
    const std::string& s = in.text;
    Mapped out;
    out.text.reserve(s.size() + 16);
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        if (!is_digit(s[i])) {
            size_t j = i + 1;
            while (j < n && !is_digit(s[j])) ++j;
            out.copy(in, i, j);
            i = j;
            continue;
        }
        size_t j = i;
        while (j < n && is_digit(s[j])) ++j;
        if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])) {
            size_t k = j + 1;
            while (k < n && is_digit(s[k])) ++k;
            out.copy(in, i, j);
            out.write(" point ", in, j, j + 1);
            out.copy(in, j + 1, k);
            i = k;
        } else {
            out.copy(in, i, j);
            i = j;
        }
    }
    return out;
}

// Passes 5 and 6 (_ordinal_re, _number_re): each digit run, as an ordinal when "st", "nd",
// "rd" or "th" follows it directly, otherwise through _expand_number.
Mapped expand_digit_runs(const Mapped& in) {
    const std::string& s = in.text;
    Mapped out;
    out.text.reserve(s.size() * 2);
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        if (!is_digit(s[i])) {
            size_t j = i + 1;
            while (j < n && !is_digit(s[j])) ++j;
            out.copy(in, i, j);
            i = j;
            continue;
        }
        size_t j = i;
        while (j < n && is_digit(s[j])) ++j;
        const std::string digits = s.substr(i, j - i);
        if (j + 1 < n && (s.compare(j, 2, "st") == 0 || s.compare(j, 2, "nd") == 0 ||
                          s.compare(j, 2, "rd") == 0 || s.compare(j, 2, "th") == 0)) {
            out.write(ordinal_words(digits), in, i, j + 2);
            i = j + 2;
        } else {
            out.write(expand_number(digits), in, i, j);
            i = j;
        }
    }
    return out;
}

// ---- UTF-8 and the per-character filter ----------------------------------------------------

// Decodes one code point at s[i] (core/utf8.h); returns its length, or 0 for an invalid sequence.
size_t utf8_decode(const std::string& s, size_t i, uint32_t* cp) {
    return ev::utf8_decode(reinterpret_cast<const unsigned char*>(s.data()) + i, s.size() - i, cp);
}

void validate_utf8(const std::string& s) {
    uint32_t cp;
    for (size_t i = 0; i < s.size();) {
        const size_t len = utf8_decode(s, i, &cp);
        if (len == 0)
            throw Error(EV_ERR_INVALID_ARGUMENT, "text is not valid UTF-8 at byte " + std::to_string(i),
                        "pass UTF-8 text");
        i += len;
    }
}

// Letters that survive g2p-en's "NFD, drop category Mn, lower(), keep [a-z]" for code points
// U+00C0-U+024F (Latin-1 Supplement letters, Latin Extended-A and -B) and U+1E00-U+1EFF
// (Latin Extended Additional); '_' = dropped. With U+212A KELVIN SIGN -> k and U+212B ANGSTROM
// SIGN -> a these are all 490 code points where that pipeline yields anything (Unicode 14, as
// Python 3.11 checks it; canonical decompositions are frozen by Unicode's stability policy).
const char kLatin[] =  // U+00C0..U+024F
    "aaaaaa_ceeeeiiii_nooooo__uuuuy__aaaaaa_ceeeeiiii_nooooo__uuuuy_y"
    "aaaaaaccccccccdd__eeeeeeeeeegggggggghh__iiiiiiiii___jjkk_llllll_"
    "___nnnnnn___oooooo__rrrrrrsssssssstttt__uuuuuuuuuuuuwwyyyzzzzzz_"
    "________________________________oo_____________uu_______________"
    "_____________aaiioouuuuuuuuuu_aaaa____ggkkoooo__j___gg__nnaa____"
    "aaaaeeeeiiiioooorrrruuuusstt__hh______aaeeooooooooyy____________"
    "________________";
const char kLatinAdditional[] =  // U+1E00..U+1EFF
    "aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmm"
    "mmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvv"
    "wwwwwwwwwwxxxxyyzzzzzzhtwy______aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeee"
    "eeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy______";
static_assert(sizeof(kLatin) - 1 == 0x250 - 0xC0, "kLatin covers U+00C0..U+024F");
static_assert(sizeof(kLatinAdditional) - 1 == 0x100, "kLatinAdditional covers U+1E00..U+1EFF");

bool is_unicode_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

// The character kept for code point `cp`, or 0 when it is dropped.
char filter_char(uint32_t cp) {
    if (cp < 0x80) {
        const char c = static_cast<char>(cp);
        if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
        if (is_lower(c) || c == '\'' || c == '.' || c == ',' || c == '?' || c == '!' || c == '-' || c == ' ')
            return c;
        return is_unicode_space(cp) ? ' ' : 0;
    }
    char c = 0;
    if (cp >= 0xC0 && cp < 0x250) c = kLatin[cp - 0xC0];
    else if (cp >= 0x1E00 && cp < 0x1F00) c = kLatinAdditional[cp - 0x1E00];
    else if (cp == 0x212A) c = 'k';
    else if (cp == 0x212B) c = 'a';
    else if (is_unicode_space(cp)) c = ' ';
    return c == '_' ? 0 : c;
}

// Filtered text with, per byte, 1 where the source had an ASCII capital (TextToken::cased).
struct Marked {
    std::string text, upper;
    SourceSpans spans;
};

void replace_all(Marked& m, const char* from, const char* to) {
    const std::string& s = m.text;
    const size_t from_len = std::char_traits<char>::length(from);
    if (s.find(from, 0, from_len) == std::string::npos) return;
    const size_t to_len = std::char_traits<char>::length(to);
    Marked out;
    out.text.reserve(s.size());
    out.upper.reserve(s.size());
    size_t i = 0;
    for (;;) {
        const size_t hit = s.find(from, i, from_len);
        if (hit == std::string::npos) break;
        out.text.append(s, i, hit - i);
        out.upper.append(m.upper, i, hit - i);
        out.spans.copy_from(m.spans, i, hit);
        out.text += to;
        out.upper.append(to_len, '\0');
        out.spans.add_from(m.spans, hit, hit + from_len, to_len);
        i = hit + from_len;
    }
    out.text.append(s, i, std::string::npos);
    out.upper.append(m.upper, i, std::string::npos);
    out.spans.copy_from(m.spans, i, s.size());
    m = std::move(out);
}

// TweetTokenizer's HANG_RE: a run of four or more of the same non-letter shrinks to three.
void shorten_runs(Marked& m) {
    const std::string& s = m.text;
    Marked out;
    out.text.reserve(s.size());
    out.upper.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        size_t j = i + 1;
        while (j < s.size() && s[j] == s[i]) ++j;
        const size_t keep = (!is_lower(s[i]) && j - i > 3) ? 3 : j - i;
        out.text.append(keep, s[i]);
        out.upper.append(m.upper, i, keep);  // letters keep their flags; other runs have none
        out.spans.copy_from(m.spans, i, i + keep);
        i = j;
    }
    m = std::move(out);
}

// End of the letter run starting at i.
inline size_t letters_end(const std::string& s, size_t i) {
    while (i < s.size() && is_lower(s[i])) ++i;
    return i;
}

// TweetTokenizer's naked-domain URL rule at a letter run starting at i: labels joined by '.'
// or '-' (at most 126 joins) followed by '.' and a 2-13 letter label. Returns the end of the
// longest such match, or 0.
size_t url_end(const std::string& s, size_t i) {
    size_t pos = letters_end(s, i);
    size_t best = 0;
    for (int pairs = 0; pairs < 127; ++pairs) {
        if (pos + 1 >= s.size() || (s[pos] != '.' && s[pos] != '-') || !is_lower(s[pos + 1])) break;
        const char sep = s[pos];
        const size_t end = letters_end(s, pos + 1);
        const size_t len = end - (pos + 1);
        if (sep == '.' && len >= 2 && len <= 13) best = end;
        pos = end;
    }
    return best;
}

// TweetTokenizer on text made only of a-z, space, apostrophe and . , ? ! - (and the English
// reader's kLetterNameMark before a letter: the word "<letter>.").
void tokenize_filtered(const Marked& m, std::vector<TextToken>& tokens) {
    const std::string& s = m.text;
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const char c = s[i];
        if (c == ' ') {
            ++i;
            continue;
        }
        if (c == kLetterNameMark) {
            if (i + 1 < n && is_lower(s[i + 1])) {
                TextToken tok;
                tok.text = {s[i + 1], '.'};
                tok.is_punctuation = false;
                tok.cased = tok.text;
                tok.source_begin = m.spans.begin[i + 1];
                tok.source_end = m.spans.end[i + 1];
                tokens.push_back(std::move(tok));
                ++i;
            }
            ++i;
            continue;
        }
        size_t end;
        if (is_lower(c)) {
            end = url_end(s, i);
            if (end == 0) {
                // Words with apostrophes or dashes, else plain words: up to the last letter of
                // the run of letters, apostrophes and dashes.
                size_t j = i, last = i;
                for (; j < n && (is_lower(s[j]) || s[j] == '\'' || s[j] == '-'); ++j)
                    if (is_lower(s[j])) last = j;
                end = last + 1;
            }
        } else if (c == '.') {
            // Ellipsis: dots separated by nothing or by spaces.
            end = i + 1;
            size_t k = i + 1;
            for (;;) {
                while (k < n && s[k] == ' ') ++k;
                if (k < n && s[k] == '.') {
                    end = ++k;
                } else {
                    break;
                }
            }
        } else {
            end = i + 1;
        }
        TextToken tok;
        tok.text.assign(s, i, end - i);
        tok.is_punctuation = !is_lower(c);
        tok.cased = tok.text;
        for (size_t k = i; k < end; ++k)
            if (m.upper[k]) tok.cased[k - i] = static_cast<char>(s[k] - 'a' + 'A');
        tok.source_begin = m.spans.begin[i];
        tok.source_end = m.spans.end[end - 1];
        tokens.push_back(std::move(tok));
        i = end;
    }
}

}  // namespace

std::string cardinal_words(const std::string& digits, bool with_and) {
    return cardinal_sig(significant(digits), with_and);
}

std::string ordinal_words(const std::string& digits) {
    std::string words = cardinal_sig(significant(digits), true);
    make_ordinal(words);
    return words;
}

namespace {

Mapped normalize_numbers_mapped(Mapped in) {
    bool any_digit = false;  // every rule needs a digit
    for (char c : in.text) any_digit |= is_digit(c);
    if (!any_digit) return in;
    Mapped s = remove_number_commas(in);
    s = expand_currency(s, "\xC2\xA3", 2, false, [](const std::string& amount) { return amount + " pounds"; });
    s = expand_currency(s, "$", 1, true, expand_dollars);
    s = expand_decimal_points(s);
    return expand_digit_runs(s);
}

}  // namespace

std::string normalize_numbers(const std::string& utf8) {
    return normalize_numbers_mapped(Mapped{utf8, SourceSpans::identity(utf8.size())}).text;
}

std::vector<TextToken> tokenize_text(const std::string& utf8, TextMode mode) {
    validate_utf8(utf8);
    const bool english = mode == TextMode::kEnglish;
    Mapped read;
    if (english) {
        read.text = read_english(utf8, SourceSpans::identity(utf8.size()), &read.spans);
    } else {
        read = Mapped{utf8, SourceSpans::identity(utf8.size())};
    }
    const Mapped mapped = normalize_numbers_mapped(std::move(read));
    const std::string& numbers = mapped.text;
    Marked kept;
    kept.text.reserve(numbers.size());
    kept.upper.reserve(numbers.size());
    uint32_t cp = 0;
    for (size_t i = 0; i < numbers.size();) {
        const unsigned char b = static_cast<unsigned char>(numbers[i]);
        if (b < 0x80) {
            ++i;
            // The reader's marks (it drops any the input had); g2p-en drops control characters.
            if (english && b == static_cast<unsigned char>(kLetterNameMark)) {
                kept.text += kLetterNameMark;
                kept.upper += '\0';
                kept.spans.copy_from(mapped.spans, i - 1, i);
            } else if (const char c = filter_char(b)) {
                kept.text += c;
                kept.upper += static_cast<char>(b >= 'A' && b <= 'Z');
                kept.spans.copy_from(mapped.spans, i - 1, i);
            }
            continue;
        }
        size_t len = utf8_decode(numbers, i, &cp);
        if (len == 0) {  // cannot happen: the reader and normalize_numbers keep valid UTF-8 valid
            ++i;
            continue;
        }
        i += len;
        if (const char c = filter_char(cp)) {
            kept.text += c;
            kept.upper += '\0';
            kept.spans.add_from(mapped.spans, i - len, i, 1);
        }
    }
    replace_all(kept, "i.e.", "that is");
    replace_all(kept, "e.g.", "for example");
    shorten_runs(kept);
    std::vector<TextToken> tokens;
    tokenize_filtered(kept, tokens);
    return tokens;
}

}  // namespace g2p
}  // namespace ev
