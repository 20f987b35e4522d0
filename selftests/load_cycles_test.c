// SPDX-License-Identifier: GPL-2.0
/*
 * Load/unload cycles: unload the module, then 100 times load it, create a
 * region, map it, write, close, unload; memory (free pages, Slab) must come
 * back within noise, in each of two such batches: a leak grows with every
 * cycle and shows in both, a one-off allocation by the rest of the system
 * shows in one. The module is loaded again at the end, as found.
 *
 * COWSHARE_KO: the module file (default /lib/cowshare.ko, where the test
 * VMs keep it).
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define CYCLES	100

static long meminfo_kb(const char *key)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atol(line + strlen(key));
	fclose(f);
	return v;
}

/*
 * Free memory, pages on the per-CPU free lists included: MemFree counts the
 * buddy allocator only, and the per-CPU lists (whose high mark 6.12 tunes
 * up to several MB while a test frees pages in bulk) move pages in and out
 * of it without anything being allocated.
 */
static long free_kb(void)
{
	long pcp_pages = 0, count;
	char line[256];
	FILE *f = fopen("/proc/zoneinfo", "re");

	if (!f)
		return meminfo_kb("MemFree:");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &count) == 1)
			pcp_pages += count;
	fclose(f);
	return meminfo_kb("MemFree:") + pcp_pages * (long)(psize() / 1024);
}

static int load(const char *ko)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = (int)syscall(SYS_finit_module, fd, "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

static int unload(void)
{
	return syscall(SYS_delete_module, "cowshare", O_NONBLOCK) ? -errno : 0;
}

static int round_trip(void)
{
	int region = cowshare_create(16 * psize(), COWSHARE_CLOEXEC);
	char *v;

	if (region < 0)
		return region;
	v = mmap(NULL, 16 * psize(), PROT_READ | PROT_WRITE, MAP_SHARED, region, 0);
	if (v == MAP_FAILED) {
		close(region);
		return -errno;
	}
	for (size_t p = 0; p < 16; p += 2)
		v[p * psize()] = (char)p;
	munmap(v, 16 * psize());
	close(region);
	return 0;
}

/*
 * Whatever happened, leave the module loaded: the tests after this one
 * need it, and the runner's final rmmod expects it.
 */
FIXTURE(cycles) {
	const char *ko;
};

FIXTURE_SETUP(cycles)
{
	self->ko = getenv("COWSHARE_KO") ?: "/lib/cowshare.ko";
}

FIXTURE_TEARDOWN(cycles)
{
	if (access(COWSHARE_DEVICE, F_OK) && !access(self->ko, R_OK))
		load(self->ko);
}

/*
 * The bounds: KASAN (the debug kernel) keeps freed slab objects in a
 * quarantine of up to 1/32 of memory, and every module load at a new
 * address records new allocation stacks in its stack depot, which is never
 * freed: measured under check-debug, 100 load cycles of a module that does
 * nothing add ~11 MB of quarantined slab (drained by a cache shrink) and
 * 2-3 MB of stack depot (not drainable). Without KASAN, 100 cycles moved
 * MemFree by -5..+12 MB (the per-CPU lists), free memory as free_kb()
 * counts it by about 0.1 MB.
 */

/* Shrink every slab cache: under KASAN that also empties its quarantine. */
static void shrink_slabs(void)
{
	DIR *d = opendir("/sys/kernel/slab");
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", e->d_name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = write(fd, "1", 1);	/* a cache that cannot shrink: fine */
		(void)n;
		close(fd);
	}
	closedir(d);
}

/*
 * Let what earlier tests freed reach the free lists (RCU callbacks, the
 * debug kernel's quarantine, lazily freed vmalloc areas), page cache
 * dropped, until free memory holds still (within 256 kB over 200 ms), so that
 * the comparison sees this test's memory only.
 */
static void settle(void)
{
	long prev = -1, cur;
	int fd, i;

	sync();
	shrink_slabs();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "3", 1) != 1)
			perror("drop_caches");
		close(fd);
	}
	for (i = 0; i < 50; i++) {
		usleep(200 * 1000);
		cur = free_kb();
		if (prev >= 0 && labs(cur - prev) < 256)
			break;
		prev = cur;
	}
}

static long least(long a, long b)
{
	return a < b ? a : b;
}

/*
 * One batch of CYCLES load, round trip, unload: what free memory and Slab
 * lost over it. Returns 0, or the first failure as -errno with its cycle
 * and step in *what.
 */
static int cycle_batch(const char *ko, long *free_lost, long *slab_grown,
		       int *cycle, const char **what)
{
	long free0, slab0;
	int ret = 0;

	settle();
	free0 = free_kb();
	slab0 = meminfo_kb("Slab:");
	for (*cycle = 0; *cycle < CYCLES; (*cycle)++) {
		*what = "load";
		ret = load(ko);
		if (ret)
			return ret;
		*what = "round trip";
		ret = round_trip();
		if (!ret) {
			*what = "unload";
			ret = unload();
		} else {
			unload();
		}
		if (ret)
			return ret;
	}
	settle();
	*free_lost = free0 - free_kb();
	*slab_grown = meminfo_kb("Slab:") - slab0;
	return 0;
}

/* Minutes under a KASAN kernel in emulation. */
TEST_F_TIMEOUT(cycles, load_unload_cycles, 2400)
{
	long free_lost[2], slab_grown[2];
	const char *ko = self->ko, *what;
	int i, ret, cycle;
	bool kasan;

	if (access(ko, R_OK))
		SKIP(return, "no module file %s (set COWSHARE_KO)", ko);
	ASSERT_EQ(0, unload()) TH_LOG("the module must be loaded and unused first");

	/* Warm up (module area page tables, caches), then measure. */
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, load(ko));
		ASSERT_EQ(0, round_trip());
		ASSERT_EQ(0, unload());
	}
	kasan = kernel_has_kasan();
	for (i = 0; i < 2; i++) {
		ret = cycle_batch(ko, &free_lost[i], &slab_grown[i], &cycle, &what);
		ASSERT_EQ(0, ret) TH_LOG("batch %d, cycle %d: %s: %s", i, cycle,
					 what, strerror(-ret));
		TH_LOG("batch %d, %d cycles: free memory %+ld kB, Slab %+ld kB%s",
		       i, CYCLES, -free_lost[i], slab_grown[i],
		       kasan ? " (KASAN: its stack depot grows by every load)" : "");
	}
	/*
	 * 100 leaked pages or objects a batch would show in both batches;
	 * page-cache and per-CPU noise does not reach it in both. Under KASAN,
	 * a leak of 20 pages a cycle would (and kmemleak, which check-debug
	 * runs after the tests, sees any object).
	 */
	EXPECT_GT(2048, least(slab_grown[0], slab_grown[1]));
	EXPECT_GT(kasan ? 8192 : 4096, least(free_lost[0], free_lost[1]));

	ASSERT_EQ(0, load(ko));
}

/* While any region lives (through an fd or a view), unloading is refused. */
TEST_F_TIMEOUT(cycles, unload_refused_while_a_region_lives, 300)
{
	const char *ko = self->ko;
	int region;
	char *v;

	if (access(ko, R_OK))
		SKIP(return, "no module file %s (set COWSHARE_KO)", ko);
	region = cowshare_create(psize(), COWSHARE_CLOEXEC);
	ASSERT_LE(0, region);
	v = mmap(NULL, psize(), PROT_READ, MAP_SHARED, region, 0);
	ASSERT_NE(MAP_FAILED, v);

	EXPECT_EQ(-EWOULDBLOCK, unload()) TH_LOG("unloaded under an open region fd");
	close(region);
	EXPECT_EQ(-EWOULDBLOCK, unload()) TH_LOG("unloaded under a live view");
	munmap(v, psize());
	/* The last reference goes with the view's file, released lazily. */
	for (int i = 0; i < 100 && unload(); i++)
		usleep(10000);
	EXPECT_EQ(-ENOENT, unload());
	ASSERT_EQ(0, load(ko));
}

struct unloader {
	int stop;
	int unloaded;
};

static void *unload_spin(void *arg)
{
	struct unloader *u = arg;

	while (!__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE)) {
		if (!unload()) {
			u->unloaded = 1;
			return NULL;
		}
	}
	return NULL;
}

/*
 * The last close of a large region frees its base pages in the module's
 * eviction code, after the file has dropped its own module reference: an
 * rmmod racing it must fail (EBUSY) until that code is done, never unload
 * the module under it (which ran freed module text).
 */
TEST_F_TIMEOUT(cycles, unload_racing_last_close, 900)
{
	size_t len = 64UL << 20, done;
	const char *ko = self->ko;
	struct unloader u;
	pthread_t t;
	char *buf;
	int round, region;

	if (access(ko, R_OK))
		SKIP(return, "no module file %s (set COWSHARE_KO)", ko);
	buf = malloc(1 << 20);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x5a, 1 << 20);
	for (round = 0; round < 4; round++) {
		region = cowshare_create(len, COWSHARE_CLOEXEC);
		ASSERT_LE(0, region);
		for (done = 0; done < len; done += 1 << 20)
			ASSERT_EQ(1 << 20, pwrite(region, buf, 1 << 20, (off_t)done));
		memset(&u, 0, sizeof(u));
		ASSERT_EQ(0, pthread_create(&t, NULL, unload_spin, &u));
		usleep(1000);
		EXPECT_EQ(0, close(region));
		/* Once the close returned, the unload goes through. */
		for (int i = 0; i < 500 && !__atomic_load_n(&u.unloaded, __ATOMIC_ACQUIRE); i++)
			usleep(10000);
		__atomic_store_n(&u.stop, 1, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		EXPECT_TRUE(u.unloaded) TH_LOG("round %d: no unload after the last close", round);
		if (u.unloaded)
			ASSERT_EQ(0, load(ko));
	}
	free(buf);
}

TEST_HARNESS_MAIN
