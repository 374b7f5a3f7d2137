// Edge Veda's own version of a header the apache-tvm wheel's runtime sources include but the
// wheel does not ship (see csrc/tvm_compat/README.md). NVTX profiler ranges are a CUDA
// feature; the CPU runtime Edge Veda embeds has none, so a range is nothing.
#pragma once

#include <string>

namespace tvm {
namespace support {

class NVTXScopedRange {
public:
    explicit NVTXScopedRange(const char*) {}
    explicit NVTXScopedRange(const std::string&) {}
    NVTXScopedRange(const NVTXScopedRange&) = delete;
    NVTXScopedRange& operator=(const NVTXScopedRange&) = delete;
};

}  // namespace support
}  // namespace tvm
