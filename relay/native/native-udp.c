/*
 * native-udp: batched UDP I/O for the relay (--udp-io native), a Node-API addon (ABI-stable: one
 * build serves every Node from 20 on). Linux only (recvmmsg, sendmmsg).
 *
 * It owns its UDP sockets (IPv4 and IPv6, non-blocking), keeps them in one epoll set per Node
 * environment (each worker thread has its own state) and polls that set with one uv_poll on the
 * environment's loop, and:
 *
 * - when sockets are readable, reads every ready socket with recvmmsg into one receive area
 *   shared with JS (RX_SLOTS slots of RX_SLOT bytes and a table of RX_META int32 per datagram,
 *   each row naming its socket), then makes ONE JS call per filled area: onBatch(count). A relay
 *   with one relayed socket per allocation enters JS once per loop turn, not once per socket;
 * - sends by copying each datagram into a send pool (no system call); the pool is flushed with
 *   one sendmmsg per socket and run of queued datagrams, once per loop turn (uv_prepare before
 *   the loop blocks, uv_check after it polled), or at once when the pool is full.
 *
 * Nothing on the data path throws: a datagram that cannot be taken or sent is dropped and
 * counted (stats()). Only setup() with a non-function throws (a programmer fault).
 *
 * JS API (relay/native-udp.ts wraps it):
 *   setup(onBatch) -> { data: ArrayBuffer, meta: ArrayBuffer, slot, metaInts }
 *   open(family 4|6, address, port, reusePort) -> id >= 0, or -errno
 *   localPort(id) -> port, or -errno
 *   send(id, bytes: Uint8Array, port, address) -> undefined (drops are counted)
 *   close(id) -> undefined
 *   stats() -> { received, sent, batches, sendCalls, dropOversized, dropSendFull, dropSendError,
 *                dropBadInput, recvErrors, open }
 * and the backbone's frame tag with OpenSSL's SHA-256 (frame-mac.c: macInfo, macKey, macSeal,
 * macVerify), usable without setup(): relay/frame-mac.ts takes it whatever the --udp-io.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "frame-mac.h"

#define RX_SLOTS 64
/* A slot takes the largest UDP payload (65,507 bytes over IPv4, 65,527 over IPv6), as dgram does:
 * a datagram dgram would deliver is never dropped for want of room (a client's 9,216-byte
 * ChannelData framed for the backbone is larger than that, and so are rare jumbo payloads). 64
 * bytes over 64 KiB, so that the slots do not all start in one cache set. The area is 4.2 MB of
 * address space per thread, resident only where datagrams land. dropOversized stays as a guard. */
#define RX_SLOT (65536 + 64)
#define RX_META 20   /* int32 per datagram: see fill_meta */
#define RX_ROUNDS 8  /* JS batches per readiness (per socket: RX_ROUNDS * RX_SLOTS datagrams) */
#define EP_EVENTS 256 /* ready sockets taken per readiness; the rest stay ready (level-triggered) */
#define TX_SLOTS 512
#define TX_SLOT 2048 /* larger datagrams are sent at once with sendto, after the socket's queue */
#define TX_BATCH 64

typedef struct sock sock_t;
typedef struct state state_t;

/* Apart from the state, as the hooks are: its close callback closes the fd after the state went. */
typedef struct {
  uv_poll_t poll;
  int fd;
} ep_poll_t;

struct sock {
  state_t *st;
  int fd;
  int id;
  int family;
  int closing;
  /* Queued datagrams: indices into the send pool, a singly linked list. */
  int tx_head, tx_tail;
  int dirty; /* on the state's dirty list */
  sock_t *next_dirty;
};

typedef struct {
  struct sockaddr_storage to;
  socklen_t to_len;
  uint32_t len;
  int next;
  uint8_t data[TX_SLOT];
} tx_slot_t;

typedef struct {
  double received, sent, batches, send_calls, drop_oversized, drop_send_full, drop_send_error,
      drop_bad_input, recv_errors;
} counters_t;

struct state {
  napi_env env;
  uv_loop_t *loop;
  napi_ref on_batch;
  napi_ref data_ref, meta_ref;
  napi_async_context async;
  uint8_t *rx_data;
  int32_t *rx_meta;
  struct mmsghdr rx_msgs[RX_SLOTS];
  struct iovec rx_iov[RX_SLOTS];
  struct sockaddr_storage rx_from[RX_SLOTS];
  sock_t **socks;
  int nsocks, cap;
  int free_ids_len;
  int *free_ids;
  tx_slot_t *tx;
  int tx_free; /* head of the free list */
  sock_t *dirty;
  /* Allocated apart from the state: their close callbacks may run after the state is freed. */
  uv_prepare_t *prepare;
  uv_check_t *check;
  ep_poll_t *ep; /* the epoll set of the sockets (ep->fd) and its uv_poll */
  int hooks_started;
  /* While onBatch runs, closed ids wait here: rows of the batch still name them, and a socket
   * opened by the callback must not take an id whose rows are not yet dispatched. */
  int in_batch;
  int held_ids_len;
  int *held_ids;
  int open;
  counters_t c;
};

/* ---- send pool ---- */

static void flush_sock(state_t *st, sock_t *s) {
  struct mmsghdr msgs[TX_BATCH];
  struct iovec iov[TX_BATCH];
  int idx[TX_BATCH];
  while (s->tx_head >= 0) {
    int n = 0;
    for (int i = s->tx_head; i >= 0 && n < TX_BATCH; i = st->tx[i].next) {
      tx_slot_t *t = &st->tx[i];
      iov[n].iov_base = t->data;
      iov[n].iov_len = t->len;
      memset(&msgs[n].msg_hdr, 0, sizeof(struct msghdr));
      msgs[n].msg_hdr.msg_name = &t->to;
      msgs[n].msg_hdr.msg_namelen = t->to_len;
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      idx[n++] = i;
    }
    int done = 0;
    while (done < n) {
      int r = sendmmsg(s->fd, msgs + done, (unsigned)(n - done), 0);
      st->c.send_calls++;
      if (r > 0) {
        st->c.sent += r;
        done += r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      /* The first datagram left failed (buffer full, unreachable...): drop it, go on. */
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
        st->c.drop_send_full++;
      else
        st->c.drop_send_error++;
      done++;
    }
    /* Give the n slots back. */
    int after = st->tx[idx[n - 1]].next;
    for (int k = 0; k < n; k++) {
      st->tx[idx[k]].next = st->tx_free;
      st->tx_free = idx[k];
    }
    s->tx_head = after;
  }
  s->tx_tail = -1;
}

static void flush_all(state_t *st) {
  sock_t *s = st->dirty;
  st->dirty = NULL;
  while (s) {
    sock_t *next = s->next_dirty;
    s->dirty = 0;
    s->next_dirty = NULL;
    flush_sock(st, s);
    s = next;
  }
}

static void on_prepare(uv_prepare_t *h) { flush_all((state_t *)h->data); }
static void on_check(uv_check_t *h) { flush_all((state_t *)h->data); }

/* ---- helpers ---- */

static sock_t *lookup(state_t *st, napi_env env, napi_value v) {
  int32_t id;
  if (napi_get_value_int32(env, v, &id) != napi_ok) return NULL;
  if (id < 0 || id >= st->nsocks) return NULL;
  sock_t *s = st->socks[id];
  return s && !s->closing ? s : NULL;
}

/* An IP literal (no zone) and a port into a sockaddr of `family`; IPv4 given to an IPv6 socket
 * is not mapped (the relay's IPv6 sockets are IPv6-only). 0 on success. */
static int to_sockaddr(napi_env env, napi_value addr, int32_t port, int family,
                       struct sockaddr_storage *out, socklen_t *len) {
  char text[64];
  size_t n = 0;
  if (port < 0 || port > 65535) return -1;
  if (napi_get_value_string_latin1(env, addr, text, sizeof text, &n) != napi_ok) return -1;
  if (n >= sizeof text - 1) return -1;
  memset(out, 0, sizeof *out);
  if (family == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, text, &a->sin_addr) != 1) return -1;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET6, text, &a->sin6_addr) != 1) return -1;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    *len = sizeof *a;
  }
  return 0;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static state_t *state_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return (state_t *)data;
}

/* ---- receive ---- */

/* meta[0] socket id, [1] length, [2] port, [3] family, [4] IPv4 address as a host-order uint32
 * (for a cache of strings in JS), [5] length of the IPv6 text at int 8 (INET6_ADDRSTRLEN, 46 bytes
 * with its NUL, in ints 8-19), [6] the receive slot holding the datagram (set by the caller). */
static void fill_meta(int32_t *m, sock_t *s, struct sockaddr_storage *from, uint32_t len) {
  m[0] = s->id;
  m[1] = (int32_t)len;
  if (from->ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)from;
    m[2] = ntohs(a->sin_port);
    m[3] = 4;
    m[4] = (int32_t)ntohl(a->sin_addr.s_addr);
    m[5] = 0;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)from;
    m[2] = ntohs(a->sin6_port);
    m[3] = 6;
    m[4] = 0;
    char *text = (char *)(m + 8);
    if (inet_ntop(AF_INET6, &a->sin6_addr, text, INET6_ADDRSTRLEN) == NULL) text[0] = 0;
    m[5] = (int32_t)strlen(text);
  }
}

/* Hands the `rows` datagrams gathered so far to JS in one call. 0, or -1 when the callback threw
 * (the exception went to Node's handler, as for any I/O callback) and this readiness stops. */
static int deliver(state_t *st, napi_value recv, napi_value cb, int rows) {
  napi_env env = st->env;
  st->c.batches++;
  napi_value argv[1];
  napi_create_int32(env, rows, &argv[0]);
  napi_value result;
  st->in_batch = 1;
  /* make_callback runs the microtasks and ticks afterwards, as for any I/O callback. */
  napi_status status = napi_make_callback(env, st->async, recv, cb, 1, argv, &result);
  st->in_batch = 0;
  /* No row names the ids closed during the call any more: they may be taken again. */
  while (st->held_ids_len > 0) st->free_ids[st->free_ids_len++] = st->held_ids[--st->held_ids_len];
  if (status == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
    return -1;
  }
  return 0;
}

/* The epoll set is readable: read every ready socket into the receive area, one JS call per filled
 * area and one for the rest. A socket is read until it has nothing left or RX_ROUNDS areas were
 * filled from it; after RX_ROUNDS * 2 calls the loop gets its turn (timers, other handles) and the
 * sockets still ready are reported again (level-triggered). */
static void on_ready(uv_poll_t *h, int status, int events) {
  state_t *st = (state_t *)h->data;
  if (status < 0 || !(events & UV_READABLE)) {
    st->c.recv_errors++;
    return;
  }
  struct epoll_event ready[EP_EVENTS];
  int nready = epoll_wait(st->ep->fd, ready, EP_EVENTS, 0);
  if (nready <= 0) {
    if (nready < 0 && errno != EINTR) st->c.recv_errors++;
    return;
  }
  napi_env env = st->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv;
  napi_get_reference_value(env, st->on_batch, &cb);
  napi_get_global(env, &recv);
  int used = 0; /* slots filled since the last call */
  int rows = 0; /* datagrams among them (a truncated one takes a slot, not a row) */
  int calls = 0, stop = 0;
  for (int e = 0; e < nready && !stop; e++) {
    int id = (int)ready[e].data.u32;
    for (int round = 0; round < RX_ROUNDS; round++) {
      /* Looked up again after each call: JS may have closed it (or another socket took its id,
       * which is ours to read too). */
      sock_t *s = id < st->nsocks ? st->socks[id] : NULL;
      if (!s || s->closing) break;
      for (int i = used; i < RX_SLOTS; i++) {
        st->rx_msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        st->rx_msgs[i].msg_hdr.msg_flags = 0;
      }
      int room = RX_SLOTS - used;
      int n = recvmmsg(s->fd, st->rx_msgs + used, (unsigned)room, MSG_DONTWAIT, NULL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) st->c.recv_errors++;
        break;
      }
      if (n == 0) break;
      for (int k = used; k < used + n; k++) {
        struct mmsghdr *m = &st->rx_msgs[k];
        if (m->msg_hdr.msg_flags & MSG_TRUNC) {
          st->c.drop_oversized++;
          continue;
        }
        /* Datagram k sits in slot k; its row says which socket and which slot. */
        int32_t *row = st->rx_meta + rows * RX_META;
        fill_meta(row, s, &st->rx_from[k], m->msg_len);
        row[6] = k;
        rows++;
        st->c.received++;
      }
      used += n;
      if (n < room) break; /* this socket is drained */
      /* The area is full: hand it over, then read this socket again. */
      if (rows > 0 && deliver(st, recv, cb, rows) != 0) stop = 1;
      used = rows = 0;
      if (++calls >= RX_ROUNDS * 2) stop = 1;
      if (stop) break;
    }
  }
  if (!stop && rows > 0) deliver(st, recv, cb, rows);
  napi_close_handle_scope(env, scope);
}

/* ---- sockets ---- */

static void close_sock(state_t *st, sock_t *s) {
  if (s->closing) return;
  flush_sock(st, s);
  if (s->dirty) {
    /* Unlink from the dirty list. */
    sock_t **p = &st->dirty;
    while (*p && *p != s) p = &(*p)->next_dirty;
    if (*p) *p = s->next_dirty;
    s->dirty = 0;
  }
  s->closing = 1;
  epoll_ctl(st->ep->fd, EPOLL_CTL_DEL, s->fd, NULL);
  close(s->fd);
  st->socks[s->id] = NULL;
  if (st->in_batch)
    st->held_ids[st->held_ids_len++] = s->id;
  else
    st->free_ids[st->free_ids_len++] = s->id;
  if (--st->open == 0) uv_unref((uv_handle_t *)&st->ep->poll);
  free(s);
}

static int grow(state_t *st) {
  int cap = st->cap ? st->cap * 2 : 64;
  sock_t **socks = realloc(st->socks, sizeof(sock_t *) * (size_t)cap);
  if (!socks) return -1;
  st->socks = socks;
  int *ids = realloc(st->free_ids, sizeof(int) * (size_t)cap);
  if (!ids) return -1;
  st->free_ids = ids;
  int *held = realloc(st->held_ids, sizeof(int) * (size_t)cap);
  if (!held) return -1;
  st->held_ids = held;
  st->cap = cap;
  return 0;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  state_t *st = state_of(env);
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t family = 0, port = -1;
  bool reuse = false;
  if (!st || !st->rx_data || !st->ep || argc < 4 ||
      napi_get_value_int32(env, argv[0], &family) != napi_ok ||
      (family != 4 && family != 6) || napi_get_value_int32(env, argv[2], &port) != napi_ok ||
      napi_get_value_bool(env, argv[3], &reuse) != napi_ok)
    return number(env, -EINVAL);
  struct sockaddr_storage where;
  socklen_t where_len;
  if (to_sockaddr(env, argv[1], port, family, &where, &where_len) != 0) return number(env, -EINVAL);
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return number(env, -errno);
  int one = 1;
  if (family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    close(fd);
    return number(env, -e);
  }
  if (bind(fd, (struct sockaddr *)&where, where_len) != 0) {
    int e = errno;
    close(fd);
    return number(env, -e);
  }
  if (st->free_ids_len == 0 && st->nsocks == st->cap && grow(st) != 0) {
    close(fd);
    return number(env, -ENOMEM);
  }
  sock_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return number(env, -ENOMEM);
  }
  s->st = st;
  s->fd = fd;
  s->family = family;
  s->tx_head = s->tx_tail = -1;
  s->id = st->free_ids_len > 0 ? st->free_ids[--st->free_ids_len] : st->nsocks++;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.u32 = (uint32_t)s->id;
  if (epoll_ctl(st->ep->fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int e = errno;
    close(fd);
    st->free_ids[st->free_ids_len++] = s->id;
    free(s);
    return number(env, -e);
  }
  st->socks[s->id] = s;
  /* An open socket keeps the loop alive, as a dgram socket does. */
  if (st->open++ == 0) uv_ref((uv_handle_t *)&st->ep->poll);
  return number(env, s->id);
}

static napi_value js_set_buffers(napi_env env, napi_callback_info info) {
  /* setBuffers(fd, recvBytes, sendBytes): best effort, the kernel caps them at [rw]mem_max. */
  state_t *st = state_of(env);
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!st || argc < 3) return undefined(env);
  sock_t *s = lookup(st, env, argv[0]);
  int32_t rcv = 0, snd = 0;
  if (!s || napi_get_value_int32(env, argv[1], &rcv) != napi_ok ||
      napi_get_value_int32(env, argv[2], &snd) != napi_ok)
    return undefined(env);
  if (rcv > 0) setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  return undefined(env);
}

/* flush(): the send pool out now, for a caller whose datagrams were queued after this turn's check
 * (a setImmediate runs after the addon's check hook): they leave before the loop blocks anyway (the
 * prepare hook), this saves them the next turn's timers. */
static napi_value js_flush(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = state_of(env);
  if (st && st->rx_data) flush_all(st);
  return undefined(env);
}

static napi_value js_local_port(napi_env env, napi_callback_info info) {
  state_t *st = state_of(env);
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  sock_t *s = st && argc >= 1 ? lookup(st, env, argv[0]) : NULL;
  if (!s) return number(env, -EBADF);
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  if (getsockname(s->fd, (struct sockaddr *)&a, &len) != 0) return number(env, -errno);
  return number(env, a.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&a)->sin_port)
                                            : ntohs(((struct sockaddr_in6 *)&a)->sin6_port));
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  state_t *st = state_of(env);
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!st || !st->rx_data) return NULL;
  sock_t *s = argc >= 4 ? lookup(st, env, argv[0]) : NULL;
  bool is_typed = false;
  int32_t port = -1;
  if (!s || napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok) {
    st->c.drop_bad_input++;
    return NULL;
  }
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset) != napi_ok ||
      type != napi_uint8_array) {
    st->c.drop_bad_input++;
    return NULL;
  }
  struct sockaddr_storage to;
  socklen_t to_len;
  if (to_sockaddr(env, argv[3], port, s->family, &to, &to_len) != 0 || port == 0) {
    st->c.drop_bad_input++;
    return NULL;
  }
  if (length > TX_SLOT) {
    /* Too big for a pool slot: keep the order, send what is queued, then this one. */
    flush_sock(st, s);
    st->c.send_calls++;
    if (sendto(s->fd, data, length, 0, (struct sockaddr *)&to, to_len) >= 0)
      st->c.sent++;
    else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
      st->c.drop_send_full++;
    else
      st->c.drop_send_error++;
    return NULL;
  }
  if (st->tx_free < 0) flush_all(st);
  int i = st->tx_free;
  tx_slot_t *t = &st->tx[i];
  st->tx_free = t->next;
  memcpy(t->data, data, length);
  t->len = (uint32_t)length;
  t->to = to;
  t->to_len = to_len;
  t->next = -1;
  if (s->tx_tail >= 0)
    st->tx[s->tx_tail].next = i;
  else
    s->tx_head = i;
  s->tx_tail = i;
  if (!s->dirty) {
    s->dirty = 1;
    s->next_dirty = st->dirty;
    st->dirty = s;
  }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  state_t *st = state_of(env);
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  sock_t *s = st && argc >= 1 ? lookup(st, env, argv[0]) : NULL;
  if (s) close_sock(st, s);
  return NULL;
}

static void set_number(napi_env env, napi_value obj, const char *name, double v) {
  napi_set_named_property(env, obj, name, number(env, v));
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = state_of(env);
  napi_value o;
  napi_create_object(env, &o);
  if (!st) return o;
  set_number(env, o, "received", st->c.received);
  set_number(env, o, "sent", st->c.sent);
  set_number(env, o, "batches", st->c.batches);
  set_number(env, o, "sendCalls", st->c.send_calls);
  set_number(env, o, "dropOversized", st->c.drop_oversized);
  set_number(env, o, "dropSendFull", st->c.drop_send_full);
  set_number(env, o, "dropSendError", st->c.drop_send_error);
  set_number(env, o, "dropBadInput", st->c.drop_bad_input);
  set_number(env, o, "recvErrors", st->c.recv_errors);
  set_number(env, o, "open", st->open);
  return o;
}

static napi_value js_setup(napi_env env, napi_callback_info info) {
  state_t *st = state_of(env);
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (!st || t != napi_function) {
    napi_throw_type_error(env, "ERR_NATIVE_UDP", "setup(onBatch): onBatch must be a function");
    return NULL;
  }
  if (st->on_batch) napi_delete_reference(env, st->on_batch);
  napi_create_reference(env, argv[0], 1, &st->on_batch);
  napi_value data, meta;
  if (!st->rx_data) {
    if (!st->tx) {
      st->tx = malloc(sizeof(tx_slot_t) * TX_SLOTS);
      if (!st->tx) {
        napi_throw_error(env, "ERR_NATIVE_UDP", "setup: out of memory");
        return NULL;
      }
      for (int i = 0; i < TX_SLOTS; i++) st->tx[i].next = i + 1 < TX_SLOTS ? i + 1 : -1;
      st->tx_free = 0;
    }
    void *d, *m;
    if (napi_create_arraybuffer(env, (size_t)RX_SLOTS * RX_SLOT, &d, &data) != napi_ok ||
        napi_create_arraybuffer(env, (size_t)RX_SLOTS * RX_META * 4, &m, &meta) != napi_ok)
      return NULL;
    napi_create_reference(env, data, 1, &st->data_ref);
    napi_create_reference(env, meta, 1, &st->meta_ref);
    st->rx_data = d;
    st->rx_meta = m;
    for (int i = 0; i < RX_SLOTS; i++) {
      st->rx_iov[i].iov_base = st->rx_data + (size_t)i * RX_SLOT;
      st->rx_iov[i].iov_len = RX_SLOT;
      memset(&st->rx_msgs[i], 0, sizeof st->rx_msgs[i]);
      st->rx_msgs[i].msg_hdr.msg_iov = &st->rx_iov[i];
      st->rx_msgs[i].msg_hdr.msg_iovlen = 1;
      st->rx_msgs[i].msg_hdr.msg_name = &st->rx_from[i];
    }
    napi_value name;
    napi_create_string_utf8(env, "native-udp", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, NULL, name, &st->async);
    st->prepare = malloc(sizeof *st->prepare);
    st->check = malloc(sizeof *st->check);
    if (!st->prepare || !st->check) {
      free(st->prepare);
      free(st->check);
      st->prepare = NULL;
      st->check = NULL;
      napi_throw_error(env, "ERR_NATIVE_UDP", "setup: out of memory");
      return NULL;
    }
    st->ep = malloc(sizeof *st->ep);
    int epfd = st->ep ? epoll_create1(EPOLL_CLOEXEC) : -1;
    if (epfd < 0 || uv_poll_init(st->loop, &st->ep->poll, epfd) != 0) {
      if (epfd >= 0) close(epfd);
      free(st->ep);
      free(st->prepare);
      free(st->check);
      st->ep = NULL;
      st->prepare = NULL;
      st->check = NULL;
      napi_throw_error(env, "ERR_NATIVE_UDP", "setup: no epoll set");
      return NULL;
    }
    st->ep->fd = epfd;
    st->ep->poll.data = st;
    uv_poll_start(&st->ep->poll, UV_READABLE, on_ready);
    uv_unref((uv_handle_t *)&st->ep->poll); /* until a socket opens */
    uv_prepare_init(st->loop, st->prepare);
    uv_check_init(st->loop, st->check);
    st->prepare->data = st->check->data = st;
    uv_prepare_start(st->prepare, on_prepare);
    uv_check_start(st->check, on_check);
    uv_unref((uv_handle_t *)st->prepare);
    uv_unref((uv_handle_t *)st->check);
    st->hooks_started = 1;
  } else {
    napi_get_reference_value(env, st->data_ref, &data);
    napi_get_reference_value(env, st->meta_ref, &meta);
  }
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "data", data);
  napi_set_named_property(env, o, "meta", meta);
  set_number(env, o, "slot", RX_SLOT);
  set_number(env, o, "metaInts", RX_META);
  set_number(env, o, "maxSend", 65507);
  return o;
}

/* ---- lifetime ---- */

static void on_hook_closed(uv_handle_t *h) { free(h); }

static void on_ep_closed(uv_handle_t *h) {
  ep_poll_t *ep = (ep_poll_t *)h;
  close(ep->fd);
  free(ep);
}

static void cleanup(void *arg) {
  state_t *st = (state_t *)arg;
  for (int i = 0; i < st->nsocks; i++)
    if (st->socks[i]) close_sock(st, st->socks[i]);
  if (st->hooks_started) {
    uv_close((uv_handle_t *)&st->ep->poll, on_ep_closed);
    uv_close((uv_handle_t *)st->prepare, on_hook_closed);
    uv_close((uv_handle_t *)st->check, on_hook_closed);
    st->hooks_started = 0;
  }
}

static void finalize_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  state_t *st = (state_t *)data;
  /* The uv handles were closed by the cleanup hook, which runs first; their close callbacks free
   * them (and the sockets) on their own, so the state may go now. */
  free(st->socks);
  free(st->free_ids);
  free(st->held_ids);
  free(st->tx);
  free(st);
}

static napi_status define(napi_env env, napi_value exports);

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  /* Loaded again in the same environment (another path to the same file): one state each. */
  if (state_of(env) != NULL) return define(env, exports) == napi_ok ? exports : NULL;
  state_t *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  /* The send pool comes with setup(): a relay that loads the addon for its frame MAC alone
   * (dgram I/O) does not pay for it. */
  st->tx_free = -1;
  st->env = env;
  if (napi_get_uv_event_loop(env, &st->loop) != napi_ok) return NULL;
  napi_set_instance_data(env, st, finalize_state, NULL);
  napi_add_env_cleanup_hook(env, cleanup, st);
  return define(env, exports) == napi_ok ? exports : NULL;
}

static napi_status define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"setup", NULL, js_setup, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"setBuffers", NULL, js_set_buffers, NULL, NULL, NULL, napi_default, NULL},
      {"localPort", NULL, js_local_port, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, js_flush, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_status status = napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return status == napi_ok ? frame_mac_define(env, exports) : status;
}
