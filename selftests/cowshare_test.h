/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the cowshare selftests: page size, PFNs from
 * /proc/self/pagemap, global counter snapshots, parent/child sync over
 * pipes, probing an address for SIGSEGV/SIGBUS, and the fixture's
 * clean-up (unmap every view, reap children) before the counters are
 * compared with their values at setup.
 *
 * Include after "kselftest_harness.h": the helpers take _metadata so
 * that ASSERT_* and EXPECT_* work in them.
 */
#ifndef COWSHARE_TEST_H
#define COWSHARE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cowshare.h>
#include <cowshare.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

#define PM_PRESENT		(1ULL << 63)
#define PM_PFN_MASK		((1ULL << 55) - 1)

/* The guest's page size: never 4096 by assumption (16 KiB on arm64-16k). */
/* xorshift64*: small, fast, and the same on every libc (seeded runs replay). */
static inline uint64_t cs_xorshift(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ULL;
}

static inline size_t psize(void)
{
	static size_t size;

	if (!size)
		size = (size_t)sysconf(_SC_PAGESIZE);
	return size;
}

/*
 * PFN mapped at addr in this process, from /proc/self/pagemap (PFNs are
 * only shown to CAP_SYS_ADMIN: the tests run as root); 0 when nothing is
 * mapped there. Does not touch addr.
 */
static inline uint64_t pagemap_pfn(struct __test_metadata *_metadata,
				   const void *addr)
{
	uint64_t entry = 0;
	off_t off = (off_t)((uintptr_t)addr / psize()) * sizeof(entry);
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) {
		TH_LOG("open /proc/self/pagemap: %s", strerror(errno));
	}
	ASSERT_EQ(sizeof(entry), pread(fd, &entry, sizeof(entry), off));
	close(fd);
	if (!(entry & PM_PRESENT))
		return 0;
	ASSERT_NE(0, entry & PM_PFN_MASK) {
		TH_LOG("pagemap hides PFNs: not running as root?");
	}
	return entry & PM_PFN_MASK;
}

/* PFN at addr after reading a byte there (maps the page if it was not). */
static inline uint64_t touch_pfn(struct __test_metadata *_metadata,
				 const void *addr)
{
	(void)*(const volatile char *)addr;
	return pagemap_pfn(_metadata, addr);
}

static inline void global_info(struct __test_metadata *_metadata,
			       struct cowshare_global_info *info)
{
	int ret = cowshare_global_info(info);

	ASSERT_EQ(0, ret) {
		TH_LOG("COWSHARE_IOC_GLOBAL_INFO: %s", strerror(-ret));
	}
}

static inline void region_info(struct __test_metadata *_metadata, int region,
			       struct cowshare_region_info *info)
{
	int ret = cowshare_region_info(region, info);

	ASSERT_EQ(0, ret) {
		TH_LOG("COWSHARE_IOC_REGION_INFO: %s", strerror(-ret));
	}
}

static inline void view_info(struct __test_metadata *_metadata, int region,
			     const void *addr, struct cowshare_view_info *info)
{
	int ret = cowshare_view_info(region, addr, info);

	ASSERT_EQ(0, ret) {
		TH_LOG("COWSHARE_IOC_VIEW_INFO at %p: %s", addr, strerror(-ret));
	}
}

/* New region of length bytes; its fd. */
static inline int new_region(struct __test_metadata *_metadata, size_t length)
{
	int fd = cowshare_create(length, COWSHARE_CLOEXEC);

	ASSERT_LE(0, fd) {
		TH_LOG("cowshare_create(%zu): %s", length, strerror(-fd));
	}
	return fd;
}

/* MAP_SHARED view of the region; asserts success. */
static inline char *map_view(struct __test_metadata *_metadata, int region,
			     size_t length, int prot, off_t offset)
{
	char *p = mmap(NULL, length, prot, MAP_SHARED, region, offset);

	ASSERT_NE(MAP_FAILED, p) {
		TH_LOG("mmap(len %zu, prot %d, off %lld): %s", length, prot,
		       (long long)offset, strerror(errno));
	}
	return p;
}

/* Write and read the base (the region fd), asserting full transfers. */
static inline void base_write(struct __test_metadata *_metadata, int region,
			      const void *buf, size_t len, off_t off)
{
	ASSERT_EQ((ssize_t)len, pwrite(region, buf, len, off)) {
		TH_LOG("pwrite(%zu @ %lld): %s", len, (long long)off,
		       strerror(errno));
	}
}

static inline void base_read(struct __test_metadata *_metadata, int region,
			     void *buf, size_t len, off_t off)
{
	ASSERT_EQ((ssize_t)len, pread(region, buf, len, off)) {
		TH_LOG("pread(%zu @ %lld): %s", len, (long long)off,
		       strerror(errno));
	}
}

/* Fill one base page with a byte. */
static inline void base_fill(struct __test_metadata *_metadata, int region,
			     size_t page, int c)
{
	char *buf = malloc(psize());

	ASSERT_NE(NULL, buf);
	memset(buf, c, psize());
	base_write(_metadata, region, buf, psize(), (off_t)(page * psize()));
	free(buf);
}

/* The byte the base page holds at offset off (via pread). */
static inline int base_byte(struct __test_metadata *_metadata, int region,
			    off_t off)
{
	unsigned char c = 0;

	base_read(_metadata, region, &c, 1, off);
	return c;
}

/* Whether len bytes at p all equal c. */
static inline bool all_bytes(const void *p, size_t len, int c)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != (unsigned char)c)
			return false;
	return true;
}

/*
 * Parent/child sync: one pipe each way. sync_post() writes a byte,
 * sync_wait() reads one (false on EOF: the other side died).
 */
struct sync_pipes {
	int to_child[2];
	int to_parent[2];
};

static inline void sync_init(struct __test_metadata *_metadata,
			     struct sync_pipes *s)
{
	ASSERT_EQ(0, pipe2(s->to_child, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(s->to_parent, O_CLOEXEC));
}

static inline bool sync_post(int fd)
{
	char c = 'x';

	return write(fd, &c, 1) == 1;
}

static inline bool sync_wait(int fd)
{
	char c;

	return read(fd, &c, 1) == 1;
}

static inline void sync_close(struct sync_pipes *s)
{
	close(s->to_child[0]);
	close(s->to_child[1]);
	close(s->to_parent[0]);
	close(s->to_parent[1]);
}

/*
 * Children of a test check with EXPECT_* (the harness shares _metadata
 * with them, so a failure there fails the test) rather than ASSERT_* (its
 * longjmp would run the fixture's teardown in the child: only helpers'
 * preconditions assert there); they _exit(0),
 * or another code for a failure of their own plumbing. The parent expects
 * status 0, which also catches a child killed by a signal.
 */

/* Wait for a child; its exit status, or 128 + signal. */
static inline int wait_child(struct __test_metadata *_metadata, pid_t pid)
{
	int status;

	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/*
 * Access one byte at addr in this process; the signal it raised (SIGSEGV,
 * SIGBUS) or 0. The handler jumps back over the faulting instruction.
 */
static sigjmp_buf probe_env;
static volatile sig_atomic_t probe_signal;

static inline void probe_handler(int sig)
{
	probe_signal = sig;
	siglongjmp(probe_env, 1);
}

static inline int probe_access(void *addr, bool write)
{
	struct sigaction sa = { .sa_handler = probe_handler }, old_segv, old_bus;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	probe_signal = 0;
	if (!sigsetjmp(probe_env, 1)) {
		if (write)
			*(volatile char *)addr = 1;
		else
			(void)*(volatile char *)addr;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return probe_signal;
}

/* Bit i of a COWSHARE_IOC_DIRTY bitmap (word i / 64, bit i % 64). */
static inline bool dirty_bit(const uint64_t *bitmap, size_t i)
{
	return (bitmap[i / 64] >> (i % 64)) & 1;
}

/* A range ioctl (DIRTY, RESET, SNAPSHOT) with raw arguments: its result or -errno. */
static inline int range_raw(int fd, unsigned long cmd, uintptr_t addr,
			    uint64_t length, uint32_t flags, uint64_t bitmap)
{
	struct cowshare_range r = {
		.size = sizeof(r), .flags = flags, .addr = addr,
		.length = length, .bitmap = bitmap,
	};
	int ret = ioctl(fd, cmd, &r);

	return ret < 0 ? -errno : ret;
}

/* Page @i of the mapping at @v. */
#define VP(v, i)	((v) + (size_t)(i) * psize())

/* The id of a region (COWSHARE_IOC_REGION_INFO). */
static inline uint64_t region_id(struct __test_metadata *_metadata, int region)
{
	struct cowshare_region_info ri;

	region_info(_metadata, region, &ri);
	return ri.id;
}

/*
 * PFN of base page idx of a region, seen through a fresh read-only
 * one-page view (a read maps the base page, never a copy).
 */
static inline uint64_t region_base_pfn(struct __test_metadata *_metadata,
				       int region, size_t idx)
{
	char *v = map_view(_metadata, region, psize(), PROT_READ,
			   (off_t)(idx * psize()));
	uint64_t pfn = touch_pfn(_metadata, v);

	EXPECT_EQ(0, munmap(v, psize()));
	EXPECT_NE(0, pfn);
	return pfn;
}

/*
 * Fixture clean-up shared by the test files. Tests record the children
 * they fork here, so that a failed assertion in the parent still reaps
 * them before the counters are compared.
 */
#define MAX_CHILDREN	16

struct cs_env {
	struct cowshare_global_info before;
	pid_t children[MAX_CHILDREN];
	unsigned int nr_children;
};

static inline void env_setup(struct __test_metadata *_metadata,
			     struct cs_env *env)
{
	psize();
	memset(env, 0, sizeof(*env));
	global_info(_metadata, &env->before);
	ASSERT_EQ(psize(), env->before.page_size);
}

/*
 * A fixture of tests that build their own regions: only the counters'
 * check around each test (env_setup(), env_teardown()).
 */
#define CS_ENV_FIXTURE(name)					\
	FIXTURE(name)						\
	{							\
		struct cs_env env;				\
	};							\
	FIXTURE_SETUP(name)					\
	{							\
		env_setup(_metadata, &self->env);		\
	}							\
	FIXTURE_TEARDOWN(name)					\
	{							\
		env_teardown(_metadata, &self->env);		\
	}

/* fork() and record the child; in the child, returns 0 as fork does. */
static inline pid_t env_fork(struct __test_metadata *_metadata,
			     struct cs_env *env)
{
	pid_t pid;

	ASSERT_GT(MAX_CHILDREN, env->nr_children);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid > 0)
		env->children[env->nr_children++] = pid;
	else
		env->nr_children = 0;
	return pid;
}

/* Wait for a child env_fork() made; its status as wait_child(). */
static inline int env_wait(struct __test_metadata *_metadata,
			   struct cs_env *env, pid_t pid)
{
	unsigned int i;

	for (i = 0; i < env->nr_children; i++) {
		if (env->children[i] == pid) {
			env->children[i] = env->children[--env->nr_children];
			break;
		}
	}
	return wait_child(_metadata, pid);
}

/*
 * Whether a /proc/self/maps line is a view: its file is on the cowshare
 * pseudo filesystem, named "cowshare-region" or "cowshare-view" (the
 * filesystem is mounted only while regions exist, so its st_dev is no
 * stable mark).
 */
static inline bool maps_line_is_view(const char *line)
{
	return strstr(line, " /cowshare-region") || strstr(line, " /cowshare-view");
}

/* munmap every view in this process. */
static inline void unmap_all_views(struct __test_metadata *_metadata)
{
	unsigned long ranges[64][2];
	unsigned long start, end;
	unsigned int n = 0, i;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/maps", "re");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f) && n < ARRAY_SIZE(ranges)) {
		if (!maps_line_is_view(line) || sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		ranges[n][0] = start;
		ranges[n][1] = end;
		n++;
	}
	fclose(f);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0, munmap((void *)ranges[i][0],
				    ranges[i][1] - ranges[i][0]));
}

/*
 * Teardown: kill and reap recorded children, unmap all views; the caller
 * has closed its fds. Then the global counters must be back where they
 * were at setup.
 */
static inline void env_teardown(struct __test_metadata *_metadata,
				struct cs_env *env)
{
	struct cowshare_global_info now;
	unsigned int i;

	for (i = 0; i < env->nr_children; i++) {
		kill(env->children[i], SIGKILL);
		waitpid(env->children[i], NULL, 0);
	}
	env->nr_children = 0;
	unmap_all_views(_metadata);
	global_info(_metadata, &now);
	EXPECT_EQ(env->before.regions, now.regions);
	EXPECT_EQ(env->before.base_pages, now.base_pages);
	EXPECT_EQ(env->before.private_pages, now.private_pages);
	EXPECT_EQ(env->before.views, now.views);
	EXPECT_EQ(env->before.copy_pages, now.copy_pages);
	EXPECT_EQ(env->before.cache_pages, now.cache_pages);
	EXPECT_EQ(env->before.meta_bytes, now.meta_bytes);
	EXPECT_EQ(env->before.huge_folios, now.huge_folios);
}

/*
 * The region_flags a new region gets from its kernel and module, not from
 * its creator: COWSHARE_REGION_NO_HUGE where the kernel has no THP
 * (PREEMPT_RT) or the huge parameter is off.
 */
static inline uint64_t default_region_flags(void)
{
	char huge = 'Y';
	int fd;

	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK))
		return COWSHARE_REGION_NO_HUGE;
	fd = open("/sys/module/cowshare/parameters/huge", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &huge, 1) != 1)
			huge = 'Y';
		close(fd);
	}
	return huge == 'N' ? COWSHARE_REGION_NO_HUGE : 0;
}

/*
 * Whether the kernel is a KASAN one (make check-debug's): there a fault,
 * an allocation or a vma split costs ten times what it does elsewhere,
 * and tests that only measure scale (thousands of vmas, rounds of a race)
 * run fewer, so that they end within their timeouts under emulation.
 */
static inline bool kernel_has_kasan(void)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[256];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, " __asan_load8\n") || strstr(line, " __asan_load8\t");
	fclose(f);
	return found;
}

#endif /* COWSHARE_TEST_H */
