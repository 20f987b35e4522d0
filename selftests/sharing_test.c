// SPDX-License-Identifier: GPL-2.0
/*
 * Batched mapping, for every kind of page a view shows: reading every page
 * of a view costs at most one fault per 16 pages (getrusage() counts them),
 * whether the pages are a root's base pages, holes (the zero page), a file
 * image's, a snapshot layer's own pages scattered among the root's, or the
 * view's own copies after a reset or after MADV_DONTNEED emptied their
 * ptes; and the content read is right. Deterministic: the bound holds on
 * every target, whatever the page size.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define SHARE_PAGES	2048	/* four page tables of 4 KiB pages, one of 16 KiB */
#define SCATTER		64	/* a layer's own page every 64 pages ... */
#define SCATTER_AT	8	/* ... in the middle of a 16-page window */

enum kind {
	ROOT_FILLED,		/* every page written through the fd */
	ROOT_HOLES,		/* nothing written: every page a hole */
	SEALED_HOLES,		/* one page in four written, then sealed */
	FILE_IMAGE,
	LAYER_1,		/* a snapshot of a view that wrote one page in 64 */
	LAYER_8,		/* eight such snapshots, one of the other's view */
	AFTER_RESET,		/* a view that copied every page, then reset */
	AFTER_DONTNEED,		/* a view that copied every page, then MADV_DONTNEED */
};

FIXTURE(share)
{
	struct cs_env env;
	int region;		/* the one the view under test maps */
	char *v;
	size_t len;
	unsigned char want[SHARE_PAGES];
};

FIXTURE_VARIANT(share)
{
	enum kind kind;
};

FIXTURE_VARIANT_ADD(share, root_filled) { .kind = ROOT_FILLED };
FIXTURE_VARIANT_ADD(share, root_holes) { .kind = ROOT_HOLES };
FIXTURE_VARIANT_ADD(share, sealed_holes) { .kind = SEALED_HOLES };
FIXTURE_VARIANT_ADD(share, file_image) { .kind = FILE_IMAGE };
FIXTURE_VARIANT_ADD(share, layer_1) { .kind = LAYER_1 };
FIXTURE_VARIANT_ADD(share, layer_8) { .kind = LAYER_8 };
FIXTURE_VARIANT_ADD(share, after_reset) { .kind = AFTER_RESET };
FIXTURE_VARIANT_ADD(share, after_dontneed) { .kind = AFTER_DONTNEED };

static void fill_pages(struct __test_metadata *_metadata, int fd, size_t every,
		       unsigned char *want)
{
	char *buf = malloc(psize());
	size_t p;

	ASSERT_NE(NULL, buf);
	for (p = 0; p < SHARE_PAGES; p += every) {
		want[p] = (unsigned char)(1 + p % 251);
		memset(buf, want[p], psize());
		base_write(_metadata, fd, buf, psize(), (off_t)(p * psize()));
	}
	free(buf);
}

/* A layer over @*fd: a view writes one page in 64 (layer @depth's), snapshot. */
static void add_layer(struct __test_metadata *_metadata, int *fd, unsigned char *want,
		      size_t len, int depth)
{
	char *w = map_view(_metadata, *fd, len, PROT_READ | PROT_WRITE, 0);
	size_t p;
	int snap;

	for (p = SCATTER_AT + (size_t)depth; p < SHARE_PAGES; p += SCATTER) {
		want[p] = (unsigned char)(0x80 + depth);
		memset(w + p * psize(), want[p], psize());
	}
	snap = cowshare_snapshot(*fd, w, len, COWSHARE_CLOEXEC);
	ASSERT_LE(0, snap);
	EXPECT_EQ(0, munmap(w, len));
	EXPECT_EQ(0, close(*fd));
	*fd = snap;
}

FIXTURE_SETUP(share)
{
	char path[] = "/tmp/share.XXXXXX";
	size_t p;
	int file, d;

	env_setup(_metadata, &self->env);
	self->len = SHARE_PAGES * psize();
	memset(self->want, 0, sizeof(self->want));
	switch (variant->kind) {
	case FILE_IMAGE:
		file = mkstemp(path);
		ASSERT_LE(0, file);
		unlink(path);
		fill_pages(_metadata, file, 1, self->want);
		self->region = cowshare_create_from_file(file, 0, self->len, COWSHARE_CLOEXEC);
		ASSERT_LE(0, self->region);
		close(file);
		break;
	default:
		self->region = new_region(_metadata, self->len);
		break;
	}
	if (variant->kind == ROOT_FILLED)
		fill_pages(_metadata, self->region, 1, self->want);
	if (variant->kind == SEALED_HOLES) {
		fill_pages(_metadata, self->region, 4, self->want);
		ASSERT_EQ(0, cowshare_seal(self->region));
	}
	if (variant->kind == LAYER_1 || variant->kind == LAYER_8) {
		fill_pages(_metadata, self->region, 1, self->want);
		for (d = 0; d < (variant->kind == LAYER_8 ? 8 : 1); d++)
			add_layer(_metadata, &self->region, self->want, self->len, d);
	}
	self->v = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
	if (variant->kind == AFTER_RESET || variant->kind == AFTER_DONTNEED) {
		for (p = 0; p < SHARE_PAGES; p++)
			memset(self->v + p * psize(), 0x40 + p % 64, psize());
		if (variant->kind == AFTER_RESET) {
			ASSERT_EQ(SHARE_PAGES, cowshare_reset(self->region, self->v, self->len));
		} else {
			ASSERT_EQ(0, madvise(self->v, self->len, MADV_DONTNEED));
			for (p = 0; p < SHARE_PAGES; p++)
				self->want[p] = (unsigned char)(0x40 + p % 64);
		}
	}
}

FIXTURE_TEARDOWN(share)
{
	munmap(self->v, self->len);
	close(self->region);
	env_teardown(_metadata, &self->env);
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

TEST_F(share, read_every_page_batched)
{
	long before, faults;
	size_t p, wrong = 0;

	/* Nothing of the view is mapped yet (MADV_DONTNEED, reset and mmap saw to it). */
	EXPECT_EQ(0, pagemap_pfn(_metadata, self->v + (SHARE_PAGES / 2) * psize()));
	before = minor_faults();
	for (p = 0; p < SHARE_PAGES; p++)
		wrong += *(volatile unsigned char *)(self->v + p * psize() + 7) != self->want[p];
	faults = minor_faults() - before;
	EXPECT_EQ(0, wrong);
	TH_LOG("%d pages read in %ld faults", SHARE_PAGES, faults);
	EXPECT_GE(SHARE_PAGES / 16, faults) TH_LOG("more than a fault per 16 pages");
	EXPECT_LE(1, faults);
	/* The content is whole, not only at the bytes read. */
	for (p = 0; p < SHARE_PAGES; p += 97) {
		EXPECT_TRUE(all_bytes(self->v + p * psize(), psize(), self->want[p]))
			TH_LOG("page %zu", p);
	}
}

/* The same for a forked child reading the parent's written view. */
TEST_F(share, forked_child_reads_batched)
{
	size_t p;
	pid_t pid;

	for (p = 0; p < SHARE_PAGES; p += 3) {
		self->want[p] = (unsigned char)(0xc0 + p % 32);
		memset(self->v + p * psize(), self->want[p], psize());
	}
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		long before = minor_faults(), faults;
		size_t wrong = 0;

		for (p = 0; p < SHARE_PAGES; p++)
			wrong += *(volatile unsigned char *)(self->v + p * psize()) != self->want[p];
		faults = minor_faults() - before;
		EXPECT_EQ(0, wrong);
		EXPECT_GE(SHARE_PAGES / 16, faults) TH_LOG("child: %ld faults", faults);
		_exit(0);
	}
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
}

TEST_HARNESS_MAIN
