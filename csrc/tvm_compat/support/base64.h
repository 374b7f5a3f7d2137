// Edge Veda's own version of a header the apache-tvm wheel's runtime sources include but the
// wheel does not ship (see csrc/tvm_compat/README.md): base64 over another stream (tensors in
// JSON). Built on tvm-ffi's base64 codec; whole-buffer, since tensors in JSON are small.
#pragma once

#include <tvm/ffi/extra/base64.h>
#include <tvm/support/io.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

namespace tvm {
namespace support {

// Collects what is written; Finish() writes it base64-encoded to the underlying stream.
class Base64OutStream : public Stream {
public:
    using Stream::Read;
    using Stream::Write;

    explicit Base64OutStream(Stream* out) : out_(out) {}

    size_t Read(void*, size_t) override { return 0; }
    size_t Write(const void* ptr, size_t size) override {
        raw_.append(static_cast<const char*>(ptr), size);
        return size;
    }
    void Finish() {
        ffi::String encoded = ffi::Base64Encode(TVMFFIByteArray{raw_.data(), raw_.size()});
        out_->Write(static_cast<const void*>(encoded.data()), encoded.size());
        raw_.clear();
    }

private:
    Stream* out_;
    std::string raw_;
};

// Decodes the whole underlying stream at InitPosition() (leading/trailing whitespace ignored),
// then serves reads from the decoded bytes.
class Base64InStream : public Stream {
public:
    using Stream::Read;
    using Stream::Write;

    explicit Base64InStream(Stream* in) : in_(in) {}

    void InitPosition() {
        std::string text;
        char chunk[4096];
        for (size_t n; (n = in_->Read(chunk, sizeof(chunk))) != 0;) text.append(chunk, n);
        auto not_space = [](unsigned char c) { return !std::isspace(c); };
        text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
        text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
        ffi::Bytes bytes = ffi::Base64Decode(TVMFFIByteArray{text.data(), text.size()});
        decoded_.assign(bytes.data(), bytes.size());
        pos_ = 0;
    }
    size_t Read(void* ptr, size_t size) override {
        size_t n = std::min(size, decoded_.size() - pos_);
        if (n != 0) std::memcpy(ptr, decoded_.data() + pos_, n);
        pos_ += n;
        return n;
    }
    size_t Write(const void*, size_t) override { return 0; }

private:
    Stream* in_;
    std::string decoded_;
    size_t pos_ = 0;
};

}  // namespace support
}  // namespace tvm
