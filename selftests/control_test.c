// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare dirty report and reset: COWSHARE_IOC_DIRTY (with and without
 * COWSHARE_DIRTY_RESET), COWSHARE_IOC_RESET and their errno table, and a
 * DIRTY_RESET loop racing writer threads (no write may be lost unreported).
 * Seal, file images, the region list and snapshots have test files of
 * their own (sealed_test.c, file_image_test.c, list_test.c, snapshot_test.c).
 *
 * The ctl fixture runs over views of 8 pages, of 200 pages at region
 * offset 5 (the bitmap crosses 64-bit words) and of 67 pages at offset 3;
 * the misc fixture holds the tests that build their own regions.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"



/* The byte base page k (region index) holds in the ctl fixture: 1..250. */
static unsigned char base_pattern(size_t k)
{
	return (unsigned char)(k % 250 + 1);
}

FIXTURE(ctl)
{
	struct cs_env env;
	int region;
	size_t off;		/* view offset into the region, pages */
	size_t pages;		/* view length, pages */
	size_t len;		/* view length, bytes */
	size_t written[8];	/* view pages the tests write */
	unsigned int nr_written;
	uint64_t *bitmap;	/* words(pages) + 1 sentinel */
	size_t words;
};

FIXTURE_VARIANT(ctl)
{
	size_t region_pages;
	size_t off;
};

FIXTURE_VARIANT_ADD(ctl, pages_8) { .region_pages = 8, .off = 0 };
FIXTURE_VARIANT_ADD(ctl, pages_200_offset_5) { .region_pages = 205, .off = 5 };
FIXTURE_VARIANT_ADD(ctl, pages_67_offset_3) { .region_pages = 70, .off = 3 };

FIXTURE_SETUP(ctl)
{
	static const size_t candidates[] = { 0, 1, 63, 64, 65, 127, 128, SIZE_MAX };
	size_t k, i;
	char *buf;

	env_setup(_metadata, &self->env);
	self->off = variant->off;
	self->pages = variant->region_pages - variant->off;
	self->len = self->pages * psize();
	self->region = new_region(_metadata, variant->region_pages * psize());
	buf = malloc(psize());
	ASSERT_NE(NULL, buf);
	for (k = 0; k < variant->region_pages; k++) {
		memset(buf, base_pattern(k), psize());
		base_write(_metadata, self->region, buf, psize(), (off_t)(k * psize()));
	}
	free(buf);

	/* First, last and the pages around each 64-bit word boundary. */
	for (i = 0; i < ARRAY_SIZE(candidates); i++) {
		size_t p = candidates[i] == SIZE_MAX ? self->pages - 1 : candidates[i];

		if (p >= self->pages)
			continue;
		if (self->nr_written && self->written[self->nr_written - 1] >= p)
			continue;
		self->written[self->nr_written++] = p;
	}
	self->words = (self->pages + 63) / 64;
	self->bitmap = malloc((self->words + 1) * sizeof(uint64_t));
	ASSERT_NE(NULL, self->bitmap);
}

FIXTURE_TEARDOWN(ctl)
{
	free(self->bitmap);
	EXPECT_EQ(0, close(self->region));
	env_teardown(_metadata, &self->env);
}

static bool ctl_is_written(FIXTURE_DATA(ctl) *self, size_t page)
{
	unsigned int j;

	for (j = 0; j < self->nr_written; j++)
		if (self->written[j] == page)
			return true;
	return false;
}

/* Write view page i: its first byte becomes the inverse of the base byte. */
static void ctl_write(FIXTURE_DATA(ctl) *self, char *v, size_t i)
{
	*(volatile unsigned char *)VP(v, i) = (unsigned char)~base_pattern(self->off + i);
}

static void ctl_write_all(FIXTURE_DATA(ctl) *self, char *v)
{
	unsigned int j;

	for (j = 0; j < self->nr_written; j++)
		ctl_write(self, v, self->written[j]);
}

#define SENTINEL	0xababababababababULL

static void ctl_clear_bitmap(FIXTURE_DATA(ctl) *self)
{
	size_t w;

	/* Garbage: the kernel writes every word of the range, zeros too;
	 * the word after the range must stay as it is. */
	for (w = 0; w <= self->words; w++)
		self->bitmap[w] = SENTINEL;
}

/*
 * The bitmap of a range of npages view pages starting at view page first
 * must be exactly the written pages in it, nothing past npages, and the
 * word after the range untouched.
 */
static void ctl_check_bitmap(struct __test_metadata *_metadata,
			     FIXTURE_DATA(ctl) *self, size_t first,
			     size_t npages, bool expect_written)
{
	size_t i, nwords = (npages + 63) / 64;

	for (i = 0; i < nwords * 64; i++) {
		bool want = i < npages && expect_written &&
			    ctl_is_written(self, first + i);

		EXPECT_EQ(want, dirty_bit(self->bitmap, i)) {
			TH_LOG("bit %zu (view page %zu) of a %zu-page range", i,
			       first + i, npages);
		}
	}
	EXPECT_EQ(SENTINEL, self->bitmap[nwords]);
}

static size_t ctl_written_in(FIXTURE_DATA(ctl) *self, size_t first, size_t npages)
{
	size_t n = 0;
	unsigned int j;

	for (j = 0; j < self->nr_written; j++)
		if (self->written[j] >= first && self->written[j] < first + npages)
			n++;
	return n;
}

TEST_F(ctl, dirty_report)
{
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;
	char *v = map_view(_metadata, self->region, self->len,
			   PROT_READ | PROT_WRITE, (off_t)(self->off * psize()));
	size_t i, first;
	int n;

	/* Reading every page maps base pages only: nothing to report. */
	for (i = 0; i < self->pages; i++)
		EXPECT_EQ(base_pattern(self->off + i), *(volatile unsigned char *)VP(v, i));
	ctl_clear_bitmap(self);
	EXPECT_EQ(0, cowshare_dirty(self->region, v, self->len, self->bitmap, 0));
	ctl_check_bitmap(_metadata, self, 0, self->pages, false);

	ctl_write_all(self, v);
	/* Reading copied pages again changes nothing. */
	for (i = 0; i < self->pages; i++)
		(void)*(volatile char *)VP(v, i);

	ctl_clear_bitmap(self);
	n = cowshare_dirty(self->region, v, self->len, self->bitmap, 0);
	EXPECT_EQ((int)self->nr_written, n);
	ctl_check_bitmap(_metadata, self, 0, self->pages, true);

	/* Without DIRTY_RESET nothing is dropped: the same report again. */
	ctl_clear_bitmap(self);
	EXPECT_EQ((int)self->nr_written,
		  cowshare_dirty(self->region, v, self->len, self->bitmap, 0));
	ctl_check_bitmap(_metadata, self, 0, self->pages, true);
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(self->nr_written, ri.private_pages);
	view_info(_metadata, self->region, v, &vi);
	EXPECT_EQ(self->nr_written, vi.private_pages);

	/* Ranges that start inside the view: bit 0 is the range's first page. */
	for (first = 1; first < self->pages; first += first < 4 ? 1 : 61) {
		size_t npages = self->pages - first;

		ctl_clear_bitmap(self);
		n = cowshare_dirty(self->region, VP(v, first), npages * psize(),
				   self->bitmap, 0);
		EXPECT_EQ((int)ctl_written_in(self, first, npages), n) {
			TH_LOG("range from view page %zu", first);
		}
		ctl_check_bitmap(_metadata, self, first, npages, true);

		/* A length that is not whole pages is rounded up. */
		ctl_clear_bitmap(self);
		n = cowshare_dirty(self->region, VP(v, first),
				   npages * psize() - psize() / 2, self->bitmap, 0);
		EXPECT_EQ((int)ctl_written_in(self, first, npages), n);
		ctl_check_bitmap(_metadata, self, first, npages, true);
	}
	/* One-page ranges. */
	for (i = 0; i < self->pages; i++) {
		ctl_clear_bitmap(self);
		n = cowshare_dirty(self->region, VP(v, i), psize(), self->bitmap, 0);
		EXPECT_EQ(ctl_is_written(self, i) ? 1 : 0, n) {
			TH_LOG("view page %zu", i);
		}
		ctl_check_bitmap(_metadata, self, i, 1, true);
	}
	EXPECT_EQ(0, munmap(v, self->len));
}

/* Every view page: base content and base PFN (pfns: as read before writing). */
static void ctl_expect_base(struct __test_metadata *_metadata,
			    FIXTURE_DATA(ctl) *self, char *v,
			    const uint64_t *pfns, size_t first, size_t npages)
{
	size_t i;

	for (i = first; i < first + npages; i++) {
		EXPECT_TRUE(all_bytes(VP(v, i), psize(), base_pattern(self->off + i))) {
			TH_LOG("view page %zu does not show the base", i);
		}
		EXPECT_EQ(pfns[i], touch_pfn(_metadata, VP(v, i))) {
			TH_LOG("view page %zu does not map the base page", i);
		}
	}
}

static uint64_t *ctl_read_pfns(struct __test_metadata *_metadata,
			       FIXTURE_DATA(ctl) *self, char *v)
{
	uint64_t *pfns = calloc(self->pages, sizeof(*pfns));
	size_t i;

	ASSERT_NE(NULL, pfns);
	for (i = 0; i < self->pages; i++) {
		pfns[i] = touch_pfn(_metadata, VP(v, i));
		EXPECT_NE(0, pfns[i]);
	}
	return pfns;
}

TEST_F(ctl, dirty_reset_drops_reported)
{
	struct cowshare_global_info gi;
	struct cowshare_region_info ri;
	char *v = map_view(_metadata, self->region, self->len,
			   PROT_READ | PROT_WRITE, (off_t)(self->off * psize()));
	uint64_t *pfns = ctl_read_pfns(_metadata, self, v);
	unsigned int j;
	size_t last = self->written[self->nr_written - 1];
	int n;

	ctl_write_all(self, v);
	for (j = 0; j < self->nr_written; j++) {
		EXPECT_NE(pfns[self->written[j]], pagemap_pfn(_metadata, VP(v, self->written[j])));
	}
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + self->nr_written, gi.private_pages);

	ctl_clear_bitmap(self);
	n = cowshare_dirty(self->region, v, self->len, self->bitmap, COWSHARE_DIRTY_RESET);
	EXPECT_EQ((int)self->nr_written, n);
	ctl_check_bitmap(_metadata, self, 0, self->pages, true);

	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(0, ri.private_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages, gi.private_pages);
	ctl_expect_base(_metadata, self, v, pfns, 0, self->pages);

	/* Nothing left to report. */
	ctl_clear_bitmap(self);
	EXPECT_EQ(0, cowshare_dirty(self->region, v, self->len, self->bitmap,
				    COWSHARE_DIRTY_RESET));
	ctl_check_bitmap(_metadata, self, 0, self->pages, false);

	/* A page written after the reset is the next call's. */
	ctl_write(self, v, last);
	ctl_clear_bitmap(self);
	EXPECT_EQ(1, cowshare_dirty(self->region, v, self->len, self->bitmap,
				    COWSHARE_DIRTY_RESET));
	EXPECT_TRUE(dirty_bit(self->bitmap, last));
	ctl_expect_base(_metadata, self, v, pfns, last, 1);

	/* DIRTY_RESET of a subrange leaves the copies outside it. */
	ctl_write_all(self, v);
	if (self->pages > 1) {
		ctl_clear_bitmap(self);
		n = cowshare_dirty(self->region, VP(v, 1), (self->pages - 1) * psize(),
				   self->bitmap, COWSHARE_DIRTY_RESET);
		EXPECT_EQ((int)self->nr_written - 1, n);	/* page 0 is written */
		ctl_check_bitmap(_metadata, self, 1, self->pages - 1, true);
		ctl_expect_base(_metadata, self, v, pfns, 1, self->pages - 1);
		region_info(_metadata, self->region, &ri);
		EXPECT_EQ(1, ri.private_pages);
		EXPECT_EQ((unsigned char)~base_pattern(self->off), *(unsigned char *)v);
	}
	EXPECT_EQ(0, munmap(v, self->len));
	free(pfns);
}

TEST_F(ctl, dirty_efault_drops_nothing)
{
	struct cowshare_region_info ri;
	char *v = map_view(_metadata, self->region, self->len,
			   PROT_READ | PROT_WRITE, (off_t)(self->off * psize()));
	size_t bytes = self->words * sizeof(uint64_t);
	uint64_t *ro, *hole;
	unsigned int j;

	ro = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	hole = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_EQ(0, munmap(hole, bytes));

	ctl_write_all(self, v);
	EXPECT_EQ(-EFAULT, cowshare_dirty(self->region, v, self->len, ro,
					  COWSHARE_DIRTY_RESET));
	EXPECT_EQ(-EFAULT, cowshare_dirty(self->region, v, self->len, hole,
					  COWSHARE_DIRTY_RESET));
	EXPECT_EQ(-EFAULT, cowshare_dirty(self->region, v, self->len, NULL,
					  COWSHARE_DIRTY_RESET));
	EXPECT_EQ(-EFAULT, cowshare_dirty(self->region, v, self->len, ro, 0));

	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(self->nr_written, ri.private_pages);
	for (j = 0; j < self->nr_written; j++) {
		EXPECT_EQ((unsigned char)~base_pattern(self->off + self->written[j]),
			  *(unsigned char *)VP(v, self->written[j]));
	}

	/* The copies are still there to report. */
	ctl_clear_bitmap(self);
	EXPECT_EQ((int)self->nr_written, cowshare_dirty(self->region, v, self->len,
							self->bitmap, COWSHARE_DIRTY_RESET));
	ctl_check_bitmap(_metadata, self, 0, self->pages, true);
	EXPECT_EQ(0, munmap(ro, bytes));
	EXPECT_EQ(0, munmap(v, self->len));
}

TEST_F(ctl, reset)
{
	struct cowshare_global_info gi;
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;
	char *v = map_view(_metadata, self->region, self->len,
			   PROT_READ | PROT_WRITE, (off_t)(self->off * psize()));
	uint64_t *pfns = ctl_read_pfns(_metadata, self, v);

	ctl_write_all(self, v);
	EXPECT_EQ((int)self->nr_written, cowshare_reset(self->region, v, self->len));
	ctl_expect_base(_metadata, self, v, pfns, 0, self->pages);
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(0, ri.private_pages);
	EXPECT_EQ(variant->region_pages, ri.base_pages);	/* none freed */
	view_info(_metadata, self->region, v, &vi);
	EXPECT_EQ(0, vi.private_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages, gi.private_pages);
	EXPECT_EQ(0, cowshare_reset(self->region, v, self->len));

	/* Writable again after the reset: a new copy, then reset again. */
	ctl_write_all(self, v);
	EXPECT_EQ((unsigned char)~base_pattern(self->off), *(unsigned char *)v);
	if (self->pages > 1) {
		EXPECT_EQ((int)self->nr_written - 1,
			  cowshare_reset(self->region, VP(v, 1), self->len - psize()));
		region_info(_metadata, self->region, &ri);
		EXPECT_EQ(1, ri.private_pages);
		ctl_expect_base(_metadata, self, v, pfns, 1, self->pages - 1);
	}
	EXPECT_EQ(self->pages > 1 ? 1 : (int)self->nr_written,
		  cowshare_reset(self->region, v, psize()));
	ctl_expect_base(_metadata, self, v, pfns, 0, self->pages);
	EXPECT_EQ(0, munmap(v, self->len));
	free(pfns);
}

/* Other views keep their copies when one view is reset. */
TEST_F(ctl, reset_is_per_view)
{
	char *a = map_view(_metadata, self->region, self->len,
			   PROT_READ | PROT_WRITE, (off_t)(self->off * psize()));
	char *b = map_view(_metadata, self->region, self->len,
			   PROT_READ | PROT_WRITE, (off_t)(self->off * psize()));
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;

	ctl_write_all(self, a);
	ctl_write_all(self, b);
	EXPECT_EQ((int)self->nr_written, cowshare_reset(self->region, a, self->len));
	view_info(_metadata, self->region, b, &vi);
	EXPECT_EQ(self->nr_written, vi.private_pages);
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(self->nr_written, ri.private_pages);
	EXPECT_EQ((unsigned char)~base_pattern(self->off), *(unsigned char *)b);
	EXPECT_EQ(base_pattern(self->off), *(unsigned char *)a);
	EXPECT_EQ(0, munmap(a, self->len));
	EXPECT_EQ(0, munmap(b, self->len));
}

CS_ENV_FIXTURE(misc)

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reset of a large, mostly clean range: walks the copies, not the pages. */
TEST_F(misc, reset_large_sparse_range)
{
	size_t len = 1UL << 30, pages, words, i;
	struct cowshare_region_info ri;
	uint64_t *bitmap;
	double t0, t1;
	int region, n;
	char *v;

	if (len > self->env.before.max_region_size)
		len = self->env.before.max_region_size / psize() * psize();
	pages = len / psize();
	words = (pages + 63) / 64;
	region = new_region(_metadata, len);
	v = map_view(_metadata, region, len, PROT_READ | PROT_WRITE, 0);
	bitmap = calloc(words, sizeof(*bitmap));
	ASSERT_NE(NULL, bitmap);
	v[0] = 1;
	v[len / 2] = 2;
	v[len - 1] = 3;

	n = cowshare_dirty(region, v, len, bitmap, 0);
	EXPECT_EQ(3, n);
	for (i = 0; i < words; i++) {
		uint64_t want = 0;

		if (i == 0)
			want |= 1;
		if (i == (pages / 2) / 64)
			want |= 1ULL << ((pages / 2) % 64);
		if (i == (pages - 1) / 64)
			want |= 1ULL << ((pages - 1) % 64);
		EXPECT_EQ(want, bitmap[i]) {
			TH_LOG("word %zu", i);
		}
	}
	t0 = now_seconds();
	n = cowshare_reset(region, v, len);
	t1 = now_seconds();
	EXPECT_EQ(3, n);
	TH_LOG("reset of %zu pages holding 3 copies: %.3f ms", pages, (t1 - t0) * 1e3);
	/* No base page was ever allocated: writes copy from the zero page. */
	region_info(_metadata, region, &ri);
	EXPECT_EQ(0, ri.base_pages);
	EXPECT_EQ(0, ri.private_pages);
	EXPECT_EQ(0, v[0]);
	EXPECT_EQ(0, v[len - 1]);
	EXPECT_EQ(0, cowshare_dirty(region, v, len, bitmap, COWSHARE_DIRTY_RESET));
	free(bitmap);
	EXPECT_EQ(0, munmap(v, len));
	EXPECT_EQ(0, close(region));
}

/* One row of the range errno table. */
struct range_case {
	const char *name;
	int fd;
	unsigned long cmd;
	uintptr_t addr;
	uint64_t length;
	uint32_t flags;
	uint64_t bitmap;
	int err;
};

TEST_F(misc, range_errors)
{
	const size_t p = psize();
	struct cowshare_region_info ri;
	int a = new_region(_metadata, 4 * p);
	int b = new_region(_metadata, 4 * p);
	int dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	char *va, *vb, *two, *anon, *hole;
	uint64_t bitmap[2];
	uintptr_t bm = (uintptr_t)bitmap;
	unsigned int i, bit;
	struct {
		uint32_t size;
		uint32_t flags;
		uint64_t addr, length, bitmap, tail;
	} big;
	int ret;

	ASSERT_LE(0, dev);
	ASSERT_LE(0, null);
	va = map_view(_metadata, a, 4 * p, PROT_READ | PROT_WRITE, 0);
	vb = map_view(_metadata, b, 4 * p, PROT_READ | PROT_WRITE, 0);
	/* Two adjacent views of region a: [0, 2) and [2, 4). */
	two = mmap(NULL, 4 * p, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(two, mmap(two, 2 * p, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, a, 0));
	ASSERT_EQ(two + 2 * p, mmap(two + 2 * p, 2 * p, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_FIXED, a, (off_t)(2 * p)));
	anon = mmap(NULL, 2 * p, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	hole = mmap(NULL, 2 * p, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_EQ(0, munmap(hole, 2 * p));
	va[0] = 1;	/* a copy that no failing call may drop */

	const struct range_case rows[] = {
		{ "valid dirty", a, COWSHARE_IOC_DIRTY, (uintptr_t)va, 4 * p, 0, bm, 0 },
		{ "valid reset, none", a, COWSHARE_IOC_RESET, (uintptr_t)va + p, 3 * p, 0, 0, 0 },
		{ "length rounded up", a, COWSHARE_IOC_DIRTY, (uintptr_t)va, 3 * p + 1, 0, bm, 0 },
		{ "one view of two", a, COWSHARE_IOC_DIRTY, (uintptr_t)two, 2 * p, 0, bm, 0 },
		{ "unaligned addr", a, COWSHARE_IOC_DIRTY, (uintptr_t)va + 1, p, 0, bm, EINVAL },
		{ "unaligned addr reset", a, COWSHARE_IOC_RESET, (uintptr_t)va + 8, p, 0, 0, EINVAL },
		{ "zero length", a, COWSHARE_IOC_DIRTY, (uintptr_t)va, 0, 0, bm, EINVAL },
		{ "zero length reset", a, COWSHARE_IOC_RESET, (uintptr_t)va, 0, 0, 0, EINVAL },
		{ "length wraps", a, COWSHARE_IOC_DIRTY, (uintptr_t)va, UINT64_MAX, 0, bm, EINVAL },
		{ "end wraps", a, COWSHARE_IOC_RESET, (uintptr_t)va,
		  (uint64_t)0 - (uint64_t)(uintptr_t)va + p, 0, 0, EINVAL },
		{ "past view end", a, COWSHARE_IOC_DIRTY, (uintptr_t)va, 5 * p, 0, bm, EINVAL },
		{ "past view end, rounded", a, COWSHARE_IOC_RESET, (uintptr_t)va + 3 * p,
		  p + 1, 0, 0, EINVAL },
		{ "spans two views", a, COWSHARE_IOC_DIRTY, (uintptr_t)two, 4 * p, 0, bm, EINVAL },
		{ "spans two views reset", a, COWSHARE_IOC_RESET, (uintptr_t)two + p, 2 * p,
		  0, 0, EINVAL },
		{ "anonymous memory", a, COWSHARE_IOC_DIRTY, (uintptr_t)anon, p, 0, bm, EINVAL },
		{ "unmapped", a, COWSHARE_IOC_RESET, (uintptr_t)hole, p, 0, 0, EINVAL },
		{ "address 0", a, COWSHARE_IOC_RESET, 0, p, 0, 0, EINVAL },
		{ "other region's view", a, COWSHARE_IOC_DIRTY, (uintptr_t)vb, p, 0, bm, EINVAL },
		{ "other region's view reset", b, COWSHARE_IOC_RESET, (uintptr_t)va, p, 0, 0, EINVAL },
		{ "device fd", dev, COWSHARE_IOC_DIRTY, (uintptr_t)va, p, 0, bm, ENOTTY },
		{ "device fd reset", dev, COWSHARE_IOC_RESET, (uintptr_t)va, p, 0, 0, ENOTTY },
		{ "/dev/null", null, COWSHARE_IOC_RESET, (uintptr_t)va, p, 0, 0, ENOTTY },
		{ "bad fd", -1, COWSHARE_IOC_RESET, (uintptr_t)va, p, 0, 0, EBADF },
		{ "reset with DIRTY_RESET", a, COWSHARE_IOC_RESET, (uintptr_t)va, p,
		  COWSHARE_DIRTY_RESET, 0, EINVAL },
		{ "reset with a bitmap", a, COWSHARE_IOC_RESET, (uintptr_t)va, p, 0, bm, EINVAL },
	};

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		ret = range_raw(rows[i].fd, rows[i].cmd, rows[i].addr, rows[i].length,
				rows[i].flags, rows[i].bitmap);
		if (rows[i].err) {
			EXPECT_EQ(-rows[i].err, ret) {
				TH_LOG("%s: %d (%s)", rows[i].name, ret,
				       ret < 0 ? strerror(-ret) : "success");
			}
		} else {
			EXPECT_LE(0, ret) {
				TH_LOG("%s: %s", rows[i].name, strerror(-ret));
			}
		}
	}
	/* Unknown DIRTY flags, each bit. */
	for (bit = 0; bit < 32; bit++) {
		if ((1U << bit) & COWSHARE_DIRTY_RESET)
			continue;
		EXPECT_EQ(-EINVAL, range_raw(a, COWSHARE_IOC_DIRTY, (uintptr_t)va, p,
					     1U << bit, bm)) {
			TH_LOG("flag bit %u", bit);
		}
		EXPECT_EQ(-EINVAL, range_raw(a, COWSHARE_IOC_DIRTY, (uintptr_t)va, p,
					     COWSHARE_DIRTY_RESET | (1U << bit), bm)) {
			TH_LOG("DIRTY_RESET | flag bit %u", bit);
		}
	}
	/* The extensible-struct rules. */
	memset(&big, 0, sizeof(big));
	big.size = sizeof(struct cowshare_range) - 8;
	big.addr = (uintptr_t)va;
	big.length = p;
	EXPECT_EQ(-1, ioctl(a, COWSHARE_IOC_RESET, &big));
	EXPECT_EQ(EINVAL, errno);
	/* Longer with a zero tail: fine (nothing to drop at page 1). */
	big.size = sizeof(big);
	big.addr = (uintptr_t)va + p;
	EXPECT_EQ(0, ioctl(a, COWSHARE_IOC_RESET, &big));
	big.tail = 1;
	EXPECT_EQ(-1, ioctl(a, COWSHARE_IOC_RESET, &big));
	EXPECT_EQ(E2BIG, errno);
	EXPECT_EQ(-1, ioctl(a, COWSHARE_IOC_RESET, NULL));
	EXPECT_EQ(EFAULT, errno);

	/* No failing call dropped the copy. */
	region_info(_metadata, a, &ri);
	EXPECT_EQ(1, ri.private_pages);
	EXPECT_EQ(1, va[0]);

	EXPECT_EQ(0, munmap(two, 4 * p));
	EXPECT_EQ(0, munmap(anon, 2 * p));
	EXPECT_EQ(0, munmap(va, 4 * p));
	EXPECT_EQ(0, munmap(vb, 4 * p));
	EXPECT_EQ(0, close(null));
	EXPECT_EQ(0, close(dev));
	EXPECT_EQ(0, close(a));
	EXPECT_EQ(0, close(b));
}
#define RACE_WRITERS	4
#define RACE_PAGES	130
#define RACE_SECONDS	1.5
#define LOST_WAIT	5.0

static const size_t race_page[RACE_WRITERS] = { 0, 63, 64, 129 };

struct race {
	char *view;
	atomic_ulong reports[RACE_WRITERS];
	atomic_bool stop;
	atomic_uint ready;
};

struct race_writer {
	struct race *race;
	unsigned int w;
	uint64_t last;		/* last value written */
	unsigned long writes, drops_seen, lost, foreign;
	uint64_t foreign_value;
};

static bool race_wait_reported(struct race *r, unsigned int w, unsigned long before)
{
	double t0 = now_seconds();

	while (atomic_load(&r->reports[w]) <= before) {
		if (now_seconds() - t0 > LOST_WAIT)
			return false;
		sched_yield();
	}
	return true;
}

static void *race_writer_fn(void *arg)
{
	struct race_writer *wr = arg;
	struct race *r = wr->race;
	volatile uint64_t *page = (volatile uint64_t *)VP(r->view, race_page[wr->w]);
	unsigned long before = 0;
	uint64_t v;

	atomic_fetch_add(&r->ready, 1);
	while (!atomic_load(&r->stop)) {
		v = *page;
		if (v != wr->last && v != 0) {
			wr->foreign++;
			wr->foreign_value = v;
			break;
		}
		if (v == 0 && wr->last != 0) {
			wr->drops_seen++;
			if (!race_wait_reported(r, wr->w, before)) {
				wr->lost++;
				break;
			}
		}
		before = atomic_load(&r->reports[wr->w]);
		*page = ++wr->last;
		wr->writes++;
	}
	return NULL;
}

TEST_F_TIMEOUT(misc, dirty_reset_races_writers, 120)
{
	const size_t len = RACE_PAGES * psize();
	struct race_writer wr[RACE_WRITERS];
	pthread_t th[RACE_WRITERS];
	unsigned long calls = 0, unexpected = 0, miscounted = 0;
	uint64_t bitmap[(RACE_PAGES + 63) / 64];
	struct cowshare_region_info ri;
	struct race r;
	unsigned int w;
	size_t i;
	double t0;
	int region, n, bits;

	memset(&r, 0, sizeof(r));
	region = new_region(_metadata, len);
	r.view = map_view(_metadata, region, len, PROT_READ | PROT_WRITE, 0);
	for (w = 0; w < RACE_WRITERS; w++) {
		memset(&wr[w], 0, sizeof(wr[w]));
		wr[w].race = &r;
		wr[w].w = w;
		ASSERT_EQ(0, pthread_create(&th[w], NULL, race_writer_fn, &wr[w]));
	}
	while (atomic_load(&r.ready) < RACE_WRITERS)
		sched_yield();

	t0 = now_seconds();
	while (now_seconds() - t0 < RACE_SECONDS) {
		n = cowshare_dirty(region, r.view, len, bitmap, COWSHARE_DIRTY_RESET);
		if (n < 0) {
			EXPECT_LE(0, n) {
				TH_LOG("DIRTY_RESET: %s", strerror(-n));
			}
			break;
		}
		calls++;
		bits = 0;
		for (i = 0; i < RACE_PAGES; i++) {
			if (!dirty_bit(bitmap, i))
				continue;
			bits++;
			for (w = 0; w < RACE_WRITERS; w++)
				if (race_page[w] == i)
					break;
			if (w == RACE_WRITERS)
				unexpected++;
			else
				atomic_fetch_add(&r.reports[w], 1);
		}
		if (bits != n)
			miscounted++;
	}
	atomic_store(&r.stop, true);
	for (w = 0; w < RACE_WRITERS; w++)
		ASSERT_EQ(0, pthread_join(th[w], NULL));

	EXPECT_EQ(0, unexpected);
	EXPECT_EQ(0, miscounted);
	for (w = 0; w < RACE_WRITERS; w++) {
		TH_LOG("writer %u (page %zu): %lu writes, %lu drops seen, %lu reports",
		       w, race_page[w], wr[w].writes, wr[w].drops_seen,
		       atomic_load(&r.reports[w]));
		EXPECT_EQ(0, wr[w].lost) {
			TH_LOG("writer %u: its write %llu was dropped unreported", w,
			       (unsigned long long)wr[w].last);
		}
		EXPECT_EQ(0, wr[w].foreign) {
			TH_LOG("writer %u: read %llu, neither 0 nor its last %llu", w,
			       (unsigned long long)wr[w].foreign_value,
			       (unsigned long long)wr[w].last);
		}
		EXPECT_LE(1, wr[w].writes);
	}
	TH_LOG("%lu DIRTY_RESET calls", calls);

	/* What is left: each writer's page holds its last write or the base. */
	n = cowshare_dirty(region, r.view, len, bitmap, 0);
	region_info(_metadata, region, &ri);
	EXPECT_EQ((uint64_t)n, ri.private_pages);
	for (w = 0; w < RACE_WRITERS; w++) {
		uint64_t v = *(volatile uint64_t *)VP(r.view, race_page[w]);

		if (dirty_bit(bitmap, race_page[w])) {
			EXPECT_EQ(wr[w].last, v);
		} else {
			EXPECT_EQ(0, v);
		}
	}
	EXPECT_EQ(0, munmap(r.view, len));
	EXPECT_EQ(0, close(region));
}

TEST_HARNESS_MAIN
