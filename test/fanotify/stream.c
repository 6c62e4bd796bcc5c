/*
 * Captures a real fanotify byte stream for interop's decoder and import
 * tests: makes one notification group with the report mode given, marks
 * the whole filesystem of ROOT, runs a fixed script of calls below ROOT
 * and writes every byte read(2) returned to stdout, as the kernel laid it
 * out. stream.mjs runs it on tmpfs and on an ext4 image.
 *
 *   stream ROOT dfid-name-fid|dfid-name-target|fid > stream.bin
 *
 * The script, each call a kind of event the decoder must read right:
 *   mkdir d; creat d/f; chmod d/f   entry events and an event on a file
 *   chmod d                         ATTRIB|ONDIR: an event on a directory itself
 *   mkdir s; rename s d/t           MOVE_SELF|ONDIR (and the entry events)
 *   rename d/f d/g; unlink d/g      a rename, an unlink
 *   rmdir d/t                       DELETE_SELF|ONDIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *root;

static void die(const char *what) {
	fprintf(stderr, "stream: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *at(const char *relative) {
	static char paths[2][4096];
	static int next;
	char *path = paths[next++ % 2];
	snprintf(path, sizeof paths[0], "%s/%s", root, relative);
	return path;
}

/* Copies every queued event to stdout, byte for byte. */
static void drain(int fd) {
	char buffer[65536] __attribute__((aligned(8)));
	for (;;) {
		ssize_t length = read(fd, buffer, sizeof buffer);
		if (length < 0) {
			if (errno == EAGAIN) return;
			die("read");
		}
		if (fwrite(buffer, 1, (size_t)length, stdout) != (size_t)length) die("write");
	}
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: stream ROOT dfid-name-fid|dfid-name-target|fid\n");
		return 2;
	}
	root = argv[1];
	unsigned int mode = strcmp(argv[2], "fid") == 0 ? FAN_REPORT_FID
		: strcmp(argv[2], "dfid-name-target") == 0 ? FAN_REPORT_DFID_NAME_TARGET
		: FAN_REPORT_DFID_NAME | FAN_REPORT_FID;
	unsigned long long mask = FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_MOVE_SELF | FAN_DELETE_SELF | FAN_ONDIR;
	/* FAN_RENAME needs a group that reports directory fids and names (EINVAL otherwise). */
	if (mode != FAN_REPORT_FID) mask |= FAN_RENAME;
	int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | mode, O_RDONLY);
	if (fd < 0) die("fanotify_init");
	if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, root) < 0) die("fanotify_mark");
	if (mkdir(at("d"), 0755) < 0) die("mkdir d");
	int file = open(at("d/f"), O_CREAT | O_WRONLY, 0644);
	if (file < 0 || close(file) < 0) die("creat d/f");
	if (chmod(at("d/f"), 0600) < 0) die("chmod d/f");
	if (chmod(at("d"), 0700) < 0) die("chmod d");
	if (mkdir(at("s"), 0755) < 0) die("mkdir s");
	if (rename(at("s"), at("d/t")) < 0) die("rename s d/t");
	if (rename(at("d/f"), at("d/g")) < 0) die("rename d/f d/g");
	if (unlink(at("d/g")) < 0) die("unlink d/g");
	if (rmdir(at("d/t")) < 0) die("rmdir d/t");
	drain(fd);
	return 0;
}
