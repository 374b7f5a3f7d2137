// JSON for manifests: a plain value tree, and typed, bounded reading that names the field in
// errors. The parser is the runtime layer's (runtime/json.cpp: tvm-ffi's, behind a strict
// lexical check); core receives it as a JsonParser, since core cannot include TVM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ev {

class Json {
public:
    enum class Type { Null, Bool, Int, Float, String, Array, Object };

    Type type() const { return type_; }
    bool is(Type t) const { return type_ == t; }
    bool boolean() const { return bool_; }
    int64_t integer() const { return int_; }
    double number() const { return float_; }
    const std::string& str() const { return str_; }
    const std::vector<Json>& items() const { return items_; }
    const std::vector<std::pair<std::string, Json>>& members() const { return members_; }
    const Json* find(const std::string& key) const;
    static const char* type_name(Type t);

    // Building (the parser).
    static Json make(Type t) {
        Json j;
        j.type_ = t;
        return j;
    }
    bool bool_ = false;
    int64_t int_ = 0;
    double float_ = 0;
    std::string str_;
    std::vector<Json> items_;
    std::vector<std::pair<std::string, Json>> members_;

private:
    Type type_ = Type::Null;
};

// Parses strict JSON text of at most `max_bytes` into a tree; throws ev::Error
// (EV_ERR_MODEL_INVALID) naming `where`. The runtime's parse_json is one.
using JsonParser = Json (*)(const std::string& text, const std::string& where, size_t max_bytes);

// Typed access to one JSON object: every value checked for type and bounds; errors say
// "<where>: field '<path>' ..." with a rebuild hint (EV_ERR_MODEL_INVALID).
class Fields {
public:
    Fields(const Json& object, std::string where, std::string path = "");

    bool has(const char* key) const { return obj_.find(key) != nullptr; }
    int64_t integer(const char* key, int64_t lo, int64_t hi) const;
    int64_t integer(const char* key, int64_t lo, int64_t hi, int64_t fallback) const;
    std::string string(const char* key, size_t max_bytes) const;
    std::string string(const char* key, size_t max_bytes, const std::string& fallback) const;
    bool boolean(const char* key, bool fallback) const;
    Fields object(const char* key) const;
    std::optional<Fields> optional_object(const char* key) const;
    const Json& array(const char* key, size_t max_items) const;
    std::vector<std::string> strings(const char* key, size_t max_items, size_t max_bytes) const;
    std::vector<int64_t> integers(const char* key, size_t max_items, int64_t lo, int64_t hi) const;

    const Json& json() const { return obj_; }
    const std::string& where() const { return where_; }
    std::string field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
    [[noreturn]] void fail(const std::string& key, const std::string& what) const;

private:
    const Json& require(const char* key, Json::Type type, const char* want) const;

    const Json& obj_;
    std::string where_;
    std::string path_;
};

}  // namespace ev
