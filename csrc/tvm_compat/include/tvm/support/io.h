// Edge Veda's own version of a header the apache-tvm wheel's runtime sources include but the
// wheel does not ship (see csrc/tvm_compat/README.md). Only what those sources use.
//
// A byte stream with typed reads and writes. Typed values go through Serializer<T>, whose
// specializations (serializer.h, and a few in TVM's own headers) fix the byte format: it must
// be exactly the one the TVM compiler writes into model libraries, since the runtime reads it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tvm {
namespace support {

class Stream;

// Specialized per type: `static constexpr bool enabled = true;`,
// `static void Write(Stream*, const T&);` and `static bool Read(Stream*, T*);`.
template <typename T, typename Enable = void>
struct Serializer {
    static constexpr bool enabled = false;
};

class Stream {
public:
    virtual ~Stream() = default;

    // Raw bytes; return how many were transferred (a short read means end of data).
    virtual size_t Read(void* ptr, size_t size) = 0;
    virtual size_t Write(const void* ptr, size_t size) = 0;

    template <typename T>
    void Write(const T& value) {
        static_assert(Serializer<T>::enabled, "no Serializer<T> for this type");
        Serializer<T>::Write(this, value);
    }
    template <typename T>
    bool Read(T* out) {
        static_assert(Serializer<T>::enabled, "no Serializer<T> for this type");
        return Serializer<T>::Read(this, out);
    }
    template <typename T>
    void WriteArray(const T* values, size_t count) {
        for (size_t i = 0; i < count; ++i) Write<T>(values[i]);
    }
    template <typename T>
    bool ReadArray(T* values, size_t count) {
        for (size_t i = 0; i < count; ++i) {
            if (!Read<T>(values + i)) return false;
        }
        return true;
    }
};

}  // namespace support
}  // namespace tvm
