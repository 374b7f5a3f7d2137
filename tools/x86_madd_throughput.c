/* The x86 multiply-add ceiling the int8 vocoder conv (pybind/edge_veda/compile/kernels/int8_conv.py)
 * runs against: independent 256-bit vpmaddwd (16 int16 products, summed in pairs into 8 int32
 * lanes), vpmaddwd each followed by the vpaddd that accumulates it (what the kernel issues on
 * AVX2; VNNI's vpdpwssd fuses the two where present), and vfmadd231ps (8 float32 products) as the
 * fp32 kernel's. Instructions per nanosecond on one core; multiply-adds per ns = x16 for the
 * int16 forms, x8 for FMA.
 *
 * Built with AVX-512BW and AVX512-VNNI enabled it also measures the 512-bit forms the int8 build
 * takes on such CPUs: zmm vpmaddwd + vpaddd, the fused vpdpwssd (32 int16 products accumulated in
 * one instruction) and zmm vfmadd231ps (16 float32 products).
 *
 *   cc -O1 -mavx2 -mfma tools/x86_madd_throughput.c -o /tmp/madd && /tmp/madd
 *   cc -O1 -mavx2 -mfma -mavx512bw -mavx512vnni tools/x86_madd_throughput.c -o /tmp/madd512 && /tmp/madd512 */
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define N 100000000L

int main(void) {
    double t = now();
    for (long n = 0; n < N; n++)
        __asm__ volatile(
            "vpmaddwd %%ymm8,%%ymm9,%%ymm0\n vpmaddwd %%ymm8,%%ymm9,%%ymm1\n vpmaddwd %%ymm8,%%ymm9,%%ymm2\n"
            "vpmaddwd %%ymm8,%%ymm9,%%ymm3\n vpmaddwd %%ymm8,%%ymm9,%%ymm4\n vpmaddwd %%ymm8,%%ymm9,%%ymm5\n"
            "vpmaddwd %%ymm8,%%ymm9,%%ymm6\n vpmaddwd %%ymm8,%%ymm9,%%ymm7\n" ::
                : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
    double pmadd = N * 8 / (now() - t) / 1e9;
    t = now();
    for (long n = 0; n < N; n++)
        __asm__ volatile(
            "vpmaddwd %%ymm8,%%ymm9,%%ymm0\n vpaddd %%ymm0,%%ymm10,%%ymm10\n"
            "vpmaddwd %%ymm8,%%ymm9,%%ymm1\n vpaddd %%ymm1,%%ymm11,%%ymm11\n"
            "vpmaddwd %%ymm8,%%ymm9,%%ymm2\n vpaddd %%ymm2,%%ymm12,%%ymm12\n"
            "vpmaddwd %%ymm8,%%ymm9,%%ymm3\n vpaddd %%ymm3,%%ymm13,%%ymm13\n"
            "vpmaddwd %%ymm8,%%ymm9,%%ymm4\n vpaddd %%ymm4,%%ymm14,%%ymm14\n"
            "vpmaddwd %%ymm8,%%ymm9,%%ymm5\n vpaddd %%ymm5,%%ymm15,%%ymm15\n" ::
                : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                  "xmm15");
    double pairs = N * 6 / (now() - t) / 1e9;
    t = now();
    for (long n = 0; n < N; n++)
        __asm__ volatile(
            "vfmadd231ps %%ymm8,%%ymm9,%%ymm0\n vfmadd231ps %%ymm8,%%ymm9,%%ymm1\n vfmadd231ps %%ymm8,%%ymm9,%%ymm2\n"
            "vfmadd231ps %%ymm8,%%ymm9,%%ymm3\n vfmadd231ps %%ymm8,%%ymm9,%%ymm4\n vfmadd231ps %%ymm8,%%ymm9,%%ymm5\n"
            "vfmadd231ps %%ymm8,%%ymm9,%%ymm6\n vfmadd231ps %%ymm8,%%ymm9,%%ymm7\n" ::
                : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
    double fma = N * 8 / (now() - t) / 1e9;
    printf("vpmaddwd alone:      %.2f /ns = %5.1f int16 multiply-adds/ns\n", pmadd, 16 * pmadd);
    printf("vpmaddwd + vpaddd:   %.2f /ns = %5.1f int16 multiply-adds/ns\n", pairs, 16 * pairs);
    printf("vfmadd231ps:         %.2f /ns = %5.1f fp32 multiply-adds/ns\n", fma, 8 * fma);
    printf("int16 (accumulated) / fp32 ceiling: %.2fx\n", 16 * pairs / (8 * fma));
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
    t = now();
    for (long n = 0; n < N; n++)
        __asm__ volatile(
            "vpmaddwd %%zmm8,%%zmm9,%%zmm0\n vpaddd %%zmm0,%%zmm10,%%zmm10\n"
            "vpmaddwd %%zmm8,%%zmm9,%%zmm1\n vpaddd %%zmm1,%%zmm11,%%zmm11\n"
            "vpmaddwd %%zmm8,%%zmm9,%%zmm2\n vpaddd %%zmm2,%%zmm12,%%zmm12\n"
            "vpmaddwd %%zmm8,%%zmm9,%%zmm3\n vpaddd %%zmm3,%%zmm13,%%zmm13\n"
            "vpmaddwd %%zmm8,%%zmm9,%%zmm4\n vpaddd %%zmm4,%%zmm14,%%zmm14\n"
            "vpmaddwd %%zmm8,%%zmm9,%%zmm5\n vpaddd %%zmm5,%%zmm15,%%zmm15\n" ::
                : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                  "xmm15");
    double pairs512 = N * 6 / (now() - t) / 1e9;
    t = now();
    for (long n = 0; n < N; n++)  /* eight independent accumulators: the latency hidden */
        __asm__ volatile(
            "vpdpwssd %%zmm8,%%zmm9,%%zmm0\n vpdpwssd %%zmm8,%%zmm9,%%zmm1\n vpdpwssd %%zmm8,%%zmm9,%%zmm2\n"
            "vpdpwssd %%zmm8,%%zmm9,%%zmm3\n vpdpwssd %%zmm8,%%zmm9,%%zmm4\n vpdpwssd %%zmm8,%%zmm9,%%zmm5\n"
            "vpdpwssd %%zmm8,%%zmm9,%%zmm6\n vpdpwssd %%zmm8,%%zmm9,%%zmm7\n" ::
                : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
    double dp = N * 8 / (now() - t) / 1e9;
    t = now();
    for (long n = 0; n < N; n++)
        __asm__ volatile(
            "vfmadd231ps %%zmm8,%%zmm9,%%zmm0\n vfmadd231ps %%zmm8,%%zmm9,%%zmm1\n vfmadd231ps %%zmm8,%%zmm9,%%zmm2\n"
            "vfmadd231ps %%zmm8,%%zmm9,%%zmm3\n vfmadd231ps %%zmm8,%%zmm9,%%zmm4\n vfmadd231ps %%zmm8,%%zmm9,%%zmm5\n"
            "vfmadd231ps %%zmm8,%%zmm9,%%zmm6\n vfmadd231ps %%zmm8,%%zmm9,%%zmm7\n" ::
                : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
    double fma512 = N * 8 / (now() - t) / 1e9;
    printf("zmm vpmaddwd + vpaddd: %.2f /ns = %5.1f int16 multiply-adds/ns\n", pairs512, 32 * pairs512);
    printf("zmm vpdpwssd (VNNI):   %.2f /ns = %5.1f int16 multiply-adds/ns\n", dp, 32 * dp);
    printf("zmm vfmadd231ps:       %.2f /ns = %5.1f fp32 multiply-adds/ns\n", fma512, 16 * fma512);
    printf("512-bit int16 / fp32 ceiling: %.2fx with vpaddd, %.2fx with vpdpwssd\n",
           2 * pairs512 / fma512, 2 * dp / fma512);
#endif
    return 0;
}
