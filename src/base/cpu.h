// cpu.h — which SIMD extensions this CPU and OS let us run, read once from CPUID (and XGETBV for
// the OS's consent to save AVX registers). Our own reading rather than __builtin_cpu_supports:
// clang 14 does not know "f16c" or "avxvnni" there, and the build must work with both compilers.
#ifndef RS_CPU_H
#define RS_CPU_H

#include <stdbool.h>

typedef struct {
    bool avx2, fma, f16c;  // the AVX2 kernel set needs all three
    bool avxvnni;          // AVX-VNNI (VEX-encoded vpdpbusd), Alder Lake / Sapphire Rapids and later
    // AVX-512 Foundation, Byte/Word, Vector Length and VNNI (EVEX vpdpbusd on 512-bit registers),
    // each true only when the OS also saves the opmask and ZMM state (XCR0 bits 5-7): Ice Lake,
    // Sapphire Rapids, Zen 4 and later. The avx512vnni kernel set needs all four.
    bool avx512f, avx512bw, avx512vl, avx512vnni;
} CpuFeatures;

// The features of the CPU running this process (all false on non-x86 builds). Thread-safe.
CpuFeatures cpu_features(void);

#endif
