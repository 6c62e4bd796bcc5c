/*
 * The C peers of `npm run bench -- fanotify` (bench/fanotify.ts), compiled
 * with gcc when the bench runs. One program of four modes, each the least
 * fanotify(7) asks for, so that the engine is measured beside the cheapest
 * handler a user could write, and its readers and storm cost the machine
 * as little as they can:
 *
 *   handler PATH MASK   a FAN_CLASS_PRE_CONTENT group (the class
 *                       engine.fanotify makes for permission events), its
 *                       event descriptors opened O_RDWR as the engine's
 *                       are, a filesystem mark of MASK (hex) on PATH;
 *                       answers FAN_ALLOW to every permission event.
 *   count PATH MASK     a FAN_CLASS_NOTIF group reporting
 *                       FAN_REPORT_DFID_NAME_TARGET (the changelog's),
 *                       a filesystem mark of MASK on PATH; counts the
 *                       events it reads, and the FAN_Q_OVERFLOWs.
 *   reader FILE MS      opens FILE, reads 4 KiB from it and closes it,
 *                       again and again for MS milliseconds, timing each.
 *   storm DIR MS RATE   creates (open O_CREAT, close) and removes files in
 *                       DIR for MS milliseconds, RATE cycles a second
 *                       (0: as fast as it can).
 *
 * How the bench talks to them:
 *   handler, count  print "ready\n" once marked, then run until their stdin
 *                   closes; then read what the kernel still holds, print
 *                   "answered N cpu_us U\n" (U: its CPU time, user and
 *                   system) or "events N overflows M\n", and exit.
 *                   Exiting closes the group, which lets every event still
 *                   pending through: a reader never stays blocked on them.
 *   reader          writes, in binary and host order: u64 operations,
 *                   u64 elapsed ns, then one u32 latency in ns per
 *                   operation.
 *   storm           prints "cycles N elapsed_ns E\n".
 * Any failure prints its cause on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Older headers lack the newer names; the values are the kernel's ABI. */
#ifndef FAN_REPORT_DFID_NAME_TARGET
#define FAN_REPORT_DFID_NAME_TARGET 0x1e00
#endif
#ifndef FAN_MARK_FILESYSTEM
#define FAN_MARK_FILESYSTEM 0x100
#endif

/* Permission events: open, access, open-exec and pre-access. */
#define PERMISSION_BITS (0x10000ULL | 0x20000ULL | 0x40000ULL | 0x100000ULL)
#define READ_BYTES (64 * 1024)

static void fail(const char *what) {
  fprintf(stderr, "fanotify-handler: %s: %s\n", what, strerror(errno));
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A group of `flags` with a filesystem mark of `mask` on `path`; "ready" once marked. */
static int open_group(unsigned flags, unsigned event_flags, const char *path, const char *mask_text) {
  uint64_t mask = strtoull(mask_text, NULL, 16);
  int group = fanotify_init(flags | FAN_CLOEXEC | FAN_NONBLOCK, event_flags);
  if (group < 0) fail("fanotify_init");
  if (fanotify_mark(group, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, path) < 0) fail("fanotify_mark");
  fputs("ready\n", stdout);
  fflush(stdout);
  return group;
}

struct tally {
  uint64_t events;
  uint64_t answered;
  uint64_t overflows;
};

/* Reads what the group holds until EAGAIN: answers permission events FAN_ALLOW, counts the rest. */
static void drain(int group, struct tally *tally) {
  static char buffer[READ_BYTES] __attribute__((aligned(8)));
  for (;;) {
    ssize_t length = read(group, buffer, sizeof buffer);
    if (length < 0 && errno == EAGAIN) return;
    if (length < 0 && errno == EINTR) continue;
    if (length <= 0) fail("read");
    struct fanotify_event_metadata *event = (struct fanotify_event_metadata *)buffer;
    for (; FAN_EVENT_OK(event, length); event = FAN_EVENT_NEXT(event, length)) {
      if (event->vers != FANOTIFY_METADATA_VERSION) {
        errno = EPROTO;
        fail("event version");
      }
      tally->events++;
      if (event->mask & FAN_Q_OVERFLOW) tally->overflows++;
      if (event->fd < 0) continue;
      if (event->mask & PERMISSION_BITS) {
        struct fanotify_response response = {.fd = event->fd, .response = FAN_ALLOW};
        if (write(group, &response, sizeof response) != sizeof response) fail("write response");
        tally->answered++;
      }
      close(event->fd);
    }
  }
}

/* Serves `group` until stdin closes, then reads what is left. */
static void serve(int group, struct tally *tally) {
  struct pollfd fds[2] = {{.fd = group, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    if (fds[0].revents & POLLIN) drain(group, tally);
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char byte;
      if (read(0, &byte, 1) <= 0) break;
    }
  }
  drain(group, tally);
}

/* This process's CPU time, user and system, in µs. */
static unsigned long long cpu_us(void) {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) < 0) fail("getrusage");
  return (unsigned long long)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000ULL + (unsigned long long)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

static int handler(const char *path, const char *mask) {
  struct tally tally = {0};
  int group = open_group(FAN_CLASS_PRE_CONTENT, O_RDWR | O_LARGEFILE | O_CLOEXEC, path, mask);
  serve(group, &tally);
  printf("answered %llu cpu_us %llu\n", (unsigned long long)tally.answered, cpu_us());
  return 0;
}

static int count(const char *path, const char *mask) {
  struct tally tally = {0};
  int group = open_group(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME_TARGET, O_RDONLY | O_LARGEFILE, path, mask);
  serve(group, &tally);
  printf("events %llu overflows %llu\n", (unsigned long long)tally.events, (unsigned long long)tally.overflows);
  return 0;
}

static void write_all(const void *bytes, size_t length) {
  const char *at = bytes;
  while (length > 0) {
    ssize_t written = write(1, at, length);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) fail("write stdout");
    at += written;
    length -= (size_t)written;
  }
}

static int reader(const char *file, long ms) {
  static char buffer[4096];
  size_t capacity = 1 << 16;
  uint64_t operations = 0;
  uint32_t *latencies = malloc(capacity * sizeof *latencies);
  if (latencies == NULL) fail("malloc");
  uint64_t started = now_ns();
  uint64_t deadline = started + (uint64_t)ms * 1000000ULL;
  uint64_t before = started;
  while (before < deadline) {
    int fd = open(file, O_RDONLY);
    if (fd < 0) fail("open");
    if (read(fd, buffer, sizeof buffer) < 0) fail("read");
    close(fd);
    uint64_t after = now_ns();
    if (operations == capacity) {
      capacity *= 2;
      latencies = realloc(latencies, capacity * sizeof *latencies);
      if (latencies == NULL) fail("realloc");
    }
    uint64_t took = after - before;
    latencies[operations++] = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took;
    before = after;
  }
  uint64_t header[2] = {operations, before - started};
  write_all(header, sizeof header);
  write_all(latencies, operations * sizeof *latencies);
  return 0;
}

static int storm(const char *dir, long ms, long rate) {
  char name[4096];
  uint64_t started = now_ns();
  uint64_t deadline = started + (uint64_t)ms * 1000000ULL;
  uint64_t cycles = 0;
  uint64_t at = started;
  while (at < deadline) {
    if (rate > 0) {
      /* Paced: cycle n starts n/rate seconds after the first, sleeping until then. */
      uint64_t due = started + cycles * 1000000000ULL / (uint64_t)rate;
      if (due > at) {
        struct timespec until = {.tv_sec = (time_t)(due / 1000000000ULL), .tv_nsec = (long)(due % 1000000000ULL)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
      }
    }
    snprintf(name, sizeof name, "%s/f%llu", dir, (unsigned long long)cycles);
    int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) fail("create");
    close(fd);
    if (unlink(name) < 0) fail("unlink");
    cycles++;
    at = now_ns();
  }
  printf("cycles %llu elapsed_ns %llu\n", (unsigned long long)cycles, (unsigned long long)(at - started));
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "handler") == 0) return handler(argv[2], argv[3]);
  if (argc == 4 && strcmp(argv[1], "count") == 0) return count(argv[2], argv[3]);
  if (argc == 4 && strcmp(argv[1], "reader") == 0) return reader(argv[2], atol(argv[3]));
  if (argc == 5 && strcmp(argv[1], "storm") == 0) return storm(argv[2], atol(argv[3]), atol(argv[4]));
  fputs("usage: fanotify-handler handler|count PATH MASK_HEX | reader FILE MS | storm DIR MS RATE\n", stderr);
  return 2;
}
