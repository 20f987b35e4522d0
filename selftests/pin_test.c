// SPDX-License-Identifier: GPL-2.0
/*
 * Real pins of view pages, through the kernel's gup_test debugfs file
 * (CONFIG_GUP_TEST: `make check-debug`'s kernel has it, Debian's do not,
 * where every test here is a SKIP saying so), as the kernel's
 * tools/testing/selftests/mm/cow.c and gup_longterm.c pin pages.
 *
 * What must hold: a pin of a page the view owns (its exclusive copy) stays
 * coherent with the view, across fork (the side holding the pin keeps the
 * page, the child gets a copy, as for anonymous memory), snapshot, reset,
 * munmap and exit, and leaks nothing; a read-only long-term pin of a page
 * the view does not own (a base page, a layer page, the zero page, a copy
 * shared after fork) keeps that page, so the view's later write is not seen
 * through the pin (the documented limit, docs/faq.md); a writable long-term
 * pin of a view is refused on 6.12.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

/* The kernel's mm/gup_test.h (a debugfs interface, not a uapi header). */
#define GUP_TEST_MAX_PAGES_TO_DUMP	8
struct gup_test {
	uint64_t get_delta_usec;
	uint64_t put_delta_usec;
	uint64_t addr;
	uint64_t size;
	uint32_t nr_pages_per_call;
	uint32_t gup_flags;
	uint32_t test_flags;
	uint32_t which_pages[GUP_TEST_MAX_PAGES_TO_DUMP];
};

struct pin_longterm_test {
	uint64_t addr;
	uint64_t size;
	uint32_t flags;
};

#define GUP_FAST_BENCHMARK	_IOWR('g', 1, struct gup_test)
#define PIN_FAST_BENCHMARK	_IOWR('g', 2, struct gup_test)
#define GUP_BASIC_TEST		_IOWR('g', 4, struct gup_test)
#define PIN_BASIC_TEST		_IOWR('g', 5, struct gup_test)
#define PIN_LONGTERM_TEST_START	_IOW('g', 7, struct pin_longterm_test)
#define PIN_LONGTERM_TEST_STOP	_IO('g', 8)
#define PIN_LONGTERM_TEST_READ	_IOW('g', 9, uint64_t)
#define PIN_LONGTERM_TEST_FLAG_USE_WRITE	1
#define PIN_LONGTERM_TEST_FLAG_USE_FAST		2
#define GUP_FOLL_WRITE		0x01	/* FOLL_WRITE, as gup_test passes it on */

#define GUP_TEST_FILE	"/sys/kernel/debug/gup_test"

FIXTURE(pin)
{
	struct cs_env env;
	int gup;
	int region;
	char *v;
	size_t len;
	unsigned char *buf;
};

FIXTURE_VARIANT(pin)
{
	bool fast;		/* GUP-fast rather than GUP */
};

FIXTURE_VARIANT_ADD(pin, gup) { .fast = false };
FIXTURE_VARIANT_ADD(pin, gup_fast) { .fast = true };

FIXTURE_SETUP(pin)
{
	env_setup(_metadata, &self->env);
	self->gup = open(GUP_TEST_FILE, O_RDWR | O_CLOEXEC);
	if (self->gup < 0)
		SKIP(return, "no %s: this kernel has no CONFIG_GUP_TEST (Debian's have none; "
		     "make check-debug's kernel has it)", GUP_TEST_FILE);
	self->len = 4 * psize();
	self->region = new_region(_metadata, self->len);
	self->v = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
	self->buf = malloc(self->len);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(pin)
{
	if (self->gup < 0)
		return;
	ioctl(self->gup, PIN_LONGTERM_TEST_STOP);
	close(self->gup);
	free(self->buf);
	munmap(self->v, self->len);
	close(self->region);
	env_teardown(_metadata, &self->env);
}

static int pin_longterm(int gup, void *addr, size_t len, bool fast, bool write)
{
	struct pin_longterm_test args = {
		.addr = (uintptr_t)addr,
		.size = len,
		.flags = (fast ? PIN_LONGTERM_TEST_FLAG_USE_FAST : 0) |
			 (write ? PIN_LONGTERM_TEST_FLAG_USE_WRITE : 0),
	};

	return ioctl(gup, PIN_LONGTERM_TEST_START, &args) ? -errno : 0;
}

/* The pinned pages' content, as the pin holder sees it. */
static void pin_read(struct __test_metadata *_metadata, int gup, void *buf)
{
	uint64_t to = (uintptr_t)buf;

	ASSERT_EQ(0, ioctl(gup, PIN_LONGTERM_TEST_READ, &to));
}

static void unpin(struct __test_metadata *_metadata, int gup)
{
	ASSERT_EQ(0, ioctl(gup, PIN_LONGTERM_TEST_STOP));
}

/* A short-term pin (or reference) of [addr, addr + len), released at once. */
static int pin_short(int gup, void *addr, size_t len, bool fast, bool pin, bool write)
{
	struct gup_test g = {
		.addr = (uintptr_t)addr,
		.size = len,
		.nr_pages_per_call = 1,
		.gup_flags = write ? GUP_FOLL_WRITE : 0,
	};
	unsigned long cmd = pin ? (fast ? PIN_FAST_BENCHMARK : PIN_BASIC_TEST)
				: (fast ? GUP_FAST_BENCHMARK : GUP_BASIC_TEST);

	return ioctl(gup, cmd, &g) ? -errno : 0;
}

static uint64_t cow_faults(struct __test_metadata *_metadata, int region, void *addr)
{
	struct cowshare_view_info vi;

	view_info(_metadata, region, addr, &vi);
	return vi.cow_faults;
}

/* A pin of the view's own copy sees the view's later writes: one page. */
TEST_F(pin, ro_longterm_of_copy_is_coherent)
{
	memset(self->v, 'c', psize());
	ASSERT_EQ(0, pin_longterm(self->gup, self->v, psize(), variant->fast, false));
	memset(self->v, 'd', psize());
	pin_read(_metadata, self->gup, self->buf);
	EXPECT_TRUE(all_bytes(self->buf, psize(), 'd'));
	unpin(_metadata, self->gup);
}

/*
 * The documented limit: a read-only long-term pin of a page the view does
 * not own keeps that page. The view's write copies it; the pin holder
 * still reads the old page. Base page, zero page (a hole of a sealed or
 * unsealed region), a snapshot layer's page, a copy shared after fork.
 */
TEST_F(pin, ro_longterm_of_base_keeps_the_base)
{
	size_t p = psize();

	base_fill(_metadata, self->region, 0, 'b');
	(void)*(volatile char *)self->v;			/* the base page, mapped */
	ASSERT_EQ(0, pin_longterm(self->gup, self->v, 2 * p, variant->fast, false));
	memset(self->v, 'w', p);				/* page 0: a base page */
	memset(self->v + p, 'z', p);				/* page 1: a hole */
	pin_read(_metadata, self->gup, self->buf);
	EXPECT_TRUE(all_bytes(self->buf, p, 'b')) TH_LOG("the pin should keep the base page");
	EXPECT_TRUE(all_bytes(self->buf + p, p, 0)) TH_LOG("the pin should keep the zero page");
	EXPECT_TRUE(all_bytes(self->v, p, 'w'));
	EXPECT_TRUE(all_bytes(self->v + p, p, 'z'));
	EXPECT_EQ('b', base_byte(_metadata, self->region, 0));
	unpin(_metadata, self->gup);
}

TEST_F(pin, ro_longterm_of_layer_page_keeps_it)
{
	int snap;
	char *sv;

	memset(self->v, 's', psize());
	snap = cowshare_snapshot(self->region, self->v, self->len, COWSHARE_CLOEXEC);
	ASSERT_LE(0, snap);
	sv = map_view(_metadata, snap, self->len, PROT_READ | PROT_WRITE, 0);
	(void)*(volatile char *)sv;
	ASSERT_EQ(0, pin_longterm(self->gup, sv, psize(), variant->fast, false));
	memset(sv, 'w', psize());
	pin_read(_metadata, self->gup, self->buf);
	EXPECT_TRUE(all_bytes(self->buf, psize(), 's'));
	EXPECT_TRUE(all_bytes(sv, psize(), 'w'));
	EXPECT_EQ('s', base_byte(_metadata, snap, 0));
	unpin(_metadata, self->gup);
	EXPECT_EQ(0, munmap(sv, self->len));
	EXPECT_EQ(0, close(snap));
}

/* 6.12 refuses writable long-term pins of file mappings with dirty tracking. */
TEST_F(pin, rw_longterm_refused)
{
	memset(self->v, 'c', psize());
	EXPECT_EQ(-EFAULT, pin_longterm(self->gup, self->v, psize(), variant->fast, true));
}

/*
 * The crash issue's finding 9: a copy pinned when the process forks stays
 * with the side that holds the pin (the parent), coherent with its writes,
 * and the child gets a copy of it at fork; a copy nobody pinned is shared.
 */
TEST_F(pin, fork_keeps_pinned_copy_with_the_pinner)
{
	struct cowshare_global_info before, after;
	uint64_t pinned_pfn, shared_pfn;
	struct sync_pipes s;
	pid_t pid;

	sync_init(_metadata, &s);
	memset(self->v, 'p', psize());
	memset(self->v + psize(), 'q', psize());
	pinned_pfn = pagemap_pfn(_metadata, self->v);
	shared_pfn = pagemap_pfn(_metadata, self->v + psize());
	ASSERT_EQ(0, pin_longterm(self->gup, self->v, psize(), variant->fast, false));
	global_info(_metadata, &before);
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		EXPECT_TRUE(all_bytes(self->v, psize(), 'p'));
		EXPECT_NE(pinned_pfn, pagemap_pfn(_metadata, self->v)) TH_LOG("child got the pinned page");
		EXPECT_EQ(shared_pfn, pagemap_pfn(_metadata, self->v + psize()));
		sync_post(s.to_parent[1]);
		if (!sync_wait(s.to_child[0]))
			_exit(3);
		EXPECT_TRUE(all_bytes(self->v, psize(), 'p')) TH_LOG("the parent's write reached the child");
		_exit(0);
	}
	ASSERT_TRUE(sync_wait(s.to_parent[0]));
	global_info(_metadata, &after);
	EXPECT_EQ(before.copy_pages + 1, after.copy_pages) TH_LOG("one copy: the pinned page's");
	/* The parent writes its pinned page in place: the pin sees it. */
	memset(self->v, 'P', psize());
	EXPECT_EQ(pinned_pfn, pagemap_pfn(_metadata, self->v));
	pin_read(_metadata, self->gup, self->buf);
	EXPECT_TRUE(all_bytes(self->buf, psize(), 'P'));
	ASSERT_TRUE(sync_post(s.to_child[1]));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	unpin(_metadata, self->gup);
	sync_close(&s);
}

/* A pin of a copy shared after fork keeps the shared page (the limit again). */
TEST_F(pin, ro_longterm_of_shared_copy_keeps_it)
{
	pid_t pid;

	memset(self->v, 'f', psize());
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		int gup = open(GUP_TEST_FILE, O_RDWR | O_CLOEXEC);
		unsigned char *b = malloc(psize());

		if (gup < 0 || !b || pin_longterm(gup, self->v, psize(), variant->fast, false))
			_exit(2);
		memset(self->v, 'c', psize());		/* the child copies */
		if (ioctl(gup, PIN_LONGTERM_TEST_READ, &(uint64_t){ (uintptr_t)b }))
			_exit(3);
		EXPECT_TRUE(all_bytes(b, psize(), 'f'));
		EXPECT_TRUE(all_bytes(self->v, psize(), 'c'));
		_exit(0);
	}
	/* The child holds gup_test's one long-term pin set: wait for it. */
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	EXPECT_TRUE(all_bytes(self->v, psize(), 'f'));
}

/*
 * A pin held across reset, snapshot and munmap keeps its page, which no
 * view shows any more (reset, munmap) or which the snapshot does not take
 * (it copies a pinned page): nothing changes under the pin, and once it
 * goes, every page is freed.
 */
TEST_F(pin, held_across_reset_snapshot_munmap)
{
	uint64_t pfn;
	int snap;
	char *sv;

	memset(self->v, 'r', 2 * psize());
	pfn = pagemap_pfn(_metadata, self->v);
	ASSERT_EQ(0, pin_longterm(self->gup, self->v, 2 * psize(), variant->fast, false));
	snap = cowshare_snapshot(self->region, self->v, self->len, COWSHARE_CLOEXEC);
	ASSERT_LE(0, snap);
	sv = map_view(_metadata, snap, self->len, PROT_READ, 0);
	EXPECT_TRUE(all_bytes(sv, psize(), 'r'));
	EXPECT_NE(pfn, touch_pfn(_metadata, sv)) TH_LOG("a pinned copy became a snapshot's base");
	/* The view keeps its pinned copy, written in place. */
	memset(self->v, 'R', psize());
	EXPECT_EQ(pfn, pagemap_pfn(_metadata, self->v));
	EXPECT_TRUE(all_bytes(sv, psize(), 'r'));
	EXPECT_EQ(2, cowshare_reset(self->region, self->v, self->len));
	EXPECT_TRUE(all_bytes(self->v, psize(), 0));
	pin_read(_metadata, self->gup, self->buf);
	EXPECT_TRUE(all_bytes(self->buf, psize(), 'R'));
	EXPECT_TRUE(all_bytes(self->buf + psize(), psize(), 'r'));
	EXPECT_EQ(0, munmap(sv, self->len));
	EXPECT_EQ(0, close(snap));
	EXPECT_EQ(0, munmap(self->v, self->len));
	self->v = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
	pin_read(_metadata, self->gup, self->buf);
	EXPECT_TRUE(all_bytes(self->buf, psize(), 'R'));
	unpin(_metadata, self->gup);
}

/* A process that exits holding pins of its copies leaks nothing. */
TEST_F(pin, held_at_exit_leaks_nothing)
{
	struct cowshare_global_info gi;
	pid_t pid;

	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		int gup = open(GUP_TEST_FILE, O_RDWR | O_CLOEXEC);

		memset(self->v, 'x', self->len);
		if (gup < 0 || pin_longterm(gup, self->v, self->len, variant->fast, false))
			_exit(2);
		_exit(0);			/* views, fds and pins go with it */
	}
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.copy_pages, gi.copy_pages);
}

/*
 * Short-term pins and references: a writable one of a base page faults
 * for write, so the view copies first and the pin gets the copy; a
 * read-only one copies nothing.
 */
TEST_F(pin, short_term_pins)
{
	uint64_t n = cow_faults(_metadata, self->region, self->v), base;

	base_fill(_metadata, self->region, 0, 'b');
	base = touch_pfn(_metadata, self->v);
	EXPECT_EQ(0, pin_short(self->gup, self->v, psize(), variant->fast, true, false));
	EXPECT_EQ(0, pin_short(self->gup, self->v, psize(), variant->fast, false, false));
	EXPECT_EQ(n, cow_faults(_metadata, self->region, self->v));
	EXPECT_EQ(base, pagemap_pfn(_metadata, self->v));
	EXPECT_EQ(0, pin_short(self->gup, self->v, psize(), variant->fast, true, true));
	EXPECT_EQ(n + 1, cow_faults(_metadata, self->region, self->v));
	EXPECT_NE(base, pagemap_pfn(_metadata, self->v));
	EXPECT_TRUE(all_bytes(self->v, psize(), 'b'));
	EXPECT_EQ(0, pin_short(self->gup, self->v + psize(), psize(), variant->fast, false, true));
	EXPECT_EQ(n + 2, cow_faults(_metadata, self->region, self->v));
}

TEST_HARNESS_MAIN
