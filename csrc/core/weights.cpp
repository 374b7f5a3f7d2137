#include "core/weights.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/errors.h"

namespace ev {
namespace {

constexpr uint64_t kAlignment = 64;
[[noreturn]] void invalid(const std::string& where, const std::string& what) {
    throw Error(EV_ERR_MODEL_INVALID, where + ": " + what, kRebuildHint);
}

}  // namespace

bool DType::parse(const std::string& name, DType* out) {
    static const struct { const char* name; uint8_t code, bits; } kTypes[] = {
        {"float32", 2, 32}, {"float16", 2, 16}, {"bfloat16", 4, 16}, {"float64", 2, 64},
        {"int8", 0, 8}, {"int16", 0, 16}, {"int32", 0, 32}, {"int64", 0, 64}, {"uint8", 1, 8},
    };
    for (const auto& t : kTypes)
        if (name == t.name) {
            out->code = t.code;
            out->bits = t.bits;
            return true;
        }
    return false;
}

void WeightsSpec::validate(uint64_t file_size, const std::string& where) const {
    uint64_t end = 0;
    for (const TensorSpec& t : tensors) {
        const std::string what = "weights tensor '" + t.name + "'";
        if (t.shape.empty() || t.shape.size() > 8) invalid(where, what + " must have 1 to 8 dimensions");
        uint64_t elements = 1;
        for (int64_t d : t.shape) {
            if (d <= 0 || static_cast<uint64_t>(d) > file_size) invalid(where, what + " has a dimension out of range");
            elements *= static_cast<uint64_t>(d);
            if (elements > file_size) invalid(where, what + " is larger than the weights file");
        }
        if (elements * t.dtype.bytes() != t.nbytes) invalid(where, what + ": nbytes does not match shape and dtype");
        if (t.offset % kAlignment != 0) invalid(where, what + " is not 64-byte aligned");
        if (t.offset < end) invalid(where, what + " overlaps the tensor before it");
        if (t.offset > file_size || t.nbytes > file_size - t.offset) invalid(where, what + " lies outside the weights file");
        end = t.offset + t.nbytes;
    }
}

std::shared_ptr<const Weights> Weights::open(const std::string& path, const WeightsSpec& spec, bool use_mmap) {
    // O_NONBLOCK: a FIFO put in place of the file must not block the open.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        throw Error(EV_ERR_MODEL_NOT_FOUND, "cannot open weights '" + path + "': " + std::strerror(errno),
                    "the artifact is incomplete: copy the whole directory, or rebuild it");
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        invalid(path, "is not a regular file");
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    spec.validate(size, path);

    std::shared_ptr<Weights> w(new Weights());
    w->spec_ = spec;
    w->size_ = size;
    if (size == 0) return w;
    if (use_mmap) {
        void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            w->base_ = static_cast<const unsigned char*>(p);
            w->mapped_ = true;
            return w;
        }
        // Some file systems cannot map: fall through to reading.
    }
    void* buf = nullptr;
    if (posix_memalign(&buf, kAlignment, size) != 0)
        throw Error(EV_ERR_OUT_OF_MEMORY,
                    "cannot " + std::string(use_mmap ? "map or allocate " : "allocate ") + std::to_string(size) +
                        " bytes for the weights",
                    use_mmap ? "free memory or raise the process's address-space limit (ulimit -v)"
                             : "free memory, or set use_mmap = 1 so the weights are mapped instead of copied");
    w->base_ = static_cast<const unsigned char*>(buf);
    for (uint64_t done = 0; done < size;) {
        const ssize_t n = ::read(fd, static_cast<unsigned char*>(buf) + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) invalid(path, "could not be read completely");
        done += static_cast<uint64_t>(n);
    }
    return w;
}

Weights::~Weights() {
    if (base_ == nullptr) return;
    if (mapped_) munmap(const_cast<unsigned char*>(base_), size_);
    else std::free(const_cast<unsigned char*>(base_));
}

int64_t WeightsSpec::find_index(const std::string& name) const {
    for (size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].name == name) return static_cast<int64_t>(i);
    return -1;
}

}  // namespace ev
