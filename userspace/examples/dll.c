// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT
/*
 * dll: the "DLL loaded by many processes" story with real pages.
 *
 *   dll [-n PROCESSES] [-c CODE_PAGES] [-d DATA_PAGES] [-e EVERY] [IMAGE]
 *
 * Lays out a toy image file (dll_image.h), then starts PROCESSES processes
 * that each load it with cowshare_create_from_file(COWSHARE_SHARE_BY_FILE):
 * unrelated loaders of the same file get the same region. The first half
 * map it at its preferred base and copy nothing; the others must map it
 * elsewhere, apply its relocation fixups, and copy only the pages that
 * hold fixups. Each prints how many of its pages are shared and how many
 * it copied (from cowshare_view_info()). Exit status 0 when every process
 * saw exactly that.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cowshare.h>

#include "dll_image.h"

struct loader_report {
	int index;
	int ok;
	int error;
	uint64_t region_id;
	uint64_t base;
	uint64_t pages;
	uint64_t copied;
	uint64_t expected;
};

static void load_and_report(const char *image, int index, int elsewhere, int out,
			    int release)
{
	char c;
	struct loader_report r = { .index = index };
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;
	const struct dll_header *h;
	void *base = NULL;
	int fd, region;

	struct dll_header hdr;

	fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		region = -errno;
	else if (pread(fd, &hdr, sizeof(hdr), 0) != sizeof(hdr))
		region = -EIO;
	else
		region = cowshare_create_from_file(fd, 0,
				hdr.image_pages * (size_t)sysconf(_SC_PAGESIZE),
				COWSHARE_SHARE_BY_FILE | COWSHARE_CLOEXEC);
	if (region < 0) {
		r.error = -region;
		goto out;
	}
	r.error = -cowshare_region_info(region, &ri);
	if (!r.error) {
		r.region_id = ri.id;
		r.pages = ri.length / (uint64_t)sysconf(_SC_PAGESIZE);
		r.error = -dll_load(region, r.pages, elsewhere, &base);
	}
	if (!r.error)
		r.error = -cowshare_view_info(region, base, &vi);
	if (r.error)
		goto out;
	h = base;
	r.base = (uintptr_t)base;
	r.copied = vi.private_pages;
	r.expected = (uintptr_t)base == h->preferred_base ? 0 : h->fixup_pages;
	r.ok = r.copied == r.expected;
out:
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(2);
	/* Keep the image loaded until every loader has: they share it. */
	if (read(release, &c, 1) < 0)
		_exit(2);
}

int main(int argc, char **argv)
{
	uint64_t code = 8, data = 24;
	const char *image = "/tmp/cowshare-dll.img";
	unsigned int every = 4;
	int n = 4, opt, pipefd[2], release[2], i, failed = 0, fd;
	struct loader_report r;
	uint64_t region_id = 0;

	while ((opt = getopt(argc, argv, "n:c:d:e:h")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'c': code = strtoull(optarg, NULL, 0); break;
		case 'd': data = strtoull(optarg, NULL, 0); break;
		case 'e': every = (unsigned int)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n PROCESSES] [-c CODE_PAGES] "
				"[-d DATA_PAGES] [-e EVERY] [IMAGE]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind < argc)
		image = argv[optind];
	if (n < 1 || n > 256) {
		fprintf(stderr, "dll: -n takes 1 to 256\n");
		return 2;
	}

	fd = open(image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dll_image_write(fd, code, data, every)) {
		perror(image);
		return 1;
	}
	close(fd);
	if (pipe(pipefd) || pipe(release)) {
		perror("pipe");
		return 1;
	}

	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid) {
			close(pipefd[0]);
			close(release[1]);
			load_and_report(image, i, i >= (n + 1) / 2, pipefd[1], release[0]);
			_exit(0);
		}
	}
	close(pipefd[1]);
	close(release[0]);

	printf("%-8s %-16s %-9s %6s %7s %7s  %s\n", "process", "base", "region",
	       "pages", "shared", "copied", "");
	for (i = 0; i < n; i++) {
		if (read(pipefd[0], &r, sizeof(r)) != sizeof(r)) {
			fprintf(stderr, "dll: a loader died\n");
			failed = 1;
			break;
		}
		if (r.error) {
			printf("%-8d error: %s\n", r.index, strerror(r.error));
			failed = 1;
			continue;
		}
		if (!region_id)
			region_id = r.region_id;
		if (r.region_id != region_id)
			r.ok = 0;
		printf("%-8d 0x%-14" PRIx64 " %-9" PRIu64 " %6" PRIu64 " %7" PRIu64
		       " %7" PRIu64 "  %s\n", r.index, r.base, r.region_id, r.pages,
		       r.pages - r.copied, r.copied,
		       r.ok ? (r.expected ? "relocated: fixup pages copied" :
			       "at preferred base: nothing copied") :
			      "UNEXPECTED");
		failed |= !r.ok;
	}
	close(release[1]);
	while (wait(NULL) > 0)
		;
	unlink(image);
	return failed;
}
