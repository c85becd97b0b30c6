// gw_io.c — the gateway loop's one epoll set: MHD's epoll fd (level-triggered), a wake-up
// eventfd for the check thread, and libcurl's sockets, driven by curl_multi_socket_action.
//
// Why not curl_multi_poll + curl_multi_perform: perform visits every transfer each turn and, not
// knowing which socket is ready, polls each one (poll(fd, 0)) before reading; multi_poll builds a
// poll set of every socket each turn. With socket_action curl is told which socket is ready and
// reads it at once, and the loop waits in one epoll_wait.
//
// Backend sockets stay in the set between calls: curl's CURL_POLL_REMOVE for a connection it
// keeps alive in its cache costs no epoll_ctl here, and its reuse (CURL_POLL_IN again) costs none
// either. An event on a socket curl does not want (the backend closed an idle connection) takes it
// out of the set then. The table is told of every socket curl opens or closes
// (CURLOPT_OPENSOCKETFUNCTION / CURLOPT_CLOSESOCKETFUNCTION, set on every easy handle), so a
// recycled descriptor number is never mistaken for one still in the set; a socket curl opened
// some other way (its resolver's socket pair) is added and removed strictly.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "serve/gw_int.h"

#define IO_MAX_EVENTS 256

enum { SOCK_IN_SET = 1, SOCK_OURS = 2 };   // GwIoSock.flags

static GwIoSock *sock_at(Gateway *g, int fd) {
    if (fd < 0) return NULL;
    if (fd >= g->io.n_socks) {
        int n = g->io.n_socks ? g->io.n_socks : 256;
        while (n <= fd) n *= 2;
        GwIoSock *s = realloc(g->io.socks, (size_t)n * sizeof *s);
        if (!s) return NULL;
        memset(s + g->io.n_socks, 0, (size_t)(n - g->io.n_socks) * sizeof *s);
        g->io.socks = s;
        g->io.n_socks = n;
    }
    return &g->io.socks[fd];
}

static int ctl(Gateway *g, int op, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(g->io.epfd, op, fd, &ev);
}

// Puts fd in the set with events (or changes them). -1 on failure (logged).
static int sock_want(Gateway *g, GwIoSock *s, int fd, uint32_t events) {
    if ((s->flags & SOCK_IN_SET) && s->events == events) return 0;
    int rc = ctl(g, (s->flags & SOCK_IN_SET) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, events);
    if (rc && errno == ENOENT) rc = ctl(g, EPOLL_CTL_ADD, fd, events);
    if (rc && errno == EEXIST) rc = ctl(g, EPOLL_CTL_MOD, fd, events);
    if (rc) {
        LOG_E("gateway loop: cannot watch a backend socket (epoll_ctl: %s)", strerror(errno));
        return -1;
    }
    s->flags |= SOCK_IN_SET;
    s->events = events;
    return 0;
}

static void sock_drop(Gateway *g, GwIoSock *s, int fd) {
    if (s->flags & SOCK_IN_SET) ctl(g, EPOLL_CTL_DEL, fd, 0);
    s->flags &= (uint8_t)~SOCK_IN_SET;
    s->events = 0;
}

// CURLMOPT_SOCKETFUNCTION: what curl wants of one socket.
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *u, void *socketp) {
    (void)easy, (void)socketp;
    Gateway *g = u;
    GwIoSock *s = sock_at(g, fd);
    if (!s) return -1;
    if (what == CURL_POLL_REMOVE) {
        s->wanted = false;
        if (!(s->flags & SOCK_OURS)) sock_drop(g, s, fd);   // kept in the set for the connection's reuse
        return 0;
    }
    uint32_t ev = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    s->wanted = true;
    return sock_want(g, s, fd, ev);
}

// CURLMOPT_TIMERFUNCTION: when curl wants socket_action(CURL_SOCKET_TIMEOUT) next.
static int on_timer(CURLM *multi, long timeout_ms, void *u) {
    (void)multi;
    Gateway *g = u;
    g->io.timer_at_us = timeout_ms < 0 ? -1 : clock_now_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

static curl_socket_t on_open(void *u, curlsocktype purpose, struct curl_sockaddr *a) {
    (void)purpose;
    Gateway *g = u;
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    GwIoSock *s = fd >= 0 ? sock_at(g, fd) : NULL;
    if (fd >= 0 && !s) {   // no room to track it: refuse the socket (the call fails, is retried)
        close(fd);
        return CURL_SOCKET_BAD;
    }
    if (s) *s = (GwIoSock){.flags = SOCK_OURS};
    return fd;
}

static int on_close(void *u, curl_socket_t fd) {
    Gateway *g = u;
    GwIoSock *s = sock_at(g, fd);
    if (s) *s = (GwIoSock){0};   // closing takes it out of the epoll set
    return close(fd);
}

void gw_io_easy(Gateway *g, CURL *easy) {
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, g);
}

int gw_io_start(Gateway *g, char *err, size_t err_len) {
    g->io.epfd = epoll_create1(EPOLL_CLOEXEC);
    g->io.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g->io.timer_at_us = -1;
    if (g->io.epfd < 0 || g->io.wake_fd < 0 || ctl(g, EPOLL_CTL_ADD, g->mhd_fd, EPOLLIN) ||
        ctl(g, EPOLL_CTL_ADD, g->io.wake_fd, EPOLLIN))
        return err_set(err, err_len, ERR_IO, "cannot set up the gateway's event loop: %s", strerror(errno));
    curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g);
    curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g);
    return 0;
}

void gw_io_stop(Gateway *g) {
    if (g->io.epfd > 0) close(g->io.epfd);
    if (g->io.wake_fd > 0) close(g->io.wake_fd);
    g->io.epfd = g->io.wake_fd = -1;
    free(g->io.socks);
    g->io.socks = NULL;
    g->io.n_socks = 0;
}

void gw_io_wake(Gateway *g) {
    uint64_t one = 1;
    if (write(g->io.wake_fd, &one, sizeof one) < 0 && errno != EAGAIN) LOG_D("gateway loop: wake-up failed");
}

bool gw_io_timer_due(const Gateway *g, int64_t now_us) { return g->io.timer_at_us >= 0 && g->io.timer_at_us <= now_us; }

int64_t gw_io_timer_at(const Gateway *g) { return g->io.timer_at_us; }

// curl calls on_timer only when its next expiry changes; a timeout taken a little early (our
// clock rounds to ms) leaves it unchanged and uncalled, so the next one is asked of curl here.
void gw_io_curl_timeout(Gateway *g) {
    int running;
    curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    long ms = -1;
    curl_multi_timeout(g->multi, &ms);
    g->io.timer_at_us = ms < 0 ? -1 : clock_now_us() + (int64_t)ms * 1000;
}

bool gw_io_wait(Gateway *g, int timeout_ms) {
    struct epoll_event ev[IO_MAX_EVENTS];
    int n = epoll_wait(g->io.epfd, ev, IO_MAX_EVENTS, timeout_ms);
    bool mhd = false;
    for (int i = 0; i < n; i++) {
        int fd = ev[i].data.fd;
        if (fd == g->mhd_fd) {
            mhd = true;
            continue;
        }
        if (fd == g->io.wake_fd) {
            uint64_t v;
            if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN) LOG_D("gateway loop: wake-up read failed");
            mhd = true;   // the check thread handed bodies back: gw_front_collect runs with MHD
            continue;
        }
        GwIoSock *s = sock_at(g, fd);
        if (!s || !s->wanted) {   // an idle kept-alive connection spoke (closed): out of the set
            if (s) sock_drop(g, s, fd);
            else ctl(g, EPOLL_CTL_DEL, fd, 0);
            continue;
        }
        uint32_t e = ev[i].events;
        int flags = (e & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (e & EPOLLERR ? CURL_CSELECT_ERR : 0);
        int running;
        curl_multi_socket_action(g->multi, fd, flags, &running);
    }
    return mhd;
}
