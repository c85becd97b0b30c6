// test.h — the unit-test harness. A test is a function declared with TEST(name); it registers
// itself, and build/run_tests runs every test (or those whose name contains argv[1]) and ends
// with the line "unit: N passed, N failed".
//
//   TEST(quant_roundtrip) {
//       EXPECT(x == 1);                       // records a failure, goes on
//       EXPECT_NEAR(a, b, 1e-6);
//       ASSERT(p != NULL);                     // records a failure and leaves the test
//   }
#ifndef RS_TEST_H
#define RS_TEST_H

#include <stdio.h>

typedef void (*TestFn)(void);
void test_register(const char *name, const char *file, TestFn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// A fresh temporary directory for this test run (created on first use; removed at exit).
const char *test_tmpdir(void);
// Path of the built binary (build/rightsize), for tests that run the CLI.
const char *test_bin(void);

#define TEST(name)                                                                   \
    static void name(void);                                                          \
    __attribute__((constructor)) static void test_reg_##name(void) {                 \
        test_register(#name, __FILE__, name);                                        \
    }                                                                                \
    static void name(void)

#define EXPECT(cond) \
    do { if (!(cond)) test_fail(__FILE__, __LINE__, "expected %s", #cond); } while (0)
#define ASSERT(cond) \
    do { if (!(cond)) { test_fail(__FILE__, __LINE__, "required %s", #cond); return; } } while (0)
#define EXPECT_NEAR(a, b, tol)                                                                  \
    do {                                                                                        \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                          \
        if (!(a_ - b_ <= t_ && b_ - a_ <= t_))                                                  \
            test_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, |diff| > %g", #a, a_, #b, b_, t_); \
    } while (0)
#define EXPECT_EQ_INT(a, b)                                                                     \
    do {                                                                                        \
        long long a_ = (long long)(a), b_ = (long long)(b);                                     \
        if (a_ != b_) test_fail(__FILE__, __LINE__, "%s = %lld, expected %s = %lld", #a, a_, #b, b_); \
    } while (0)

#endif
