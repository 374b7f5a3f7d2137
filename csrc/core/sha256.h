// SHA-256 (FIPS 180-4), for verifying artifact files before any byte of them runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ev {

class Sha256 {
public:
    Sha256();
    // portable: never use the CPU's SHA instructions (x86-64 SHA-NI, chosen at run time
    // otherwise); tests compare both paths.
    explicit Sha256(bool portable) : Sha256() { portable_ = portable; }
    void update(const void* data, size_t size);
    // Finishes the hash and returns it as 64 lowercase hex digits; the object is spent.
    std::string hex_digest();

private:
    void compress(const uint8_t block[64]);
    void compress_blocks(const uint8_t* data, size_t blocks);
    void compress_portable(const uint8_t block[64]);

    uint32_t state_[8];
    uint8_t buffer_[64];
    size_t buffered_ = 0;
    uint64_t total_bytes_ = 0;
    bool portable_ = false;
};

std::string sha256_hex(const void* data, size_t size);

}  // namespace ev
