// SPDX-License-Identifier: GPL-2.0
/*
 * Huge base folios and huge views: a base write that covers a whole PMD
 * range puts one PMD-size folio in the region's base; a view of a sealed
 * region whose every page is written maps those folios with one PMD each
 * (FilePmdMapped in smaps), where it holds no copy of its own. A write
 * splits that PMD in the writer's view only and copies one page (counted
 * in pmd_splits); fork, MADV_DONTNEED, MADV_COLD/PAGEOUT, partial
 * munmap/mprotect, mremap, ptrace writes, reset and snapshots keep what
 * every view shows, and so do two threads racing on them. PMD size is the
 * kernel's (2 MiB on 4 KiB pages, 32 MiB on 16 KiB). Skipped, saying why,
 * on a kernel without transparent huge pages (PREEMPT_RT), but for the
 * race on 4 KiB views (race.base_page_views), which runs everywhere.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define NR_PMDS		2
#define KPF_COMPOUND_HEAD	15
#define KPF_COMPOUND_TAIL	16

static size_t pmd_size(void)
{
	static size_t size;
	FILE *f;

	if (size)
		return size;
	f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
	if (f) {
		if (fscanf(f, "%zu", &size) != 1)
			size = 0;
		fclose(f);
	}
	return size;
}

#define PMD_PAGES	(pmd_size() / psize())

#define SKIP_IF_NO_THP()								\
	do {										\
		if (!pmd_size() ||							\
		    access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK))	\
			SKIP(return, "the kernel has no transparent huge pages (PREEMPT_RT): views map base pages with ptes only"); \
	} while (0)

/*
 * Skip, saying why, when counted fallbacks (fragmented memory) cost region
 * @fd its PMD-size folios; a missing folio with no fallback is a bug.
 */
#define SKIP_IF_FRAGMENTED(fd)								\
	do {										\
		struct cowshare_region_info _ri;					\
		struct cowshare_global_info _gi;					\
											\
		region_info(_metadata, (fd), &_ri);					\
		global_info(_metadata, &_gi);						\
		if (_ri.huge_folios < NR_PMDS &&					\
		    _gi.huge_fallbacks > self->env.before.huge_fallbacks)		\
			SKIP(return, "memory too fragmented now for %zu KiB folios (%llu fallbacks)", \
			     pmd_size() / 1024, (unsigned long long)			\
			     (_gi.huge_fallbacks - self->env.before.huge_fallbacks));	\
	} while (0)

/* The 8 bytes at the start of page @p of the image: which page it is. */
static uint64_t page_tag(size_t p)
{
	return 0xc0f5000000000000ULL | p;
}

/* kB of FilePmdMapped in the smaps entry of the vma holding @addr. */
static long file_pmd_kb(const void *addr)
{
	unsigned long start, end, want = (uintptr_t)addr;
	char line[512];
	bool in = false;
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = want >= start && want < end;
			continue;
		}
		if (in && sscanf(line, "FilePmdMapped: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* An address @len bytes long, free, aligned to a PMD (+ @skew bytes). */
static char *pmd_aligned_hole(struct __test_metadata *_metadata, size_t len, size_t skew)
{
	char *p = mmap(NULL, len + 2 * pmd_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	ASSERT_NE(MAP_FAILED, p);
	a = (char *)(((uintptr_t)p + pmd_size() - 1) & ~(uintptr_t)(pmd_size() - 1)) + skew;
	munmap(p, len + 2 * pmd_size());
	return a;
}

FIXTURE(huge)
{
	struct cs_env env;
	int region;
	size_t len;
	char *v;
};

/* One pwrite of @len zero bytes at 0: 0, or -1. */
static int huge_fill(int fd, size_t len)
{
	char *buf = calloc(1, len);
	ssize_t n = buf ? pwrite(fd, buf, len, 0) : -1;

	free(buf);
	return n == (ssize_t)len ? 0 : -1;
}

/* A region of @len bytes, each page tagged, written in one pwrite; sealed if @seal. */
static int huge_region(struct __test_metadata *_metadata, size_t len, unsigned int flags,
		       bool seal)
{
	size_t p;
	char *buf = malloc(len);
	int fd;

	ASSERT_NE(NULL, buf);
	for (p = 0; p < len / psize(); p++) {
		memset(buf + p * psize(), (int)(p % 251), psize());
		memcpy(buf + p * psize(), &(uint64_t){ page_tag(p) }, sizeof(uint64_t));
	}
	fd = cowshare_create(len, COWSHARE_CLOEXEC | flags);
	ASSERT_LE(0, fd);
	base_write(_metadata, fd, buf, len, 0);
	free(buf);
	if (seal)
		ASSERT_EQ(0, cowshare_seal(fd));
	return fd;
}

static bool page_is_base(const char *v, size_t p)
{
	return *(const uint64_t *)(v + p * psize()) == page_tag(p) &&
	       (unsigned char)v[p * psize() + psize() - 1] == p % 251;
}

/* Read every page; true if all show the base except @skip (if not -1). */
static bool all_base_but(const char *v, size_t pages, size_t skip)
{
	for (size_t p = 0; p < pages; p++)
		if (p != skip && !page_is_base(v, p))
			return false;
	return true;
}

FIXTURE_SETUP(huge)
{
	env_setup(_metadata, &self->env);
	SKIP_IF_NO_THP();
	self->len = NR_PMDS * pmd_size();
	self->region = huge_region(_metadata, self->len, 0, true);
	SKIP_IF_FRAGMENTED(self->region);
	self->v = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
}

/* What FIXTURE_SETUP(huge) and (race) made: the view, the region, the env check. */
static void view_teardown(struct __test_metadata *_metadata, struct cs_env *env, int region,
			  char *v, size_t len)
{
	if (v)
		munmap(v, len);
	if (region > 0)
		close(region);
	env_teardown(_metadata, env);
}

FIXTURE_TEARDOWN(huge)
{
	view_teardown(_metadata, &self->env, self->region, self->v, self->len);
}

TEST_F(huge, base_is_pmd_size_folios)
{
	struct cowshare_region_info ri;
	struct cowshare_global_info gi;
	uint64_t pfn0, flags[2] = { 0, 0 };
	size_t p;
	int kpf;

	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(NR_PMDS, ri.huge_folios);
	EXPECT_EQ(self->len / psize(), ri.base_pages);
	EXPECT_FALSE(ri.region_flags & COWSHARE_REGION_NO_HUGE);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.huge_folios + NR_PMDS, gi.huge_folios);
	/* One folio: physically contiguous, aligned, compound to /proc/kpageflags. */
	pfn0 = touch_pfn(_metadata, self->v);
	ASSERT_NE(0, pfn0);
	EXPECT_EQ(0, pfn0 % PMD_PAGES);
	for (p = 1; p < PMD_PAGES; p += 37) {
		EXPECT_EQ(pfn0 + p, touch_pfn(_metadata, VP(self->v, p))) TH_LOG("page %zu", p);
	}
	kpf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, kpf);
	ASSERT_EQ(sizeof(flags), pread(kpf, flags, sizeof(flags), (off_t)(pfn0 * sizeof(flags[0]))));
	close(kpf);
	EXPECT_TRUE(flags[0] & (1ULL << KPF_COMPOUND_HEAD)) TH_LOG("kpageflags %#llx", (unsigned long long)flags[0]);
	EXPECT_TRUE(flags[1] & (1ULL << KPF_COMPOUND_TAIL)) TH_LOG("kpageflags %#llx", (unsigned long long)flags[1]);
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
}

TEST_F(huge, read_maps_one_pmd_per_range)
{
	struct cowshare_view_info vi;
	long before, faults;

	EXPECT_EQ(0, (uintptr_t)self->v % pmd_size()) TH_LOG("view at %p", self->v);
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_TRUE(vi.view_flags & COWSHARE_VIEW_HUGE);
	before = minor_faults();
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	faults = minor_faults() - before;
	EXPECT_GE(NR_PMDS + 1, faults);
	EXPECT_EQ((long)(self->len / 1024), file_pmd_kb(self->v));
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(NR_PMDS, vi.pmd_maps);
	EXPECT_EQ(0, vi.private_pages);
}

TEST_F(huge, write_splits_only_the_writers_pmd)
{
	char *w = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
	struct cowshare_view_info vi;
	size_t p = 5;
	uint64_t base;

	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	EXPECT_TRUE(all_base_but(w, self->len / psize(), (size_t)-1));
	base = pagemap_pfn(_metadata, VP(w, p));
	EXPECT_EQ(base, pagemap_pfn(_metadata, VP(self->v, p)));
	w[p * psize() + 100] = 'W';
	EXPECT_EQ('W', w[p * psize() + 100]);
	EXPECT_NE(base, pagemap_pfn(_metadata, VP(w, p)));
	/* The writer's first range is ptes now; the other view keeps both PMDs. */
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(w));
	EXPECT_EQ((long)(self->len / 1024), file_pmd_kb(self->v));
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	EXPECT_TRUE(all_base_but(w, self->len / psize(), p));
	EXPECT_EQ(base + 1, touch_pfn(_metadata, VP(w, p + 1)));
	EXPECT_EQ(p % 251, base_byte(_metadata, self->region, (off_t)(p * psize() + 100)));
	view_info(_metadata, self->region, w, &vi);
	EXPECT_EQ(1, vi.private_pages);
	EXPECT_EQ(0, munmap(w, self->len));
}

/*
 * pmd_splits counts the PMD mappings a write split: once a range, and
 * never for a write that found ptes or no mapping at all.
 */
TEST_F(huge, pmd_splits_count_what_writes_split)
{
	char *u = pmd_aligned_hole(_metadata, self->len, psize());
	struct cowshare_view_info vi;
	struct cowshare_global_info gi;
	size_t early = 3, p = PMD_PAGES + 1;

	/* Before any read: the write finds an empty pmd, nothing to split. */
	self->v[early * psize()] = 'a';
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(0, vi.pmd_splits);
	/* Read: the first range has a copy (ptes), the second is one PMD. */
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), early));
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(self->v));
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(1, vi.pmd_maps);
	EXPECT_EQ(0, vi.pmd_splits);
	/* A write to a pte-mapped base page splits nothing either. */
	self->v[(early + 1) * psize()] = 'b';
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(0, vi.pmd_splits);
	/* The first write into the PMD splits it; the next ones find ptes. */
	self->v[p * psize()] = 'c';
	self->v[(p + 1) * psize()] = 'd';
	self->v[p * psize() + 1] = 'e';
	EXPECT_EQ(0, file_pmd_kb(self->v));
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(1, vi.pmd_splits);
	EXPECT_EQ(4, vi.private_pages);
	EXPECT_EQ(4, vi.cow_faults);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.pmd_splits + 1, gi.pmd_splits);
	EXPECT_EQ('c', self->v[p * psize()]);
	EXPECT_EQ('e', self->v[p * psize() + 1]);
	EXPECT_TRUE(page_is_base(self->v, p + 2));

	/* A view at an address no PMD fits maps ptes: its writes split nothing. */
	u = mmap(u, self->len - psize(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
		 self->region, 0);
	ASSERT_NE(MAP_FAILED, u);
	EXPECT_TRUE(all_base_but(u, self->len / psize() - 1, (size_t)-1));
	u[p * psize()] = 'u';
	view_info(_metadata, self->region, u, &vi);
	EXPECT_FALSE(vi.view_flags & COWSHARE_VIEW_HUGE);
	EXPECT_EQ(0, vi.pmd_splits);
	EXPECT_EQ(1, vi.private_pages);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.pmd_splits + 1, gi.pmd_splits);
	EXPECT_EQ(0, munmap(u, self->len - psize()));
}

/* A fork child of a view without copies maps the same PMDs. */
TEST_F(huge, fork_child_maps_pmds)
{
	struct sync_pipes s;
	pid_t pid;

	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	sync_init(_metadata, &s);
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		struct cowshare_view_info vi;
		bool ok = all_base_but(self->v, self->len / psize(), (size_t)-1) &&
			  file_pmd_kb(self->v) == (long)(self->len / 1024) &&
			  !cowshare_view_info(self->region, self->v, &vi) &&
			  (vi.view_flags & COWSHARE_VIEW_HUGE);

		self->v[9 * psize()] = 'C';	/* the child's own copy */
		ok = ok && self->v[9 * psize()] == 'C' &&
		     file_pmd_kb(self->v) == (long)(pmd_size() / 1024);
		sync_post(s.to_parent[1]);
		sync_wait(s.to_child[0]);
		_exit(ok ? 0 : 1);
	}
	ASSERT_TRUE(sync_wait(s.to_parent[0]));
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	EXPECT_EQ((long)(self->len / 1024), file_pmd_kb(self->v));
	sync_post(s.to_child[1]);
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	sync_close(&s);
}

/*
 * Views that share copies across a fork map them again one fault each in
 * a huge view: both sides become 4 KiB views, and see what they saw.
 */
TEST_F(huge, fork_with_copies_makes_4k_views)
{
	size_t p = 3, q = PMD_PAGES + 9;
	struct cowshare_view_info vi;
	struct sync_pipes s;
	pid_t pid;

	self->v[p * psize() + 1] = 'P';
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), p));
	sync_init(_metadata, &s);
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		bool ok = all_base_but(self->v, self->len / psize(), p) &&
			  self->v[p * psize() + 1] == 'P' && file_pmd_kb(self->v) == 0 &&
			  !cowshare_view_info(self->region, self->v, &vi) &&
			  !(vi.view_flags & COWSHARE_VIEW_HUGE);

		self->v[q * psize()] = 'C';
		ok = ok && self->v[q * psize()] == 'C';
		sync_post(s.to_parent[1]);
		sync_wait(s.to_child[0]);
		_exit(ok ? 0 : 1);
	}
	ASSERT_TRUE(sync_wait(s.to_parent[0]));
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_FALSE(vi.view_flags & COWSHARE_VIEW_HUGE);
	EXPECT_EQ('P', self->v[p * psize() + 1]);
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), p));
	EXPECT_EQ(0, file_pmd_kb(self->v));
	sync_post(s.to_child[1]);
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	sync_close(&s);
}

/* MADV_COLD/MADV_PAGEOUT of part of a PMD would split the folio: it is pinned. */
TEST_F(huge, cold_and_pageout_keep_the_folio)
{
	struct cowshare_region_info ri;
	uint64_t pfn0;

	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	pfn0 = pagemap_pfn(_metadata, self->v);
	EXPECT_EQ(0, madvise(VP(self->v, 1), psize(), MADV_COLD));
	EXPECT_EQ(0, madvise(VP(self->v, PMD_PAGES + 1), psize(), MADV_PAGEOUT));
	EXPECT_EQ((long)(self->len / 1024), file_pmd_kb(self->v));
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	EXPECT_EQ(pfn0 + 5, pagemap_pfn(_metadata, VP(self->v, 5)));
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(NR_PMDS, ri.huge_folios);
	/* A new view maps PMDs too. */
	{
		char *w = map_view(_metadata, self->region, self->len, PROT_READ, 0);

		EXPECT_TRUE(all_base_but(w, self->len / psize(), (size_t)-1));
		EXPECT_EQ((long)(self->len / 1024), file_pmd_kb(w));
		EXPECT_EQ(0, munmap(w, self->len));
	}
}

TEST_F(huge, dontneed_refaults_pmds_and_keeps_copies)
{
	size_t p = PMD_PAGES + 7;

	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	self->v[p * psize()] = 'D';
	ASSERT_EQ(0, madvise(self->v, self->len, MADV_DONTNEED));
	EXPECT_EQ(0, file_pmd_kb(self->v));
	EXPECT_EQ('D', self->v[p * psize()]);
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), p));
	/* The range without a copy is one PMD again. */
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(self->v));
}

TEST_F(huge, partial_munmap_and_mprotect)
{
	size_t half = PMD_PAGES / 2, p;

	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	ASSERT_EQ(0, munmap(VP(self->v, half), pmd_size() / 2));
	for (p = 0; p < half; p++) {
		ASSERT_TRUE(page_is_base(self->v, p)) TH_LOG("page %zu", p);
	}
	ASSERT_EQ(0, mprotect(VP(self->v, PMD_PAGES), pmd_size() / 4, PROT_READ));
	for (p = PMD_PAGES; p < 2 * PMD_PAGES; p++) {
		ASSERT_TRUE(page_is_base(self->v, p)) TH_LOG("page %zu", p);
	}
	self->v[(PMD_PAGES + half) * psize()] = 'M';
	EXPECT_EQ('M', self->v[(PMD_PAGES + half) * psize()]);
	EXPECT_EQ(SIGSEGV, probe_access(VP(self->v, PMD_PAGES + 1), true));
	for (p = PMD_PAGES; p < 2 * PMD_PAGES; p++)
		if (p != PMD_PAGES + half) {
			ASSERT_TRUE(page_is_base(self->v, p)) TH_LOG("page %zu", p);
		}
	/* The teardown unmaps what is left. */
	munmap(self->v, half * psize());
	munmap(VP(self->v, PMD_PAGES), pmd_size());
	self->v = NULL;
}

TEST_F(huge, mremap_keeps_pmds_and_copies)
{
	char *to = pmd_aligned_hole(_metadata, self->len, 0), *m;
	size_t p = 11;

	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	self->v[p * psize()] = 'R';
	m = mremap(self->v, self->len, self->len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	ASSERT_EQ(to, m);
	self->v = m;
	EXPECT_EQ('R', m[p * psize()]);
	EXPECT_TRUE(all_base_but(m, self->len / psize(), p));
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(m));
}

TEST_F(huge, unaligned_view_maps_ptes)
{
	char *at = pmd_aligned_hole(_metadata, self->len, psize());
	struct cowshare_view_info vi;
	char *u;

	u = mmap(at, self->len - psize(), PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE,
		 self->region, 0);
	ASSERT_EQ(at, u);
	view_info(_metadata, self->region, u, &vi);
	EXPECT_FALSE(vi.view_flags & COWSHARE_VIEW_HUGE);
	EXPECT_TRUE(all_base_but(u, self->len / psize() - 1, (size_t)-1));
	EXPECT_EQ(0, munmap(u, self->len - psize()));
}

/* A debugger's write into a read-only view goes through ->access, unmapped. */
TEST_F(huge, ptrace_write_before_the_first_read)
{
	char *r = map_view(_metadata, self->region, self->len, PROT_READ, 0);
	size_t p = PMD_PAGES + 2;
	int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, mem);
	ASSERT_EQ(4, pwrite(mem, "BRKP", 4, (off_t)(uintptr_t)VP(r, p)));
	close(mem);
	/* Base pages first: the range's first fault finds no page table. */
	EXPECT_TRUE(all_base_but(r, self->len / psize(), p));
	EXPECT_EQ(0, memcmp(VP(r, p), "BRKP", 4));
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(r));
	EXPECT_TRUE(page_is_base(self->v, p));
	EXPECT_EQ(0, munmap(r, self->len));
}

/*
 * A debugger's write into a PMD-mapped page splits that PMD and copies one
 * page, counted as a split: through ->access in a read-only view, through
 * a write fault in a writable one.
 */
TEST_F(huge, ptrace_write_splits_one_pmd)
{
	char *r = map_view(_metadata, self->region, self->len, PROT_READ, 0);
	struct cowshare_view_info vi;
	size_t p = PMD_PAGES + 2;
	int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, mem);
	EXPECT_TRUE(all_base_but(r, self->len / psize(), (size_t)-1));
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	ASSERT_EQ((long)(self->len / 1024), file_pmd_kb(r));
	ASSERT_EQ(4, pwrite(mem, "BRKP", 4, (off_t)(uintptr_t)VP(r, p)));
	ASSERT_EQ(4, pwrite(mem, "brkp", 4, (off_t)(uintptr_t)VP(self->v, p)));
	close(mem);
	EXPECT_EQ(0, memcmp(VP(r, p), "BRKP", 4));
	EXPECT_EQ(0, memcmp(VP(self->v, p), "brkp", 4));
	EXPECT_TRUE(all_base_but(r, self->len / psize(), p));
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), p));
	/* Each view's first range keeps its PMD. */
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(r));
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(self->v));
	view_info(_metadata, self->region, r, &vi);
	EXPECT_EQ(1, vi.private_pages);
	EXPECT_EQ(1, vi.pmd_splits);
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(1, vi.private_pages);
	EXPECT_EQ(1, vi.pmd_splits);
	EXPECT_EQ(0, munmap(r, self->len));
}

/*
 * GUP through a PMD: vmsplice() takes a reference of the PMD-mapped base
 * page (GUP-fast on a PMD leaf), which a later write of the view does not
 * change; process_vm_readv() reads through the PMD, process_vm_writev()
 * writes by splitting it (FOLL_WRITE: the write fault of wp_huge_pmd()).
 */
TEST_F(huge, gup_through_a_pmd)
{
	size_t p = 3, q = PMD_PAGES + 4, i;
	struct iovec local, remote;
	struct cowshare_view_info vi;
	char *page = malloc(psize());
	char msg[8] = "viaPVW!";
	int pfd[2];

	ASSERT_NE(NULL, page);
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	ASSERT_EQ((long)(self->len / 1024), file_pmd_kb(self->v));

	ASSERT_EQ(0, pipe(pfd));
	local = (struct iovec){ .iov_base = VP(self->v, p), .iov_len = psize() };
	ASSERT_EQ((ssize_t)psize(), vmsplice(pfd[1], &local, 1, 0));
	self->v[p * psize()] = 'W';
	ASSERT_EQ((ssize_t)psize(), read(pfd[0], page, psize()));
	EXPECT_EQ(page_tag(p), *(uint64_t *)page);
	EXPECT_EQ(p % 251, (unsigned char)page[psize() - 1]);
	EXPECT_EQ('W', self->v[p * psize()]);
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(self->v));
	close(pfd[0]);
	close(pfd[1]);

	local = (struct iovec){ .iov_base = page, .iov_len = psize() };
	remote = (struct iovec){ .iov_base = VP(self->v, q), .iov_len = psize() };
	ASSERT_EQ((ssize_t)psize(), process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
	EXPECT_EQ(page_tag(q), *(uint64_t *)page);
	EXPECT_EQ((long)(pmd_size() / 1024), file_pmd_kb(self->v));

	local = (struct iovec){ .iov_base = msg, .iov_len = sizeof(msg) };
	remote = (struct iovec){ .iov_base = VP(self->v, q), .iov_len = sizeof(msg) };
	ASSERT_EQ((ssize_t)sizeof(msg), process_vm_writev(getpid(), &local, 1, &remote, 1, 0));
	EXPECT_EQ(0, memcmp(VP(self->v, q), msg, sizeof(msg)));
	EXPECT_EQ(0, file_pmd_kb(self->v));
	EXPECT_EQ(q % 251, base_byte(_metadata, self->region, (off_t)(q * psize() + 100)));
	view_info(_metadata, self->region, self->v, &vi);
	EXPECT_EQ(2, vi.private_pages);
	EXPECT_EQ(2, vi.pmd_splits);
	for (i = 0; i < self->len / psize(); i++) {
		if (i != p && i != q) {
			ASSERT_TRUE(page_is_base(self->v, i)) TH_LOG("page %zu", i);
		}
	}
	free(page);
}

TEST_F(huge, reset_and_snapshot)
{
	size_t p = PMD_PAGES - 1;
	uint64_t *bitmap = calloc((self->len / psize() + 63) / 64, sizeof(*bitmap));
	char *s;
	int snap;

	ASSERT_NE(NULL, bitmap);
	self->v[p * psize()] = 'S';
	ASSERT_EQ(1, cowshare_dirty(self->region, self->v, self->len, bitmap, 0));
	EXPECT_TRUE(dirty_bit(bitmap, p));
	snap = cowshare_snapshot(self->region, self->v, self->len, COWSHARE_CLOEXEC);
	ASSERT_LE(0, snap);
	s = map_view(_metadata, snap, self->len, PROT_READ, 0);
	EXPECT_EQ('S', s[p * psize()]);
	EXPECT_TRUE(all_base_but(s, self->len / psize(), p));
	ASSERT_EQ(1, cowshare_reset(self->region, self->v, self->len));
	EXPECT_TRUE(all_base_but(self->v, self->len / psize(), (size_t)-1));
	EXPECT_EQ('S', s[p * psize()]);
	EXPECT_EQ(0, munmap(s, self->len));
	close(snap);
	free(bitmap);
}

/*
 * Two threads at once on one view (each writes only its own pages, reads
 * and zaps all of them) and on a view each of its own, all of one base:
 * copies, batched maps (PMDs in huge views), PMD splits, MADV_DONTNEED
 * and resets race on the same base folios. Every page each thread checks must be its
 * model's: the base, or its last write over a copy of the base; then, in
 * both the parent and the child of a fork, every page of every view.
 * COWSHARE_FUZZ_SEED=N replays each thread's operations (not their
 * interleaving).
 */
#define RACE_OPS	40000

struct race {
	char *shared;
	char *own[2];
	size_t pages;
	size_t range;			/* pages a PMD maps (a page table's worth) */
	int region;
	uint64_t seed;
	time_t deadline;
	uint64_t *shared_model;		/* page p written by thread p % 2; 0: base */
	uint64_t *own_model[2];
	pthread_mutex_t lock;
	unsigned long failures, ops[2];
	char first[160];
};

/* What page @p of a view shows, against @want (0: the base). */
static bool race_page_ok(const char *v, size_t p, uint64_t want)
{
	const char *page = v + p * psize();

	if (!want)
		return page_is_base(v, p);
	return *(const volatile uint64_t *)page == want &&
	       *(const volatile uint64_t *)(page + psize() - 8) == want &&
	       (unsigned char)page[100] == p % 251;
}

static void race_fail(struct race *r, int t, unsigned long op, const char *what, size_t p)
{
	pthread_mutex_lock(&r->lock);
	if (!__atomic_fetch_add(&r->failures, 1, __ATOMIC_RELAXED))
		snprintf(r->first, sizeof(r->first), "seed %llu thread %d op %lu: %s, page %zu",
			 (unsigned long long)r->seed, t, op, what, p);
	pthread_mutex_unlock(&r->lock);
}

static void race_thread(struct race *r, int t)
{
	uint64_t x = r->seed * 2 + t + 1;
	unsigned long i;

	for (i = 0; i < RACE_OPS && !__atomic_load_n(&r->failures, __ATOMIC_RELAXED); i++) {
		/* A slow guest (TCG, 16 KiB pages) runs fewer operations. */
		if (!(i % 64) && time(NULL) > r->deadline)
			break;
		bool own = cs_xorshift(&x) & 1;
		char *v = own ? r->own[t] : r->shared;
		uint64_t *model = own ? r->own_model[t] : r->shared_model;
		size_t p = cs_xorshift(&x) % r->pages, n, q;
		uint64_t val;
		long ret;

		if (!own)
			p = (p & ~(size_t)1) | (size_t)t;
		switch (cs_xorshift(&x) % 10) {
		case 0: case 1:
			val = 0xface000000000000ULL | ((uint64_t)t << 40) | (i << 12) | own;
			*(volatile uint64_t *)(v + p * psize()) = val;
			*(volatile uint64_t *)(v + p * psize() + psize() - 8) = val;
			model[p] = val;
			break;
		case 2: case 3: case 4: case 5:
			if (!race_page_ok(v, p, model[p]))
				race_fail(r, t, i, own ? "own view" : "shared view", p);
			break;
		case 6:
			/* Any page, the other thread's too: a fault, a PMD map. */
			(void)*(volatile char *)(r->shared + (cs_xorshift(&x) % r->pages) * psize());
			break;
		case 7:
			q = cs_xorshift(&x) % r->pages;
			n = 1 + cs_xorshift(&x) % (2 * r->range);
			if (n > r->pages - q)
				n = r->pages - q;
			if (madvise(v + q * psize(), n * psize(), MADV_DONTNEED))
				race_fail(r, t, i, "MADV_DONTNEED failed", q);
			break;
		case 8:
			ret = cowshare_reset(r->region, v + p * psize(), psize());
			if (ret != (model[p] ? 1 : 0))
				race_fail(r, t, i, "reset dropped a wrong number of copies", p);
			model[p] = 0;
			break;
		default:
			/* Pages across one PMD range: maps it whole where it can. */
			q = (p / r->range) * r->range;
			for (n = 0; n < r->range; n += 1 + cs_xorshift(&x) % 64)
				(void)*(volatile char *)(v + (q + n) * psize());
			break;
		}
	}
	r->ops[t] = i;
}

static void *race_thread1(void *arg)
{
	race_thread(arg, 1);
	return NULL;
}

/*
 * The race on both kinds of view: huge views (PMD maps and splits), and
 * 4 KiB views of a COWSHARE_NO_HUGE region (fault-around windows, copies
 * inserted in batches), which every kernel has, PREEMPT_RT included.
 */
FIXTURE(race)
{
	struct cs_env env;
	int region;
	size_t len, range;
	char *v;
};

FIXTURE_VARIANT(race)
{
	bool huge;
};

FIXTURE_VARIANT_ADD(race, huge_views)
{
	.huge = true,
};

FIXTURE_VARIANT_ADD(race, base_page_views)
{
	.huge = false,
};

FIXTURE_SETUP(race)
{
	env_setup(_metadata, &self->env);
	if (variant->huge)
		SKIP_IF_NO_THP();
	/* Two PMD ranges; two page tables' worth of 4 KiB pages without THP. */
	self->range = pmd_size() ? PMD_PAGES : (size_t)512;
	self->len = NR_PMDS * self->range * psize();
	self->region = huge_region(_metadata, self->len, variant->huge ? 0 : COWSHARE_NO_HUGE,
				   true);
	if (variant->huge)
		SKIP_IF_FRAGMENTED(self->region);
	self->v = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
}

FIXTURE_TEARDOWN(race)
{
	view_teardown(_metadata, &self->env, self->region, self->v, self->len);
}

TEST_F_TIMEOUT(race, threads_keep_every_page, 120)
{
	struct race r = { .shared = self->v, .pages = self->len / psize(), .range = self->range,
			  .region = self->region, .lock = PTHREAD_MUTEX_INITIALIZER };
	struct cowshare_view_info vi;
	size_t p, copies[3] = { 0, 0, 0 };
	pthread_t thread;
	pid_t pid;
	int t;

	r.seed = getenv("COWSHARE_FUZZ_SEED") ? strtoull(getenv("COWSHARE_FUZZ_SEED"), NULL, 0) :
		 (uint64_t)time(NULL);
	TH_LOG("seed %llu", (unsigned long long)r.seed);
	r.shared_model = calloc(r.pages, sizeof(uint64_t));
	ASSERT_NE(NULL, r.shared_model);
	for (t = 0; t < 2; t++) {
		r.own[t] = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
		r.own_model[t] = calloc(r.pages, sizeof(uint64_t));
		ASSERT_NE(NULL, r.own_model[t]);
	}
	/* Huge views start PMD-mapped: the race is on the huge path. */
	for (t = 0; t < 3; t++) {
		char *v = t < 2 ? r.own[t] : r.shared;
		struct cowshare_view_info vi0;
		long pmd_kb;

		ASSERT_TRUE(all_base_but(v, r.pages, (size_t)-1));
		view_info(_metadata, self->region, v, &vi0);
		ASSERT_EQ(variant->huge, !!(vi0.view_flags & COWSHARE_VIEW_HUGE));
		pmd_kb = file_pmd_kb(v);
		if (variant->huge) {
			ASSERT_EQ((long)(self->len / 1024), pmd_kb);
		} else {
			/* 0, or -1 where smaps has no such line (no THP) */
			ASSERT_GE(0, pmd_kb);
		}
	}
	r.deadline = time(NULL) + 6;
	ASSERT_EQ(0, pthread_create(&thread, NULL, race_thread1, &r));
	race_thread(&r, 0);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_EQ(0, r.failures) TH_LOG("%lu failures, first: %s", r.failures, r.first);
	TH_LOG("%lu + %lu operations", r.ops[0], r.ops[1]);
	/* Enough of a race to mean something, even on the slowest guest. */
	EXPECT_LE(500, r.ops[0] + r.ops[1]) TH_LOG("%lu + %lu operations", r.ops[0], r.ops[1]);

	/* Quiet now: every page of every view is its model's. */
	for (p = 0; p < r.pages; p++) {
		EXPECT_TRUE(race_page_ok(r.shared, p, r.shared_model[p])) TH_LOG("shared page %zu", p);
		copies[2] += !!r.shared_model[p];
		for (t = 0; t < 2; t++) {
			EXPECT_TRUE(race_page_ok(r.own[t], p, r.own_model[t][p]))
				TH_LOG("thread %d's page %zu", t, p);
			copies[t] += !!r.own_model[t][p];
		}
	}
	for (t = 0; t < 3; t++) {
		view_info(_metadata, self->region, t < 2 ? r.own[t] : r.shared, &vi);
		EXPECT_EQ(copies[t], vi.private_pages) TH_LOG("view %d", t);
	}
	/* A fork shares every copy; both sides still show every model. */
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		bool ok = true;

		for (p = 0; p < r.pages; p++)
			ok = ok && race_page_ok(r.shared, p, r.shared_model[p]) &&
			     race_page_ok(r.own[0], p, r.own_model[0][p]) &&
			     race_page_ok(r.own[1], p, r.own_model[1][p]);
		_exit(ok ? 0 : 1);
	}
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	for (p = 0; p < r.pages; p++) {
		ASSERT_TRUE(race_page_ok(r.shared, p, r.shared_model[p]) &&
			    race_page_ok(r.own[0], p, r.own_model[0][p]) &&
			    race_page_ok(r.own[1], p, r.own_model[1][p])) TH_LOG("after fork, page %zu", p);
	}
	for (t = 0; t < 2; t++) {
		EXPECT_EQ(0, munmap(r.own[t], self->len));
		free(r.own_model[t]);
	}
	free(r.shared_model);
}

CS_ENV_FIXTURE(huge_policy);

TEST_F(huge_policy, what_gets_pmd_size_folios)
{
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;
	size_t len;
	char *buf, *v;
	int fd;

	SKIP_IF_NO_THP();
	len = NR_PMDS * pmd_size();
	/* COWSHARE_NO_HUGE: 4 KiB folios, a pte view. */
	fd = huge_region(_metadata, len, COWSHARE_NO_HUGE, true);
	region_info(_metadata, fd, &ri);
	EXPECT_EQ(0, ri.huge_folios);
	EXPECT_TRUE(ri.region_flags & COWSHARE_REGION_NO_HUGE);
	v = map_view(_metadata, fd, len, PROT_READ, 0);
	view_info(_metadata, fd, v, &vi);
	EXPECT_FALSE(vi.view_flags & COWSHARE_VIEW_HUGE);
	EXPECT_TRUE(all_base_but(v, len / psize(), (size_t)-1));
	munmap(v, len);
	close(fd);
	/* Unsealed: huge folios, but a pte view (base writes may still come). */
	fd = huge_region(_metadata, len, 0, false);
	SKIP_IF_FRAGMENTED(fd);
	region_info(_metadata, fd, &ri);
	EXPECT_EQ(NR_PMDS, ri.huge_folios);
	v = map_view(_metadata, fd, len, PROT_READ, 0);
	view_info(_metadata, fd, v, &vi);
	EXPECT_FALSE(vi.view_flags & COWSHARE_VIEW_HUGE);
	munmap(v, len);
	close(fd);
	/* Writes that never cover a whole PMD range: 4 KiB folios. */
	fd = new_region(_metadata, len);
	buf = calloc(1, pmd_size());
	ASSERT_NE(NULL, buf);
	base_write(_metadata, fd, buf, pmd_size() - psize(), 0);
	base_write(_metadata, fd, buf, pmd_size() - psize(), (off_t)(pmd_size() + psize()));
	region_info(_metadata, fd, &ri);
	EXPECT_EQ(0, ri.huge_folios);
	close(fd);
	free(buf);
}

/* A region longer than its PMD ranges: the last PMD-size folio ends before i_size. */
TEST_F(huge_policy, region_with_a_tail)
{
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;
	size_t len;
	long before;
	char *v;
	int fd;

	SKIP_IF_NO_THP();
	len = NR_PMDS * pmd_size() + psize();
	fd = huge_region(_metadata, len, 0, true);
	SKIP_IF_FRAGMENTED(fd);
	region_info(_metadata, fd, &ri);
	EXPECT_EQ(NR_PMDS, ri.huge_folios);
	v = map_view(_metadata, fd, len, PROT_READ, 0);
	view_info(_metadata, fd, v, &vi);
	EXPECT_TRUE(vi.view_flags & COWSHARE_VIEW_HUGE);
	before = minor_faults();
	EXPECT_TRUE(all_base_but(v, len / psize(), (size_t)-1));
	EXPECT_GE(NR_PMDS + 2, minor_faults() - before);
	EXPECT_EQ((long)(NR_PMDS * pmd_size() / 1024), file_pmd_kb(v));
	view_info(_metadata, fd, v, &vi);
	EXPECT_EQ(NR_PMDS, vi.pmd_maps);
	munmap(v, len);
	close(fd);
}

TEST_F(huge_policy, module_parameter_off)
{
	struct cowshare_region_info ri;
	int par, fd, ret;
	char was = 'Y';

	SKIP_IF_NO_THP();
	par = open("/sys/module/cowshare/parameters/huge", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, par);
	ASSERT_EQ(1, pread(par, &was, 1, 0));
	ASSERT_EQ(1, pwrite(par, "N", 1, 0));
	/* Nothing that can abort the test before the parameter is back. */
	fd = cowshare_create(pmd_size(), COWSHARE_CLOEXEC);
	ret = fd < 0 ? -1 : huge_fill(fd, pmd_size());
	EXPECT_EQ(1, pwrite(par, &was, 1, 0));
	close(par);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ret);
	region_info(_metadata, fd, &ri);
	EXPECT_EQ(0, ri.huge_folios);
	EXPECT_TRUE(ri.region_flags & COWSHARE_REGION_NO_HUGE);
	close(fd);
}

TEST_HARNESS_MAIN
