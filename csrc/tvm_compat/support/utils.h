// Edge Veda's own version of a header the apache-tvm wheel's runtime sources include but the
// wheel does not ship (see csrc/tvm_compat/README.md). Only what those sources use.
#pragma once

#include <string>

namespace tvm {
namespace support {

// True when `s` is a non-empty run of decimal digits (a CPU id in TVM_BIND_THREADS).
inline bool IsNumber(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

}  // namespace support
}  // namespace tvm
