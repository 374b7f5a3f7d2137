// The English reader: see english.h. Each rule is a function `size_t rule(s, i, out)` tried at
// position i: it returns the end of what it read (and has appended its words to out), or 0 (and
// appended nothing). Lookaround is capped at kLook bytes, so the whole pass is O(n).
#include "models/g2p/english.h"

#include <cstddef>
#include <cstring>
#include <string>

#include "models/g2p/text.h"

namespace ev {
namespace g2p {

namespace {

constexpr size_t kLook = 64;  // the most bytes a rule looks back or ahead over spaces or a word

const char* const kDigitNames[10] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
inline bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
inline bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
inline char lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
inline bool is_vowel(char c) {
    c = lower(c);
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

inline bool at(const std::string& s, size_t i, const char* text) {
    const size_t len = std::strlen(text);
    return i <= s.size() && s.compare(i, len, text) == 0;
}

// One space character at s[i] (ASCII space or tab, U+00A0, U+2009, U+202F): its length, else 0.
size_t space_at(const std::string& s, size_t i) {
    if (i >= s.size()) return 0;
    if (s[i] == ' ' || s[i] == '\t') return 1;
    if (at(s, i, "\xC2\xA0")) return 2;
    if (at(s, i, "\xE2\x80\x89") || at(s, i, "\xE2\x80\xAF")) return 3;
    return 0;
}
inline size_t skip_one_space(const std::string& s, size_t i) { return i + space_at(s, i); }

// Spaces (and line breaks) from i, at most kLook bytes: where they end.
size_t skip_spaces(const std::string& s, size_t i) {
    const size_t start = i;
    while (i < s.size() && i - start < kLook) {
        size_t k = space_at(s, i);
        if (k == 0 && (s[i] == '\n' || s[i] == '\r')) k = 1;
        if (k == 0) break;
        i += k;
    }
    return i;
}

// Nothing alphanumeric at j: a word or number that ended at j ends there.
inline bool word_end(const std::string& s, size_t j) { return j >= s.size() || !is_alnum(s[j]); }

// Where a number may start: not inside a word and not continuing another number ("v1",
// "1.2.3", "2020-555-1234": only whole numbers are read).
bool number_start(const std::string& s, size_t i) {
    if (i == 0) return true;
    const char p = s[i - 1];
    if (is_alnum(p)) return false;
    return !((p == '.' || p == ',' || p == ':' || p == '-' || p == '+') && i >= 2 && is_digit(s[i - 2]));
}

// After a dot the reader consumed (an abbreviation's, "a.m."'s), does a sentence end there?
// When only spaces follow up to the end of the text, or spaces and a capital letter.
bool sentence_ends(const std::string& s, size_t j) {
    j = skip_spaces(s, j);
    return j >= s.size() || is_upper(s[j]);
}

std::string without_leading_zeros(const std::string& digits) {
    size_t b = 0;
    while (b < digits.size() && digits[b] == '0') ++b;
    return digits.substr(b);
}

// A cardinal as a person says it: inflect's words (text.h) without the commas between groups
// ("one thousand two hundred thirty-four"); "zero" for zeros.
std::string cardinal(const std::string& digits) {
    const std::string words = cardinal_words(digits, false);
    std::string out;
    out.reserve(words.size());
    for (char c : words)
        if (c != ',') out += c;
    return out;
}

void append_digit_names(std::string& out, const std::string& s, size_t begin, size_t end) {
    for (size_t k = begin; k < end; ++k) {
        if (k > begin) out += ' ';
        out += kDigitNames[s[k] - '0'];
    }
}

// The words of a letter said by its name, for the tokenizer (english.h, kLetterNameMark).
void append_letter_name(std::string& out, char letter) {
    out += ' ';
    out += kLetterNameMark;
    out += lower(letter);
}

// ---- numbers -----------------------------------------------------------------------------

struct Amount {
    size_t end = 0;         // 0: no amount here
    std::string digits;     // the integer part, separators removed
    std::string fraction;   // the digits after the point
    bool grouped = false;   // written with thousands separators ("1,234")
    bool has_point = false;
};

// A number at i: digits, or 1-3 digits then ",ddd" groups; then optionally "." and digits. Not a
// number when a comma or another point and digit follow ("1,2,3", "1234,5", "1.2.3").
Amount parse_amount(const std::string& s, size_t i) {
    Amount a;
    const size_t n = s.size();
    size_t j = i;
    while (j < n && is_digit(s[j])) ++j;
    if (j == i) return a;
    a.digits.assign(s, i, j - i);
    if (j - i <= 3) {
        while (j + 3 < n && s[j] == ',' && is_digit(s[j + 1]) && is_digit(s[j + 2]) && is_digit(s[j + 3]) &&
               (j + 4 >= n || !is_digit(s[j + 4]))) {
            a.digits.append(s, j + 1, 3);
            a.grouped = true;
            j += 4;
        }
    }
    if (j + 1 < n && s[j] == ',' && is_digit(s[j + 1])) return Amount();
    if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])) {
        size_t k = j + 1;
        while (k < n && is_digit(s[k])) ++k;
        if (k + 1 < n && (s[k] == '.' || s[k] == ',') && is_digit(s[k + 1])) return Amount();
        a.fraction.assign(s, j + 1, k - j - 1);
        a.has_point = true;
        j = k;
    }
    a.end = j;
    return a;
}

// "three point one four": the integer part as a cardinal, the fraction digit by digit.
std::string amount_words(const Amount& a) {
    std::string out = cardinal(a.digits);
    if (a.has_point) {
        out += " point ";
        append_digit_names(out, a.fraction, 0, a.fraction.size());
    }
    return out;
}

bool is_one(const Amount& a) { return !a.has_point && without_leading_zeros(a.digits) == "1"; }

int small_value(const std::string& s, size_t begin, size_t end) {  // at most 3 digits
    int v = 0;
    for (size_t k = begin; k < end; ++k) v = v * 10 + (s[k] - '0');
    return v;
}

// "am", "pm", "a.m.", "p.m", in any case, after at most one space, ending a word: its end; *letter
// 'a' or 'p'; *dot: the final dot was taken (then the caller decides whether it ends a sentence).
size_t read_ampm(const std::string& s, size_t i, char* letter, bool* dot) {
    const size_t n = s.size();
    size_t j = skip_one_space(s, i);
    if (j >= n) return 0;
    const char c = lower(s[j]);
    if (c != 'a' && c != 'p') return 0;
    ++j;
    const bool dotted = j < n && s[j] == '.';
    if (dotted) ++j;
    if (j >= n || lower(s[j]) != 'm') return 0;
    ++j;
    bool final_dot = false;
    if (dotted && j < n && s[j] == '.') {
        ++j;
        final_dot = true;
    }
    if (!final_dot && !word_end(s, j)) return 0;
    if (final_dot && j < s.size() && is_alnum(s[j])) return 0;
    *letter = c;
    *dot = final_dot;
    return j;
}

void append_ampm(std::string& out, const std::string& s, char letter, bool dot, size_t end) {
    append_letter_name(out, letter);
    append_letter_name(out, 'm');
    if (dot && sentence_ends(s, end)) out += '.';
}

// Phone numbers, digit by digit, groups separated by commas: "555-1234", "555-123-4567",
// "555.123.4567", "1-800-555-1234", "(555) 123-4567", and "+" numbers of 8 to 15 digits in
// groups separated by spaces, dashes or dots ("+1 555 123 4567", "+44 20 7946 0958").
size_t read_phone(const std::string& s, size_t i, std::string& out) {
    const size_t n = s.size();
    size_t j = i;
    const bool plus = s[j] == '+';
    if (plus) ++j;
    struct Group {
        size_t at, len;
    };
    Group groups[6];
    char seps[6] = {0, 0, 0, 0, 0, 0};  // after each group: ' ', '-', '.', ')' (a closing paren, no space)
    size_t count = 0;
    int paren_at = -1;
    for (;;) {
        if (count == 6) return 0;
        bool paren = false;
        if (j < n && s[j] == '(') {
            if (paren_at >= 0) return 0;
            paren = true;
            ++j;
        }
        const size_t begin = j;
        while (j < n && is_digit(s[j]) && j - begin < 16) ++j;
        if (j == begin) return 0;
        if (paren) {
            if (j >= n || s[j] != ')') return 0;
            paren_at = static_cast<int>(count);
        }
        groups[count++] = {begin, j - begin};
        if (paren) ++j;
        size_t k = j;
        char sep = 0;
        if (k < n && (s[k] == ' ' || (!paren && (s[k] == '-' || s[k] == '.')))) {
            sep = s[k];
            ++k;
        } else if (paren) {
            sep = ')';
        }
        if (sep != 0 && k < n && (is_digit(s[k]) || s[k] == '(')) {
            seps[count - 1] = sep;
            j = k;
            continue;
        }
        break;
    }
    if (!word_end(s, j)) return 0;
    if (j + 1 < n && (s[j] == '-' || s[j] == '.' || s[j] == ',') && is_digit(s[j + 1])) return 0;
    size_t total = 0;
    for (size_t g = 0; g < count; ++g) total += groups[g].len;
    auto shape = [&](std::initializer_list<size_t> lens) {
        if (lens.size() != count) return false;
        size_t g = 0;
        for (size_t len : lens)
            if (groups[g++].len != len) return false;
        return true;
    };
    bool ok = false;
    if (plus) {
        ok = total >= 8 && total <= 15;
        for (size_t g = 0; ok && g < count; ++g) ok = count == 1 || groups[g].len <= (g == 0 ? 3u : 4u);
    } else if (paren_at == 0) {
        ok = shape({3, 3, 4}) && (seps[0] == ')' || seps[0] == ' ') && (seps[1] == '-' || seps[1] == ' ' || seps[1] == '.');
    } else if (paren_at < 0) {
        ok = (shape({3, 4}) && seps[0] == '-') || (shape({3, 3, 4}) && seps[0] == seps[1] && seps[0] != ' ') ||
             (shape({1, 3, 3, 4}) && s[groups[0].at] == '1' && seps[0] == seps[1] && seps[1] == seps[2] &&
              seps[0] != ' ');
    }
    if (!ok) return 0;
    if (plus) out += "plus ";
    for (size_t g = 0; g < count; ++g) {
        if (g) out += ", ";
        append_digit_names(out, s, groups[g].at, groups[g].at + groups[g].len);
    }
    return j;
}

// Times: H:MM (hours up to 24, minutes up to 59), then optionally am/pm. "seven forty-five",
// "seven oh five", "seven o'clock" (1-12 on the hour), "thirteen hundred" (13-23 on the hour),
// "midnight" (0:00, 24:00), "seven p m" (on the hour with am/pm), "seven forty-five p m".
size_t read_time(const std::string& s, size_t i, std::string& out) {
    const size_t n = s.size();
    size_t j = i;
    while (j < n && is_digit(s[j]) && j - i < 3) ++j;
    if (j - i > 2 || j + 2 >= n || s[j] != ':' || !is_digit(s[j + 1]) || !is_digit(s[j + 2])) return 0;
    const size_t end = j + 3;
    if (end < n && is_digit(s[end])) return 0;
    if (end + 1 < n && (s[end] == ':' || s[end] == '.') && is_digit(s[end + 1])) return 0;  // 7:45:30, 1:23.45
    const int hour = small_value(s, i, j), minute = small_value(s, j + 1, end);
    if (hour > 24 || minute > 59) return 0;
    char letter = 0;
    bool dot = false;
    const size_t ampm_end = read_ampm(s, end, &letter, &dot);
    if (ampm_end == 0 && !word_end(s, end)) return 0;
    const std::string hour_digits = s.substr(i, j - i);
    if (minute == 0 && (hour == 0 || hour == 24) && ampm_end == 0) {
        out += "midnight";
        return end;
    }
    out += hour == 0 ? std::string("zero") : cardinal(hour_digits);
    if (minute == 0) {
        if (ampm_end == 0) out += hour >= 13 ? " hundred" : " o'clock";
    } else if (minute < 10) {
        out += " oh ";
        out += kDigitNames[minute];
    } else {
        out += ' ';
        out += cardinal(s.substr(j + 1, 2));
    }
    if (ampm_end == 0) return end;
    append_ampm(out, s, letter, dot, ampm_end);
    return ampm_end;
}

// Degrees after a number: "°C", "° F", "℃", "℉", "°" alone.
size_t read_degrees(const std::string& s, size_t j, const Amount& a, std::string& out) {
    const size_t n = s.size();
    size_t k = skip_one_space(s, j);
    const char* scale = "";
    if (at(s, k, "\xE2\x84\x83")) {
        scale = " celsius";
        k += 3;
    } else if (at(s, k, "\xE2\x84\x89")) {
        scale = " fahrenheit";
        k += 3;
    } else if (at(s, k, "\xC2\xB0") || at(s, k, "\xC2\xBA")) {  // degree sign, or the ordinal indicator used as one
        k += 2;
        const size_t m = skip_one_space(s, k);
        if (m < n && (s[m] == 'C' || s[m] == 'F' || s[m] == 'K') && word_end(s, m + 1)) {
            scale = s[m] == 'C' ? " celsius" : s[m] == 'F' ? " fahrenheit" : " kelvin";
            k = m + 1;
        }
    } else {
        return 0;
    }
    out += amount_words(a);
    out += is_one(a) ? " degree" : " degrees";
    out += scale;
    return k;
}

struct Unit {
    const char* symbol;  // case-sensitive
    const char* one;
    const char* many;
};
// Longer symbols first where one is a prefix of another (km/h before km).
const Unit kUnits[] = {
    {"km/h", "kilometer per hour", "kilometers per hour"},
    {"kph", "kilometer per hour", "kilometers per hour"},
    {"mph", "mile per hour", "miles per hour"},
    {"km", "kilometer", "kilometers"},
    {"cm", "centimeter", "centimeters"},
    {"mm", "millimeter", "millimeters"},
    {"kg", "kilogram", "kilograms"},
    {"mg", "milligram", "milligrams"},
    {"g", "gram", "grams"},
    {"lbs", "pound", "pounds"},
    {"lb", "pound", "pounds"},
    {"oz", "ounce", "ounces"},
    {"ft", "foot", "feet"},
    {"ml", "milliliter", "milliliters"},
    {"mL", "milliliter", "milliliters"},
    {"TB", "terabyte", "terabytes"},
    {"GB", "gigabyte", "gigabytes"},
    {"MB", "megabyte", "megabytes"},
    {"KB", "kilobyte", "kilobytes"},
    {"kB", "kilobyte", "kilobytes"},
    {"GHz", "gigahertz", "gigahertz"},
    {"MHz", "megahertz", "megahertz"},
    {"kHz", "kilohertz", "kilohertz"},
    {"Hz", "hertz", "hertz"},
    {"kWh", "kilowatt hour", "kilowatt hours"},
    {"kW", "kilowatt", "kilowatts"},
    {"ms", "millisecond", "milliseconds"},
    {"sec", "second", "seconds"},
    {"min", "minute", "minutes"},
    {"hrs", "hour", "hours"},
    {"hr", "hour", "hours"},
};

size_t read_unit(const std::string& s, size_t j, const Amount& a, std::string& out) {
    const size_t k = skip_one_space(s, j);
    for (const Unit& u : kUnits) {
        const size_t len = std::strlen(u.symbol);
        if (!at(s, k, u.symbol) || !word_end(s, k + len)) continue;
        out += amount_words(a);
        out += ' ';
        out += is_one(a) ? u.one : u.many;
        return k + len;
    }
    return 0;
}

bool ordinal_suffix_at(const std::string& s, size_t j) {
    return at(s, j, "st") || at(s, j, "nd") || at(s, j, "rd") || at(s, j, "th");
}

// A number at a number start: an hour with am/pm ("7pm"), a percentage, degrees, a unit; or a
// number with thousands separators or a decimal point on its own. Plain integers are left to
// normalize_numbers (years, g2p-en's cardinals).
size_t read_number(const std::string& s, size_t i, std::string& out) {
    const Amount a = parse_amount(s, i);
    if (a.end == 0) return 0;
    const size_t j = a.end;
    if (!a.grouped && !a.has_point && a.digits.size() <= 2) {
        const int hour = small_value(s, i, j);
        char letter = 0;
        bool dot = false;
        const size_t e = hour >= 1 && hour <= 12 ? read_ampm(s, j, &letter, &dot) : 0;
        if (e != 0) {
            out += cardinal(a.digits);
            append_ampm(out, s, letter, dot, e);
            return e;
        }
    }
    const size_t k = skip_one_space(s, j);
    if (k < s.size() && s[k] == '%') {
        out += amount_words(a);
        out += " percent";
        return k + 1;
    }
    if (size_t e = read_degrees(s, j, a, out)) return e;
    if (size_t e = read_unit(s, j, a, out)) return e;
    if (!a.grouped && !a.has_point) return 0;
    if (ordinal_suffix_at(s, j)) return 0;  // "1,000th": normalize_numbers' ordinal
    out += amount_words(a);
    return j;
}

struct Currency {
    const char* sign;
    const char* one;
    const char* many;
    const char* sub_one;   // null: no subunit (amounts with a point are read "point ...")
    const char* sub_many;
};
const Currency kCurrencies[] = {
    {"$", "dollar", "dollars", "cent", "cents"},
    {"\xC2\xA3", "pound", "pounds", "penny", "pence"},
    {"\xE2\x82\xAC", "euro", "euros", "cent", "cents"},
    {"\xC2\xA5", "yen", "yen", nullptr, nullptr},
};

// Money: a sign, an amount, optionally a scale ("million", "k", "M", "bn"): "three dollars, fifty
// cents" (two decimals: units and subunits, as g2p-en says dollars), "one dollar", "two pounds,
// seventy-five pence", "one point five million dollars".
size_t read_money(const std::string& s, size_t i, std::string& out) {
    if (i > 0 && is_alnum(s[i - 1])) return 0;
    const Currency* c = nullptr;
    for (const Currency& k : kCurrencies)
        if (at(s, i, k.sign)) c = &k;
    if (c == nullptr) return 0;
    const Amount a = parse_amount(s, i + std::strlen(c->sign));
    if (a.end == 0) return 0;
    size_t j = a.end;
    const char* scale = nullptr;
    struct Scale {
        const char* word;
        const char* says;
        bool after_space;
    };
    static const Scale kScales[] = {
        {"thousand", "thousand", true}, {"million", "million", true}, {"billion", "billion", true},
        {"trillion", "trillion", true}, {"k", "thousand", false},    {"K", "thousand", false},
        {"M", "million", false},        {"bn", "billion", false},    {"B", "billion", false},
    };
    for (const Scale& sc : kScales) {
        const size_t k = sc.after_space ? skip_one_space(s, j) : j;
        if ((sc.after_space && k == j) || !at(s, k, sc.word) || !word_end(s, k + std::strlen(sc.word))) continue;
        scale = sc.says;
        j = k + std::strlen(sc.word);
        break;
    }
    if (scale == nullptr && !word_end(s, j)) return 0;
    if (scale != nullptr) {
        out += amount_words(a);
        out += ' ';
        out += scale;
        out += ' ';
        out += c->many;
    } else if (a.has_point && a.fraction.size() == 2 && c->sub_one != nullptr) {
        const std::string units = without_leading_zeros(a.digits), subs = without_leading_zeros(a.fraction);
        if (!units.empty()) {
            out += cardinal(units);
            out += ' ';
            out += units == "1" ? c->one : c->many;
        }
        if (!units.empty() && !subs.empty()) out += ", ";
        if (!subs.empty()) {
            out += cardinal(subs);
            out += ' ';
            out += subs == "1" ? c->sub_one : c->sub_many;
        }
        if (units.empty() && subs.empty()) {
            out += "zero ";
            out += c->many;
        }
    } else {
        out += amount_words(a);
        out += ' ';
        out += is_one(a) ? c->one : c->many;
    }
    return j;
}

// ---- abbreviations -----------------------------------------------------------------------

struct PrevWord {
    bool exists = false;      // a word right before (only spaces between)
    bool number = false;      // "42", "5th"
    bool capitalized = false;
    bool initial = false;     // the first word of its sentence
};

PrevWord previous_word(const std::string& s, size_t i) {
    PrevWord p;
    size_t k = i;
    while (k > 0 && i - k < kLook && (s[k - 1] == ' ' || s[k - 1] == '\t')) --k;
    if (k == 0 || !is_alnum(s[k - 1])) return p;
    const size_t end = k;
    while (k > 0 && end - k < kLook && is_alnum(s[k - 1])) --k;
    p.exists = true;
    const char last = s[end - 1];
    p.number = is_digit(last) || (end - k >= 3 && is_digit(s[end - 3]) && ordinal_suffix_at(s, end - 2));
    p.capitalized = is_upper(s[k]);
    size_t b = k;
    while (b > 0 && k - b < kLook && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '"' || s[b - 1] == '\'' ||
                                      s[b - 1] == '(' || s[b - 1] == '\n' || s[b - 1] == '\r'))
        --b;
    p.initial = b == 0 || s[b - 1] == '.' || s[b - 1] == '!' || s[b - 1] == '?' || s[b - 1] == '\n';
    return p;
}

// "Dr" / "St" (with or without the dot) at i, the word ending at j: the title (doctor, saint)
// or the place (drive, street). The place after a number ("42 Elm St.", "5th St") or after a
// capitalized word that does not begin its sentence ("on Main St. He"), also after any
// capitalized word when no capitalized word follows ("Mulholland Dr."); the title before a
// capitalized word otherwise ("Dr. Smith", "In St. Louis"); with no context, Dr is doctor and
// St street. The dot goes, except after the place where a sentence may end.
size_t read_dr_st(const std::string& s, size_t i, size_t j, std::string& out) {
    const bool dr = s[i] == 'D';
    const bool dot = j < s.size() && s[j] == '.';
    const size_t after = dot ? j + 1 : j;
    const size_t k = skip_spaces(s, after);
    const bool next_capital = k < s.size() && is_upper(s[k]) && (k > after || dot);
    const PrevWord p = previous_word(s, i);
    bool place;
    if (p.number) place = true;
    else if (next_capital) place = p.capitalized && !p.initial;
    else place = p.capitalized || !dr;
    if (!place) {
        out += dr ? "doctor" : "saint";
        return after;
    }
    out += dr ? "drive" : "street";
    if (dot && sentence_ends(s, after)) out += '.';
    return after;
}

struct Abbreviation {
    const char* word;  // before the dot, as written
    const char* says;
    bool title;        // only before a capitalized word ("Prof. Smith")
};
const Abbreviation kAbbreviations[] = {
    {"Mr", "mr", true},                 {"Mrs", "mrs", true},              {"Ms", "ms", true},
    {"Prof", "professor", true},        {"Capt", "captain", true},         {"Sgt", "sergeant", true},
    {"Lt", "lieutenant", true},         {"Gen", "general", true},          {"Gov", "governor", true},
    {"approx", "approximately", false}, {"Approx", "approximately", false}, {"dept", "department", false},
    {"Dept", "department", false},
};

// Capitals with dots, two or more ("U.S.", "A.I.", "J.R.R."): each letter by its name; the last
// dot stays only at the end of the text or of a line ("the U.S. Army", "J.R.R. Tolkien" go on).
size_t read_dotted_letters(const std::string& s, size_t i, std::string& out) {
    const size_t n = s.size();
    size_t k = i;
    size_t count = 0;
    while (k + 1 < n && is_upper(s[k]) && s[k + 1] == '.' && count < 8) {
        k += 2;
        ++count;
    }
    if (count < 2 || (k < n && is_alnum(s[k]))) return 0;
    for (size_t l = i; l < k; l += 2) append_letter_name(out, s[l]);
    size_t e = k;
    while (e < n && e - k < kLook && (s[e] == ' ' || s[e] == '\t' || s[e] == '\r')) ++e;
    if (e >= n || s[e] == '\n') out += '.';
    return k;
}

size_t read_abbreviation(const std::string& s, size_t i, std::string& out) {
    if (size_t e = read_dotted_letters(s, i, out)) return e;
    const size_t n = s.size();
    size_t j = i;
    while (j < n && is_alpha(s[j]) && j - i < 8) ++j;
    if (j == i || (j < n && is_alnum(s[j]))) return 0;
    const std::string w = s.substr(i, j - i);
    if (w == "Dr" || w == "St") return read_dr_st(s, i, j, out);
    const bool dot = j < n && s[j] == '.';
    if (!dot) return 0;
    if (w == "No" || w == "no" || w == "NO") {
        const size_t k = skip_spaces(s, j + 1);
        if (k >= n || !is_digit(s[k])) return 0;
        out += "number ";
        return k;
    }
    for (const Abbreviation& a : kAbbreviations) {
        if (w != a.word) continue;
        const size_t k = skip_spaces(s, j + 1);
        if (a.title && !(k > j + 1 && k < n && is_upper(s[k]))) return 0;
        out += a.says;
        if (!a.title && sentence_ends(s, j + 1)) out += '.';
        return j + 1;
    }
    return 0;
}

// ---- pass 1: shouting --------------------------------------------------------------------

// The end of the sentence starting at i: after a run of . ! ? followed by whitespace or the
// end, or after a line break.
size_t sentence_end(const std::string& s, size_t i) {
    const size_t n = s.size();
    while (i < n) {
        const char c = s[i];
        if (c == '\n') return i + 1;
        if (c == '.' || c == '!' || c == '?') {
            while (i < n && (s[i] == '.' || s[i] == '!' || s[i] == '?')) ++i;
            if (i >= n || s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') return i;
            continue;
        }
        ++i;
    }
    return n;
}

std::string calm_shouting(const std::string& s, const SourceSpans& in, SourceSpans* spans) {
    std::string out;
    out.reserve(s.size());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const size_t e = sentence_end(s, i);
        bool has_lower = false;
        size_t words = 0;
        for (size_t k = i; k < e;) {
            if (!is_alpha(s[k])) {
                ++k;
                continue;
            }
            size_t r = k;
            while (r < e && is_alpha(s[r])) has_lower |= is_lower(s[r++]);
            words += r - k >= 2;
            k = r;
        }
        const bool shouted = !has_lower && words >= 3;
        for (size_t k = i; k < e;) {
            if (s[k] == kLetterNameMark) {
                ++k;
                continue;
            }
            if (!shouted || !is_alpha(s[k])) {
                spans->copy_from(in, k, k + 1);
                out += s[k++];
                continue;
            }
            size_t r = k;
            bool vowel = false;
            while (r < e && is_alpha(s[r])) vowel |= is_vowel(s[r++]);
            spans->copy_from(in, k, r);
            for (; k < r; ++k) out += vowel ? lower(s[k]) : s[k];
        }
        i = e;
    }
    return out;
}

}  // namespace

std::string read_english(const std::string& utf8) {
    SourceSpans spans;
    return read_english(utf8, SourceSpans::identity(utf8.size()), &spans);
}

std::string read_english(const std::string& utf8, const SourceSpans& source, SourceSpans* spans) {
    SourceSpans in;
    const std::string s = calm_shouting(utf8, source, &in);
    spans->begin.clear();
    spans->end.clear();
    std::string out;
    out.reserve(s.size() + s.size() / 4);
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const char c = s[i];
        const size_t before = out.size();
        // Words a rule writes are set off by a space from what precedes them, so that a
        // character the filter drops later (':' in "Price:$5") cannot glue them to a word.
        if (!out.empty() && out.back() != ' ') out += ' ';
        const size_t mark = out.size();
        size_t end = 0;
        if (is_digit(c) || c == '(' || c == '+') {
            const bool start = c == '(' || c == '+' ? (i == 0 || !is_alnum(s[i - 1])) : number_start(s, i);
            if (start) end = read_phone(s, i, out);
            if (end == 0 && start && is_digit(c)) end = read_time(s, i, out);
            if (end == 0 && start && is_digit(c)) end = read_number(s, i, out);
        } else if (c == '$' || c == '\xC2' || c == '\xE2') {
            end = read_money(s, i, out);
        } else if (is_alpha(c) && (i == 0 || !is_alnum(s[i - 1]))) {
            end = read_abbreviation(s, i, out);
        } else if (c == '#' && i + 1 < n && is_digit(s[i + 1]) && (i == 0 || !is_alnum(s[i - 1]))) {
            out += "number ";
            end = i + 1;
        } else if (c == '&' && i > 0 && i + 1 < n && (s[i - 1] == ' ' || s[i - 1] == '\t') &&
                   (s[i + 1] == ' ' || s[i + 1] == '\t')) {
            out += "and";
            end = i + 1;
        }
        if (end == 0 || out.size() == mark) {  // nothing read: the character as it is
            out.resize(before);
            out += c;
            spans->copy_from(in, i, i + 1);
            ++i;
            continue;
        }
        spans->add_from(in, i, end, out.size() - before);  // the words (and the space before)
        i = end;
    }
    return out;
}

bool read_as_letters(const std::string& cased, bool in_lexicon) {
    if (cased.size() < 2 || cased.size() > 5) return false;
    for (char c : cased)
        if (!is_upper(c)) return false;
    if (!in_lexicon) return true;
    static const char* const kSpelled[] = {"AI", "AM", "ID", "PM", "US"};
    for (const char* w : kSpelled)
        if (cased == w) return true;
    return false;
}

}  // namespace g2p
}  // namespace ev
