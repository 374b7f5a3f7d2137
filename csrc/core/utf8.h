// UTF-8 for prompts: validation, code point counting and iteration (no allocation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ev {

// Decodes one code point at s (at most `left` bytes); returns its length, or 0 for an invalid
// sequence (overlong forms, surrogates and values above U+10FFFF are invalid).
inline size_t utf8_decode(const unsigned char* s, size_t left, uint32_t* cp) {
    if (left == 0) return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t v;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; v = s[0] & 0x1Fu; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; v = s[0] & 0x0Fu; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; v = s[0] & 0x07u; }
    else return 0;
    if (len > left) return 0;
    for (size_t i = 1; i < len; ++i) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

// Calls f(code_point) for each code point of valid UTF-8 `text` (the core validated it).
template <typename F>
void for_each_code_point(const std::string& text, F&& f) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(text.data());
    size_t left = text.size();
    while (left) {
        uint32_t cp = 0;
        size_t len = utf8_decode(p, left, &cp);
        if (len == 0) len = 1, cp = 0xFFFD;
        f(cp);
        p += len;
        left -= len;
    }
}

}  // namespace ev
