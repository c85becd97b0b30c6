#include "base/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

CpuFeatures cpu_features(void) {
    CpuFeatures f = {0};
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    f.amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // "Auth" "enti" "cAMD"
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    bool osxsave = c & (1u << 27), avx = c & (1u << 28);
    // the OS must save XMM and YMM state (XCR0 bits 1 and 2) for any VEX-encoded 256-bit code
    uint64_t xcr0 = xgetbv0();
    if (!osxsave || !avx || (xcr0 & 6) != 6) return f;
    bool zmm = (xcr0 & 0xe0) == 0xe0;  // opmask, upper halves of ZMM0-15, ZMM16-31
    f.fma = c & (1u << 12);
    f.f16c = c & (1u << 29);
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = b & (1u << 5);
        f.avx512f = zmm && (b & (1u << 16));
        f.avx512bw = zmm && (b & (1u << 30));
        f.avx512vl = zmm && (b & (1u << 31));
        f.avx512vnni = zmm && (c & (1u << 11));
        bool tiles = (xcr0 & 0x60000) == 0x60000;  // XTILECFG and XTILEDATA
        f.amx_tile = tiles && (d & (1u << 24));
        f.amx_int8 = tiles && (d & (1u << 25));
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avxvnni = a & (1u << 4);
    return f;
}

bool cpu_amx_permit(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return false;
#endif
}
#else
CpuFeatures cpu_features(void) { return (CpuFeatures){0}; }
bool cpu_amx_permit(void) { return false; }
#endif
