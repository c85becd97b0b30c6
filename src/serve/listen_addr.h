// listen_addr.h — "HOST:PORT" for --listen and the pipeline's `listen:`, parsed once for the
// worker and the gateway alike: an IPv4 literal (127.0.0.1, 0.0.0.0), an IPv6 literal in brackets
// ([::1], [::]) or `localhost` (127.0.0.1). Other host names are refused rather than looked up:
// a listen address that depends on DNS at start-up fails in the worst place.
#ifndef RS_LISTEN_ADDR_H
#define RS_LISTEN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct {
    struct sockaddr_storage sa;  // ready for bind / MHD_OPTION_SOCK_ADDR
    socklen_t sa_len;
    bool ipv6;                   // MHD needs MHD_USE_IPv6 for an IPv6 address
    char host[64];               // as given, without brackets ("::1", "127.0.0.1", "localhost")
    int port;                    // 0..65535 (0: the kernel picks one)
} ListenAddr;

// Parses s. Returns 0, or -1 with a one-line reason in err that quotes s and shows an example.
int listen_addr_parse(const char *s, ListenAddr *out, char *err, size_t err_len);

// "host:port" or "[host]:port" for URLs and log lines.
void listen_addr_format(const ListenAddr *a, int port, char *buf, size_t cap);

#endif
