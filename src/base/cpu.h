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
    // AMX tiles and their int8 products (Sapphire Rapids and later), when the OS supports the tile
    // state (XCR0 bits 17-18). Linux also wants each process to ask before its first tile
    // instruction (arch_prctl ARCH_REQ_XCOMP_PERM, see cpu_amx_permit).
    bool amx_tile, amx_int8;
    // The vendor string is "AuthenticAMD": a memory-bound kernel's best prefetch differs between
    // vendors' cores (see mm_stream_pf in engine/matmul_kernels.h).
    bool amd;
} CpuFeatures;

// The features of the CPU running this process (all false on non-x86 builds). Thread-safe.
CpuFeatures cpu_features(void);
// Asks the OS for this process's permission to use AMX tile data (Linux 5.16+); true when granted
// (or already held). Call only when cpu_features() reports amx_tile. Thread-safe, idempotent.
bool cpu_amx_permit(void);

#endif
