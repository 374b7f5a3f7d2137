// The instruction-set features of the CPU this process runs on, by LLVM's names ("avx2",
// "avx512f", "dotprod"), so that a module compiled for another CPU is refused at load instead
// of dying with SIGILL inside a kernel (manifest "target.features", core/manifest.cpp).
#pragma once

#include <string>
#include <vector>

namespace ev {

// The entries of `features` (LLVM feature names, as the compiler recorded them) that this CPU
// or its operating system does not provide. Names this library cannot test (tuning flags such
// as "fast-lzcnt", features of other architectures) are never reported. Thread-safe.
std::vector<std::string> missing_cpu_features(const std::vector<std::string>& features);

// "x86-64", "aarch64", ... for messages.
const char* cpu_architecture();

}  // namespace ev
