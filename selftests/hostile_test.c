// SPDX-License-Identifier: GPL-2.0
/*
 * What a hostile local user tried (the device is mode 0666), each a
 * regression test of a kernel crash or a lost write found by review:
 * chains of snapshots freed at once, a read and a write racing on one page
 * after a snapshot, a snapshot changed by a write after it was taken, a
 * snapshot taking a page something outside the view still holds, and a
 * file image shared under a key that no longer matches its content.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

FIXTURE(hostile)
{
	struct cs_env env;
};

FIXTURE_SETUP(hostile)
{
	env_setup(_metadata, &self->env);
}

FIXTURE_TEARDOWN(hostile)
{
	env_teardown(_metadata, &self->env);
}

#define CHAIN_LAYERS	300
#define CHAIN_PAGES	16

/*
 * A snapshot of a view of a snapshot of ..., 300 deep, the older fds
 * closed as it goes: freeing it all at once must not recurse (it overflowed
 * the kernel stack at about 120 layers), and faults must not walk a chain:
 * a snapshot of a layer's view is one layer over the root, holding every
 * page any layer wrote.
 */
TEST_F(hostile, snapshot_chain_is_flat)
{
	struct cowshare_region_info ri;
	int fd = new_region(_metadata, CHAIN_PAGES * psize()), snap, i;
	unsigned char want[CHAIN_PAGES] = { 0 };
	size_t p, written = 0;
	char *v;

	for (i = 0; i < CHAIN_LAYERS; i++) {
		p = (size_t)i % CHAIN_PAGES;
		v = map_view(_metadata, fd, CHAIN_PAGES * psize(), PROT_READ | PROT_WRITE, 0);
		memset(v + p * psize(), 1 + i % 250, psize());
		if (!want[p])
			written++;
		want[p] = (unsigned char)(1 + i % 250);
		snap = cowshare_snapshot(fd, v, CHAIN_PAGES * psize(), COWSHARE_CLOEXEC);
		ASSERT_LE(0, snap) TH_LOG("layer %d: %s", i, strerror(-snap));
		EXPECT_EQ(0, munmap(v, CHAIN_PAGES * psize()));
		EXPECT_EQ(0, close(fd));
		fd = snap;
	}
	region_info(_metadata, fd, &ri);
	EXPECT_EQ(written, ri.base_pages) TH_LOG("the last layer holds every page written");
	v = map_view(_metadata, fd, CHAIN_PAGES * psize(), PROT_READ, 0);
	for (p = 0; p < CHAIN_PAGES; p++)
		EXPECT_TRUE(all_bytes(v + p * psize(), psize(), want[p])) TH_LOG("page %zu", p);
	EXPECT_EQ(0, munmap(v, CHAIN_PAGES * psize()));
	EXPECT_EQ(0, close(fd));
}

#define RACE_PAGES	256
#define RACE_ROUNDS	4

struct rw_race {
	pthread_barrier_t go;
	char *view;
	size_t page;
	int stop;
};

static void *race_reader(void *arg)
{
	struct rw_race *r = arg;

	for (;;) {
		pthread_barrier_wait(&r->go);
		if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
			return NULL;
		(void)*(volatile char *)(r->view + r->page * psize() + 64);
		pthread_barrier_wait(&r->go);
	}
}

/*
 * After a snapshot, the view's copies are the snapshot's base too and
 * their ptes are gone. A read and a write of one such page at once must
 * leave the write in the view: the view's content is never guessed from
 * what is mapped (30 of 512 writes were lost when it was).
 */
TEST_F(hostile, read_write_race_after_snapshot)
{
	size_t len = RACE_PAGES * psize(), p;
	struct rw_race r = { .stop = 0 };
	int fd = new_region(_metadata, len), snap, round;
	pthread_t reader;
	char *v;

	v = map_view(_metadata, fd, len, PROT_READ | PROT_WRITE, 0);
	r.view = v;
	ASSERT_EQ(0, pthread_barrier_init(&r.go, NULL, 2));
	ASSERT_EQ(0, pthread_create(&reader, NULL, race_reader, &r));
	for (round = 0; round < RACE_ROUNDS; round++) {
		memset(v, 'a' + round, len);
		snap = cowshare_snapshot(fd, v, len, COWSHARE_CLOEXEC);
		ASSERT_LE(0, snap);
		for (p = 0; p < RACE_PAGES; p++) {
			r.page = p;
			pthread_barrier_wait(&r.go);
			*(volatile char *)(v + p * psize()) = 'W';
			pthread_barrier_wait(&r.go);
		}
		for (p = 0; p < RACE_PAGES; p++) {
			EXPECT_EQ('W', v[p * psize()]) TH_LOG("round %d page %zu: write lost", round, p);
			EXPECT_EQ('a' + round, v[p * psize() + 1]);
		}
		/* The snapshot kept what the view held when it was taken. */
		for (p = 0; p < RACE_PAGES; p++)
			EXPECT_EQ('a' + round, base_byte(_metadata, snap, (off_t)(p * psize())));
		EXPECT_EQ(0, close(snap));
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_barrier_wait(&r.go);
	pthread_join(reader, NULL);
	pthread_barrier_destroy(&r.go);
	EXPECT_EQ(0, munmap(v, len));
	EXPECT_EQ(0, close(fd));
}

/*
 * A sealed snapshot never changes: writes through the view after it (its
 * ptes were writable a moment before), through a split part of the view,
 * and through ptrace, all go into new copies of the view's. A second vma
 * aliasing the view's offsets (mremap(old_size = 0)), whose writable ptes
 * a snapshot missed, cannot be made at all.
 */
TEST_F(hostile, snapshot_stays_sealed)
{
	size_t len = 8 * psize(), p;
	int fd = new_region(_metadata, len), snap, mem;
	char *v, *sv, *alias, c = 'P';

	v = map_view(_metadata, fd, len, PROT_READ | PROT_WRITE, 0);
	memset(v, 's', len);
	errno = 0;
	alias = mremap(v, 0, 4 * psize(), MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, alias);
	EXPECT_EQ(EFAULT, errno);
	if (alias != MAP_FAILED)
		memset(alias, 's', 4 * psize());
	/* Two vmas of the view: the snapshot covers the first. */
	ASSERT_EQ(0, mprotect(v + 4 * psize(), 4 * psize(), PROT_READ | PROT_WRITE | PROT_EXEC));
	snap = cowshare_snapshot(fd, v, 4 * psize(), COWSHARE_CLOEXEC);
	ASSERT_LE(0, snap);
	memset(v, 'w', 4 * psize());
	if (alias != MAP_FAILED) {
		memset(alias, 'a', 4 * psize());
		munmap(alias, 4 * psize());
	}
	mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, mem);
	ASSERT_EQ(1, pwrite(mem, &c, 1, (off_t)(uintptr_t)(v + psize() + 5)));
	close(mem);
	sv = map_view(_metadata, snap, 4 * psize(), PROT_READ, 0);
	for (p = 0; p < 4; p++) {
		EXPECT_TRUE(all_bytes(sv + p * psize(), psize(), 's')) TH_LOG("snapshot page %zu", p);
		EXPECT_EQ('s', base_byte(_metadata, snap, (off_t)(p * psize() + 5)));
		EXPECT_NE(pagemap_pfn(_metadata, v + p * psize()),
			  pagemap_pfn(_metadata, sv + p * psize()));
	}
	EXPECT_EQ('P', v[psize() + 5]);
	EXPECT_EQ(0, munmap(sv, 4 * psize()));
	EXPECT_EQ(0, munmap(v, len));
	EXPECT_EQ(0, close(snap));
	EXPECT_EQ(0, close(fd));
}

/*
 * A snapshot takes the view's copies as its base without copying them,
 * unless something outside the view holds one (here a pipe, as a pin or an
 * O_DIRECT read in flight would): that one could still be written through
 * the outside reference, so the snapshot gets a copy of it. PFNs show which.
 */
TEST_F(hostile, snapshot_copies_pages_held_outside)
{
	size_t len = 4 * psize();
	int fd = new_region(_metadata, len), snap, pfd[2];
	uint64_t held, free_pfn;
	struct iovec iov;
	char *v, *sv;

	v = map_view(_metadata, fd, len, PROT_READ | PROT_WRITE, 0);
	memset(v, 'h', len);
	held = pagemap_pfn(_metadata, v);
	free_pfn = pagemap_pfn(_metadata, v + psize());
	ASSERT_EQ(0, pipe(pfd));
	iov.iov_base = v;
	iov.iov_len = psize();
	ASSERT_EQ((ssize_t)psize(), vmsplice(pfd[1], &iov, 1, 0));
	snap = cowshare_snapshot(fd, v, len, COWSHARE_CLOEXEC);
	ASSERT_LE(0, snap);
	sv = map_view(_metadata, snap, len, PROT_READ, 0);
	EXPECT_TRUE(all_bytes(sv, psize(), 'h'));
	EXPECT_NE(held, touch_pfn(_metadata, sv)) TH_LOG("a page a pipe holds became base");
	EXPECT_EQ(free_pfn, touch_pfn(_metadata, sv + psize())) TH_LOG("an unheld copy was copied");
	/* The view keeps the page the pipe holds, and writes it in place. */
	EXPECT_EQ(held, touch_pfn(_metadata, v));
	close(pfd[0]);
	close(pfd[1]);
	EXPECT_EQ(0, munmap(sv, len));
	EXPECT_EQ(0, munmap(v, len));
	EXPECT_EQ(0, close(snap));
	EXPECT_EQ(0, close(fd));
}

/* Whether tmpfs counts changes in i_version (6.12; 6.1 does not). */
static bool tmpfs_has_iversion(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 3);
}

/*
 * COWSHARE_SHARE_BY_FILE: a file changed right after an image of it was
 * made, within one timestamp tick, is a new image, not the old one: the
 * key's i_version is read as seen, so that the change counts.
 */
TEST_F(hostile, share_by_file_sees_change_within_a_tick)
{
	struct cowshare_region_info a, b;
	size_t len = 4 * psize();
	char *buf = malloc(len), path[] = "/tmp/hostile.imgXXXXXX";
	int file, ra, rb, round, stale = 0;

	if (!tmpfs_has_iversion())
		SKIP(return, "tmpfs keeps no i_version before 6.3: a change within a tick is invisible");
	ASSERT_NE(NULL, buf);
	file = mkstemp(path);
	ASSERT_LE(0, file);
	unlink(path);
	for (round = 0; round < 50; round++) {
		memset(buf, 'a' + round % 26, len);
		ASSERT_EQ((ssize_t)len, pwrite(file, buf, len, 0));
		ra = cowshare_create_from_file(file, 0, len, COWSHARE_SHARE_BY_FILE |
					       COWSHARE_CLOEXEC);
		ASSERT_LE(0, ra);
		buf[0] = 'Z';
		ASSERT_EQ(1, pwrite(file, buf, 1, 0));
		rb = cowshare_create_from_file(file, 0, len, COWSHARE_SHARE_BY_FILE |
					       COWSHARE_CLOEXEC);
		ASSERT_LE(0, rb);
		region_info(_metadata, ra, &a);
		region_info(_metadata, rb, &b);
		if (a.id == b.id)
			stale++;
		EXPECT_EQ('Z', base_byte(_metadata, rb, 0)) TH_LOG("round %d: stale image", round);
		close(ra);
		close(rb);
	}
	EXPECT_EQ(0, stale);
	close(file);
	free(buf);
}

TEST_HARNESS_MAIN
