// Edge Veda's own version of a header the apache-tvm wheel's runtime sources include but the
// wheel does not ship (see csrc/tvm_compat/README.md): streams over bytes in memory.
#pragma once

#include <tvm/support/io.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace tvm {
namespace support {

// Reads from bytes the caller keeps alive (a std::string, ffi::Bytes, ffi::String...).
class BytesInStream : public Stream {
public:
    using Stream::Read;
    using Stream::Write;

    BytesInStream(const void* data, size_t size) : data_(static_cast<const char*>(data)), size_(size) {}
    template <typename Buffer>
    explicit BytesInStream(const Buffer& buffer) : BytesInStream(buffer.data(), buffer.size()) {}

    size_t Read(void* ptr, size_t size) override {
        size_t n = std::min(size, size_ - pos_);
        if (n != 0) std::memcpy(ptr, data_ + pos_, n);
        pos_ += n;
        return n;
    }
    size_t Write(const void*, size_t) override { return 0; }  // read-only

private:
    const char* data_;
    size_t size_;
    size_t pos_ = 0;
};

// Appends to a std::string the caller owns.
class BytesOutStream : public Stream {
public:
    using Stream::Read;
    using Stream::Write;

    explicit BytesOutStream(std::string* out) : out_(out) {}

    size_t Read(void*, size_t) override { return 0; }  // write-only
    size_t Write(const void* ptr, size_t size) override {
        out_->append(static_cast<const char*>(ptr), size);
        return size;
    }

private:
    std::string* out_;
};

}  // namespace support
}  // namespace tvm
