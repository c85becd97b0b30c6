// listen_addr.c — see listen_addr.h.
#include "serve/listen_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int listen_addr_parse(const char *s, ListenAddr *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    const char *colon = s ? strrchr(s, ':') : NULL;
    const char *h = s, *h_end = colon;
    if (s && s[0] == '[') {  // [v6]:port
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') goto bad;
        h = s + 1, h_end = close, colon = close + 1;
    }
    if (!colon || h_end <= h || (size_t)(h_end - h) >= sizeof out->host) goto bad;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535) goto bad;
    memcpy(out->host, h, (size_t)(h_end - h));
    out->port = (int)port;
    const char *lit = strcmp(out->host, "localhost") == 0 ? "127.0.0.1" : out->host;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->sa;
    if (s[0] != '[' && inet_pton(AF_INET, lit, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        out->sa_len = sizeof *v4;
    } else if (s[0] == '[' && inet_pton(AF_INET6, lit, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        out->sa_len = sizeof *v6;
        out->ipv6 = true;
    } else {
        snprintf(err, err_len,
                 "listen address '%s': '%s' is not an IP address (use an IPv4 address such as 127.0.0.1 or 0.0.0.0, "
                 "an IPv6 one in brackets such as [::1], or localhost)",
                 s, out->host);
        return -1;
    }
    return 0;
bad:
    snprintf(err, err_len, "listen address '%s': expected HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080, localhost:8080)",
             s ? s : "");
    return -1;
}

void listen_addr_format(const ListenAddr *a, int port, char *buf, size_t cap) {
    snprintf(buf, cap, a->ipv6 ? "[%s]:%d" : "%s:%d", a->host, port);
}
