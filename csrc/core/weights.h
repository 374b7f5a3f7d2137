// The weights file of an artifact (docs/artifact-format.md, "Weights"): raw little-endian
// tensors at 64-byte-aligned offsets, described by the manifest. Opened once per context and
// shared, read-only, by every VM of that context, so the weights exist once in memory however
// many threads run the model. No TVM here: the runtime wraps these bytes in DLTensors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ev {

// A tensor element type in DLPack's terms (code: 0 int, 1 uint, 2 float; bits per lane).
struct DType {
    uint8_t code = 2;
    uint8_t bits = 32;
    static bool parse(const std::string& name, DType* out);  // "float32", "int8", ...
    uint32_t bytes() const { return bits / 8u; }
};

struct TensorSpec {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t offset = 0;
    uint64_t nbytes = 0;
};

struct WeightsSpec {
    std::string file;                 // plain file name inside the artifact directory
    std::vector<TensorSpec> tensors;  // in file order

    // Throws ev::Error (EV_ERR_MODEL_INVALID) unless every tensor is well-formed: a known
    // dtype, 1-8 positive dimensions, nbytes == elements * element size, offset 64-aligned,
    // tensors in order without overlap, and all of it inside `file_size` bytes.
    void validate(uint64_t file_size, const std::string& where) const;
    // Index of the tensor called `name`, or -1.
    int64_t find_index(const std::string& name) const;
};

class Weights {
public:
    // Maps `path` (use_mmap) or reads it into 64-byte-aligned memory, after checking that it
    // is a regular file of the size the spec covers. Throws ev::Error.
    static std::shared_ptr<const Weights> open(const std::string& path, const WeightsSpec& spec,
                                               bool use_mmap);
    ~Weights();
    Weights(const Weights&) = delete;
    Weights& operator=(const Weights&) = delete;

    size_t count() const { return spec_.tensors.size(); }
    const TensorSpec& spec(size_t i) const { return spec_.tensors[i]; }
    const void* data(size_t i) const { return base_ + spec_.tensors[i].offset; }
    int64_t find(const std::string& name) const { return spec_.find_index(name); }
    uint64_t bytes() const { return size_; }
    const void* base() const { return base_; }  // the whole file (nullptr when empty)
    bool mapped() const { return mapped_; }

private:
    Weights() = default;
    WeightsSpec spec_;
    const unsigned char* base_ = nullptr;
    uint64_t size_ = 0;
    bool mapped_ = false;
};

}  // namespace ev
