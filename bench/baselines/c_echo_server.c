/* A single-threaded epoll upper-case echo server: the practical ceiling for echo on this machine.
 * Usage: c_echo_server HOST PORT   (port 0: the kernel picks; the bound address is printed) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

struct conn {
    int fd;
    char pending[BUF]; /* bytes read but not yet written back */
    size_t start, end;
};

static void upper(char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 'a' && p[i] <= 'z') p[i] -= 32;
}

/* Writes what is pending; returns -1 on error, 0 if all written, 1 if the socket is full. */
static int flush_conn(struct conn *c) {
    while (c->start < c->end) {
        ssize_t w = write(c->fd, c->pending + c->start, c->end - c->start);
        if (w < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
        c->start += (size_t)w;
    }
    c->start = c->end = 0;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s HOST PORT\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) { perror("listen"); return 1; }
    socklen_t len = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &len);
    printf("listening on %s:%d\n", argv[1], ntohs(addr.sin_port));
    fflush(stdout);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0 && errno == EINTR) continue;
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            int state = 0;
            if (events[i].events & EPOLLOUT) state = flush_conn(c);
            if (state == 0 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                ssize_t r = read(c->fd, c->pending, BUF);
                if (r == 0 || (r < 0 && errno != EAGAIN)) state = -1;
                else if (r > 0) {
                    upper(c->pending, (size_t)r);
                    c->start = 0;
                    c->end = (size_t)r;
                    state = flush_conn(c);
                }
            }
            if (state < 0) {
                close(c->fd);
                free(c);
                continue;
            }
            /* While output is pending, stop reading and wait until the socket is writable again. */
            struct epoll_event mev = {.events = state == 1 ? EPOLLOUT : EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &mev);
        }
    }
}
