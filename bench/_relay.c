/*
 * Calibration for bench/pg-endpoint.ts (not part of airmirror): the cheapest relay there is — one
 * thread, epoll, read() then write() of whatever arrived, no parsing. What it costs Postgres's
 * select-only throughput on this machine is the floor for any proxy with a hop of its own,
 * whatever its language. Usage: relay <listen port> <upstream port> (loopback only).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int peer[65536];

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  int one = 1;
  struct sockaddr_in at = {0};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  at.sin_port = htons(atoi(argv[1]));
  int lsock = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lsock, (struct sockaddr *)&at, sizeof at) < 0 || listen(lsock, 128) < 0) return 1;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lsock};
  epoll_ctl(ep, EPOLL_CTL_ADD, lsock, &ev);
  static char buf[65536];
  struct epoll_event ready[64];
  for (;;) {
    int n = epoll_wait(ep, ready, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == lsock) {
        int c = accept(lsock, 0, 0);
        int u = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in up = at;
        up.sin_port = htons(atoi(argv[2]));
        if (c < 0 || c >= 65536 || u < 0 || u >= 65536 || connect(u, (struct sockaddr *)&up, sizeof up) < 0) {
          if (c >= 0) close(c);
          if (u >= 0) close(u);
          continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        peer[c] = u;
        peer[u] = c;
        struct epoll_event ec = {.events = EPOLLIN, .data.fd = c};
        struct epoll_event eu = {.events = EPOLLIN, .data.fd = u};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ec);
        epoll_ctl(ep, EPOLL_CTL_ADD, u, &eu);
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        close(peer[fd]);
        close(fd);
        continue;
      }
      for (ssize_t w = 0; w < r;) {
        ssize_t k = write(peer[fd], buf + w, r - w);
        if (k <= 0) break;
        w += k;
      }
    }
  }
}
