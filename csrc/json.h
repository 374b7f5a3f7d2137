// Minimal JSON reader for artifact manifests. Why not a library: the manifest is small, the
// library must not pull a dependency into every app that links it, and the one JSON parser at
// hand (tvm-ffi's) would make a second module touch TVM.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ev {

class Json {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };

    Json() = default;
    static Json parse(const std::string& text);  // throws std::runtime_error with an offset

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::Null; }
    bool is_object() const { return type_ == Type::Object; }
    bool is_array() const { return type_ == Type::Array; }
    bool is_string() const { return type_ == Type::String; }
    bool is_number() const { return type_ == Type::Number; }

    const Json* find(const std::string& key) const;  // nullptr when absent or not an object
    const std::vector<Json>& items() const { return array_; }
    const std::map<std::string, Json>& members() const { return object_; }
    const std::string& str() const { return string_; }
    double number() const { return number_; }
    bool boolean() const { return bool_; }

private:
    friend class JsonParser;
    Type type_ = Type::Null;
    bool bool_ = false;
    double number_ = 0;
    std::string string_;
    std::vector<Json> array_;
    std::map<std::string, Json> object_;
};

}  // namespace ev
