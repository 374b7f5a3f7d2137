#include "core/cpu_features.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace ev {
namespace {

// One testable feature: its LLVM name and whether this CPU has it.
struct Feature {
    const char* name;
    bool present;
};

#if defined(__x86_64__) || defined(__i386__)

uint64_t xcr0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t(hi) << 32) | lo;
}

std::vector<Feature> host_features() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    uint32_t l1c = 0, l1d = 0, l7b = 0, l7c = 0, l7d = 0, l71a = 0, e1c = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) l1c = c, l1d = d;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        l7b = b, l7c = c, l7d = d;
        if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) l71a = a;
    }
    if (__get_cpuid(0x80000001u, &a, &b, &c, &d)) e1c = c;
    auto bit = [](uint32_t reg, int n) { return ((reg >> n) & 1u) != 0; };
    // The OS must save the wider registers, or the instructions fault although CPUID lists them.
    const uint64_t x = bit(l1c, 27) ? xcr0() : 0;  // OSXSAVE
    const bool ymm = (x & 0x6) == 0x6;
    const bool zmm = ymm && (x & 0xe0) == 0xe0;
    const bool tiles = (x & 0x60000) == 0x60000;
    return {
        {"cmov", bit(l1d, 15)},          {"cx8", bit(l1d, 8)},
        {"mmx", bit(l1d, 23)},           {"fxsr", bit(l1d, 24)},
        {"sse", bit(l1d, 25)},           {"sse2", bit(l1d, 26)},
        {"sse3", bit(l1c, 0)},           {"pclmul", bit(l1c, 1)},
        {"ssse3", bit(l1c, 9)},          {"fma", ymm && bit(l1c, 12)},
        {"cx16", bit(l1c, 13)},          {"sse4.1", bit(l1c, 19)},
        {"sse4.2", bit(l1c, 20)},        {"movbe", bit(l1c, 22)},
        {"popcnt", bit(l1c, 23)},        {"aes", bit(l1c, 25)},
        {"xsave", bit(l1c, 26)},         {"avx", ymm && bit(l1c, 28)},
        {"f16c", ymm && bit(l1c, 29)},   {"rdrnd", bit(l1c, 30)},
        {"fsgsbase", bit(l7b, 0)},       {"bmi", bit(l7b, 3)},
        {"avx2", ymm && bit(l7b, 5)},    {"bmi2", bit(l7b, 8)},
        {"avx512f", zmm && bit(l7b, 16)},  {"avx512dq", zmm && bit(l7b, 17)},
        {"rdseed", bit(l7b, 18)},        {"adx", bit(l7b, 19)},
        {"avx512ifma", zmm && bit(l7b, 21)}, {"avx512cd", zmm && bit(l7b, 28)},
        {"sha", bit(l7b, 29)},           {"avx512bw", zmm && bit(l7b, 30)},
        {"avx512vl", zmm && bit(l7b, 31)}, {"avx512vbmi", zmm && bit(l7c, 1)},
        {"avx512vbmi2", zmm && bit(l7c, 6)}, {"gfni", bit(l7c, 8)},
        {"vaes", ymm && bit(l7c, 9)},    {"vpclmulqdq", ymm && bit(l7c, 10)},
        {"avx512vnni", zmm && bit(l7c, 11)}, {"avx512bitalg", zmm && bit(l7c, 12)},
        {"avx512vpopcntdq", zmm && bit(l7c, 14)}, {"avx512vp2intersect", zmm && bit(l7d, 8)},
        {"amx-bf16", tiles && bit(l7d, 22)}, {"avx512fp16", zmm && bit(l7d, 23)},
        {"amx-tile", tiles && bit(l7d, 24)}, {"amx-int8", tiles && bit(l7d, 25)},
        {"avxvnni", ymm && bit(l71a, 4)}, {"avx512bf16", zmm && bit(l71a, 5)},
        {"sahf", bit(e1c, 0)},           {"lzcnt", bit(e1c, 5)},
        {"sse4a", bit(e1c, 6)},          {"prfchw", bit(e1c, 8)},
        {"xop", ymm && bit(e1c, 11)},    {"fma4", ymm && bit(e1c, 16)},
    };
}

#elif defined(__aarch64__) && defined(__linux__)

std::vector<Feature> host_features() {
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    auto bit = [](unsigned long reg, int n) { return ((reg >> n) & 1ul) != 0; };
    return {
        {"fp-armv8", bit(hw, 0)}, {"neon", bit(hw, 1)},     {"aes", bit(hw, 3)},
        {"sha2", bit(hw, 6)},     {"crc", bit(hw, 7)},      {"lse", bit(hw, 8)},
        {"fullfp16", bit(hw, 10)}, {"dotprod", bit(hw, 20)}, {"sve", bit(hw, 22)},
        {"sve2", bit(hw2, 1)},    {"i8mm", bit(hw2, 13)},   {"bf16", bit(hw2, 14)},
    };
}

#else

// No portable way to ask (32-bit ARM, Apple platforms): nothing is reported missing.
std::vector<Feature> host_features() { return {}; }

#endif

}  // namespace

std::vector<std::string> missing_cpu_features(const std::vector<std::string>& features) {
    static const std::vector<Feature> host = host_features();
    std::vector<std::string> missing;
    for (const std::string& wanted : features)
        for (const Feature& f : host)
            if (wanted == f.name && !f.present) missing.push_back(wanted);
    return missing;
}

const char* cpu_architecture() {
#if defined(__x86_64__)
    return "x86-64";
#elif defined(__i386__)
    return "x86";
#elif defined(__aarch64__)
    return "aarch64";
#elif defined(__arm__)
    return "arm";
#else
    return "this architecture";
#endif
}

}  // namespace ev
