// Edge Veda's own version of a header the apache-tvm wheel's runtime sources include but the
// wheel does not ship (see csrc/tvm_compat/README.md): IEEE-754 binary float narrowing and
// widening on bit patterns, as TVM's builtin_fp16.cc instantiates them (float/double <-> half).
// Round to nearest, ties to even; NaN stays NaN (quiet), overflow becomes infinity, values
// below the smallest subnormal become signed zero.
#pragma once

#include <cstdint>
#include <cstring>

// Narrows `a` (SrcT, a float type whose bits are SrcRepT with SrcSig fraction bits) to a
// DstT bit pattern with DstSig fraction bits. DstT is the representation type itself (uint16_t).
template <typename SrcT, typename SrcRepT, int SrcSig, typename DstT, typename DstRepT, int DstSig>
static inline DstT __truncXfYf2__(SrcT a) {
    constexpr int src_bits = int(sizeof(SrcRepT) * 8);
    constexpr int dst_bits = int(sizeof(DstRepT) * 8);
    constexpr int src_exp_bits = src_bits - SrcSig - 1;
    constexpr int dst_exp_bits = dst_bits - DstSig - 1;
    constexpr int src_bias = (1 << (src_exp_bits - 1)) - 1;
    constexpr int dst_bias = (1 << (dst_exp_bits - 1)) - 1;
    constexpr int dst_exp_max = (1 << dst_exp_bits) - 1;
    constexpr SrcRepT src_frac_mask = (SrcRepT(1) << SrcSig) - 1;
    constexpr SrcRepT src_sign = SrcRepT(1) << (src_bits - 1);
    constexpr int shift = SrcSig - DstSig;

    SrcRepT bits;
    std::memcpy(&bits, &a, sizeof(bits));
    const DstRepT sign = DstRepT((bits & src_sign) >> (src_bits - dst_bits));
    const SrcRepT abs = bits & ~src_sign;
    const int exp_field = int(abs >> SrcSig);
    const SrcRepT frac = abs & src_frac_mask;

    if (exp_field == (1 << src_exp_bits) - 1) {  // infinity or NaN
        DstRepT out = DstRepT(dst_exp_max) << DstSig;
        if (frac != 0) out |= DstRepT(1) << (DstSig - 1) | DstRepT((frac >> shift) & ((SrcRepT(1) << DstSig) - 1));
        return DstT(sign | out);
    }
    const int exp = exp_field - src_bias;  // unbiased
    if (exp > dst_bias) return DstT(sign | (DstRepT(dst_exp_max) << DstSig));  // overflow
    if (exp_field == 0) return DstT(sign);  // source subnormal: far below the target's range

    // The significand with its implicit bit, and how far right it moves.
    const SrcRepT sig = frac | (SrcRepT(1) << SrcSig);
    int drop = shift;
    SrcRepT base = 0;  // exponent field of the result, pre-shifted
    if (exp >= 1 - dst_bias) {
        base = SrcRepT(exp + dst_bias) << DstSig;
    } else {
        drop = shift + (1 - dst_bias - exp);  // subnormal result
        if (drop > SrcSig + 1) return DstT(sign);  // below half the smallest subnormal
    }
    SrcRepT kept = sig >> drop;
    const SrcRepT rest = sig & ((SrcRepT(1) << drop) - 1);
    const SrcRepT half = SrcRepT(1) << (drop - 1);
    if (base != 0) kept &= (SrcRepT(1) << DstSig) - 1;  // normal: the implicit bit goes
    SrcRepT out = base + kept;  // a rounding carry may step into the exponent (or to infinity)
    if (rest > half || (rest == half && (out & 1))) ++out;
    return DstT(sign | DstRepT(out));
}

// Widens a SrcT bit pattern (SrcSig fraction bits) to the float type DstT (bits DstRepT,
// DstSig fraction bits). Exact: every narrow value is representable.
template <typename SrcT, typename SrcRepT, int SrcSig, typename DstT, typename DstRepT, int DstSig>
static inline DstT __extendXfYf2__(SrcT a) {
    constexpr int src_bits = int(sizeof(SrcRepT) * 8);
    constexpr int dst_bits = int(sizeof(DstRepT) * 8);
    constexpr int src_exp_bits = src_bits - SrcSig - 1;
    constexpr int dst_exp_bits = dst_bits - DstSig - 1;
    constexpr int src_bias = (1 << (src_exp_bits - 1)) - 1;
    constexpr int dst_bias = (1 << (dst_exp_bits - 1)) - 1;
    constexpr SrcRepT src_frac_mask = (SrcRepT(1) << SrcSig) - 1;
    constexpr SrcRepT src_sign = SrcRepT(1) << (src_bits - 1);

    const SrcRepT bits = SrcRepT(a);
    const DstRepT sign = DstRepT(bits & src_sign) << (dst_bits - src_bits);
    const int exp_field = int((bits & ~src_sign) >> SrcSig);
    const DstRepT frac = DstRepT(bits & src_frac_mask);
    DstRepT out;
    if (exp_field == (1 << src_exp_bits) - 1) {  // infinity or NaN
        out = (DstRepT((1 << dst_exp_bits) - 1) << DstSig) | (frac << (DstSig - SrcSig));
    } else if (exp_field != 0) {
        out = (DstRepT(exp_field - src_bias + dst_bias) << DstSig) | (frac << (DstSig - SrcSig));
    } else if (frac != 0) {  // subnormal source: normalize
        int top = SrcSig - 1;
        while (!((frac >> top) & 1)) --top;
        const int exp = top - SrcSig + 1 - src_bias;
        const DstRepT rest = frac & ((DstRepT(1) << top) - 1);
        out = (DstRepT(exp + dst_bias) << DstSig) | (rest << (DstSig - top));
    } else {
        out = 0;
    }
    out |= sign;
    DstT result;
    std::memcpy(&result, &out, sizeof(result));
    return result;
}
