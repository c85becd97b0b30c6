// conn_guard: the body budget's arithmetic, the descriptor limit, and — against a real
// libmicrohttpd daemon on loopback — eviction of the oldest reader at the cap, the fixed header
// deadline (not reset by trickled bytes) and the drain sweep.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "serve/conn_guard.h"
#include "test.h"

TEST(conn_guard_budget) {
    ConnGuardConfig cfg = {.header_timeout_us = 1000000, .body_timeout_us = 1000000, .idle_timeout_us = 1000000,
                           .max_conns = 8, .body_budget_bytes = 100};
    ConnGuard *g = conn_guard_create(&cfg);
    ASSERT(g);
    EXPECT(conn_guard_reserve(g, 60));
    EXPECT(!conn_guard_reserve(g, 50));   // 110 > 100: refused, nothing taken
    EXPECT(conn_guard_reserve(g, 40));
    EXPECT(!conn_guard_reserve(g, 1));
    EXPECT(!conn_guard_reserve(g, (size_t)-1));   // no wrap-around
    ConnGuardStats st;
    conn_guard_stats(g, &st);
    EXPECT_EQ_INT(st.body_bytes, 100);
    EXPECT_EQ_INT(st.refused_budget, 3);
    conn_guard_release(g, 100);
    conn_guard_stats(g, &st);
    EXPECT_EQ_INT(st.body_bytes, 0);
    conn_guard_destroy(g);
}

TEST(conn_guard_conn_limit_from_rlimit) {
    int64_t n = conn_guard_conn_limit(100);
    struct rlimit rl;
    ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    EXPECT(rl.rlim_cur == rl.rlim_max);   // the soft limit was raised to the hard one
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 164) EXPECT_EQ_INT(n, (int64_t)rl.rlim_cur - 100);
}

static enum MHD_Result never_done(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **ctx) {
    (void)cls, (void)mc, (void)url, (void)method, (void)version, (void)data, (void)size, (void)ctx;
    return MHD_NO;   // never reached: no request header ever completes in these tests
}

static int client(int port, const char *first_bytes) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    if (send(fd, first_bytes, strlen(first_bytes), MSG_NOSIGNAL) < 0) return -1;
    return fd;
}

// Whether the server closed fd within ms (end-of-file or a reset).
static bool closed_within(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0) return false;
    char b[64];
    return recv(fd, b, sizeof b, MSG_DONTWAIT) <= 0;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

TEST(conn_guard_evicts_oldest_and_keeps_fixed_deadlines) {
    ConnGuardConfig cfg = {.header_timeout_us = 400000, .body_timeout_us = 400000, .idle_timeout_us = 400000,
                           .max_conns = 4, .body_budget_bytes = 1 << 20};
    ConnGuard *g = conn_guard_create(&cfg);
    ASSERT(g);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, never_done,
                                            NULL, MHD_OPTION_NOTIFY_CONNECTION, conn_guard_notify, g,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    ASSERT(d);
    int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    int fds[6];
    for (int i = 0; i < 6; i++) {
        fds[i] = client(port, "POST /v1/completions HTTP/1.1\r\n");
        sleep_ms(20);   // accepted in order
    }
    // Six connections on a cap of four: the two oldest were closed to make room.
    EXPECT(closed_within(fds[0], 500));
    EXPECT(closed_within(fds[1], 500));
    for (int i = 2; i < 6; i++) EXPECT(!closed_within(fds[i], 0));
    // Trickled header bytes do not move the deadline: all four go once it passes.
    int64_t t0 = clock_now_us();
    while (clock_now_us() - t0 < 600000) {
        for (int i = 2; i < 6; i++) send(fds[i], "X-a: b\r\n", 8, MSG_NOSIGNAL | MSG_DONTWAIT);
        conn_guard_sweep(g, clock_now_us(), false);
        sleep_ms(50);
    }
    for (int i = 2; i < 6; i++) EXPECT(closed_within(fds[i], 500));
    ConnGuardStats st;
    conn_guard_stats(g, &st);
    EXPECT_EQ_INT(st.closed_evicted, 2);
    EXPECT_EQ_INT(st.closed_header, 4);
    // Drain: a fresh reader goes at once, deadline or not.
    int fd = client(port, "GET / HTTP/1.1\r\n");
    sleep_ms(50);
    EXPECT(!closed_within(fd, 0));
    EXPECT_EQ_INT(conn_guard_sweep(g, clock_now_us(), true), 1);
    EXPECT(closed_within(fd, 500));
    close(fd);
    for (int i = 0; i < 6; i++) close(fds[i]);
    MHD_stop_daemon(d);
    conn_guard_destroy(g);
}
