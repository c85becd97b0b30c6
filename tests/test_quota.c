// test_quota.c — client-key usage windows and the admission rule (policy/quota). Truths: UTC
// calendar dates from Python's calendar.timegm (month index = (year − 1970) × 12 + month − 1,
// the next month's first second), and limits counted by hand.
#include "policy/quota.h"
#include "test.h"

TEST(quota_calendar_windows) {
    static const struct { int64_t t, month, next_month_s; } cases[] = {
        {1709214310, 649, 1709251200},    // 2024-02-29T13:45:10 (leap day) → 2024-03-01
        {1704067199, 647, 1704067200},    // 2023-12-31T23:59:59 → 2024-01-01
        {-3600, -1, 0},                   // 1969-12-31T23:00:00 → 1970-01-01
        {4107499200, 1561, 4107542400},   // 2100-02-28T12:00:00 (not a leap year) → 2100-03-01
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t w = quota_window(QUOTA_MONTH_NUSD, cases[i].t);
        EXPECT_EQ_INT(w, cases[i].month);
        EXPECT_EQ_INT(quota_window_end_s(QUOTA_MONTH_NUSD, w), cases[i].next_month_s);
    }
    EXPECT_EQ_INT(quota_window(QUOTA_RPM, 1709214310), 1709214310 / 60);
    EXPECT_EQ_INT(quota_window_end_s(QUOTA_RPM, 1709214310 / 60), 1709214360);
    EXPECT_EQ_INT(quota_window_end_s(QUOTA_DAY_NUSD, quota_window(QUOTA_DAY_NUSD, 1709214310)), 1709251200);
}

TEST(quota_admit_limits_and_windows) {
    QuotaLimits l = {.limit = {[QUOTA_RPM] = 2, [QUOTA_TPM] = -1, [QUOTA_DAY_NUSD] = 1000, [QUOTA_MONTH_NUSD] = -1}};
    QuotaUsage u = {0};
    int64_t t = 1709214310, ra = 0;   // 10 s into its minute
    EXPECT_EQ_INT(quota_admit(&l, &u, t, &ra), -1);
    quota_add(&u, QUOTA_RPM, 1, t);
    EXPECT_EQ_INT(quota_admit(&l, &u, t, &ra), -1);
    quota_add(&u, QUOTA_RPM, 1, t);
    EXPECT_EQ_INT(quota_admit(&l, &u, t, &ra), QUOTA_RPM);   // 2 of 2
    EXPECT_EQ_INT(ra, 50);
    EXPECT_EQ_INT(quota_admit(&l, &u, t + 50, &ra), -1);     // the next minute: counts start again
    EXPECT_EQ_INT(quota_used(&u, QUOTA_RPM, t + 50), 0);
    // spend: refused once the day's total reaches the budget; shared and pending both count
    u.shared[QUOTA_DAY_NUSD] = 600;
    quota_add(&u, QUOTA_DAY_NUSD, 399, t + 50);
    EXPECT_EQ_INT(quota_admit(&l, &u, t + 50, &ra), -1);
    quota_add(&u, QUOTA_DAY_NUSD, 1, t + 50);
    EXPECT_EQ_INT(quota_admit(&l, &u, t + 50, &ra), QUOTA_DAY_NUSD);
    EXPECT_EQ_INT(ra, 1709251200 - (t + 50));
    EXPECT_EQ_INT(quota_admit(&l, &u, 1709251200, &ra), -1);   // midnight UTC
    // a zero budget refuses everything
    QuotaLimits z = {.limit = {-1, -1, 0, -1}};
    QuotaUsage u2 = {0};
    EXPECT_EQ_INT(quota_admit(&z, &u2, t, &ra), QUOTA_DAY_NUSD);
}
