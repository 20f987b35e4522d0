// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare control surface: COWSHARE_IOC_DIRTY (with and without
 * COWSHARE_DIRTY_RESET), COWSHARE_IOC_RESET and their errno table, a
 * DIRTY_RESET loop racing writer threads (no write may be lost unreported),
 * COWSHARE_IOC_SEAL, regions made from files (COWSHARE_IOC_CREATE_FROM_FILE,
 * COWSHARE_SHARE_BY_FILE), COWSHARE_IOC_LIST_REGIONS and
 * COWSHARE_IOC_SNAPSHOT.
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

#define VP(v, i)	((v) + (size_t)(i) * psize())

/* The byte base page k (region index) holds in the ctl fixture: 1..250. */
static unsigned char base_pattern(size_t k)
{
	return (unsigned char)(k % 250 + 1);
}

/* ENOTTY from an ioctl the module does not have yet: say so in the log. */
#define ASSERT_IMPLEMENTED(ret, what) \
	ASSERT_NE(-ENOTTY, ret) { \
		TH_LOG("%s: ENOTTY, the module does not implement it yet", what); \
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

FIXTURE(misc)
{
	struct cs_env env;
};

FIXTURE_SETUP(misc)
{
	env_setup(_metadata, &self->env);
}

FIXTURE_TEARDOWN(misc)
{
	env_teardown(_metadata, &self->env);
}

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

static int range_raw(int fd, unsigned long cmd, uintptr_t addr, uint64_t length,
		     uint32_t flags, uint64_t bitmap)
{
	struct cowshare_range r = {
		.size = sizeof(r), .flags = flags, .addr = addr,
		.length = length, .bitmap = bitmap,
	};
	int ret = ioctl(fd, cmd, &r);

	return ret < 0 ? -errno : ret;
}

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

TEST_F(misc, seal)
{
	const size_t p = psize();
	struct cowshare_region_info ri;
	struct cowshare_seal bad = { .size = sizeof(bad), .flags = 1 };
	int region = new_region(_metadata, 2 * p);
	int dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	char buf[16] = "sealed?", *v, *ro;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	uint64_t base0;

	ASSERT_LE(0, dev);
	base_fill(_metadata, region, 0, 'b');
	region_info(_metadata, region, &ri);
	EXPECT_EQ(0, ri.region_flags & COWSHARE_REGION_SEALED);
	EXPECT_EQ(geteuid(), ri.creator_uid);
	EXPECT_EQ(-1, ioctl(region, COWSHARE_IOC_SEAL, &bad));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-ENOTTY, cowshare_seal(dev));
	EXPECT_EQ(-EBADF, cowshare_seal(-1));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(0, ri.region_flags & COWSHARE_REGION_SEALED);

	v = map_view(_metadata, region, 2 * p, PROT_READ | PROT_WRITE, 0);
	base0 = touch_pfn(_metadata, v);

	EXPECT_EQ(0, cowshare_seal(region));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(COWSHARE_REGION_SEALED, ri.region_flags & COWSHARE_REGION_SEALED);
	EXPECT_EQ(-1, pwrite(region, buf, sizeof(buf), 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, pwrite(region, buf, sizeof(buf), (off_t)p));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, pwritev(region, &iov, 1, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ('b', base_byte(_metadata, region, 0));
	EXPECT_EQ(0, base_byte(_metadata, region, (off_t)p));

	/* Views still copy on write; the base does not change. */
	v[0] = 'w';
	v[p] = 'x';
	EXPECT_NE(base0, pagemap_pfn(_metadata, v));
	EXPECT_EQ('b', base_byte(_metadata, region, 0));
	EXPECT_EQ(0, base_byte(_metadata, region, (off_t)p));
	ro = map_view(_metadata, region, 2 * p, PROT_READ, 0);
	EXPECT_EQ('b', ro[0]);
	EXPECT_EQ(base0, pagemap_pfn(_metadata, ro));
	EXPECT_EQ(0, ro[p]);
	region_info(_metadata, region, &ri);
	EXPECT_EQ(2, ri.private_pages);

	/* Sealing again is fine; the region stays sealed. */
	EXPECT_EQ(0, cowshare_seal(region));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(COWSHARE_REGION_SEALED, ri.region_flags & COWSHARE_REGION_SEALED);

	/* Reset works on a sealed region: back to the base. */
	EXPECT_EQ(2, cowshare_reset(region, v, 2 * p));
	EXPECT_EQ('b', v[0]);
	EXPECT_EQ(base0, pagemap_pfn(_metadata, v));

	EXPECT_EQ(0, munmap(v, 2 * p));
	EXPECT_EQ(0, munmap(ro, 2 * p));
	EXPECT_EQ(0, close(dev));
	EXPECT_EQ(0, close(region));
}

/*
 * DIRTY_RESET racing writers. Writer w owns one page and writes an
 * increasing sequence number to it; the main thread loops DIRTY_RESET
 * over the whole view and counts, per page, the calls that reported it
 * (after the call returned). A writer that wrote s must later read s or
 * the base (0): 0 means a call dropped its copy after the write, so that
 * call reported the page, and the report count must rise above the value
 * read before the write. A dropped write whose page no call reported
 * leaves the count unchanged: a lost write.
 */
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

/* ---- regions from files ------------------------------------------- */

/* A file in /tmp (tmpfs in the guest) of len bytes: byte i is (i * 7 + seed). */
static int make_file(struct __test_metadata *_metadata, char *path, size_t len,
		     unsigned int seed)
{
	unsigned char *buf = malloc(len);
	size_t i;
	int fd;

	ASSERT_NE(NULL, buf);
	strcpy(path, "/tmp/cowshare-file-XXXXXX");
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 7 + seed);
	ASSERT_EQ((ssize_t)len, pwrite(fd, buf, len, 0));
	free(buf);
	return fd;
}

static bool file_bytes_match(const unsigned char *p, size_t len, size_t file_off,
			     unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)((file_off + i) * 7 + seed))
			return false;
	return true;
}

static int from_file(struct __test_metadata *_metadata, int fd, off_t off,
		     size_t len, unsigned int flags)
{
	int ret = cowshare_create_from_file(fd, off, len, flags);

	ASSERT_IMPLEMENTED(ret, "COWSHARE_IOC_CREATE_FROM_FILE");
	ASSERT_LE(0, ret) {
		TH_LOG("cowshare_create_from_file(off %lld, len %zu, flags %#x): %s",
		       (long long)off, len, flags, strerror(-ret));
	}
	return ret;
}

TEST_F(misc, from_file_content)
{
	const size_t p = psize(), flen = 3 * p + 100;
	struct cowshare_region_info ri;
	char path[64], junk[64];
	unsigned char *v;
	int fd, region, region2;

	fd = make_file(_metadata, path, flen, 0);
	region = from_file(_metadata, fd, 0, flen, COWSHARE_CLOEXEC);
	EXPECT_EQ(FD_CLOEXEC, fcntl(region, F_GETFD) & FD_CLOEXEC);
	region_info(_metadata, region, &ri);
	EXPECT_EQ(4 * p, ri.length);
	EXPECT_EQ(COWSHARE_REGION_SEALED | COWSHARE_REGION_FILE_IMAGE,
		  ri.region_flags & (COWSHARE_REGION_SEALED | COWSHARE_REGION_FILE_IMAGE));
	EXPECT_EQ(geteuid(), ri.creator_uid);

	v = (unsigned char *)map_view(_metadata, region, 4 * p, PROT_READ | PROT_WRITE, 0);
	EXPECT_TRUE(file_bytes_match(v, flen, 0, 0));
	EXPECT_TRUE(all_bytes(v + flen, 4 * p - flen, 0));

	/* Later changes to the file do not reach the region. */
	memset(junk, 0xee, sizeof(junk));
	ASSERT_EQ((ssize_t)sizeof(junk), pwrite(fd, junk, sizeof(junk), 0));
	ASSERT_EQ((ssize_t)sizeof(junk), pwrite(fd, junk, sizeof(junk), (off_t)(2 * p)));
	ASSERT_EQ(0, ftruncate(fd, (off_t)p));
	EXPECT_TRUE(file_bytes_match(v, flen, 0, 0));
	EXPECT_EQ(0, base_byte(_metadata, region, 0));	/* byte 0 of the file: 0 */
	EXPECT_EQ(7, base_byte(_metadata, region, 1));

	/* Sealed: no base write; views still copy. */
	EXPECT_EQ(-1, pwrite(region, junk, sizeof(junk), 0));
	EXPECT_EQ(EPERM, errno);
	v[1] = 0x55;
	EXPECT_EQ(7, base_byte(_metadata, region, 1));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(1, ri.private_pages);

	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, unlink(path));
	EXPECT_EQ(0, munmap(v, 4 * p));
	EXPECT_EQ(0, close(region));

	/* An offset into the file, and bytes past its end read as zero. */
	fd = make_file(_metadata, path, flen, 3);
	region2 = from_file(_metadata, fd, (off_t)p, 5 * p, 0);
	EXPECT_EQ(0, fcntl(region2, F_GETFD) & FD_CLOEXEC);
	region_info(_metadata, region2, &ri);
	EXPECT_EQ(5 * p, ri.length);
	v = (unsigned char *)map_view(_metadata, region2, 5 * p, PROT_READ, 0);
	EXPECT_TRUE(file_bytes_match(v, flen - p, p, 3));
	EXPECT_TRUE(all_bytes(v + flen - p, 5 * p - (flen - p), 0));
	EXPECT_EQ(0, munmap(v, 5 * p));
	EXPECT_EQ(0, close(region2));
	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, unlink(path));
}

static uint64_t region_id(struct __test_metadata *_metadata, int region)
{
	struct cowshare_region_info ri;

	region_info(_metadata, region, &ri);
	return ri.id;
}

TEST_F(misc, from_file_share_by_file)
{
	const size_t p = psize(), flen = 3 * p;
	struct sync_pipes s;
	uint64_t id1, pfn[3], other[4];
	struct timespec ts[2];
	struct stat st;
	char path[64];
	unsigned char *v;
	int fd, r1, r2, r3, r4, i;
	pid_t pid;

	fd = make_file(_metadata, path, flen, 1);
	r1 = from_file(_metadata, fd, 0, flen, COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE);
	id1 = region_id(_metadata, r1);
	for (i = 0; i < 3; i++)
		pfn[i] = region_base_pfn(_metadata, r1, (size_t)i);

	/* Another process, its own open of the file: the same region. */
	sync_init(_metadata, &s);
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		int cfd = open(path, O_RDONLY | O_CLOEXEC);
		int cr = cfd < 0 ? -errno :
			 cowshare_create_from_file(cfd, 0, flen, COWSHARE_SHARE_BY_FILE);

		other[0] = cr < 0 ? 0 : region_id(_metadata, cr);
		for (i = 0; i < 3; i++)
			other[i + 1] = cr < 0 ? 0 : region_base_pfn(_metadata, cr, (size_t)i);
		if (write(s.to_parent[1], other, sizeof(other)) != sizeof(other))
			_exit(2);
		_exit(cr < 0 ? 3 : 0);
	}
	ASSERT_EQ((ssize_t)sizeof(other), read(s.to_parent[0], other, sizeof(other)));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	EXPECT_EQ(id1, other[0]);
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(pfn[i], other[i + 1]) {
			TH_LOG("base page %d", i);
		}
	}
	sync_close(&s);

	/* Here too: a second fd of the same region. */
	r2 = from_file(_metadata, fd, 0, flen, COWSHARE_SHARE_BY_FILE);
	EXPECT_EQ(id1, region_id(_metadata, r2));
	EXPECT_EQ(pfn[1], region_base_pfn(_metadata, r2, 1));
	EXPECT_EQ(0, close(r2));

	/* Without SHARE_BY_FILE, or over another range: a new region. */
	r2 = from_file(_metadata, fd, 0, flen, 0);
	EXPECT_NE(id1, region_id(_metadata, r2));
	EXPECT_NE(pfn[0], region_base_pfn(_metadata, r2, 0));
	EXPECT_EQ(0, close(r2));
	r2 = from_file(_metadata, fd, (off_t)p, 2 * p, COWSHARE_SHARE_BY_FILE);
	EXPECT_NE(id1, region_id(_metadata, r2));
	EXPECT_EQ(0, close(r2));
	r2 = from_file(_metadata, fd, 0, 2 * p, COWSHARE_SHARE_BY_FILE);
	EXPECT_NE(id1, region_id(_metadata, r2));
	EXPECT_EQ(0, close(r2));

	/* A changed file (content and mtime): a new region with the new content. */
	ASSERT_EQ(1, pwrite(fd, "Z", 1, 0));
	ASSERT_EQ(0, fstat(fd, &st));
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ts[1].tv_sec += 10;
	ASSERT_EQ(0, futimens(fd, ts));
	r3 = from_file(_metadata, fd, 0, flen, COWSHARE_SHARE_BY_FILE);
	EXPECT_NE(id1, region_id(_metadata, r3));
	v = (unsigned char *)map_view(_metadata, r3, flen, PROT_READ, 0);
	EXPECT_EQ('Z', v[0]);
	EXPECT_TRUE(file_bytes_match(v + 1, flen - 1, 1, 1));
	EXPECT_EQ(0, munmap(v, flen));
	/* ... which the next SHARE_BY_FILE finds. */
	r4 = from_file(_metadata, fd, 0, flen, COWSHARE_SHARE_BY_FILE);
	EXPECT_EQ(region_id(_metadata, r3), region_id(_metadata, r4));
	/* The old region keeps the old content. */
	v = (unsigned char *)map_view(_metadata, r1, flen, PROT_READ, 0);
	EXPECT_TRUE(file_bytes_match(v, flen, 0, 1));
	EXPECT_EQ(0, munmap(v, flen));

	EXPECT_EQ(0, close(r4));
	EXPECT_EQ(0, close(r3));
	EXPECT_EQ(0, close(r1));
	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, unlink(path));
}

TEST_F(misc, from_file_errors)
{
	const size_t p = psize();
	struct cowshare_create_from_file req;
	char path[64];
	int fd, wfd, dev, dir, ret;
	unsigned int bit;

	fd = make_file(_metadata, path, 2 * p, 0);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, wfd);
	dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dir);
	dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);

	ret = cowshare_create_from_file(fd, 0, p, 0);
	ASSERT_IMPLEMENTED(ret, "COWSHARE_IOC_CREATE_FROM_FILE");
	EXPECT_LE(0, ret);
	if (ret >= 0)
		close(ret);

	ret = cowshare_create_from_file(wfd, 0, p, 0);
	EXPECT_TRUE(ret == -EBADF || ret == -EACCES) {
		TH_LOG("write-only fd: %d", ret);
	}
	EXPECT_EQ(-EBADF, cowshare_create_from_file(-1, 0, p, 0));
	EXPECT_EQ(-EBADF, cowshare_create_from_file(9999, 0, p, 0));
	EXPECT_EQ(-EINVAL, cowshare_create_from_file(fd, 1, p, 0));
	EXPECT_EQ(-EINVAL, cowshare_create_from_file(fd, (off_t)(p / 2), p, 0));
	EXPECT_EQ(-EINVAL, cowshare_create_from_file(fd, 0, 0, 0));
	EXPECT_EQ(-EINVAL, cowshare_create_from_file(fd, -(off_t)p, p, 0));
	EXPECT_EQ(-E2BIG, cowshare_create_from_file(fd, 0,
				self->env.before.max_region_size + 1, 0));
	ret = cowshare_create_from_file(dir, 0, p, 0);
	EXPECT_GT(0, ret) {
		TH_LOG("a directory fd made region fd %d", ret);
	}
	if (ret >= 0)
		close(ret);
	for (bit = 0; bit < 32; bit++) {
		if ((1U << bit) & (COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE))
			continue;
		ret = cowshare_create_from_file(fd, 0, p, 1U << bit);
		EXPECT_EQ(-EINVAL, ret) {
			TH_LOG("flag bit %u", bit);
		}
		if (ret >= 0)
			close(ret);
	}
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.fd = fd;
	req.length = p;
	req.reserved = 1;
	EXPECT_EQ(-1, ioctl(dev, COWSHARE_IOC_CREATE_FROM_FILE, &req));
	EXPECT_EQ(EINVAL, errno);
	/* Only the device has it. */
	EXPECT_EQ(-1, ioctl(fd, COWSHARE_IOC_CREATE_FROM_FILE, &req));
	EXPECT_EQ(ENOTTY, errno);

	EXPECT_EQ(0, close(dev));
	EXPECT_EQ(0, close(dir));
	EXPECT_EQ(0, close(wfd));
	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, unlink(path));
}

/* ---- region listing ----------------------------------------------- */

/* Find region id in the listing, walking it in batches of batch. */
static bool list_find(struct __test_metadata *_metadata, uint64_t id,
		      unsigned int batch, struct cowshare_region_entry *found)
{
	struct cowshare_region_entry e[8];
	uint64_t start = 0, total, prev = 0;
	bool seen = false;
	int n, i;

	ASSERT_GE(ARRAY_SIZE(e), batch);
	for (;;) {
		n = cowshare_list_regions(start, e, batch, &total);
		ASSERT_IMPLEMENTED(n, "COWSHARE_IOC_LIST_REGIONS");
		ASSERT_LE(0, n) {
			TH_LOG("cowshare_list_regions: %s", strerror(-n));
		}
		EXPECT_GE(total, (uint64_t)n);
		for (i = 0; i < n; i++) {
			EXPECT_LT(prev, e[i].id);	/* in id order, once each */
			EXPECT_LE(start, e[i].id);
			prev = e[i].id;
			if (e[i].id == id) {
				*found = e[i];
				seen = true;
			}
		}
		if (n == 0 || (uint64_t)n >= total)
			break;
		start = e[n - 1].id + 1;
	}
	return seen;
}

TEST_F(misc, list_regions)
{
	const size_t p = psize();
	struct cowshare_region_entry e, first[2];
	struct cowshare_list_regions req;
	uint64_t ida, idb, total;
	int a, b, n, dev;
	char *va, *vb;
	unsigned int batch;

	a = new_region(_metadata, 3 * p);
	b = new_region(_metadata, 5 * p - 1);
	ida = region_id(_metadata, a);
	idb = region_id(_metadata, b);
	ASSERT_LT(ida, idb);
	va = map_view(_metadata, a, 3 * p, PROT_READ | PROT_WRITE, 0);
	vb = map_view(_metadata, b, p, PROT_READ, 0);
	va[0] = 1;
	(void)*(volatile char *)vb;
	EXPECT_EQ(0, cowshare_seal(b));

	for (batch = 1; batch <= 8; batch *= 2) {
		memset(&e, 0, sizeof(e));
		EXPECT_TRUE(list_find(_metadata, ida, batch, &e)) {
			TH_LOG("region %llu not listed (batch %u)", (unsigned long long)ida,
			       batch);
		}
		EXPECT_EQ(3 * p, e.length);
		EXPECT_EQ(1, e.views);
		EXPECT_EQ(1, e.private_pages);
		EXPECT_EQ(0, e.base_pages);	/* the write copied the zero page */
		EXPECT_EQ(0, e.region_flags);
		EXPECT_EQ(geteuid(), e.creator_uid);
		memset(&e, 0, sizeof(e));
		EXPECT_TRUE(list_find(_metadata, idb, batch, &e));
		EXPECT_EQ(5 * p, e.length);
		EXPECT_EQ(1, e.views);
		EXPECT_EQ(0, e.private_pages);
		EXPECT_EQ(0, e.base_pages);	/* a read maps the zero page */
		EXPECT_EQ(COWSHARE_REGION_SEALED, e.region_flags);
	}

	/* start_id: the regions from there on, in id order. */
	n = cowshare_list_regions(ida, first, 2, &total);
	ASSERT_IMPLEMENTED(n, "COWSHARE_IOC_LIST_REGIONS");
	ASSERT_LE(1, n);
	EXPECT_EQ(ida, first[0].id);
	EXPECT_LE(2, total);
	n = cowshare_list_regions(idb, first, 2, &total);
	ASSERT_LE(1, n);
	EXPECT_EQ(idb, first[0].id);
	EXPECT_LE(1, total);
	EXPECT_EQ(total, (uint64_t)n);	/* b is the newest region: nothing after it */
	/* Room for none: only the total. */
	total = 0;
	EXPECT_EQ(0, cowshare_list_regions(ida, NULL, 0, &total));
	EXPECT_LE(2, total);
	EXPECT_EQ(0, cowshare_list_regions(idb + 1000000, first, 2, &total));
	EXPECT_EQ(0, total);

	/* A freed region is gone from the list. */
	EXPECT_EQ(0, munmap(vb, p));
	EXPECT_EQ(0, close(b));
	EXPECT_FALSE(list_find(_metadata, idb, 8, &e));

	/* Bad requests. */
	dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.entries = (uintptr_t)first;
	req.nr_entries = 2;
	req.entry_size = sizeof(first[0]);
	req.flags = 1;
	EXPECT_EQ(-1, ioctl(dev, COWSHARE_IOC_LIST_REGIONS, &req));
	EXPECT_EQ(EINVAL, errno);
	req.flags = 0;
	req.entries = 8;	/* unmapped */
	EXPECT_EQ(-1, ioctl(dev, COWSHARE_IOC_LIST_REGIONS, &req));
	EXPECT_EQ(EFAULT, errno);
	/* Only the device has it. */
	req.entries = (uintptr_t)first;
	EXPECT_EQ(-1, ioctl(a, COWSHARE_IOC_LIST_REGIONS, &req));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(0, close(dev));

	EXPECT_EQ(0, munmap(va, 3 * p));
	EXPECT_EQ(0, close(a));
}

/* Others than root see only the regions created with their euid. */
TEST_F(misc, list_regions_by_uid)
{
	const uid_t nobody = 65534;
	struct cowshare_region_entry e;
	struct sync_pipes s;
	uint64_t ida, idc = 0;
	int a, n;
	pid_t pid;

	if (geteuid() != 0)
		SKIP(return, "needs root");
	a = new_region(_metadata, psize());
	ida = region_id(_metadata, a);
	n = cowshare_list_regions(0, NULL, 0, NULL);
	ASSERT_IMPLEMENTED(n, "COWSHARE_IOC_LIST_REGIONS");

	sync_init(_metadata, &s);
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		struct cowshare_region_entry ents[8];
		uint64_t start = 0, total, id = 0;
		int c, bad = 0, seen = 0, i;

		close(a);
		if (setresgid(nobody, nobody, nobody) || setresuid(nobody, nobody, nobody))
			_exit(2);
		c = cowshare_create(psize(), COWSHARE_CLOEXEC);
		if (c < 0)
			_exit(3);
		id = region_id(_metadata, c);
		for (;;) {
			n = cowshare_list_regions(start, ents, ARRAY_SIZE(ents), &total);
			if (n < 0)
				_exit(4);
			for (i = 0; i < n; i++) {
				if (ents[i].creator_uid != nobody || ents[i].id == ida)
					bad++;
				if (ents[i].id == id)
					seen++;
			}
			if (n == 0 || (uint64_t)n >= total)
				break;
			start = ents[n - 1].id + 1;
		}
		EXPECT_EQ(0, bad);
		EXPECT_EQ(1, seen);
		if (write(s.to_parent[1], &id, sizeof(id)) != sizeof(id))
			_exit(5);
		sync_wait(s.to_child[0]);	/* hold the region while root looks */
		_exit(bad || seen != 1 ? 1 : 0);
	}
	ASSERT_EQ((ssize_t)sizeof(idc), read(s.to_parent[0], &idc, sizeof(idc)));
	/* Root sees both. */
	EXPECT_TRUE(list_find(_metadata, ida, 8, &e));
	EXPECT_TRUE(list_find(_metadata, idc, 8, &e));
	EXPECT_EQ(nobody, e.creator_uid);
	sync_post(s.to_child[1]);
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	sync_close(&s);
	EXPECT_EQ(0, close(a));
}

/* ---- snapshots ------------------------------------------------------ */

TEST_F(misc, snapshot)
{
	const size_t p = psize(), pages = 6;
	const size_t copied[2] = { 1, 4 };
	struct cowshare_region_info ri, sri;
	uint64_t pfn[6], spfn;
	unsigned char *before;
	char *v, *sv, *sub;
	int region, snap, snap2, ret;
	size_t i;

	region = new_region(_metadata, pages * p);
	for (i = 0; i < pages; i++)
		base_fill(_metadata, region, i, 'a' + (int)i);
	v = map_view(_metadata, region, pages * p, PROT_READ | PROT_WRITE, 0);
	for (i = 0; i < pages; i++)
		pfn[i] = touch_pfn(_metadata, VP(v, i));
	for (i = 0; i < 2; i++) {
		memset(VP(v, copied[i]), 'A' + (int)copied[i], p / 2);
		pfn[copied[i]] = pagemap_pfn(_metadata, VP(v, copied[i]));
	}
	before = malloc(pages * p);
	ASSERT_NE(NULL, before);
	memcpy(before, v, pages * p);

	ret = cowshare_snapshot(region, v, pages * p, COWSHARE_CLOEXEC);
	ASSERT_IMPLEMENTED(ret, "COWSHARE_IOC_SNAPSHOT");
	ASSERT_LE(0, ret) {
		TH_LOG("cowshare_snapshot: %s", strerror(-ret));
	}
	snap = ret;
	EXPECT_EQ(FD_CLOEXEC, fcntl(snap, F_GETFD) & FD_CLOEXEC);
	region_info(_metadata, region, &ri);
	region_info(_metadata, snap, &sri);
	EXPECT_NE(ri.id, sri.id);
	EXPECT_EQ(pages * p, sri.length);
	EXPECT_EQ(geteuid(), sri.creator_uid);

	/* Same content; base pages and copies are shared, not copied. */
	sv = map_view(_metadata, snap, pages * p, PROT_READ, 0);
	EXPECT_EQ(0, memcmp(before, sv, pages * p));
	for (i = 0; i < pages; i++) {
		EXPECT_EQ(pfn[i], touch_pfn(_metadata, VP(sv, i))) {
			TH_LOG("snapshot page %zu", i);
		}
	}
	EXPECT_EQ(0, memcmp(before, v, pages * p));

	/* The view's next write to a snapshotted copy makes a new copy. */
	for (i = 0; i < 2; i++) {
		*(volatile char *)VP(v, copied[i]) = 'z';
		EXPECT_NE(pfn[copied[i]], pagemap_pfn(_metadata, VP(v, copied[i]))) {
			TH_LOG("view page %zu written in place after the snapshot",
			       copied[i]);
		}
	}
	/* ... and a new one of a base page too; the snapshot stays. */
	*(volatile char *)VP(v, 0) = 'z';
	EXPECT_EQ(0, memcmp(before, sv, pages * p));
	for (i = 0; i < pages; i++) {
		EXPECT_EQ(pfn[i], pagemap_pfn(_metadata, VP(sv, i)));
	}
	/* The bases are shared: the original region is sealed now. */
	region_info(_metadata, region, &ri);
	EXPECT_EQ(COWSHARE_REGION_SEALED, ri.region_flags & COWSHARE_REGION_SEALED);
	EXPECT_EQ(-1, pwrite(region, "q", 1, (off_t)(2 * p)));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(before[2 * p], (unsigned char)sv[2 * p]);

	/* A subrange with an offset. */
	sub = VP(v, 2);
	memcpy(before, sub, 3 * p);
	spfn = pagemap_pfn(_metadata, VP(v, 4));	/* the copy written above */
	EXPECT_NE(0, spfn);
	ret = cowshare_snapshot(region, sub, 3 * p, 0);
	ASSERT_LE(0, ret);
	snap2 = ret;
	EXPECT_EQ(0, fcntl(snap2, F_GETFD) & FD_CLOEXEC);
	region_info(_metadata, snap2, &sri);
	EXPECT_EQ(3 * p, sri.length);
	/* view page 4 (snapshot page 2) was a copy: now the snapshot's base */
	EXPECT_EQ(spfn, region_base_pfn(_metadata, snap2, 2));
	{
		char *sv2 = map_view(_metadata, snap2, 3 * p, PROT_READ, 0);

		EXPECT_EQ(0, memcmp(before, sv2, 3 * p));
		EXPECT_EQ(0, munmap(sv2, 3 * p));
	}

	/* Errors. */
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v + 1, p, 0));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, 0, 0));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, (pages + 1) * p, 0));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, p, 1U << 5));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(snap, v, p, 0));
	EXPECT_EQ(-EINVAL, range_raw(region, COWSHARE_IOC_SNAPSHOT, (uintptr_t)v, p, 0,
				     (uintptr_t)before));

	free(before);
	EXPECT_EQ(0, munmap(sv, pages * p));
	EXPECT_EQ(0, munmap(v, pages * p));
	EXPECT_EQ(0, close(snap2));
	EXPECT_EQ(0, close(snap));
	EXPECT_EQ(0, close(region));
}

/* A snapshot call that fails changes nothing: the region stays unsealed. */
TEST_F(misc, snapshot_error_has_no_effect)
{
	const size_t p = psize();
	struct cowshare_region_info ri;
	int region = new_region(_metadata, 2 * p);
	char *v = map_view(_metadata, region, 2 * p, PROT_READ | PROT_WRITE, 0);
	int ret;

	v[0] = 1;
	ret = cowshare_snapshot(region, v + 1, p, 0);
	ASSERT_IMPLEMENTED(ret, "COWSHARE_IOC_SNAPSHOT");
	EXPECT_EQ(-EINVAL, ret);
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, 3 * p, 0));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, p, 1U << 7));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(0, ri.region_flags & COWSHARE_REGION_SEALED);
	EXPECT_EQ(1, pwrite(region, "b", 1, (off_t)p));
	EXPECT_EQ(1, ri.private_pages);
	EXPECT_EQ(1, v[0]);
	v[0] = 2;	/* still its own, writable copy */
	EXPECT_EQ(2, v[0]);
	EXPECT_EQ(0, munmap(v, 2 * p));
	EXPECT_EQ(0, close(region));
}

TEST_HARNESS_MAIN
