/* freshness: publish-to-read time at a steady publish rate (scripts/perf-phases, phase 4).
 *
 *   freshness --url URL --exchange X [--rate 5000] [--seconds 10] [--accounts 1000]
 *             [--prefix fresh] [--window 2000] [--pause-us 5000]
 *             (--http-port P [--poll-us 100] | --consume STREAM [--ack-delay-us 1000] | both)
 *
 * Opens --accounts accounts (AccountOpened, untimed), then publishes MoneyDeposited events
 * round-robin over them at --rate per second for --seconds, with publisher confirms, stamping
 * each one with CLOCK_MONOTONIC just before basic.publish. Beside it, in the same process:
 *
 *   --http-port P     a reader pauses 0..--pause-us (at random), takes the newest published
 *                     event, polls GET /accounts/{id} (one keep-alive connection, every
 *                     --poll-us) until the answer shows that event's sequence as the version,
 *                     records publish-to-visible, and so on: a sample of the events, taken at
 *                     moments unrelated to the service's rhythm, as a user reading meets them.
 *   --consume STREAM  a bare stream consumer (offset "next", prefetch 1000; it acks what has
 *                     arrived --ack-delay-us after the first unacked delivery) records
 *                     publish-to-delivery of every event: the broker's own floor, sampled as
 *                     the reader samples (every_* give it per event).
 *   both              the reader and, beside it on the stream the service reads, the bare
 *                     consumer: for each of the reader's samples, beside_* give the bare
 *                     consumer's publish-to-delivery of that same event (the broker's floor at
 *                     that moment) and beyond_* what the service added to it (visible minus
 *                     delivered): the service's own share, apart from the broker's rhythm.
 * In every mode confirm_* give publish-to-confirm per event (seen at the publisher's next
 * step, within 1/rate): the broker has stored the event, and delivers nothing sooner.
 *
 * Prints one line of key=value pairs: the rate held (events / (last stamp - first stamp)),
 * how many publishes were more than 1 ms behind schedule, the samples and their p50, p90,
 * p99 and max in milliseconds. Bounded: every wait has a deadline; exit 1 on any failure.
 * Needs librabbitmq (Debian: librabbitmq-dev): cc -O2 -o freshness freshness.c -lrabbitmq -lpthread
 */
#define _GNU_SOURCE
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *url, *exchange, *prefix = "fresh", *consume_stream;
static long rate = 5000, accounts = 1000, window = 2000, http_port = 0, poll_us = 100, pause_us = 5000;
static double seconds = 10;

static long total;                   /* steady events */
static int64_t *stamp;               /* publish time of steady event i, ns */
static atomic_long published;        /* steady events published so far */
static atomic_int steady_done;       /* the publisher is past the last steady event */
static atomic_int consumer_ready;    /* consume mode: basic.consume-ok received */
static int64_t *deliv;               /* consume mode: delivery time of steady event i, ns */
static int64_t *confirmed_at;        /* publisher confirm time of steady event i, ns */
static long ack_delay_us = 1000;     /* consume mode: acks go this long after the first unacked delivery */
static int64_t *lat;                 /* samples, ns */
static atomic_long nlat;
static atomic_long misses;           /* probes that never saw their event in time */
static atomic_long polls;
static long *sample_event;          /* reader: the steady event of sample k */

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_until(int64_t ns) {
  struct timespec t = {ns / 1000000000, ns % 1000000000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

static void die(const char *what) {
  fprintf(stderr, "freshness: error: %s\n", what);
  exit(1);
}

static void die_status(int st, const char *what) {
  if (st < 0) {
    fprintf(stderr, "freshness: error: %s: %s\n", what, amqp_error_string2(st));
    exit(1);
  }
}

static void die_reply(amqp_rpc_reply_t r, const char *what) {
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
    fprintf(stderr, "freshness: error: %s: %s\n", what, amqp_error_string2(r.library_error));
  else
    fprintf(stderr, "freshness: error: %s: broker refused (method 0x%08X)\n", what, r.reply.id);
  exit(1);
}

static amqp_connection_state_t connect_amqp(void) {
  struct amqp_connection_info ci;
  char *u = strdup(url);
  amqp_default_connection_info(&ci);
  if (amqp_parse_url(u, &ci) != AMQP_STATUS_OK) die("cannot parse --url");
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t *s = amqp_tcp_socket_new(c);
  if (!s) die("cannot create socket");
  die_status(amqp_socket_open(s, ci.host, ci.port), "connect");
  die_reply(amqp_login(c, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
            "login");
  amqp_channel_open(c, 1);
  die_reply(amqp_get_rpc_reply(c), "channel.open");
  return c;
}

/* ------------------------------------------------------------------ publisher */

static uint64_t sent, settled; /* publisher confirms: tags sent, tags settled (acks or nacks) */
static uint64_t nacked;

/* Handles one incoming frame, waiting up to *tv (zero: only what is there). 0 on timeout. */
static int handle_frame(amqp_connection_state_t c, struct timeval *tv) {
  amqp_frame_t f;
  int st = amqp_simple_wait_frame_noblock(c, &f, tv);
  if (st == AMQP_STATUS_TIMEOUT) return 0;
  die_status(st, "reading confirms");
  if (f.frame_type != AMQP_FRAME_METHOD) return 1;
  uint64_t tag = 0;
  int multiple = 0;
  switch (f.payload.method.id) {
  case AMQP_BASIC_ACK_METHOD:
    tag = ((amqp_basic_ack_t *)f.payload.method.decoded)->delivery_tag;
    multiple = ((amqp_basic_ack_t *)f.payload.method.decoded)->multiple;
    break;
  case AMQP_BASIC_NACK_METHOD:
    tag = ((amqp_basic_nack_t *)f.payload.method.decoded)->delivery_tag;
    multiple = ((amqp_basic_nack_t *)f.payload.method.decoded)->multiple;
    nacked++;
    break;
  case AMQP_CHANNEL_CLOSE_METHOD:
  case AMQP_CONNECTION_CLOSE_METHOD:
    die("the broker closed the publisher's channel (does the exchange exist?)");
    break;
  default:
    return 1;
  }
  /* The broker confirms in tag order here (one stream): the highest tag settles all below. */
  (void)multiple;
  if (tag > settled) {
    int64_t t = now_ns();
    for (uint64_t k = settled + 1; k <= tag; k++) { /* tags 1..accounts are the openings */
      long i = (long)k - 1 - accounts;
      if (i >= 0 && i < total) confirmed_at[i] = t;
    }
    settled = tag;
  }
  return 1;
}

static void publish_event(amqp_connection_state_t c, long g, const char *type, long acct, long seq) {
  char id[48], body[320], when[40], rk[32];
  struct timespec rt;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &rt);
  gmtime_r(&rt.tv_sec, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  /* The event's index in the eventId's last 12 digits: the consumer reads it back. */
  snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lx", g);
  const char *data = seq == 1 ? "{\"owner\":\"Fresh Reader\",\"currency\":\"EUR\"}" : "{\"amount\":1}";
  int n = snprintf(body, sizeof body,
                   "{\"eventId\":\"%s\",\"type\":\"%s\",\"accountId\":\"%s-%06ld\",\"sequence\":%ld,"
                   "\"occurredAt\":\"%s.%03ldZ\",\"data\":%s}",
                   id, type, prefix, acct, seq, when, rt.tv_nsec / 1000000, data);
  snprintf(rk, sizeof rk, "account.%s", seq == 1 ? "opened" : "deposited");
  amqp_basic_properties_t p;
  memset(&p, 0, sizeof p);
  p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
             AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG;
  p.content_type = amqp_cstring_bytes("application/json");
  p.delivery_mode = 2;
  p.message_id = amqp_cstring_bytes(id);
  p.type = amqp_cstring_bytes((char *)type);
  p.timestamp = (uint64_t)rt.tv_sec;
  amqp_bytes_t b = {(size_t)n, body};
  die_status(amqp_basic_publish(c, 1, amqp_cstring_bytes((char *)exchange), amqp_cstring_bytes(rk), 0,
                                0, &p, b),
             "basic.publish");
  sent++;
}

static void await_confirms(amqp_connection_state_t c, uint64_t upto) {
  struct timeval wait = {30, 0};
  while (settled < upto)
    if (!handle_frame(c, &wait)) die("no publisher confirm within 30 s");
}

/* ------------------------------------------------------------------ HTTP reader */

static int http_fd = -1;

static void http_close(void) {
  if (http_fd >= 0) close(http_fd);
  http_fd = -1;
}

static int http_connect(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)http_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  http_fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(http_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {5, 0};
  setsockopt(http_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(http_fd, (struct sockaddr *)&a, sizeof a) != 0) {
    http_close();
    return -1;
  }
  return 0;
}

/* GET /accounts/{prefix}-{acct}: the version it shows, 0 for a 404, -1 on any failure. */
static long get_version(long acct) {
  static char buf[1 << 16];
  char req[160];
  if (http_fd < 0 && http_connect() != 0) return -1;
  int n = snprintf(req, sizeof req, "GET /accounts/%s-%06ld HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", prefix,
                   acct);
  if (send(http_fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    http_close();
    return -1;
  }
  size_t have = 0;
  char *body = NULL;
  long need = -1;
  for (;;) { /* headers, then a Content-Length body (both services send one for an account) */
    ssize_t r = recv(http_fd, buf + have, sizeof buf - 1 - have, 0);
    if (r <= 0) {
      http_close();
      return -1;
    }
    have += (size_t)r;
    buf[have] = 0;
    if (!body) {
      char *end = strstr(buf, "\r\n\r\n");
      if (!end) continue;
      body = end + 4;
      char *cl = strcasestr(buf, "\r\ncontent-length:");
      if (!cl || cl > end) {
        http_close();
        return -1;
      }
      need = atol(cl + 17);
    }
    if ((long)(have - (size_t)(body - buf)) >= need) break;
  }
  int status = atoi(buf + 9);
  if (status == 404) return 0;
  if (status != 200) return -1;
  char *v = strstr(body, "\"version\":");
  return v ? atol(v + 10) : -1;
}

/* A pause of 0..pause_us before each probe: the probe then starts at a moment unrelated to
 * the service's own rhythm (a consumer that hands over every few ms would otherwise be probed
 * just after each hand-over, at the worst phase, every time). */
static uint64_t rng_state = 88172645463325252ull;

static int64_t random_pause_ns(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return pause_us > 0 ? (int64_t)(rng_state % (uint64_t)(pause_us + 1)) * 1000 : 0;
}

static void *reader(void *arg) {
  (void)arg;
  long last = -1;
  while (!atomic_load(&steady_done) || atomic_load(&published) - 1 > last) {
    sleep_until(now_ns() + random_pause_ns());
    long n = atomic_load_explicit(&published, memory_order_acquire);
    while (n - 1 == last && !atomic_load(&steady_done)) { /* nothing newer yet: take the next one */
      usleep(20);
      n = atomic_load_explicit(&published, memory_order_acquire);
    }
    if (n == 0 || n - 1 == last) continue;
    long j = n - 1, acct = j % accounts, seq = 2 + j / accounts;
    last = j;
    int64_t t0 = stamp[j], deadline = t0 + 10 * (int64_t)1000000000;
    for (;;) {
      long v = get_version(acct);
      int64_t t = now_ns();
      atomic_fetch_add(&polls, 1);
      if (v >= seq) {
        long k = atomic_fetch_add(&nlat, 1);
        lat[k] = t - t0;
        sample_event[k] = j;
        break;
      }
      if (t > deadline) {
        atomic_fetch_add(&misses, 1);
        break;
      }
      if (poll_us > 0) usleep((useconds_t)poll_us);
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------ bare consumer */

static void *consumer(void *arg) {
  (void)arg;
  amqp_connection_state_t c = connect_amqp();
  amqp_basic_qos(c, 1, 0, 1000, 0);
  die_reply(amqp_get_rpc_reply(c), "basic.qos");
  amqp_table_entry_t e = {.key = amqp_cstring_bytes("x-stream-offset")};
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = amqp_cstring_bytes("next");
  amqp_table_t args = {1, &e};
  amqp_basic_consume(c, 1, amqp_cstring_bytes((char *)consume_stream), amqp_empty_bytes, 0, 0, 0, args);
  die_reply(amqp_get_rpc_reply(c), "basic.consume");
  atomic_store(&consumer_ready, 1);
  long got = 0;
  int64_t end = 0;
  /* RabbitMQ 3.10 reads on from a stream for an AMQP 0-9-1 consumer when its acks come back;
   * a consumer that acks each delivery at once catches up with the writer and then waits for
   * the broker's own wake-up, which came 50-400 ms late at a steady 5,000/s (measured). So it
   * acks what has arrived --ack-delay-us after the first unacked delivery, as a consumer that
   * does some work per batch would (docs/performance-phases.md). */
  uint64_t unacked = 0;
  int64_t unacked_since = 0;
  for (;;) {
    if (atomic_load(&steady_done)) {
      if (!end) end = now_ns() + 10 * (int64_t)1000000000;
      if (got >= total + accounts || now_ns() > end) break;
    }
    int64_t wait_us = 100000;
    if (unacked) {
      wait_us = (unacked_since + ack_delay_us * 1000 - now_ns()) / 1000;
      if (wait_us <= 0) {
        die_status(amqp_basic_ack(c, 1, unacked, 1), "basic.ack");
        unacked = 0;
        wait_us = 100000;
      }
    }
    struct timeval tv = {wait_us / 1000000, wait_us % 1000000};
    amqp_envelope_t env;
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    int64_t t = now_ns();
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) continue;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      amqp_frame_t f;
      die_status(amqp_simple_wait_frame(c, &f), "reading frame");
      continue;
    }
    die_reply(r, "consume");
    got++;
    amqp_bytes_t id = env.message.properties.message_id;
    if (id.len > 12) {
      char hex[13];
      memcpy(hex, (char *)id.bytes + id.len - 12, 12);
      hex[12] = 0;
      long g = strtol(hex, NULL, 16) - accounts; /* steady index; openings are below 0 */
      if (g >= 0 && g < total && stamp[g]) /* stamped before its publish: set by now */
        deliv[g] = t;
    }
    if (!unacked) unacked_since = t;
    unacked = env.delivery_tag;
    amqp_destroy_envelope(&env);
  }
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
  return NULL;
}

/* ------------------------------------------------------------------ main */

/* The bare consumer's deliveries, sampled as the HTTP reader samples: take the newest event
 * published after a random pause, wait for it, record its time, pause, take the newest
 * published by then (the next one if none is newer). Per event, a stall of S ms weighs
 * S x rate events; per probe it weighs one, as for the reader: the two distributions
 * compare. Also returns the per-event ones. */
static long sample_deliveries(int64_t *all, long *nall) {
  long n = 0, k = 0;
  for (long i = 0; i < total; i++)
    if (deliv[i]) all[k++] = deliv[i] - stamp[i];
  *nall = k;
  long j = 0;
  while (j < total) {
    if (!deliv[j]) { /* never delivered: counted as a miss, as the reader would */
      atomic_fetch_add(&misses, 1);
      j++;
      continue;
    }
    lat[n++] = deliv[j] - stamp[j];
    int64_t at = deliv[j] + random_pause_ns();
    long next = j + 1;
    while (next + 1 < total && stamp[next + 1] <= at) next++;
    j = next;
  }
  return n;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, long n, double p) {
  if (n == 0) return 0;
  long i = (long)(p * (double)(n - 1) + 0.5);
  return (double)v[i] / 1e6;
}

static void usage(void) {
  fprintf(stderr, "usage: freshness --url URL --exchange X [--rate R] [--seconds S] [--accounts N]\n"
                  "                 [--prefix P] [--window W] [--pause-us 5000]\n"
                  "                 [--http-port PORT [--poll-us U]] [--consume STREAM [--ack-delay-us 1000]]\n"
                  "                 (at least one of the two; both: the bare consumer beside the reader)\n");
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--url")) url = v;
    else if (!strcmp(a, "--exchange")) exchange = v;
    else if (!strcmp(a, "--rate")) rate = atol(v);
    else if (!strcmp(a, "--seconds")) seconds = atof(v);
    else if (!strcmp(a, "--accounts")) accounts = atol(v);
    else if (!strcmp(a, "--prefix")) prefix = v;
    else if (!strcmp(a, "--window")) window = atol(v);
    else if (!strcmp(a, "--http-port")) http_port = atol(v);
    else if (!strcmp(a, "--poll-us")) poll_us = atol(v);
    else if (!strcmp(a, "--pause-us")) pause_us = atol(v);
    else if (!strcmp(a, "--consume")) consume_stream = v;
    else if (!strcmp(a, "--ack-delay-us")) ack_delay_us = atol(v);
    else usage();
  }
  if (!url || !exchange || (!http_port && !consume_stream)) usage();
  if (rate < 1 || seconds <= 0 || accounts < 1 || window < 1)
    die("--rate, --seconds, --accounts and --window must be positive");
  total = (long)((double)rate * seconds);
  stamp = calloc((size_t)total, sizeof *stamp);
  lat = calloc((size_t)total + 1, sizeof *lat);
  deliv = calloc((size_t)total, sizeof *deliv);
  confirmed_at = calloc((size_t)total, sizeof *confirmed_at);
  sample_event = calloc((size_t)total + 1, sizeof *sample_event);
  if (!stamp || !lat || !deliv || !confirmed_at || !sample_event) die("out of memory");

  amqp_connection_state_t c = connect_amqp();
  amqp_confirm_select(c, 1);
  die_reply(amqp_get_rpc_reply(c), "confirm.select");
  struct timeval zero = {0, 0};

  pthread_t bare_thread, reader_thread;
  int64_t deadline = now_ns() + 30 * (int64_t)1000000000;
  if (consume_stream) {
    pthread_create(&bare_thread, NULL, consumer, NULL);
    while (!atomic_load(&consumer_ready)) {
      if (now_ns() > deadline) die("the bare consumer did not start within 30 s");
      usleep(1000);
    }
  }
  for (long a = 0; a < accounts; a++) {
    publish_event(c, a, "AccountOpened", a, 1);
    while (handle_frame(c, &zero)) {}
    if (sent - settled >= (uint64_t)window) await_confirms(c, sent - (uint64_t)window / 2);
  }
  await_confirms(c, sent);
  if (http_port) { /* the service has them all when the last one shows */
    while (get_version(accounts - 1) < 1) {
      if (now_ns() > deadline) die("the service did not show the opened accounts within 30 s");
      usleep(1000);
    }
    http_close();
    pthread_create(&reader_thread, NULL, reader, NULL);
  }

  long late = 0;
  int64_t t0 = now_ns() + 1000000;
  for (long i = 0; i < total; i++) {
    int64_t due = t0 + (int64_t)((double)i * 1e9 / (double)rate);
    if (now_ns() < due) sleep_until(due);
    int64_t t = now_ns();
    if (t - due > 1000000) late++;
    stamp[i] = t;
    publish_event(c, accounts + i, "MoneyDeposited", i % accounts, 2 + i / accounts);
    atomic_store_explicit(&published, i + 1, memory_order_release);
    while (handle_frame(c, &zero)) {}
    if (sent - settled >= (uint64_t)window) await_confirms(c, sent - (uint64_t)window / 2);
  }
  int64_t t_last = stamp[total - 1];
  await_confirms(c, sent);
  atomic_store(&steady_done, 1);
  if (http_port) pthread_join(reader_thread, NULL);
  if (consume_stream) pthread_join(bare_thread, NULL);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);

  long n = atomic_load(&nlat), nall = 0;
  int64_t *all = calloc((size_t)total + 1, sizeof *all);
  if (!all) die("out of memory");
  /* Both: the bare consumer's delivery of each sampled event, and the service's share beyond it. */
  long nb = 0;
  int64_t *beside = calloc((size_t)n + 1, sizeof *beside), *beyond = calloc((size_t)n + 1, sizeof *beyond);
  if (!beside || !beyond) die("out of memory");
  if (consume_stream && http_port) {
    for (long k = 0; k < n; k++) {
      long j = sample_event[k];
      if (!deliv[j]) continue;
      beside[nb] = deliv[j] - stamp[j];
      beyond[nb] = stamp[j] + lat[k] - deliv[j];
      nb++;
    }
    qsort(beside, (size_t)nb, sizeof *beside, cmp64);
    qsort(beyond, (size_t)nb, sizeof *beyond, cmp64);
  } else if (consume_stream)
    n = sample_deliveries(all, &nall);
  long nconf = 0; /* publish-to-confirm per event: the broker has it stored (committed) */
  int64_t *conf = calloc((size_t)total + 1, sizeof *conf);
  if (!conf) die("out of memory");
  for (long i = 0; i < total; i++)
    if (confirmed_at[i]) conf[nconf++] = confirmed_at[i] - stamp[i];
  qsort(conf, (size_t)nconf, sizeof *conf, cmp64);
  qsort(lat, (size_t)n, sizeof *lat, cmp64);
  qsort(all, (size_t)nall, sizeof *all, cmp64);
  double held = total > 1 ? (double)(total - 1) / ((double)(t_last - stamp[0]) / 1e9) : 0;
  printf("mode=%s published=%ld rate=%ld rate_held=%.0f late_1ms=%ld nacked=%llu samples=%ld misses=%ld "
         "polls=%ld p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f every_event=%ld every_p50_ms=%.3f "
         "every_p99_ms=%.3f confirm_p50_ms=%.3f confirm_p99_ms=%.3f",
         consume_stream ? (http_port ? "both" : "consume") : "http", total, rate, held, late, (unsigned long long)nacked, n,
         atomic_load(&misses), atomic_load(&polls), pct_ms(lat, n, 0.50), pct_ms(lat, n, 0.90),
         pct_ms(lat, n, 0.99), n ? (double)lat[n - 1] / 1e6 : 0.0, nall, pct_ms(all, nall, 0.50),
         pct_ms(all, nall, 0.99), pct_ms(conf, nconf, 0.50), pct_ms(conf, nconf, 0.99));
  if (consume_stream && http_port) /* negative beyond_*: the service saw it before the bare consumer */
    printf(" beside_samples=%ld beside_p50_ms=%.3f beside_p90_ms=%.3f beside_p99_ms=%.3f beyond_p50_ms=%.3f "
           "beyond_p90_ms=%.3f beyond_p99_ms=%.3f",
           nb, pct_ms(beside, nb, 0.50), pct_ms(beside, nb, 0.90), pct_ms(beside, nb, 0.99),
           pct_ms(beyond, nb, 0.50), pct_ms(beyond, nb, 0.90), pct_ms(beyond, nb, 0.99));
  printf("\n");
  return (n > 0 && nacked == 0 && atomic_load(&misses) == 0) ? 0 : 1;
}
