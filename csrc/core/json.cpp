#include "core/json.h"

#include "core/errors.h"

namespace ev {
namespace {

}  // namespace

const Json* Json::find(const std::string& key) const {
    for (const auto& m : members_)
        if (m.first == key) return &m.second;
    return nullptr;
}

const char* Json::type_name(Type t) {
    switch (t) {
        case Type::Null: return "null";
        case Type::Bool: return "a boolean";
        case Type::Int: return "an integer";
        case Type::Float: return "a number with a fraction or exponent";
        case Type::String: return "a string";
        case Type::Array: return "an array";
        case Type::Object: return "an object";
    }
    return "a value";
}

Fields::Fields(const Json& object, std::string where, std::string path)
    : obj_(object), where_(std::move(where)), path_(std::move(path)) {
    if (!obj_.is(Json::Type::Object))
        throw Error(EV_ERR_MODEL_INVALID,
                    where_ + ": " + (path_.empty() ? std::string("the top level is not an object")
                                      : "field '" + path_ + "' must be an object, not " +
                                            Json::type_name(obj_.type())),
                    kRebuildHint);
}

void Fields::fail(const std::string& key, const std::string& what) const {
    throw Error(EV_ERR_MODEL_INVALID, where_ + ": field '" + field(key) + "' " + what, kRebuildHint);
}

const Json& Fields::require(const char* key, Json::Type type, const char* want) const {
    const Json* v = obj_.find(key);
    if (v == nullptr) fail(key, std::string("is missing (") + want + ")");
    if (!v->is(type)) fail(key, std::string("must be ") + want + ", not " + Json::type_name(v->type()));
    return *v;
}

int64_t Fields::integer(const char* key, int64_t lo, int64_t hi) const {
    const int64_t x = require(key, Json::Type::Int, "an integer").integer();
    if (x < lo || x > hi)
        fail(key, "is " + std::to_string(x) + ", allowed " + std::to_string(lo) + ".." + std::to_string(hi));
    return x;
}

int64_t Fields::integer(const char* key, int64_t lo, int64_t hi, int64_t fallback) const {
    return has(key) ? integer(key, lo, hi) : fallback;
}

std::string Fields::string(const char* key, size_t max_bytes) const {
    const std::string& s = require(key, Json::Type::String, "a string").str();
    if (s.size() > max_bytes) fail(key, "is longer than " + std::to_string(max_bytes) + " bytes");
    if (s.find('\0') != std::string::npos) fail(key, "contains a NUL character");
    return s;
}

std::string Fields::string(const char* key, size_t max_bytes, const std::string& fallback) const {
    return has(key) ? string(key, max_bytes) : fallback;
}

bool Fields::boolean(const char* key, bool fallback) const {
    return has(key) ? require(key, Json::Type::Bool, "true or false").boolean() : fallback;
}

Fields Fields::object(const char* key) const {
    return Fields(require(key, Json::Type::Object, "an object"), where_, field(key));
}

std::optional<Fields> Fields::optional_object(const char* key) const {
    if (!has(key)) return std::nullopt;
    return object(key);
}

const Json& Fields::array(const char* key, size_t max_items) const {
    const Json& a = require(key, Json::Type::Array, "an array");
    if (a.items().size() > max_items)
        fail(key, "has " + std::to_string(a.items().size()) + " entries, at most " + std::to_string(max_items) +
                      " allowed");
    return a;
}

std::vector<std::string> Fields::strings(const char* key, size_t max_items, size_t max_bytes) const {
    const Json& a = array(key, max_items);
    std::vector<std::string> out;
    out.reserve(a.items().size());
    for (size_t i = 0; i < a.items().size(); ++i) {
        const Json& v = a.items()[i];
        const std::string item = std::string(key) + "[" + std::to_string(i) + "]";
        if (!v.is(Json::Type::String)) fail(item, std::string("must be a string, not ") + Json::type_name(v.type()));
        if (v.str().size() > max_bytes) fail(item, "is longer than " + std::to_string(max_bytes) + " bytes");
        if (v.str().find('\0') != std::string::npos) fail(item, "contains a NUL character");
        out.push_back(v.str());
    }
    return out;
}

std::vector<int64_t> Fields::integers(const char* key, size_t max_items, int64_t lo, int64_t hi) const {
    const Json& a = array(key, max_items);
    std::vector<int64_t> out;
    for (size_t i = 0; i < a.items().size(); ++i) {
        const Json& v = a.items()[i];
        const std::string item = std::string(key) + "[" + std::to_string(i) + "]";
        if (!v.is(Json::Type::Int)) fail(item, std::string("must be an integer, not ") + Json::type_name(v.type()));
        if (v.integer() < lo || v.integer() > hi)
            fail(item, "is " + std::to_string(v.integer()) + ", allowed " + std::to_string(lo) + ".." +
                           std::to_string(hi));
        out.push_back(v.integer());
    }
    return out;
}

}  // namespace ev
