// ev::parse_json (runtime/runtime.h) over tvm-ffi's JSON parser (libtvm_ffi is linked anyway), behind a strict
// lexical check, converted into the plain value tree the rest of the library reads.
#include <optional>
#include <string>

#include <tvm/ffi/any.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/extra/json.h>
#include <tvm/ffi/string.h>

#include "core/errors.h"
#include "core/json.h"
#include "runtime/runtime.h"

namespace ev {
namespace {

namespace ffi = tvm::ffi;
namespace json = tvm::ffi::json;

constexpr int kMaxJsonDepth = 32;
const char* kFixHint = "rebuild the artifact with `edge-veda compile` for this library version";

[[noreturn]] void invalid(const std::string& where, const std::string& what) {
    throw Error(EV_ERR_MODEL_INVALID, where + ": " + what, kFixHint);
}

// ---- strict JSON ------------------------------------------------------------------------
// tvm-ffi's parser accepts a superset of JSON (Infinity, NaN, leading zeros, invalid UTF-8 in
// strings) and recurses once per nesting level (100000 '[' overflow the stack). This lexical
// pass rejects all of those before the text reaches it.

size_t utf8_sequence_length(const unsigned char* s, size_t left) {
    if (s[0] < 0x80) return 1;
    size_t len;
    uint32_t v;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; v = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; v = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; v = s[0] & 0x07; }
    else return 0;
    if (len > left) return 0;
    for (size_t i = 1; i < len; ++i) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return len;
}

void check_strict_json(const std::string& text, const std::string& where) {
    const unsigned char* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    int depth = 0;
    auto fail = [&](size_t at, const std::string& what) {
        invalid(where, "invalid JSON at byte " + std::to_string(at) + ": " + what);
    };
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        if (c == '"') {
            for (++i;; ) {
                if (i >= n) fail(n, "unterminated string");
                if (s[i] == '"') { ++i; break; }
                if (s[i] == '\\') { i += 2; continue; }  // the escape itself is checked by the parser
                const size_t len = utf8_sequence_length(s + i, n - i);
                if (len == 0) fail(i, "invalid UTF-8");
                i += len;
            }
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxJsonDepth) fail(i, "nested deeper than " + std::to_string(kMaxJsonDepth));
            ++i;
        } else if (c == ']' || c == '}') {
            --depth;
            ++i;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i + (c == '-' ? 1 : 0);
            if (j >= n || s[j] < '0' || s[j] > '9') fail(i, "a number needs digits (no Infinity/NaN)");
            if (s[j] == '0' && j + 1 < n && s[j + 1] >= '0' && s[j + 1] <= '9') fail(i, "leading zero");
            while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                             s[j] == '+' || s[j] == '-'))
                ++j;
            i = j;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t j = i;
            while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) ++j;
            const std::string word = text.substr(i, j - i);
            if (word != "true" && word != "false" && word != "null")
                fail(i, "'" + word.substr(0, 16) + "' is not a JSON value");
            i = j;
        } else if (c < 0x80) {
            ++i;  // whitespace and punctuation: the parser checks the grammar
        } else {
            fail(i, "byte outside a string");
        }
    }
}

Json convert(const ffi::Any& v, const std::string& where) {
    switch (v.type_index()) {
        case ffi::TypeIndex::kTVMFFINone: return Json::make(Json::Type::Null);
        case ffi::TypeIndex::kTVMFFIBool: {
            Json j = Json::make(Json::Type::Bool);
            j.bool_ = v.cast<bool>();
            return j;
        }
        case ffi::TypeIndex::kTVMFFIInt: {
            Json j = Json::make(Json::Type::Int);
            j.int_ = v.cast<int64_t>();
            return j;
        }
        case ffi::TypeIndex::kTVMFFIFloat: {
            Json j = Json::make(Json::Type::Float);
            j.float_ = v.cast<double>();
            return j;
        }
        case ffi::TypeIndex::kTVMFFIArray: {
            Json j = Json::make(Json::Type::Array);
            for (const ffi::Any& item : v.cast<json::Array>()) j.items_.push_back(convert(item, where));
            return j;
        }
        case ffi::TypeIndex::kTVMFFIMap: {
            Json j = Json::make(Json::Type::Object);
            for (const auto& kv : v.cast<json::Object>()) {
                std::optional<ffi::String> key = kv.first.as<ffi::String>();
                if (!key.has_value()) invalid(where, "an object key is not a string");
                std::string k(key->data(), key->size());
                j.members_.emplace_back(std::move(k), convert(kv.second, where));
            }
            return j;
        }
        default: {
            std::optional<ffi::String> s = v.as<ffi::String>();
            if (!s.has_value()) invalid(where, "unexpected JSON value");
            Json j = Json::make(Json::Type::String);
            j.str_.assign(s->data(), s->size());
            return j;
        }
    }
}

}  // namespace

Json parse_json(const std::string& text, const std::string& where, size_t max_bytes) {
    if (text.size() > max_bytes)
        invalid(where, "is " + std::to_string(text.size()) + " bytes, more than the " + std::to_string(max_bytes) +
                           " allowed");
    check_strict_json(text, where);
    ffi::String error;
    json::Value root;
    try {
        root = json::Parse(ffi::String(text), &error);
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        invalid(where, std::string("invalid JSON: ") + e.what());
    }
    if (!error.empty()) invalid(where, "invalid JSON: " + std::string(error.data(), error.size()));
    return convert(root, where);
}

}  // namespace ev
