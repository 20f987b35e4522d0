// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare copy on write: views share the region's base pages (same PFN
 * in every view of every process) until a view first writes a page, which
 * gives that view a private copy; threads racing on a first write make
 * one copy; fork hands the views down as they stand; MADV_DONTFORK,
 * mprotect, munmap, mremap and MADV_DONTNEED keep contents, privacy and
 * counters right.
 *
 * The cow fixture runs over regions of one page, 64 pages and 1 MiB, with
 * views at offset 0 and at a nonzero offset; the vma fixture over a
 * 16-page region.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

FIXTURE(cow)
{
	struct cs_env env;
	int region;
	size_t region_pages;
	size_t off;		/* view offset, pages */
	size_t pages;		/* view length, pages */
	size_t len;		/* view length, bytes */
	size_t test_pages[3];	/* first, middle, last page of the view */
	unsigned int nr_test_pages;
};

FIXTURE_VARIANT(cow)
{
	size_t bytes;		/* region length; 0: pages */
	size_t pages;
	unsigned int off_div;	/* view offset: region / off_div; 0: none */
};

FIXTURE_VARIANT_ADD(cow, one_page) { .pages = 1 };
FIXTURE_VARIANT_ADD(cow, pages_64) { .pages = 64 };
FIXTURE_VARIANT_ADD(cow, pages_64_offset) { .pages = 64, .off_div = 3 };
FIXTURE_VARIANT_ADD(cow, one_mib) { .bytes = 1 << 20 };
FIXTURE_VARIANT_ADD(cow, one_mib_offset) { .bytes = 1 << 20, .off_div = 2 };

FIXTURE_SETUP(cow)
{
	size_t bytes = variant->bytes ? variant->bytes : variant->pages * psize();

	env_setup(_metadata, &self->env);
	self->region_pages = bytes / psize();
	ASSERT_LE(1, self->region_pages);
	self->off = variant->off_div ? self->region_pages / variant->off_div : 0;
	self->pages = self->region_pages - self->off;
	self->len = self->pages * psize();
	self->region = new_region(_metadata, bytes);

	self->test_pages[0] = 0;
	self->nr_test_pages = 1;
	if (self->pages > 2)
		self->test_pages[self->nr_test_pages++] = self->pages / 2;
	if (self->pages > 1)
		self->test_pages[self->nr_test_pages++] = self->pages - 1;
}

FIXTURE_TEARDOWN(cow)
{
	EXPECT_EQ(0, close(self->region));
	env_teardown(_metadata, &self->env);
}

/* A view of the fixture's region: its pages [off, region end). */
static char *cow_view(struct __test_metadata *_metadata,
		      FIXTURE_DATA(cow) *self, int prot)
{
	return map_view(_metadata, self->region, self->len, prot,
			(off_t)(self->off * psize()));
}

/* Region offset in bytes of view page i. */
#define ROFF(self, i)	((off_t)(((self)->off + (i)) * psize()))

/*
 * Mapping allocates nothing, and neither does reading: a page no one ever
 * wrote reads as zero through the module's zero page, one physical page
 * for every such page of every view. A base write allocates the base
 * page, and views that map the zero page there see it at once.
 */
TEST_F(cow, base_pages_lazy)
{
	struct cowshare_region_info ri;
	struct cowshare_global_info gi;
	struct cowshare_view_info vi;
	char *v = cow_view(_metadata, self, PROT_READ);
	uint64_t zero_pfn;
	size_t i;

	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(0, ri.base_pages);
	EXPECT_EQ(1, ri.views);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.base_pages, gi.base_pages);
	EXPECT_EQ(self->env.before.views + 1, gi.views);

	EXPECT_EQ(0, pagemap_pfn(_metadata, v));
	EXPECT_EQ(0, v[psize() - 1]);
	zero_pfn = pagemap_pfn(_metadata, v);
	EXPECT_NE(0, zero_pfn);
	for (i = 0; i < self->pages; i++) {
		EXPECT_TRUE(all_bytes(VP(v, i), psize(), 0));
		EXPECT_EQ(zero_pfn, pagemap_pfn(_metadata, VP(v, i))) TH_LOG("page %zu", i);
	}
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(0, ri.base_pages);
	EXPECT_EQ(0, ri.private_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.base_pages, gi.base_pages);
	EXPECT_EQ(self->env.before.cache_pages, gi.cache_pages);

	/* Fault-around maps a page table's worth per fault. */
	view_info(_metadata, self->region, v, &vi);
	EXPECT_LE(1, vi.read_faults);
	EXPECT_GE((self->pages + 511) / 512 * 2, vi.read_faults);
	EXPECT_EQ(0, vi.cow_faults);
	EXPECT_EQ(0, vi.private_pages);
	EXPECT_EQ((uintptr_t)v, vi.start);
	EXPECT_EQ(self->len, vi.length);
	EXPECT_EQ(self->off * psize(), vi.offset);

	/* A base write fills the hole; the view shows the new base page. */
	base_fill(_metadata, self->region, self->off + self->pages - 1, 'b');
	EXPECT_TRUE(all_bytes(VP(v, self->pages - 1), psize(), 'b'));
	EXPECT_NE(zero_pfn, pagemap_pfn(_metadata, VP(v, self->pages - 1)));
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(1, ri.base_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.cache_pages + 1, gi.cache_pages);
	EXPECT_EQ(0, munmap(v, self->len));
}

/* Reading a page maps the base page: one PFN in every view, RO or RW. */
TEST_F(cow, read_shares_base_pfn)
{
	char *ro = cow_view(_metadata, self, PROT_READ);
	char *rw = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	char *rx = cow_view(_metadata, self, PROT_READ | PROT_EXEC);
	unsigned int t;
	int p[2];
	pid_t pid;

	for (t = 0; t < self->nr_test_pages; t++) {
		size_t i = self->test_pages[t];
		uint64_t pfn = touch_pfn(_metadata, VP(ro, i));

		ASSERT_NE(0, pfn);
		EXPECT_EQ(pfn, touch_pfn(_metadata, VP(rw, i))) {
			TH_LOG("page %zu", i);
		}
		EXPECT_EQ(pfn, touch_pfn(_metadata, VP(rx, i)));
		EXPECT_EQ(pfn, region_base_pfn(_metadata, self->region, self->off + i));
	}

	/* Another process, in a view of its own (not inherited). */
	ASSERT_EQ(0, pipe(p));
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		char *own = cow_view(_metadata, self, PROT_READ | PROT_WRITE);

		for (t = 0; t < self->nr_test_pages; t++) {
			uint64_t pfn = touch_pfn(_metadata, VP(own, self->test_pages[t]));

			if (write(p[1], &pfn, sizeof(pfn)) != sizeof(pfn))
				_exit(2);
		}
		_exit(0);
	}
	for (t = 0; t < self->nr_test_pages; t++) {
		size_t i = self->test_pages[t];
		uint64_t child_pfn = 0;

		ASSERT_EQ(sizeof(child_pfn), read(p[0], &child_pfn, sizeof(child_pfn)));
		EXPECT_EQ(pagemap_pfn(_metadata, VP(ro, i)), child_pfn) {
			TH_LOG("page %zu: other process's PFN differs", i);
		}
	}
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	close(p[0]);
	close(p[1]);
	EXPECT_EQ(0, munmap(ro, self->len));
	EXPECT_EQ(0, munmap(rw, self->len));
	EXPECT_EQ(0, munmap(rx, self->len));
}

/* A base write shows at once in every view that did not copy the page. */
TEST_F(cow, base_write_visible)
{
	char *a = cow_view(_metadata, self, PROT_READ);
	char *b = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	unsigned int t;

	for (t = 0; t < self->nr_test_pages; t++) {
		size_t i = self->test_pages[t];

		EXPECT_EQ(0, VP(a, i)[0]);
		EXPECT_EQ(0, VP(b, i)[1]);
		base_fill(_metadata, self->region, self->off + i, 'A' + t);
		EXPECT_TRUE(all_bytes(VP(a, i), psize(), 'A' + t));
		EXPECT_TRUE(all_bytes(VP(b, i), psize(), 'A' + t));
	}
	EXPECT_EQ(0, munmap(a, self->len));
	EXPECT_EQ(0, munmap(b, self->len));
}

/*
 * The first write to a page copies it into the writing view: new PFN there,
 * the other view keeps the base page and its content; the second write
 * does not fault.
 */
TEST_F(cow, first_write_copies)
{
	char *w = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	char *r = cow_view(_metadata, self, PROT_READ);
	struct cowshare_region_info ri;
	struct cowshare_global_info gi;
	struct cowshare_view_info vi;
	unsigned int t;

	for (t = 0; t < self->nr_test_pages; t++) {
		size_t i = self->test_pages[t];
		uint64_t pfn_base, pfn_copy;

		base_fill(_metadata, self->region, self->off + i, 'b');
		pfn_base = touch_pfn(_metadata, VP(r, i));
		ASSERT_NE(0, pfn_base);
		EXPECT_EQ(pfn_base, touch_pfn(_metadata, VP(w, i)));

		VP(w, i)[7] = 'w';
		pfn_copy = pagemap_pfn(_metadata, VP(w, i));
		EXPECT_NE(0, pfn_copy);
		EXPECT_NE(pfn_base, pfn_copy) {
			TH_LOG("page %zu: the write did not copy", i);
		}
		/* The copy starts as the base's content. */
		EXPECT_EQ('w', VP(w, i)[7]);
		EXPECT_EQ('b', VP(w, i)[6]);
		EXPECT_EQ('b', VP(w, i)[psize() - 1]);
		/* The other view and the base are untouched. */
		EXPECT_EQ(pfn_base, touch_pfn(_metadata, VP(r, i)));
		EXPECT_TRUE(all_bytes(VP(r, i), psize(), 'b'));
		EXPECT_EQ('b', base_byte(_metadata, self->region, ROFF(self, i) + 7));

		view_info(_metadata, self->region, w, &vi);
		EXPECT_EQ(t + 1, vi.cow_faults);
		EXPECT_EQ(t + 1, vi.private_pages);
		/* Later writes go to the copy, without a fault. */
		memset(VP(w, i), 'W', psize());
		view_info(_metadata, self->region, w, &vi);
		EXPECT_EQ(t + 1, vi.cow_faults);
		EXPECT_EQ(pfn_copy, pagemap_pfn(_metadata, VP(w, i)));

		/* A base write after the copy reaches the base only. */
		base_fill(_metadata, self->region, self->off + i, 'B');
		EXPECT_TRUE(all_bytes(VP(w, i), psize(), 'W'));
		EXPECT_TRUE(all_bytes(VP(r, i), psize(), 'B'));
	}
	view_info(_metadata, self->region, r, &vi);
	EXPECT_EQ(0, vi.cow_faults);
	EXPECT_EQ(0, vi.private_pages);
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(self->nr_test_pages, ri.private_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + self->nr_test_pages,
		  gi.private_pages);

	/* Unmapping the writer frees its copies. */
	EXPECT_EQ(0, munmap(w, self->len));
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(0, ri.private_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages, gi.private_pages);
	EXPECT_EQ(0, munmap(r, self->len));
}

/* A write to a page never read before copies the (zero) base page. */
TEST_F(cow, write_untouched_page)
{
	char *w = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	char *r = cow_view(_metadata, self, PROT_READ);
	struct cowshare_view_info vi;
	size_t last = self->pages - 1;

	VP(w, last)[0] = 'x';
	EXPECT_EQ('x', VP(w, last)[0]);
	EXPECT_TRUE(all_bytes(VP(w, last) + 1, psize() - 1, 0));
	EXPECT_EQ(0, VP(r, last)[0]);
	EXPECT_EQ(0, base_byte(_metadata, self->region, ROFF(self, last)));
	EXPECT_NE(pagemap_pfn(_metadata, VP(w, last)),
		  touch_pfn(_metadata, VP(r, last)));
	view_info(_metadata, self->region, w, &vi);
	EXPECT_EQ(1, vi.cow_faults);
	EXPECT_EQ(1, vi.private_pages);
	EXPECT_EQ(0, munmap(w, self->len));
	EXPECT_EQ(0, munmap(r, self->len));
}

/* Two writable views of one region in one process are independent. */
TEST_F(cow, independent_views)
{
	char *a = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	char *b = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;
	unsigned int t;

	for (t = 0; t < self->nr_test_pages; t++) {
		size_t i = self->test_pages[t];

		memset(VP(a, i), 'a', psize());
		memset(VP(b, i), 'b', psize());
		EXPECT_TRUE(all_bytes(VP(a, i), psize(), 'a'));
		EXPECT_TRUE(all_bytes(VP(b, i), psize(), 'b'));
		EXPECT_EQ(0, base_byte(_metadata, self->region, ROFF(self, i)));
		EXPECT_NE(pagemap_pfn(_metadata, VP(a, i)),
			  pagemap_pfn(_metadata, VP(b, i)));
	}
	view_info(_metadata, self->region, a, &vi);
	EXPECT_EQ(self->nr_test_pages, vi.cow_faults);
	EXPECT_EQ(self->nr_test_pages, vi.private_pages);
	view_info(_metadata, self->region, b, &vi);
	EXPECT_EQ(self->nr_test_pages, vi.cow_faults);
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(2 * self->nr_test_pages, ri.private_pages);
	EXPECT_EQ(2, ri.views);
	EXPECT_EQ(0, munmap(a, self->len));
	EXPECT_EQ(0, munmap(b, self->len));
}

/* Every page written: one copy each, all freed by munmap. */
TEST_F(cow, write_every_page)
{
	char *w = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	struct cowshare_global_info gi;
	struct cowshare_view_info vi;
	size_t i;

	for (i = 0; i < self->pages; i++)
		VP(w, i)[i % psize()] = (char)(i + 1);
	view_info(_metadata, self->region, w, &vi);
	EXPECT_EQ(self->pages, vi.cow_faults);
	EXPECT_EQ(self->pages, vi.private_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + self->pages, gi.private_pages);
	for (i = 0; i < self->pages; i++) {
		EXPECT_EQ((char)(i + 1), VP(w, i)[i % psize()]);
		EXPECT_EQ(0, base_byte(_metadata, self->region,
				       ROFF(self, i) + (off_t)(i % psize())));
	}
	EXPECT_EQ(0, munmap(w, self->len));
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages, gi.private_pages);
}

/* Threads racing on a first write: one copy, no write lost. */
#define RACE_THREADS	8
#define RACE_ROUNDS	16

struct race {
	pthread_barrier_t barrier;
	char *page;
	unsigned int index;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;
	unsigned int me = __atomic_fetch_add(&r->index, 1, __ATOMIC_RELAXED);

	pthread_barrier_wait(&r->barrier);
	/* Each thread its own byte, on its own cache line. */
	__atomic_store_n(&r->page[me * 64], (char)(me + 1), __ATOMIC_RELAXED);
	return NULL;
}

TEST_F(cow, threads_race_first_write)
{
	char *w = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	pthread_t th[RACE_THREADS];
	struct cowshare_view_info vi;
	unsigned int round, n, j;
	uint64_t pfn_base;
	struct race r;

	/* Enough distinct pages for every round: reuse the view cyclically
	 * in fresh views when it is short.
	 */
	ASSERT_LE((size_t)RACE_THREADS * 64, psize());
	for (round = 0; round < RACE_ROUNDS; round++) {
		size_t i = round % self->pages;

		if (round && i == 0) {
			EXPECT_EQ(0, munmap(w, self->len));
			w = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
		}
		/* Half the rounds race on a mapped base page, half on none. */
		if (round & 1) {
			pfn_base = touch_pfn(_metadata, VP(w, i));
			ASSERT_NE(0, pfn_base);
		} else {
			pfn_base = 0;
		}
		view_info(_metadata, self->region, w, &vi);
		n = vi.cow_faults;

		r.page = VP(w, i);
		r.index = 0;
		ASSERT_EQ(0, pthread_barrier_init(&r.barrier, NULL, RACE_THREADS));
		for (j = 0; j < RACE_THREADS; j++)
			ASSERT_EQ(0, pthread_create(&th[j], NULL, race_writer, &r));
		for (j = 0; j < RACE_THREADS; j++)
			ASSERT_EQ(0, pthread_join(th[j], NULL));
		pthread_barrier_destroy(&r.barrier);

		for (j = 0; j < RACE_THREADS; j++) {
			EXPECT_EQ((char)(j + 1), VP(w, i)[j * 64]) {
				TH_LOG("round %u: thread %u's write lost", round, j);
			}
		}
		view_info(_metadata, self->region, w, &vi);
		EXPECT_EQ(n + 1, vi.cow_faults) {
			TH_LOG("round %u: %llu copies", round,
			       (unsigned long long)(vi.cow_faults - n));
		}
		if (pfn_base)
			EXPECT_NE(pfn_base, pagemap_pfn(_metadata, VP(w, i)));
		EXPECT_EQ(0, base_byte(_metadata, self->region, ROFF(self, i)));
	}
	view_info(_metadata, self->region, w, &vi);
	EXPECT_EQ(RACE_ROUNDS < self->pages ? RACE_ROUNDS :
		  (RACE_ROUNDS - 1) % self->pages + 1, vi.private_pages);
	EXPECT_EQ(0, munmap(w, self->len));
}

/* Threads share the process's views: a thread's write is the view's copy. */
struct thread_write {
	char *p;
	char c;
};

static void *thread_write_fn(void *arg)
{
	struct thread_write *tw = arg;

	*(volatile char *)tw->p = tw->c;
	return NULL;
}

TEST_F(cow, threads_share_views)
{
	char *w = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	struct thread_write tw = { .p = w, .c = 't' };
	struct cowshare_view_info vi;
	pthread_t th;
	uint64_t pfn;

	ASSERT_EQ(0, pthread_create(&th, NULL, thread_write_fn, &tw));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ('t', w[0]);
	pfn = pagemap_pfn(_metadata, w);
	EXPECT_NE(0, pfn);
	view_info(_metadata, self->region, w, &vi);
	EXPECT_EQ(1, vi.cow_faults);
	/* The main thread writes the same copy. */
	w[1] = 'm';
	view_info(_metadata, self->region, w, &vi);
	EXPECT_EQ(1, vi.cow_faults);
	EXPECT_EQ(pfn, pagemap_pfn(_metadata, w));
	EXPECT_EQ(0, base_byte(_metadata, self->region, ROFF(self, 0)));
	EXPECT_EQ(0, munmap(w, self->len));
}

/*
 * fork: the child inherits the view as it stands, copies included; then
 * writes in either are invisible to the other; unwritten pages stay the
 * base page (one PFN in both).
 */
TEST_F(cow, fork_inherits_view)
{
	char *v = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	size_t a = 0, b = self->pages - 1;
	struct sync_pipes s;
	uint64_t pfn_b = 0, child_pfn_b = 0;
	pid_t pid;

	sync_init(_metadata, &s);
	base_fill(_metadata, self->region, self->off + a, 'o');
	memset(VP(v, a), 'P', psize());
	if (b != a) {
		base_fill(_metadata, self->region, self->off + b, 'o');
		pfn_b = touch_pfn(_metadata, VP(v, b));
		ASSERT_NE(0, pfn_b);
	}

	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		uint64_t pfn;

		/* Inherited: the parent's copy, the base page. */
		EXPECT_TRUE(all_bytes(VP(v, a), psize(), 'P'));
		pfn = b != a ? pagemap_pfn(_metadata, VP(v, b)) : 0;
		if (b != a && !pfn)
			pfn = touch_pfn(_metadata, VP(v, b));
		if (write(s.to_parent[1], &pfn, sizeof(pfn)) != sizeof(pfn))
			_exit(2);
		if (b != a)
			EXPECT_TRUE(all_bytes(VP(v, b), psize(), 'o'));
		/* Child writes; the parent must not see them. */
		memset(VP(v, a), 'C', psize());
		if (b != a)
			memset(VP(v, b), 'C', psize());
		sync_post(s.to_parent[1]);
		/* Parent writes; we must not see them. */
		if (!sync_wait(s.to_child[0]))
			_exit(3);
		EXPECT_TRUE(all_bytes(VP(v, a), psize(), 'C'));
		if (b != a)
			EXPECT_TRUE(all_bytes(VP(v, b), psize(), 'C'));
		_exit(0);
	}

	ASSERT_EQ(sizeof(child_pfn_b), read(s.to_parent[0], &child_pfn_b,
					    sizeof(child_pfn_b)));
	if (b != a) {
		EXPECT_EQ(pfn_b, child_pfn_b) {
			TH_LOG("unwritten page: child PFN %#llx, parent %#llx",
			       (unsigned long long)child_pfn_b,
			       (unsigned long long)pfn_b);
		}
		EXPECT_EQ(pfn_b, touch_pfn(_metadata, VP(v, b)));
	}
	ASSERT_TRUE(sync_wait(s.to_parent[0]));
	EXPECT_TRUE(all_bytes(VP(v, a), psize(), 'P'));
	if (b != a)
		EXPECT_TRUE(all_bytes(VP(v, b), psize(), 'o'));
	EXPECT_EQ('o', base_byte(_metadata, self->region, ROFF(self, a)));
	memset(VP(v, a), 'Q', psize());
	if (b != a)
		memset(VP(v, b), 'Q', psize());
	ASSERT_TRUE(sync_post(s.to_child[1]));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	EXPECT_TRUE(all_bytes(VP(v, a), psize(), 'Q'));
	EXPECT_EQ('o', base_byte(_metadata, self->region, ROFF(self, a)));
	if (b != a)
		EXPECT_EQ('o', base_byte(_metadata, self->region, ROFF(self, b)));
	sync_close(&s);
	EXPECT_EQ(0, munmap(v, self->len));
}

/*
 * fork shares the parent's copies with the child instead of copying them:
 * the same PFN on both sides and no page allocated by the fork; then the
 * first write on either side copies that page only, and once the other
 * side is gone a copy is written in place again, as anonymous memory is.
 */
TEST_F(cow, fork_shares_copies)
{
	struct cowshare_global_info gi, mid;
	uint64_t pfn[3] = { 0 };
	size_t n = self->pages < 3 ? self->pages : 3, i;
	struct sync_pipes s;
	char *v = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	pid_t pid;

	sync_init(_metadata, &s);
	for (i = 0; i < n; i++) {
		memset(VP(v, i), 'p', psize());
		pfn[i] = pagemap_pfn(_metadata, VP(v, i));
	}
	global_info(_metadata, &mid);
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		struct cowshare_global_info c;

		for (i = 0; i < n; i++) {
			EXPECT_TRUE(all_bytes(VP(v, i), psize(), 'p'));
			EXPECT_EQ(pfn[i], pagemap_pfn(_metadata, VP(v, i))) TH_LOG("child page %zu", i);
		}
		global_info(_metadata, &c);
		EXPECT_EQ(mid.copy_pages, c.copy_pages) TH_LOG("the fork allocated copies");
		VP(v, 0)[0] = 'c';
		EXPECT_NE(pfn[0], pagemap_pfn(_metadata, v));
		global_info(_metadata, &c);
		EXPECT_EQ(mid.copy_pages + 1, c.copy_pages);
		sync_post(s.to_parent[1]);
		if (!sync_wait(s.to_child[0]))
			_exit(3);
		if (n > 1)
			EXPECT_TRUE(all_bytes(VP(v, 1), psize(), 'p'));
		_exit(0);
	}
	ASSERT_TRUE(sync_wait(s.to_parent[0]));
	EXPECT_TRUE(all_bytes(v, psize(), 'p'));
	EXPECT_EQ(pfn[0], pagemap_pfn(_metadata, v)) TH_LOG("the child's write moved the parent");
	if (n > 1) {
		/* Shared with the child: the parent's write copies. */
		VP(v, 1)[0] = 'P';
		EXPECT_NE(pfn[1], pagemap_pfn(_metadata, VP(v, 1)));
	}
	ASSERT_TRUE(sync_post(s.to_child[1]));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	/* The child is gone: page 0 (or 2) is the parent's alone, written in place. */
	i = n > 2 ? 2 : 0;
	VP(v, i)[1] = 'Q';
	EXPECT_EQ(pfn[i], pagemap_pfn(_metadata, VP(v, i))) TH_LOG("page %zu copied again", i);
	/* The parent's new page 1 replaced the one only the exited child held. */
	global_info(_metadata, &gi);
	EXPECT_EQ(mid.copy_pages, gi.copy_pages);
	sync_close(&s);
	EXPECT_EQ(0, munmap(v, self->len));
}

/* fork then exec: the fork copies nothing, the exec lets go of it all. */
TEST_F(cow, fork_exec_copies_nothing)
{
	struct cowshare_global_info before, after;
	char *v = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	size_t i;
	pid_t pid;

	for (i = 0; i < self->pages; i++)
		VP(v, i)[0] = 'x';
	global_info(_metadata, &before);
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(99);
	}
	global_info(_metadata, &after);
	EXPECT_EQ(before.copy_pages, after.copy_pages);
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	global_info(_metadata, &after);
	EXPECT_EQ(before.copy_pages, after.copy_pages);
	EXPECT_EQ(before.private_pages, after.private_pages);
	EXPECT_EQ(before.views, after.views);
	EXPECT_EQ(0, munmap(v, self->len));
}

/* After fork, a base write still shows in both where neither copied. */
TEST_F(cow, fork_base_write_visible)
{
	char *v = cow_view(_metadata, self, PROT_READ);
	size_t last = self->pages - 1;
	struct sync_pipes s;
	pid_t pid;

	sync_init(_metadata, &s);
	EXPECT_EQ(0, VP(v, last)[0]);
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		if (!sync_wait(s.to_child[0]))
			_exit(3);
		EXPECT_TRUE(all_bytes(VP(v, last), psize(), 'n'));
		_exit(0);
	}
	base_fill(_metadata, self->region, self->off + last, 'n');
	EXPECT_TRUE(all_bytes(VP(v, last), psize(), 'n'));
	ASSERT_TRUE(sync_post(s.to_child[1]));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	sync_close(&s);
	EXPECT_EQ(0, munmap(v, self->len));
}

/* The child's copies and views go when it exits. */
TEST_F(cow, child_exit_frees_copies)
{
	char *v = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	struct cowshare_global_info gi, mid;
	struct cowshare_view_info vi;
	pid_t pid;

	v[0] = 'p';
	global_info(_metadata, &mid);
	EXPECT_EQ(self->env.before.private_pages + 1, mid.private_pages);
	EXPECT_EQ(self->env.before.views + 1, mid.views);

	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		char *own;
		size_t i;

		for (i = 0; i < self->pages; i++)
			VP(v, i)[1] = 'c';
		own = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
		for (i = 0; i < self->pages; i++)
			VP(own, i)[1] = 'c';
		_exit(0);	/* views not unmapped: exit must free them */
	}
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	global_info(_metadata, &gi);
	EXPECT_EQ(mid.private_pages, gi.private_pages);
	EXPECT_EQ(mid.views, gi.views);
	EXPECT_EQ('p', v[0]);
	EXPECT_EQ(0, v[1]);
	view_info(_metadata, self->region, v, &vi);
	EXPECT_EQ(1, vi.private_pages);
	EXPECT_EQ(0, munmap(v, self->len));
}

/* MADV_DONTFORK keeps a view out of the child; other views go down. */
TEST_F(cow, dontfork)
{
	char *kept = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	char *inherited = cow_view(_metadata, self, PROT_READ | PROT_WRITE);
	struct cowshare_global_info gi;
	pid_t pid;

	kept[0] = 'k';
	inherited[0] = 'i';
	ASSERT_EQ(0, madvise(kept, self->len, MADV_DONTFORK));
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		EXPECT_EQ(SIGSEGV, probe_access(kept, false));
		EXPECT_EQ(SIGSEGV, probe_access(kept + self->len - 1, true));
		EXPECT_EQ(0, probe_access(inherited, false));
		EXPECT_EQ('i', inherited[0]);
		global_info(_metadata, &gi);
		/* The parent's two views and the child's one. */
		EXPECT_EQ(self->env.before.views + 3, gi.views);
		_exit(0);
	}
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	EXPECT_EQ('k', kept[0]);
	EXPECT_EQ('i', inherited[0]);
	EXPECT_EQ(0, munmap(kept, self->len));
	EXPECT_EQ(0, munmap(inherited, self->len));
}

/* The vma life cycle, over a 16-page region, views at offset 0 or not. */
#define VMA_PAGES	16

FIXTURE(vma)
{
	struct cs_env env;
	int region;
	size_t off;		/* view offset in pages */
	size_t pages;		/* view pages */
	size_t len;
	char *v;		/* a read-write view */
};

FIXTURE_VARIANT(vma)
{
	size_t off;
};

FIXTURE_VARIANT_ADD(vma, offset_0) { .off = 0 };
FIXTURE_VARIANT_ADD(vma, offset_4) { .off = 4 };

FIXTURE_SETUP(vma)
{
	size_t i;

	env_setup(_metadata, &self->env);
	self->region = new_region(_metadata, VMA_PAGES * psize());
	/* Every base page holds its index, in every byte. */
	for (i = 0; i < VMA_PAGES; i++)
		base_fill(_metadata, self->region, i, 'a' + (int)i);
	self->off = variant->off;
	self->pages = 8;
	self->len = self->pages * psize();
	self->v = map_view(_metadata, self->region, self->len,
			   PROT_READ | PROT_WRITE, (off_t)(self->off * psize()));
}

FIXTURE_TEARDOWN(vma)
{
	EXPECT_EQ(0, close(self->region));
	env_teardown(_metadata, &self->env);
}

/* Base content of region page idx. */
#define BASE_C(idx)	('a' + (int)(idx))

/* View page i shows the base (content and PFN). */
static void expect_base(struct __test_metadata *_metadata, int region,
			char *p, size_t region_idx)
{
	EXPECT_TRUE(all_bytes(p, psize(), BASE_C(region_idx))) {
		TH_LOG("region page %zu: '%c', not the base", region_idx, *p);
	}
	EXPECT_EQ(region_base_pfn(_metadata, region, region_idx), touch_pfn(_metadata, p));
}

/* Write page i of the view (whole page): 'A' + region index. */
static void write_copy(char *p, size_t region_idx)
{
	memset(p, 'A' + (int)region_idx, psize());
}

TEST_F(vma, mprotect_ro_rw)
{
	struct cowshare_view_info vi;
	char *p = VP(self->v, 2);

	EXPECT_EQ(BASE_C(self->off + 2), *p);
	ASSERT_EQ(0, mprotect(self->v, self->len, PROT_READ));
	EXPECT_EQ(SIGSEGV, probe_access(p, true));
	ASSERT_EQ(0, mprotect(self->v, self->len, PROT_READ | PROT_WRITE));
	write_copy(p, self->off + 2);
	EXPECT_TRUE(all_bytes(p, psize(), 'A' + (int)(self->off + 2)));
	EXPECT_EQ(BASE_C(self->off + 2),
		  base_byte(_metadata, self->region, ROFF(self, 2)));
	view_info(_metadata, self->region, p, &vi);
	EXPECT_EQ(1, vi.cow_faults);
	EXPECT_EQ(1, vi.private_pages);

	/* A copy made RO and back RW keeps being written in place. */
	ASSERT_EQ(0, mprotect(self->v, self->len, PROT_READ));
	EXPECT_TRUE(all_bytes(p, psize(), 'A' + (int)(self->off + 2)));
	ASSERT_EQ(0, mprotect(self->v, self->len, PROT_READ | PROT_WRITE));
	p[0] = '!';
	view_info(_metadata, self->region, p, &vi);
	EXPECT_EQ(1, vi.cow_faults);
	EXPECT_EQ('!', p[0]);
	EXPECT_EQ(BASE_C(self->off + 2),
		  base_byte(_metadata, self->region, ROFF(self, 2)));
}

/* A view mapped read-only then made writable copies on write too. */
TEST_F(vma, mprotect_ro_view_to_rw)
{
	char *ro = map_view(_metadata, self->region, self->len, PROT_READ,
			    (off_t)(self->off * psize()));
	struct cowshare_view_info vi;

	EXPECT_EQ(BASE_C(self->off), ro[0]);
	ASSERT_EQ(0, mprotect(ro, self->len, PROT_READ | PROT_WRITE));
	ro[0] = 'z';
	EXPECT_EQ('z', ro[0]);
	EXPECT_EQ(BASE_C(self->off), base_byte(_metadata, self->region, ROFF(self, 0)));
	EXPECT_EQ(BASE_C(self->off), self->v[0]);
	view_info(_metadata, self->region, ro, &vi);
	EXPECT_EQ(1, vi.cow_faults);
	EXPECT_EQ(0, munmap(ro, self->len));
}

/* mprotect of a middle range splits the view in three; each part keeps its pages. */
TEST_F(vma, mprotect_split)
{
	struct cowshare_view_info vi;
	struct cowshare_global_info gi;
	size_t i;

	for (i = 0; i < self->pages; i++)
		write_copy(VP(self->v, i), self->off + i);
	ASSERT_EQ(0, mprotect(VP(self->v, 3), 2 * psize(), PROT_READ));

	view_info(_metadata, self->region, VP(self->v, 0), &vi);
	EXPECT_EQ((uintptr_t)self->v, vi.start);
	EXPECT_EQ(3 * psize(), vi.length);
	EXPECT_EQ(self->off * psize(), vi.offset);
	EXPECT_EQ(3, vi.private_pages);
	EXPECT_EQ(self->pages, vi.cow_faults);
	view_info(_metadata, self->region, VP(self->v, 4), &vi);
	EXPECT_EQ((uintptr_t)VP(self->v, 3), vi.start);
	EXPECT_EQ(2 * psize(), vi.length);
	EXPECT_EQ((self->off + 3) * psize(), vi.offset);
	EXPECT_EQ(2, vi.private_pages);
	view_info(_metadata, self->region, VP(self->v, 7), &vi);
	EXPECT_EQ((uintptr_t)VP(self->v, 5), vi.start);
	EXPECT_EQ(3 * psize(), vi.length);
	EXPECT_EQ(3, vi.private_pages);

	for (i = 0; i < self->pages; i++)
		EXPECT_TRUE(all_bytes(VP(self->v, i), psize(), 'A' + (int)(self->off + i)));
	EXPECT_EQ(SIGSEGV, probe_access(VP(self->v, 3), true));
	for (i = 0; i < VMA_PAGES; i++)
		EXPECT_EQ(BASE_C(i), base_byte(_metadata, self->region,
					       (off_t)(i * psize())));

	/* Merged back, the copies are still written in place. */
	ASSERT_EQ(0, mprotect(self->v, self->len, PROT_READ | PROT_WRITE));
	VP(self->v, 3)[0] = '3';
	view_info(_metadata, self->region, VP(self->v, 3), &vi);
	EXPECT_EQ(self->pages, vi.cow_faults);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + self->pages, gi.private_pages);
}

/* Partial munmap frees the copies of the unmapped pages only. */
TEST_F(vma, partial_munmap)
{
	struct cowshare_global_info gi;
	struct cowshare_view_info vi;
	char *again;
	size_t i;

	for (i = 0; i < self->pages; i++)
		write_copy(VP(self->v, i), self->off + i);
	ASSERT_EQ(0, munmap(VP(self->v, 2), 3 * psize()));	/* pages 2-4 */
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + self->pages - 3, gi.private_pages);
	view_info(_metadata, self->region, VP(self->v, 0), &vi);
	EXPECT_EQ(2, vi.private_pages);
	view_info(_metadata, self->region, VP(self->v, 5), &vi);
	EXPECT_EQ(3, vi.private_pages);
	for (i = 0; i < self->pages; i++) {
		if (i >= 2 && i <= 4)
			continue;
		EXPECT_TRUE(all_bytes(VP(self->v, i), psize(), 'A' + (int)(self->off + i)));
	}

	/* Unmapping the head and tail keeps the rest. */
	ASSERT_EQ(0, munmap(self->v, psize()));
	ASSERT_EQ(0, munmap(VP(self->v, 7), psize()));
	EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'A' + (int)(self->off + 1)));
	EXPECT_TRUE(all_bytes(VP(self->v, 6), psize(), 'A' + (int)(self->off + 6)));
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + 3, gi.private_pages);

	/* A new view of the unmapped pages shows the base. */
	again = map_view(_metadata, self->region, 3 * psize(), PROT_READ | PROT_WRITE,
			 (off_t)((self->off + 2) * psize()));
	for (i = 0; i < 3; i++)
		expect_base(_metadata, self->region, VP(again, i), self->off + 2 + i);
	EXPECT_EQ(0, munmap(again, 3 * psize()));
}

/* mremap moving the view keeps the copies (same pages) and the base pages. */
TEST_F(vma, mremap_move)
{
	struct cowshare_global_info gi;
	struct cowshare_view_info vi;
	uint64_t pfn_copy, pfn_base;
	char *dst, *moved;

	write_copy(VP(self->v, 1), self->off + 1);
	pfn_copy = pagemap_pfn(_metadata, VP(self->v, 1));
	pfn_base = touch_pfn(_metadata, VP(self->v, 2));
	ASSERT_NE(0, pfn_copy);

	/* A free destination, somewhere else. */
	dst = mmap(NULL, self->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	moved = mremap(self->v, self->len, self->len,
		       MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, moved);
	self->v = moved;

	EXPECT_TRUE(all_bytes(VP(moved, 1), psize(), 'A' + (int)(self->off + 1)));
	EXPECT_EQ(pfn_copy, touch_pfn(_metadata, VP(moved, 1)));
	EXPECT_EQ(pfn_base, touch_pfn(_metadata, VP(moved, 2)));
	expect_base(_metadata, self->region, VP(moved, 2), self->off + 2);
	view_info(_metadata, self->region, moved, &vi);
	EXPECT_EQ((uintptr_t)moved, vi.start);
	EXPECT_EQ(1, vi.private_pages);
	EXPECT_EQ(1, vi.cow_faults);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + 1, gi.private_pages);
	EXPECT_EQ(self->env.before.views + 1, gi.views);

	/* Writing the moved copy does not copy again; new pages do. */
	VP(moved, 1)[0] = '1';
	VP(moved, 3)[0] = '3';
	view_info(_metadata, self->region, moved, &vi);
	EXPECT_EQ(2, vi.cow_faults);
	EXPECT_EQ(BASE_C(self->off + 3), base_byte(_metadata, self->region, ROFF(self, 3)));
}

/*
 * A view never grows and never aliases itself: mremap() growth, even
 * within the region, fails with EFAULT, MREMAP_DONTUNMAP with EINVAL, and
 * mremap(old_size = 0), which would map the same offsets twice, with
 * EFAULT; each leaves the view as it was. Shrinking works and frees the
 * copies of the pages it drops.
 */
TEST_F(vma, mremap_grow_refused_shrink_frees)
{
	struct cowshare_global_info gi;
	struct cowshare_view_info vi;
	size_t big = self->len + 4 * psize();	/* still within the region */
	char *p, *dst;

	write_copy(VP(self->v, 0), self->off);
	write_copy(VP(self->v, 7), self->off + 7);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mremap(self->v, self->len, big, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mremap(self->v, self->len, big, 0));
	EXPECT_EQ(EFAULT, errno);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mremap(self->v, 0, self->len, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	dst = mmap(NULL, self->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mremap(self->v, self->len, self->len,
				     MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dst));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, munmap(dst, self->len));
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(self->len, vi.length);
	EXPECT_EQ(2, vi.private_pages);
	EXPECT_TRUE(all_bytes(VP(self->v, 0), psize(), 'A' + (int)self->off));
	EXPECT_TRUE(all_bytes(VP(self->v, 7), psize(), 'A' + (int)(self->off + 7)));

	/* Shrink to 4 pages: the copy of page 7 goes. */
	p = mremap(self->v, self->len, 4 * psize(), 0);
	ASSERT_EQ(self->v, p);
	view_info(_metadata, self->region, p, &vi);
	EXPECT_EQ(4 * psize(), vi.length);
	EXPECT_EQ(1, vi.private_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + 1, gi.private_pages);
	EXPECT_EQ(self->env.before.copy_pages + 1, gi.copy_pages);
	EXPECT_TRUE(all_bytes(VP(p, 0), psize(), 'A' + (int)self->off));
	/* Still growable? No: not even back to its old size. */
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mremap(p, 4 * psize(), self->len, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, munmap(p, 4 * psize()));
}

/*
 * MADV_DONTNEED on a view zaps ptes and drops nothing, as on any shared
 * mapping: the view's content is its copies and the base, and the next
 * access shows the same content, in the same pages. cowshare_reset() is
 * how a view drops its copies.
 */
TEST_F(vma, dontneed_keeps_copies)
{
	struct cowshare_global_info gi;
	struct cowshare_view_info vi;
	uint64_t pfn[8];
	size_t i;

	ASSERT_LE(self->pages, ARRAY_SIZE(pfn));
	for (i = 0; i < self->pages; i++) {
		write_copy(VP(self->v, i), self->off + i);
		pfn[i] = pagemap_pfn(_metadata, VP(self->v, i));
	}
	ASSERT_EQ(0, madvise(VP(self->v, 2), 4 * psize(), MADV_DONTNEED));
	for (i = 2; i < 6; i++) {
		EXPECT_EQ(0, pagemap_pfn(_metadata, VP(self->v, i))) TH_LOG("page %zu still mapped", i);
	}
	for (i = 0; i < self->pages; i++) {
		EXPECT_TRUE(all_bytes(VP(self->v, i), psize(), 'A' + (int)(self->off + i))) {
			TH_LOG("page %zu: '%c' after MADV_DONTNEED", i, VP(self->v, i)[0]);
		}
		EXPECT_EQ(pfn[i], pagemap_pfn(_metadata, VP(self->v, i)));
	}
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(self->pages, vi.cow_faults);
	EXPECT_EQ(self->pages, vi.private_pages);

	/* Written again: in place, no new copy. */
	VP(self->v, 3)[0] = 'n';
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(self->pages, vi.cow_faults);
	EXPECT_EQ(pfn[3], pagemap_pfn(_metadata, VP(self->v, 3)));

	/* Reset drops them: the base again. */
	EXPECT_EQ((int)self->pages, cowshare_reset(self->region, self->v, self->len));
	for (i = 0; i < self->pages; i++)
		expect_base(_metadata, self->region, VP(self->v, i), self->off + i);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages, gi.private_pages);
	EXPECT_EQ(self->env.before.copy_pages, gi.copy_pages);
}

/*
 * MADV_DONTNEED in a child, on copies it inherited by fork (touched since
 * or not), or in the parent after fork: it drops nothing on either side,
 * and neither sees the other's writes.
 */
TEST_F(vma, dontneed_after_fork_keeps_copies)
{
	struct sync_pipes s;
	pid_t pid;

	sync_init(_metadata, &s);
	write_copy(VP(self->v, 0), self->off);
	write_copy(VP(self->v, 1), self->off + 1);
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		EXPECT_TRUE(all_bytes(VP(self->v, 0), psize(), 'A' + (int)self->off));
		/* Page 0 touched since fork, page 1 not. */
		EXPECT_EQ(0, madvise(self->v, 2 * psize(), MADV_DONTNEED));
		EXPECT_TRUE(all_bytes(VP(self->v, 0), psize(), 'A' + (int)self->off));
		EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'A' + (int)(self->off + 1)));
		VP(self->v, 1)[0] = 'c';
		sync_post(s.to_parent[1]);
		if (!sync_wait(s.to_child[0]))
			_exit(3);
		EXPECT_EQ('c', VP(self->v, 1)[0]);
		EXPECT_EQ('A' + (int)(self->off + 1), VP(self->v, 1)[1]);
		EXPECT_TRUE(all_bytes(VP(self->v, 0), psize(), 'A' + (int)self->off));
		_exit(0);
	}
	ASSERT_TRUE(sync_wait(s.to_parent[0]));
	ASSERT_EQ(0, madvise(self->v, 2 * psize(), MADV_DONTNEED));
	EXPECT_TRUE(all_bytes(VP(self->v, 0), psize(), 'A' + (int)self->off));
	EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'A' + (int)(self->off + 1)));
	VP(self->v, 0)[0] = 'p';
	ASSERT_TRUE(sync_post(s.to_child[1]));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	EXPECT_EQ('p', VP(self->v, 0)[0]);
	EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'A' + (int)(self->off + 1)));
	sync_close(&s);
}

/*
 * Reading a copy inherited by fork, in parent or child, is not a write:
 * no copy is made (cow_faults and private_pages unchanged).
 */
TEST_F(vma, fork_read_does_not_copy)
{
	struct cowshare_view_info before, after;
	struct sync_pipes s;
	pid_t pid;

	sync_init(_metadata, &s);
	write_copy(VP(self->v, 1), self->off + 1);
	view_info(_metadata, self->region, self->v, &before);
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		struct cowshare_view_info c0, c1;

		view_info(_metadata, self->region, self->v, &c0);
		EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'A' + (int)(self->off + 1)));
		view_info(_metadata, self->region, self->v, &c1);
		EXPECT_EQ(c0.cow_faults, c1.cow_faults) {
			TH_LOG("child: a read made a copy");
		}
		EXPECT_EQ(c0.private_pages, c1.private_pages);
		sync_post(s.to_parent[1]);
		sync_wait(s.to_child[0]);
		_exit(0);
	}
	ASSERT_TRUE(sync_wait(s.to_parent[0]));
	EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'A' + (int)(self->off + 1)));
	view_info(_metadata, self->region, self->v, &after);
	EXPECT_EQ(before.cow_faults, after.cow_faults) {
		TH_LOG("parent: a read made a copy");
	}
	EXPECT_EQ(before.private_pages, after.private_pages);
	ASSERT_TRUE(sync_post(s.to_child[1]));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	sync_close(&s);
}

/* Closing the region fd while views exist keeps the region. */
TEST_F(vma, close_fd_keeps_region)
{
	struct cowshare_global_info gi;

	write_copy(VP(self->v, 1), self->off + 1);
	ASSERT_EQ(0, close(self->region));
	self->region = new_region(_metadata, psize());	/* teardown closes it */
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.regions + 2, gi.regions);
	EXPECT_TRUE(all_bytes(VP(self->v, 0), psize(), BASE_C(self->off)));
	EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'A' + (int)(self->off + 1)));
	VP(self->v, 2)[0] = '2';
	EXPECT_EQ(BASE_C(self->off + 2), VP(self->v, 2)[1]);
	EXPECT_EQ(0, munmap(self->v, self->len));
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.regions + 1, gi.regions);
	EXPECT_EQ(self->env.before.base_pages, gi.base_pages);
	EXPECT_EQ(self->env.before.private_pages, gi.private_pages);
	EXPECT_EQ(self->env.before.views, gi.views);
}

TEST_HARNESS_MAIN
