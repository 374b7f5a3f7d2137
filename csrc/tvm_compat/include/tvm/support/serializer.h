// Edge Veda's own version of a header the apache-tvm wheel's runtime sources include but the
// wheel does not ship (see csrc/tvm_compat/README.md).
//
// The byte format of TVM's serialized modules (what the compiler writes, the runtime reads):
// numbers in little-endian byte order at their natural width; a string or a sequence is a
// uint64 count followed by its elements; a pair is its two members; a map is a sequence of
// pairs; DLDataType is code u8, bits u8, lanes u16; DLDevice is type i32, id i32.
#pragma once

#include <dlpack/dlpack.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/endian.h>
#include <tvm/ffi/string.h>
#include <tvm/support/io.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tvm {
namespace support {

template <typename T>
struct Serializer<T, std::enable_if_t<std::is_arithmetic_v<T>>> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const T& v) {
        T le = v;
        if constexpr (!TVM_FFI_IO_NO_ENDIAN_SWAP) ffi::ByteSwap(&le, sizeof(T), 1);
        s->Write(static_cast<const void*>(&le), sizeof(T));
    }
    static bool Read(Stream* s, T* v) {
        if (s->Read(static_cast<void*>(v), sizeof(T)) != sizeof(T)) return false;
        if constexpr (!TVM_FFI_IO_NO_ENDIAN_SWAP) ffi::ByteSwap(v, sizeof(T), 1);
        return true;
    }
};

template <typename T>
struct Serializer<T, std::enable_if_t<std::is_enum_v<T>>> {
    static constexpr bool enabled = true;
    using Underlying = std::underlying_type_t<T>;
    static void Write(Stream* s, const T& v) { Serializer<Underlying>::Write(s, static_cast<Underlying>(v)); }
    static bool Read(Stream* s, T* v) {
        Underlying u{};
        if (!Serializer<Underlying>::Read(s, &u)) return false;
        *v = static_cast<T>(u);
        return true;
    }
};

namespace detail {
inline void write_count(Stream* s, size_t n) { Serializer<uint64_t>::Write(s, static_cast<uint64_t>(n)); }
inline bool read_count(Stream* s, uint64_t* n) { return Serializer<uint64_t>::Read(s, n); }

inline void write_bytes(Stream* s, const char* data, size_t n) {
    write_count(s, n);
    if (n != 0) s->Write(static_cast<const void*>(data), n);
}
inline bool read_bytes(Stream* s, std::string* out) {
    uint64_t n = 0;
    if (!read_count(s, &n)) return false;
    // Grow in bounded steps: a corrupt count must fail at the end of data, not allocate it.
    out->clear();
    constexpr uint64_t kStep = uint64_t{1} << 20;
    while (n > 0) {
        size_t step = static_cast<size_t>(n < kStep ? n : kStep);
        size_t at = out->size();
        out->resize(at + step);
        if (s->Read(static_cast<void*>(&(*out)[at]), step) != step) return false;
        n -= step;
    }
    return true;
}
}  // namespace detail

template <>
struct Serializer<std::string> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const std::string& v) { detail::write_bytes(s, v.data(), v.size()); }
    static bool Read(Stream* s, std::string* v) { return detail::read_bytes(s, v); }
};

template <>
struct Serializer<ffi::String> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const ffi::String& v) { detail::write_bytes(s, v.data(), v.size()); }
    static bool Read(Stream* s, ffi::String* v) {
        std::string bytes;
        if (!detail::read_bytes(s, &bytes)) return false;
        *v = ffi::String(std::move(bytes));
        return true;
    }
};

template <typename T>
struct Serializer<std::vector<T>> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const std::vector<T>& v) {
        detail::write_count(s, v.size());
        for (const T& e : v) Serializer<T>::Write(s, e);
    }
    static bool Read(Stream* s, std::vector<T>* v) {
        uint64_t n = 0;
        if (!detail::read_count(s, &n)) return false;
        v->clear();
        for (uint64_t i = 0; i < n; ++i) {  // element by element: a corrupt count ends at EOF
            T e{};
            if (!Serializer<T>::Read(s, &e)) return false;
            v->push_back(std::move(e));
        }
        return true;
    }
};

template <typename A, typename B>
struct Serializer<std::pair<A, B>> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const std::pair<A, B>& v) {
        Serializer<A>::Write(s, v.first);
        Serializer<B>::Write(s, v.second);
    }
    static bool Read(Stream* s, std::pair<A, B>* v) {
        return Serializer<A>::Read(s, &v->first) && Serializer<B>::Read(s, &v->second);
    }
};

template <typename K, typename V>
struct Serializer<std::unordered_map<K, V>> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const std::unordered_map<K, V>& v) {
        detail::write_count(s, v.size());
        for (const auto& kv : v) {
            Serializer<K>::Write(s, kv.first);
            Serializer<V>::Write(s, kv.second);
        }
    }
    static bool Read(Stream* s, std::unordered_map<K, V>* v) {
        uint64_t n = 0;
        if (!detail::read_count(s, &n)) return false;
        v->clear();
        for (uint64_t i = 0; i < n; ++i) {
            K key{};
            V value{};
            if (!Serializer<K>::Read(s, &key) || !Serializer<V>::Read(s, &value)) return false;
            v->emplace(std::move(key), std::move(value));
        }
        return true;
    }
};

template <typename T>
struct Serializer<ffi::Array<T>> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const ffi::Array<T>& v) {
        detail::write_count(s, v.size());
        for (size_t i = 0; i < v.size(); ++i) Serializer<T>::Write(s, v[i]);
    }
    static bool Read(Stream* s, ffi::Array<T>* v) {
        uint64_t n = 0;
        if (!detail::read_count(s, &n)) return false;
        ffi::Array<T> out;
        for (uint64_t i = 0; i < n; ++i) {
            T e;
            if (!Serializer<T>::Read(s, &e)) return false;
            out.push_back(std::move(e));
        }
        *v = std::move(out);
        return true;
    }
};

template <typename K, typename V>
struct Serializer<ffi::Map<K, V>> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const ffi::Map<K, V>& v) {
        detail::write_count(s, v.size());
        for (const auto& kv : v) {
            Serializer<K>::Write(s, kv.first);
            Serializer<V>::Write(s, kv.second);
        }
    }
    static bool Read(Stream* s, ffi::Map<K, V>* v) {
        uint64_t n = 0;
        if (!detail::read_count(s, &n)) return false;
        ffi::Map<K, V> out;
        for (uint64_t i = 0; i < n; ++i) {
            K key;
            V value;
            if (!Serializer<K>::Read(s, &key) || !Serializer<V>::Read(s, &value)) return false;
            out.Set(std::move(key), std::move(value));
        }
        *v = std::move(out);
        return true;
    }
};

template <>
struct Serializer<DLDataType> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const DLDataType& v) {
        Serializer<uint8_t>::Write(s, v.code);
        Serializer<uint8_t>::Write(s, v.bits);
        Serializer<uint16_t>::Write(s, v.lanes);
    }
    static bool Read(Stream* s, DLDataType* v) {
        return Serializer<uint8_t>::Read(s, &v->code) && Serializer<uint8_t>::Read(s, &v->bits) &&
               Serializer<uint16_t>::Read(s, &v->lanes);
    }
};

template <>
struct Serializer<DLDevice> {
    static constexpr bool enabled = true;
    static void Write(Stream* s, const DLDevice& v) {
        Serializer<int32_t>::Write(s, static_cast<int32_t>(v.device_type));
        Serializer<int32_t>::Write(s, v.device_id);
    }
    static bool Read(Stream* s, DLDevice* v) {
        int32_t type = 0;
        if (!Serializer<int32_t>::Read(s, &type) || !Serializer<int32_t>::Read(s, &v->device_id)) return false;
        v->device_type = static_cast<DLDeviceType>(type);
        return true;
    }
};

}  // namespace support
}  // namespace tvm
