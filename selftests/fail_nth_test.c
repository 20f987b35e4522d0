// SPDX-License-Identifier: GPL-2.0
/*
 * Every allocation an operation makes, failed one at a time, in the style
 * of the kernel's tools/testing/selftests/iommu/iommufd_fail_nth.c: for
 * nth = 1, 2, 3, ... /proc/self/task/TID/fail-nth makes the nth failable
 * allocation of the operation fail (slab and page allocator, sleeping ones
 * included), until the operation runs without meeting an injected failure.
 * Each time the operation must either succeed or fail with a clean errno,
 * leave what it was applied to as it was (content checked), leave no kernel
 * report (vm-run rejects any), and, once its objects are closed, leave the
 * module's counters where they were (and kmemleak, scanned by check-debug,
 * empty).
 *
 * Needs CONFIG_FAULT_INJECTION_DEBUG_FS with FAILSLAB and FAIL_PAGE_ALLOC
 * (make check-debug's kernel); a SKIP saying so elsewhere.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define NTH_LIMIT	4000	/* more would be a loop, not an operation */
#define FN_PAGES	8

static int fail_nth_fd = -1;

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The kernel writes a thread's rseq area on its way back to user space,
 * and turns a failed write into SIGSEGV: an armed failure that outlives a
 * fork() (whose parent's pages are then write-protected) can land there.
 * glibc registered it; no test here needs it.
 */
static void rseq_unregister(void)
{
#if __has_include(<sys/rseq.h>) && defined(RSEQ_SIG)
	if (__rseq_size)
		syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset,
			__rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
#endif
}

/* Make every allocation injectable, quietly; open this task's fail-nth. */
static bool fail_nth_setup(void)
{
	char path[64];

	if (fail_nth_fd >= 0)
		return true;
	rseq_unregister();
	mkdir("/sys/kernel/debug", 0755);
	if (access("/sys/kernel/debug/failslab", F_OK))
		return false;
	if (write_str("/sys/kernel/debug/failslab/ignore-gfp-wait", "N") ||
	    write_str("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N") ||
	    write_str("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N") ||
	    write_str("/sys/kernel/debug/fail_page_alloc/min-order", "0"))
		return false;
	write_str("/sys/kernel/debug/failslab/verbose", "0");
	write_str("/sys/kernel/debug/fail_page_alloc/verbose", "0");
	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth", (long)syscall(SYS_gettid));
	fail_nth_fd = open(path, O_RDWR | O_CLOEXEC);
	return fail_nth_fd >= 0;
}

static void fail_nth_on(unsigned int nth)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", nth);

	if (pwrite(fail_nth_fd, buf, (size_t)len, 0) != len)
		abort();
}

/*
 * Off again; whether the failure was injected (the count reached zero)
 * rather than the operation ending before its nth allocation.
 */
static bool fail_nth_off(void)
{
	char buf[16] = "";
	ssize_t n;

	n = pread(fail_nth_fd, buf, sizeof(buf) - 1, 0);
	/* Turning it off can itself be the injected failure: try again. */
	while (pwrite(fail_nth_fd, "0", 1, 0) != 1)
		;
	return n <= 0 || atoi(buf) == 0;
}

FIXTURE(nth)
{
	struct cs_env env;
	int region;
	char *v;
	size_t len;
};

/*
 * Map stack now: growing it while a failure is armed takes an allocation
 * (the stack's anon_vma) whose failure the kernel answers with SIGSEGV.
 */
static void __attribute__((noinline)) prefault_stack(void)
{
	volatile char pad[256 << 10];

	memset((char *)pad, 0, sizeof(pad));
}

FIXTURE_SETUP(nth)
{
	prefault_stack();
	if (!fail_nth_setup())
		SKIP(return, "no fault injection (CONFIG_FAULT_INJECTION_DEBUG_FS, FAILSLAB, "
		     "FAIL_PAGE_ALLOC: make check-debug's kernel has them)");
	env_setup(_metadata, &self->env);
	self->len = FN_PAGES * psize();
	self->region = -1;
	self->v = NULL;
}

FIXTURE_TEARDOWN(nth)
{
	if (fail_nth_fd < 0)
		return;
	if (self->v)
		munmap(self->v, self->len);
	if (self->region >= 0)
		close(self->region);
	env_teardown(_metadata, &self->env);
}

/* A region of FN_PAGES, each page its index + 1 in its base, mapped RW. */
static void nth_region(struct __test_metadata *_metadata, FIXTURE_DATA(nth) *self)
{
	size_t p;

	self->region = new_region(_metadata, self->len);
	for (p = 0; p < FN_PAGES; p++)
		base_fill(_metadata, self->region, p, (int)p + 1);
	self->v = map_view(_metadata, self->region, self->len, PROT_READ | PROT_WRITE, 0);
}

/* Page p of the view holds @c everywhere. */
static bool nth_page_is(FIXTURE_DATA(nth) *self, size_t p, int c)
{
	return all_bytes(self->v + p * psize(), psize(), c);
}

/* Back to a clean state between two injections: what the fixture made goes. */
static void nth_reset(struct __test_metadata *_metadata, FIXTURE_DATA(nth) *self)
{
	struct cowshare_global_info now;

	if (self->v)
		EXPECT_EQ(0, munmap(self->v, self->len));
	if (self->region >= 0)
		EXPECT_EQ(0, close(self->region));
	self->v = NULL;
	self->region = -1;
	global_info(_metadata, &now);
	EXPECT_EQ(self->env.before.regions, now.regions);
	EXPECT_EQ(self->env.before.private_pages, now.private_pages);
	EXPECT_EQ(self->env.before.copy_pages, now.copy_pages);
	EXPECT_EQ(self->env.before.cache_pages, now.cache_pages);
	EXPECT_EQ(self->env.before.views, now.views);
}

static bool clean_errno(int err)
{
	return err == ENOMEM || err == EINTR || err == EAGAIN || err == EMFILE ||
	       err == ENFILE;
}

#define NTH_LOOP(nth, injected)							\
	for (nth = 1, injected = true; injected && nth < NTH_LIMIT; nth++)

/* What the sweep saw, for the log: how often the operation failed cleanly. */
struct nth_tally {
	unsigned int failed, succeeded;
	unsigned int other;		/* an outcome of the operation's own (t.what) */
	const char *what;
};

#define NTH_REPORT(nth, t)							\
	TH_LOG("%u allocations failed one at a time: %u clean errors, %u successes, %u %s", \
	       (nth) - 1, (t).failed, (t).succeeded, (t).other,			\
	       (t).what ? (t).what : "other outcomes")

TEST_F_TIMEOUT(nth, create, 1800)
{
	struct nth_tally t = { 0 };
	unsigned int nth;
	bool injected;
	int fd;

	NTH_LOOP(nth, injected) {
		fail_nth_on(nth);
		fd = cowshare_create(self->len, COWSHARE_CLOEXEC);
		injected = fail_nth_off();
		if (fd < 0) {
			EXPECT_TRUE(clean_errno(-fd)) TH_LOG("nth %u: %s", nth, strerror(-fd));
			t.failed++;
		} else {
			EXPECT_EQ(0, close(fd));
			t.succeeded++;
		}
		nth_reset(_metadata, self);
	}
	NTH_REPORT(nth, t);
	EXPECT_GT(NTH_LIMIT, nth);
}

TEST_F_TIMEOUT(nth, create_from_file, 1800)
{
	struct nth_tally t = { 0 };
	char path[] = "/tmp/nth.XXXXXX", buf[64];
	unsigned int nth;
	bool injected;
	int file, fd;

	file = mkstemp(path);
	ASSERT_LE(0, file);
	unlink(path);
	memset(buf, 'f', sizeof(buf));
	ASSERT_EQ((ssize_t)sizeof(buf), pwrite(file, buf, sizeof(buf), 3 * psize()));
	NTH_LOOP(nth, injected) {
		fail_nth_on(nth);
		fd = cowshare_create_from_file(file, 0, self->len,
					       COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE);
		injected = fail_nth_off();
		if (fd < 0) {
			EXPECT_TRUE(clean_errno(-fd)) TH_LOG("nth %u: %s", nth, strerror(-fd));
			t.failed++;
		} else {
			EXPECT_EQ('f', base_byte(_metadata, fd, (off_t)(3 * psize())));
			EXPECT_EQ(0, close(fd));
			t.succeeded++;
		}
		nth_reset(_metadata, self);
	}
	close(file);
	NTH_REPORT(nth, t);
	EXPECT_GT(NTH_LIMIT, nth);
}

TEST_F_TIMEOUT(nth, mmap, 1800)
{
	struct nth_tally t = { 0 };
	unsigned int nth;
	bool injected;
	char *v;

	NTH_LOOP(nth, injected) {
		self->region = new_region(_metadata, self->len);
		base_fill(_metadata, self->region, 1, 'm');
		fail_nth_on(nth);
		v = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED, self->region, 0);
		injected = fail_nth_off();
		if (v == MAP_FAILED) {
			EXPECT_TRUE(clean_errno(errno)) TH_LOG("nth %u: %s", nth, strerror(errno));
			t.failed++;
		} else {
			self->v = v;
			EXPECT_TRUE(nth_page_is(self, 1, 'm'));
			t.succeeded++;
		}
		nth_reset(_metadata, self);
	}
	NTH_REPORT(nth, t);
	EXPECT_GT(NTH_LIMIT, nth);
}

/* Faults retry after an injected failure (VM_FAULT_OOM): the access just works. */
TEST_F_TIMEOUT(nth, first_read_and_write, 1800)
{
	struct nth_tally t = { 0 };
	unsigned int nth;
	bool injected;
	char c;

	NTH_LOOP(nth, injected) {
		nth_region(_metadata, self);
		fail_nth_on(nth);
		c = *(volatile char *)(self->v + 2 * psize());
		*(volatile char *)(self->v + 3 * psize()) = 'w';
		*(volatile char *)(self->v + 5 * psize() + 9) = 'x';
		injected = fail_nth_off();
		EXPECT_EQ(3, c);
		EXPECT_EQ('w', self->v[3 * psize()]);
		EXPECT_EQ(4, self->v[3 * psize() + 1]);
		EXPECT_EQ('x', self->v[5 * psize() + 9]);
		EXPECT_EQ(6, self->v[5 * psize()]);
		EXPECT_EQ(4, base_byte(_metadata, self->region, (off_t)(3 * psize())));
		t.succeeded++;
		nth_reset(_metadata, self);
	}
	NTH_REPORT(nth, t);
	EXPECT_GT(NTH_LIMIT, nth);
}

/*
 * fork: fails cleanly, or the child sees the parent's view as it was, or
 * (fork could not duplicate the view) a view that raises SIGBUS on every
 * access; never wrong content, never a hang. The parent is untouched.
 */
TEST_F_TIMEOUT(nth, fork, 3600)
{
	struct nth_tally t = { .what = "children with a SIGBUS view" };
	unsigned int nth;
	bool injected;
	pid_t pid;

	NTH_LOOP(nth, injected) {
		nth_region(_metadata, self);
		memset(self->v, 'p', 2 * psize());
		fflush(stdout);
		fail_nth_on(nth);
		pid = fork();
		if (pid == 0) {
			size_t p, bus = 0;
			int sig;

			for (p = 0; p < FN_PAGES; p++) {
				sig = probe_access(self->v + p * psize(), false);
				if (sig == SIGBUS) {
					bus++;
					continue;
				}
				if (sig || !nth_page_is(self, p, p < 2 ? 'p' : (int)p + 1))
					_exit(10 + (int)p);
			}
			if (bus && bus != FN_PAGES)
				_exit(30);
			if (bus) {
				uint64_t bitmap[1];

				/* Nothing reports or keeps the content it lacks. */
				if (cowshare_snapshot(self->region, self->v, self->len, 0) != -EIO ||
				    cowshare_dirty(self->region, self->v, self->len, bitmap, 0) != -EIO ||
				    cowshare_reset(self->region, self->v, self->len) != -EIO)
					_exit(32);
				_exit(1);	/* the view fork could not duplicate */
			}
			if (!bus) {
				self->v[0] = 'c';
				if (self->v[0] != 'c' || self->v[1] != 'p')
					_exit(31);
			}
			_exit(0);
		}
		injected = fail_nth_off();
		if (pid < 0) {
			EXPECT_TRUE(clean_errno(errno)) TH_LOG("nth %u: %s", nth, strerror(errno));
			t.failed++;
		} else {
			int st = wait_child(_metadata, pid);

			EXPECT_TRUE(st == 0 || st == 1) TH_LOG("nth %u: child status %d", nth, st);
			if (st == 1)
				t.other++;
			else
				t.succeeded++;
		}
		EXPECT_TRUE(nth_page_is(self, 0, 'p'));
		EXPECT_TRUE(nth_page_is(self, 2, 3));
		self->v[1] = 'q';
		nth_reset(_metadata, self);
	}
	NTH_REPORT(nth, t);
	EXPECT_GT(NTH_LIMIT, nth);
}

/* snapshot: a new sealed region with the view's content, or a clean error. */
TEST_F_TIMEOUT(nth, snapshot, 1800)
{
	struct nth_tally t = { 0 };
	unsigned int nth;
	bool injected;
	int snap;

	NTH_LOOP(nth, injected) {
		nth_region(_metadata, self);
		memset(self->v + psize(), 's', 3 * psize());
		fail_nth_on(nth);
		snap = cowshare_snapshot(self->region, self->v, self->len, COWSHARE_CLOEXEC);
		injected = fail_nth_off();
		if (snap < 0) {
			EXPECT_TRUE(clean_errno(-snap)) TH_LOG("nth %u: %s", nth, strerror(-snap));
			t.failed++;
		} else {
			t.succeeded++;
			EXPECT_EQ(1, base_byte(_metadata, snap, 0));
			EXPECT_EQ('s', base_byte(_metadata, snap, (off_t)(2 * psize())));
			EXPECT_EQ(0, close(snap));
		}
		/* The view is as it was, and writes as before. */
		EXPECT_TRUE(nth_page_is(self, 2, 's'));
		EXPECT_TRUE(nth_page_is(self, 5, 6));
		memset(self->v + 2 * psize(), 'S', psize());
		EXPECT_TRUE(nth_page_is(self, 2, 'S'));
		nth_reset(_metadata, self);
	}
	NTH_REPORT(nth, t);
	EXPECT_GT(NTH_LIMIT, nth);
}

/* reset and dirty-reset: the copies go (and the view shows the base), or nothing does. */
TEST_F_TIMEOUT(nth, reset_and_dirty, 1800)
{
	struct nth_tally t = { 0 };
	uint64_t bitmap[1];
	unsigned int nth;
	bool injected;
	int n;

	NTH_LOOP(nth, injected) {
		nth_region(_metadata, self);
		memset(self->v, 'd', 4 * psize());
		fail_nth_on(nth);
		n = nth & 1 ? cowshare_reset(self->region, self->v, self->len) :
			      cowshare_dirty(self->region, self->v, self->len, bitmap,
					     COWSHARE_DIRTY_RESET);
		injected = fail_nth_off();
		if (n < 0) {
			EXPECT_TRUE(clean_errno(-n)) TH_LOG("nth %u: %s", nth, strerror(-n));
			EXPECT_TRUE(nth_page_is(self, 1, 'd'));
			t.failed++;
		} else {
			t.succeeded++;
			EXPECT_EQ(4, n);
			EXPECT_TRUE(nth_page_is(self, 1, 2));
		}
		nth_reset(_metadata, self);
	}
	NTH_REPORT(nth, t);
	EXPECT_GT(NTH_LIMIT, nth);
}

/*
 * An mremap whose unmap of the old range failed: both vmas map the moved
 * offsets of one view, in this process and in a fork child. A write
 * through one must show through the other (the other's ptes are zapped),
 * and never reach the other process.
 */
static int alias_check(struct __test_metadata *_metadata, FIXTURE_DATA(nth) *self, char *to)
{
	char *old = self->v + 5 * psize();	/* pages 5 and 6, at to too */
	pid_t pid;

	(void)*(volatile char *)old;		/* map page 5 at the old address */
	to[0] = 'w';
	if (old[0] != 'w')
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		(void)*(volatile char *)(old + psize());
		to[psize()] = 'c';
		_exit(old[psize()] == 'c' && to[0] == 'w' ? 0 : 1);
	}
	if (pid < 0 || wait_child(_metadata, pid))
		return 2;
	return to[psize()] == 'v' && old[psize()] == 'v' ? 0 : 3;
}

/* Splitting and moving a view: munmap of a middle page, mprotect, mremap. */
TEST_F_TIMEOUT(nth, split_and_move, 1800)
{
	struct nth_tally t = { .what = "moves that left an alias" };
	unsigned int nth;
	bool injected;
	char *dst, *to;
	int r1, r2;
	size_t p;

	NTH_LOOP(nth, injected) {
		nth_region(_metadata, self);
		memset(self->v, 'v', self->len);
		/* Far away: the move needs new page tables, which may fail too. */
		dst = mmap(self->v + (1UL << 39), 4 * psize(), PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, dst);
		fail_nth_on(nth);
		r1 = mprotect(self->v + psize(), psize(), PROT_READ);
		r2 = munmap(self->v + 3 * psize(), psize());
		/* The middle of a vma: unmapping the old range splits it, which may fail. */
		to = mremap(self->v + 5 * psize(), 2 * psize(), 2 * psize(),
			    MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		injected = fail_nth_off();
		EXPECT_TRUE(!r1 || clean_errno(errno));
		if (r1 || r2 || to == MAP_FAILED)
			t.failed++;
		else
			t.succeeded++;
		EXPECT_TRUE(nth_page_is(self, 0, 'v'));
		if (!r2)
			EXPECT_EQ(SIGSEGV, probe_access(self->v + 3 * psize(), false));
		if (to != MAP_FAILED) {
			EXPECT_TRUE(all_bytes(to, 2 * psize(), 'v'));
		} else {
			EXPECT_TRUE(nth_page_is(self, 5, 'v'));
		}
		/*
		 * No pte left, every page comes from what the view holds: a
		 * copy dropped by the close of a failed move's new vma would
		 * read as the base here.
		 */
		madvise(self->v, self->len, MADV_DONTNEED);	/* ENOMEM over page 3's hole */
		for (p = 0; p < FN_PAGES; p++) {
			if (p == 3 || (to != MAP_FAILED && (p == 5 || p == 6)))
				continue;
			EXPECT_TRUE(nth_page_is(self, p, 'v')) TH_LOG("nth %u page %zu", nth, p);
		}
		if (to != MAP_FAILED) {
			EXPECT_EQ(0, madvise(to, 2 * psize(), MADV_DONTNEED));
			EXPECT_TRUE(all_bytes(to, 2 * psize(), 'v')) TH_LOG("nth %u", nth);
			/* Moved, but the old range stayed: an alias of the view. */
			if (!probe_access(self->v + 5 * psize(), false)) {
				t.other++;
				EXPECT_EQ(0, alias_check(_metadata, self, to)) TH_LOG("nth %u", nth);
			}
		}
		/* Whichever holds the moved pages now goes. */
		munmap(dst, 4 * psize());
		nth_reset(_metadata, self);
	}
	NTH_REPORT(nth, t);
	EXPECT_GT(NTH_LIMIT, nth);
}

TEST_HARNESS_MAIN
