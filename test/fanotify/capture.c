/*
 * The kernel side of fanlog's differential event test: performs a script of
 * file-system calls on a directory (a private tmpfs, mounted by capture.mjs)
 * watched by real fanotify groups, and prints, after every call, the
 * events each group received: the union of their masks and the names
 * their info records carry. capture.mjs writes that to fixture.json; the
 * test (events-kernel.test.ts) replays the same script on fanlog.
 *
 * Input, one command a line, tokens separated by single spaces, paths
 * relative to the root given as argv[1]:
 *
 *   group NAME inode|filesystem PATH MASK   a notification group with
 *                                           FAN_REPORT_DFID_NAME_TARGET,
 *                                           marked with MASK (hex)
 *   step N OP ARGS...                       performs OP, then drains every
 *                                           group and prints one JSON line
 *   setup OP ARGS...                        performs OP, drains, prints nothing
 *
 * OPs: mkdir P | mknod P | symlink TARGET P | link A B | rename A B |
 * unlink P | rmdir P | open SLOT P r|w|rw [trunc] | close SLOT |
 * read SLOT OFFSET COUNT | write SLOT OFFSET COUNT | truncate P SIZE |
 * chmod P MODE(octal) | chown P UID GID | utimes P | setxattr P NAME |
 * removexattr P NAME.
 *
 * Output, per step: {"step":N,"groups":{"NAME":{"mask":"0x..","names":[..]}}}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define GROUPS_MAX 16
#define SLOTS_MAX 16
#define NAMES_MAX 64

static const char *root;
static struct { char name[64]; int fd; } groups[GROUPS_MAX];
static int group_count;
static int slots[SLOTS_MAX];

static void die(const char *what) {
	fprintf(stderr, "capture: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *at(const char *relative) {
	static char paths[2][4096];
	static int next;
	char *path = paths[next++ % 2];
	snprintf(path, sizeof paths[0], "%s/%s", root, relative);
	return path;
}

/* Reads every queued event of one group: the union of masks, and the names. */
static void drain(int fd, unsigned long long *mask, char names[NAMES_MAX][256], int *name_count) {
	char buffer[65536] __attribute__((aligned(8)));
	for (;;) {
		ssize_t length = read(fd, buffer, sizeof buffer);
		if (length < 0) {
			if (errno == EAGAIN) return;
			die("read");
		}
		for (struct fanotify_event_metadata *event = (void *)buffer; FAN_EVENT_OK(event, length); event = FAN_EVENT_NEXT(event, length)) {
			*mask |= event->mask;
			char *info = (char *)event + event->metadata_len;
			char *end = (char *)event + event->event_len;
			while (info < end) {
				struct fanotify_event_info_header *header = (void *)info;
				if (header->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME || header->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
				    header->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
					struct fanotify_event_info_fid *fid = (void *)info;
					struct file_handle *handle = (void *)fid->handle;
					const char *name = (const char *)handle->f_handle + handle->handle_bytes;
					int known = 0;
					for (int i = 0; i < *name_count; i++) known |= strcmp(names[i], name) == 0;
					if (!known && *name_count < NAMES_MAX) snprintf(names[(*name_count)++], 256, "%s", name);
				}
				info += header->len;
			}
			if (event->fd >= 0) close(event->fd);
		}
	}
}

static void report(const char *step) {
	printf("{\"step\":%s,\"groups\":{", step);
	for (int g = 0; g < group_count; g++) {
		unsigned long long mask = 0;
		char names[NAMES_MAX][256];
		int name_count = 0;
		drain(groups[g].fd, &mask, names, &name_count);
		printf("%s\"%s\":{\"mask\":\"0x%llx\",\"names\":[", g == 0 ? "" : ",", groups[g].name, mask);
		for (int i = 0; i < name_count; i++) printf("%s\"%s\"", i == 0 ? "" : ",", names[i]);
		printf("]}");
	}
	printf("}}\n");
	fflush(stdout);
}

static void quiet(void) {
	for (int g = 0; g < group_count; g++) {
		unsigned long long mask = 0;
		char names[NAMES_MAX][256];
		int name_count = 0;
		drain(groups[g].fd, &mask, names, &name_count);
	}
}

static int open_flags(const char *mode, const char *extra) {
	int flags = strcmp(mode, "r") == 0 ? O_RDONLY : strcmp(mode, "w") == 0 ? O_WRONLY : O_RDWR;
	if (extra != NULL && strcmp(extra, "trunc") == 0) flags |= O_TRUNC;
	return flags;
}

/* Performs one call; tokens[0] is the operation. */
static void perform(char **tokens, int count) {
	const char *op = tokens[0];
	char buffer[65536] = {0};
	if (strcmp(op, "mkdir") == 0) {
		if (mkdir(at(tokens[1]), 0755) < 0) die("mkdir");
	} else if (strcmp(op, "mknod") == 0) {
		if (mknod(at(tokens[1]), S_IFREG | 0644, 0) < 0) die("mknod");
	} else if (strcmp(op, "symlink") == 0) {
		if (symlink(tokens[1], at(tokens[2])) < 0) die("symlink");
	} else if (strcmp(op, "link") == 0) {
		if (link(at(tokens[1]), at(tokens[2])) < 0) die("link");
	} else if (strcmp(op, "rename") == 0) {
		if (rename(at(tokens[1]), at(tokens[2])) < 0) die("rename");
	} else if (strcmp(op, "unlink") == 0) {
		if (unlink(at(tokens[1])) < 0) die("unlink");
	} else if (strcmp(op, "rmdir") == 0) {
		if (rmdir(at(tokens[1])) < 0) die("rmdir");
	} else if (strcmp(op, "open") == 0) {
		int fd = open(at(tokens[2]), open_flags(tokens[3], count > 4 ? tokens[4] : NULL));
		if (fd < 0) die("open");
		slots[atoi(tokens[1])] = fd;
	} else if (strcmp(op, "close") == 0) {
		if (close(slots[atoi(tokens[1])]) < 0) die("close");
	} else if (strcmp(op, "read") == 0) {
		if (pread(slots[atoi(tokens[1])], buffer, (size_t)atoi(tokens[3]), atoi(tokens[2])) < 0) die("read");
	} else if (strcmp(op, "write") == 0) {
		if (pwrite(slots[atoi(tokens[1])], buffer, (size_t)atoi(tokens[3]), atoi(tokens[2])) < 0) die("write");
	} else if (strcmp(op, "truncate") == 0) {
		if (truncate(at(tokens[1]), atoi(tokens[2])) < 0) die("truncate");
	} else if (strcmp(op, "chmod") == 0) {
		if (chmod(at(tokens[1]), (mode_t)strtol(tokens[2], NULL, 8)) < 0) die("chmod");
	} else if (strcmp(op, "chown") == 0) {
		if (chown(at(tokens[1]), (uid_t)atoi(tokens[2]), (gid_t)atoi(tokens[3])) < 0) die("chown");
	} else if (strcmp(op, "utimes") == 0) {
		struct timeval times[2] = {{1000, 0}, {2000, 0}};
		if (utimes(at(tokens[1]), times) < 0) die("utimes");
	} else if (strcmp(op, "setxattr") == 0) {
		if (setxattr(at(tokens[1]), tokens[2], "v", 1, 0) < 0) die("setxattr");
	} else if (strcmp(op, "removexattr") == 0) {
		if (removexattr(at(tokens[1]), tokens[2]) < 0) die("removexattr");
	} else {
		fprintf(stderr, "capture: unknown operation %s\n", op);
		exit(2);
	}
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: capture ROOT < script\n");
		return 2;
	}
	root = argv[1];
	char line[8192];
	while (fgets(line, sizeof line, stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		char *tokens[16];
		int count = 0;
		for (char *token = strtok(line, " "); token != NULL && count < 16; token = strtok(NULL, " ")) tokens[count++] = token;
		if (count == 0) continue;
		if (strcmp(tokens[0], "group") == 0) {
			int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME_TARGET | FAN_NONBLOCK, O_RDONLY);
			if (fd < 0) die("fanotify_init");
			unsigned int flags = FAN_MARK_ADD | (strcmp(tokens[2], "filesystem") == 0 ? FAN_MARK_FILESYSTEM : 0);
			if (fanotify_mark(fd, flags, strtoull(tokens[4], NULL, 16), AT_FDCWD, at(tokens[3])) < 0) die("fanotify_mark");
			snprintf(groups[group_count].name, sizeof groups[0].name, "%s", tokens[1]);
			groups[group_count++].fd = fd;
		} else if (strcmp(tokens[0], "setup") == 0) {
			perform(tokens + 1, count - 1);
			quiet();
		} else if (strcmp(tokens[0], "step") == 0) {
			perform(tokens + 2, count - 2);
			report(tokens[1]);
		}
	}
	return 0;
}
