// SPDX-License-Identifier: GPL-2.0
/*
 * What a hostile local user tried (the device is mode 0666), each a
 * regression test of a kernel crash, a lost write or a leak found by
 * review: chains of snapshots freed at once, a read and a write racing on
 * one page after a snapshot, a snapshot changed by a write after it was
 * taken, a snapshot taking a page something outside the view still holds,
 * a file image shared under a key that no longer matches its content, a
 * pte left to a copy the view gave up (which its fork relative then wrote
 * in place), a snapshot missing pages written while it was taken, a write
 * fault while another vma of the view moves, and a view split into tens of
 * thousands of vmas.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

CS_ENV_FIXTURE(hostile)

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
	for (p = 0; p < CHAIN_PAGES; p++) {
		EXPECT_TRUE(all_bytes(v + p * psize(), psize(), want[p])) TH_LOG("page %zu", p);
	}
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

/*
 * A snapshot refused for want of a file descriptor changes nothing: the
 * source stays unsealed, its base writable (it sealed the source before
 * it found no fd free).
 */
TEST_F(hostile, snapshot_without_fds_leaves_source_unsealed)
{
	size_t len = 4 * psize();
	int fd = new_region(_metadata, len), snap, spare;
	struct cowshare_region_info ri;
	struct rlimit old, none;
	char *v;

	v = map_view(_metadata, fd, len, PROT_READ | PROT_WRITE, 0);
	memset(v, 'u', len);
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	/* Every fd below the limit taken: the limit is the next free one. */
	spare = dup(0);
	ASSERT_LE(0, spare);
	close(spare);
	none = old;
	none.rlim_cur = (rlim_t)spare;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &none));
	snap = cowshare_snapshot(fd, v, len, COWSHARE_CLOEXEC);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	EXPECT_EQ(-EMFILE, snap);
	if (snap >= 0)
		close(snap);
	region_info(_metadata, fd, &ri);
	EXPECT_EQ(0, ri.region_flags & COWSHARE_REGION_SEALED);
	base_write(_metadata, fd, "b", 1, 0);
	EXPECT_EQ('u', v[0]);
	EXPECT_EQ(0, munmap(v, len));
	EXPECT_EQ(0, close(fd));
}

/*
 * A view keeps no pte of a copy it gave up. A child's write fault on an
 * empty pte replaces the copy it shares with its parent while a second
 * thread's read maps the window around it, old copy included; a signal
 * stops the writer before it retries its store. Its pte to the old copy
 * stayed, the parent (now the copy's only holder) wrote it in place, and
 * the child read the parent's write: 2 leaks in 775 tries before the fix.
 * Random delays, bounded tries; the outcome is read from pagemap.
 */
#define STALE_PAGES	4096
#define STALE_SECONDS	40

static struct {
	volatile char *view;
	long page;
	unsigned int read_delay, signal_delay;
	atomic_int go, stopped, done;
	volatile sig_atomic_t in_store;
	volatile pid_t writer_tid;
	sem_t resume;
} stale;

static void stale_stop_writer(int sig)
{
	(void)sig;
	if (stale.in_store) {
		atomic_store(&stale.stopped, 1);
		while (sem_wait(&stale.resume) && errno == EINTR)
			;
	}
}

static void spin(unsigned int n)
{
	for (volatile unsigned int k = 0; k < n; k++)
		;
}

static void *stale_writer(void *arg)
{
	(void)arg;
	stale.writer_tid = (pid_t)syscall(SYS_gettid);
	while (!atomic_load(&stale.go))
		;
	stale.in_store = 1;
	stale.view[stale.page * psize()] = 'C';
	stale.in_store = 0;
	atomic_store(&stale.done, 1);
	return NULL;
}

static void *stale_reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stale.go))
		;
	spin(stale.read_delay);
	(void)stale.view[(stale.page + 1) * psize()];
	return NULL;
}

static void *stale_signaller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stale.go))
		;
	spin(stale.signal_delay);
	syscall(SYS_tgkill, getpid(), stale.writer_tid, SIGUSR1);
	return NULL;
}

/* In the child: no harness assertions there (they would run the teardown). */
static uint64_t stale_cow_faults(int fd)
{
	struct cowshare_view_info vi;

	if (cowshare_view_info(fd, (const void *)stale.view, &vi))
		_exit(2);
	return vi.cow_faults;
}

static uint64_t stale_pfn(long page)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	off_t off = (off_t)(((uintptr_t)stale.view / psize() + (uintptr_t)page) * sizeof(entry));

	if (fd < 0 || pread(fd, &entry, sizeof(entry), off) != sizeof(entry))
		_exit(2);
	close(fd);
	return entry & PM_PRESENT ? entry & PM_PFN_MASK : 0;
}

TEST_F_TIMEOUT(hostile, released_copy_leaves_no_pte, 300)
{
	size_t len = STALE_PAGES * psize();
	int fd = new_region(_metadata, len), to_parent[2], to_child[2], status;
	uint64_t *parent_pfn = calloc(STALE_PAGES, sizeof(*parent_pfn));
	long page;
	pid_t pid;
	char cmd;

	ASSERT_NE(NULL, parent_pfn);
	stale.view = map_view(_metadata, fd, len, PROT_READ | PROT_WRITE, 0);
	for (page = 0; page < STALE_PAGES; page++) {
		stale.view[page * psize()] = 'P';
		parent_pfn[page] = pagemap_pfn(_metadata, (const void *)(stale.view + page * psize()));
	}
	ASSERT_EQ(0, pipe(to_parent));
	ASSERT_EQ(0, pipe(to_child));
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		struct sigaction sa = { .sa_handler = stale_stop_writer };
		unsigned int seed = 12345, tries = 0, stopped = 0, stale_ptes = 0, leaks = 0;
		unsigned int lost = 0;
		time_t t0 = time(NULL);

		sigaction(SIGUSR1, &sa, NULL);
		sem_init(&stale.resume, 0, 0);
		for (page = 0; page + 1 < STALE_PAGES && time(NULL) - t0 < STALE_SECONDS;
		     page += 2, tries++) {
			pthread_t writer, reader, signaller;
			uint64_t cow0;

			/* No ptes; the shared copies stay the child's. */
			madvise((void *)stale.view, len, MADV_DONTNEED);
			stale.page = page;
			cow0 = stale_cow_faults(fd);
			atomic_store(&stale.go, 0);
			atomic_store(&stale.stopped, 0);
			atomic_store(&stale.done, 0);
			stale.writer_tid = 0;
			stale.read_delay = rand_r(&seed) % 3000;
			stale.signal_delay = rand_r(&seed) % 6000;
			if (pthread_create(&writer, NULL, stale_writer, NULL))
				_exit(2);
			while (!stale.writer_tid)
				;
			if (pthread_create(&reader, NULL, stale_reader, NULL) ||
			    pthread_create(&signaller, NULL, stale_signaller, NULL))
				_exit(2);
			atomic_store(&stale.go, 1);
			pthread_join(reader, NULL);
			pthread_join(signaller, NULL);
			/* The signal stops the writer, or it finishes its store. */
			while (!atomic_load(&stale.done) && !atomic_load(&stale.stopped))
				sched_yield();
			if (atomic_load(&stale.stopped)) {
				stopped++;
				/* Its fault replaced the copy, yet the pte still maps it. */
				if (stale_cow_faults(fd) != cow0 &&
				    stale_pfn(page) == parent_pfn[page]) {
					stale_ptes++;
					cmd = 'w';
					if (write(to_parent[1], &cmd, 1) != 1 ||
					    write(to_parent[1], &page, sizeof(page)) != sizeof(page) ||
					    read(to_child[0], &cmd, 1) != 1)
						_exit(2);
					if (stale.view[page * psize() + 1] == 'S')
						leaks++;
				}
				sem_post(&stale.resume);
			}
			pthread_join(writer, NULL);
			if (stale.view[page * psize()] != 'C' || stale.view[page * psize() + 1])
				lost++;
		}
		fprintf(stderr, "# child: %u tries, %u with the writer stopped in its fault, "
			"%u stale ptes, %u leaks, %u pages wrong\n",
			tries, stopped, stale_ptes, leaks, lost);
		cmd = 'q';
		if (write(to_parent[1], &cmd, 1) != 1)
			_exit(2);
		_exit(stale_ptes || leaks || lost ? 1 : 0);
	}
	for (;;) {
		ASSERT_EQ(1, read(to_parent[0], &cmd, 1));
		if (cmd == 'q')
			break;
		ASSERT_EQ(sizeof(page), read(to_parent[0], &page, sizeof(page)));
		stale.view[page * psize() + 1] = 'S';
		ASSERT_EQ(1, write(to_child[1], &cmd, 1));
	}
	status = env_wait(_metadata, &self->env, pid);
	EXPECT_EQ(0, status);
	for (page = 0; page < STALE_PAGES; page++) {
		EXPECT_EQ('P', stale.view[page * psize()]) TH_LOG("page %ld", page);
	}
	EXPECT_EQ(0, munmap((void *)stale.view, len));
	EXPECT_EQ(0, close(fd));
	free(parent_pfn);
}

/*
 * A snapshot holds every page the view held when it was taken, though
 * other threads keep writing: a first write after an earlier snapshot
 * replaces the view's copy, and a snapshot that met the replaced copy
 * skipped the page (it read as the root's zeros: 272 pages lost in 40
 * rounds). Byte 0 of every page is 'A' before either snapshot; the
 * writers only change byte 1.
 */
#define SNAP_RACE_PAGES		2048
#define SNAP_RACE_ROUNDS	20	/* 5 under KASAN: kernel_has_kasan() */

struct snap_race {
	char *view;
	atomic_int go, stop;
	unsigned int seed;
};

static void *snap_race_writer(void *arg)
{
	struct snap_race *r = arg;
	unsigned int seed = r->seed;

	while (!atomic_load(&r->go))
		;
	while (!atomic_load(&r->stop))
		r->view[(rand_r(&seed) % SNAP_RACE_PAGES) * psize() + 1] = 'B';
	return NULL;
}

TEST_F_TIMEOUT(hostile, snapshot_takes_pages_written_meanwhile, 300)
{
	size_t len = SNAP_RACE_PAGES * psize(), p;
	char *buf = malloc(psize());
	int round, rounds = kernel_has_kasan() ? SNAP_RACE_ROUNDS / 4 : SNAP_RACE_ROUNDS;
	int lost = 0;

	ASSERT_NE(NULL, buf);
	for (round = 0; round < rounds; round++) {
		int fd = new_region(_metadata, len), first, second, k;
		struct snap_race r[3];
		pthread_t t[3];
		char *v = map_view(_metadata, fd, len, PROT_READ | PROT_WRITE, 0);

		for (p = 0; p < SNAP_RACE_PAGES; p++)
			v[p * psize()] = 'A';
		/* Every copy shared with the first snapshot: the next write replaces it. */
		first = cowshare_snapshot(fd, v, len, COWSHARE_CLOEXEC);
		ASSERT_LE(0, first);
		for (k = 0; k < 3; k++) {
			r[k] = (struct snap_race){ .view = v, .seed = (unsigned int)(round * 7 + k) };
			ASSERT_EQ(0, pthread_create(&t[k], NULL, snap_race_writer, &r[k]));
		}
		for (k = 0; k < 3; k++)
			atomic_store(&r[k].go, 1);
		usleep(1000);
		second = cowshare_snapshot(fd, v, len, COWSHARE_CLOEXEC);
		for (k = 0; k < 3; k++)
			atomic_store(&r[k].stop, 1);
		for (k = 0; k < 3; k++)
			pthread_join(t[k], NULL);
		ASSERT_LE(0, second);
		for (p = 0; p < SNAP_RACE_PAGES; p++) {
			ASSERT_EQ((ssize_t)psize(), pread(second, buf, psize(), (off_t)(p * psize())));
			if (buf[0] != 'A' && lost++ < 5)
				TH_LOG("round %d: page %zu of the snapshot reads %#x", round, p, buf[0]);
		}
		EXPECT_EQ(0, munmap(v, len));
		close(first);
		close(second);
		close(fd);
	}
	EXPECT_EQ(0, lost);
	free(buf);
}

/*
 * Write faults on one vma of a view while another thread mremap()s
 * another vma of it back and forth: during each move the two vmas of the
 * moved offsets alias, and zapping them must not walk the view's vmas
 * without the mmap lock (6.12's faults hold only their vma's lock: lockdep
 * warned, and a lasting alias would have zapped freed page tables).
 */
#define MOVE_PAGES	2048
#define MOVE_SECONDS	10

struct mover {
	char *a, *b;
	atomic_int stop;
	int moves, failed;
};

static void *mover_thread(void *arg)
{
	struct mover *m = arg;
	char *from = m->a, *to = m->b, *t;

	while (!atomic_load(&m->stop)) {
		if (mremap(from, 16 * psize(), 16 * psize(), MREMAP_MAYMOVE | MREMAP_FIXED,
			   to) == MAP_FAILED) {
			m->failed = errno;
			break;
		}
		t = from;
		from = to;
		to = t;
		m->moves++;
	}
	m->a = from;
	return NULL;
}

TEST_F_TIMEOUT(hostile, write_fault_while_another_vma_moves, 120)
{
	size_t len = MOVE_PAGES * psize(), j;
	int fd = new_region(_metadata, len), rounds = 0;
	struct mover m = { 0 };
	time_t t0 = time(NULL);
	pthread_t t;
	char *v;

	v = map_view(_metadata, fd, len, PROT_READ | PROT_WRITE, 0);
	memset(v, 'm', 16 * psize());
	m.a = v;
	m.b = mmap(NULL, 16 * psize(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m.b);
	/* Two vmas of one view: [0, 16) moves, the rest is written. */
	ASSERT_EQ(0, mprotect(v + 16 * psize(), psize(), PROT_READ));
	ASSERT_EQ(0, mprotect(v + 16 * psize(), psize(), PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, pthread_create(&t, NULL, mover_thread, &m));
	while (time(NULL) - t0 < MOVE_SECONDS) {
		for (j = 32; j < MOVE_PAGES; j++) {
			(void)*(volatile char *)(v + j * psize());	/* read-only first */
			v[j * psize()] = (char)(1 + rounds % 200);	/* ->page_mkwrite */
		}
		for (j = 32; j < MOVE_PAGES; j++) {
			ASSERT_EQ((char)(1 + rounds % 200), v[j * psize()]) TH_LOG("page %zu", j);
		}
		ASSERT_EQ(MOVE_PAGES - 32, cowshare_reset(fd, v + 32 * psize(), len - 32 * psize()));
		rounds++;
	}
	atomic_store(&m.stop, 1);
	pthread_join(t, NULL);
	EXPECT_EQ(0, m.failed);
	TH_LOG("%d rounds of writes, %d moves", rounds, m.moves);
	EXPECT_TRUE(all_bytes(m.a, 16 * psize(), 'm'));
	munmap(m.a == v ? m.b : v, 16 * psize());
	EXPECT_EQ(0, munmap(m.a, 16 * psize()));
	EXPECT_EQ(0, munmap(v + 16 * psize(), len - 16 * psize()));
	EXPECT_EQ(0, close(fd));
}

/*
 * A view split into 60000 vmas (6000 under KASAN; mprotect of every other
 * page), then one of its vmas moved: every vma's ->close checked every
 * pair of the view's vmas for aliases (a minute in one mremap, a soft
 * lockup), and every close walked the whole list. Both are O(log n) or O(1) a vma now: the
 * kernel's watchdog, which vm-run reports, would say otherwise.
 */
#define MANY_VMAS	30000	/* read-only pages between writable ones: 60000 vmas */
#define MANY_VMAS_KASAN	3000	/* a split costs ~4 ms under KASAN in emulation */

TEST_F_TIMEOUT(hostile, view_of_many_vmas, 300)
{
	size_t many = kernel_has_kasan() ? MANY_VMAS_KASAN : MANY_VMAS;
	size_t len = (2 * many + 2) * psize(), i;
	int fd = new_region(_metadata, len);
	char *v, *spare, *moved;

	v = map_view(_metadata, fd, len, PROT_READ | PROT_WRITE, 0);
	for (i = 1; i < 2 * many; i += 2) {
		ASSERT_EQ(0, mprotect(v + i * psize(), psize(), PROT_READ)) TH_LOG("page %zu", i);
	}
	v[2 * many * psize()] = 'x';
	spare = mmap(NULL, psize(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, spare);
	moved = mremap(v + 2 * many * psize(), psize(), psize(),
		       MREMAP_MAYMOVE | MREMAP_FIXED, spare);
	ASSERT_EQ(spare, moved);
	EXPECT_EQ('x', moved[0]);
	/* No alias is left: a write here goes into a copy of this view only. */
	moved[1] = 'y';
	EXPECT_EQ(SIGSEGV, probe_access(v + 2 * many * psize(), false));
	EXPECT_EQ(0, munmap(moved, psize()));
	EXPECT_EQ(0, munmap(v, 2 * many * psize()));
	EXPECT_EQ(0, munmap(v + (2 * many + 1) * psize(), psize()));
	EXPECT_EQ(0, close(fd));
}

/*
 * Base pages are LRU page cache folios, and migration (move_pages() by any
 * user on a NUMA machine, compaction anywhere) replaces one in the page
 * cache and frees it at once. A mapper that found a base page must hold a
 * reference to it until vm_insert_pages() has taken its own: one that
 * did not mapped a free page (SIGBUS on a sealed, fully written region)
 * or a reused one (another file's data in the view), and underflowed a
 * refcount ("Bad page state").
 */
#define MIG_PAGES	512	/* one fault window */
#define MIG_CHUNK	64	/* the pages moved: the window's first chunk */
#define MIG_MAGIC	0x6b61707475726521ull

static struct {
	char *view1, *view2;
	atomic_int stop;
	atomic_long faults, sigbus, wrong, moved;
	bool numa;
} mig;
static __thread sigjmp_buf mig_jb;
static __thread volatile int mig_probing;

static uint64_t mig_word(size_t page)
{
	return MIG_MAGIC ^ (page << 20);
}

static void mig_sigbus(int sig)
{
	(void)sig;
	if (mig_probing)
		siglongjmp(mig_jb, 1);
	_exit(99);
}

/* Empty view1's window, fault it at the chunk's last page, check the chunk. */
static void *mig_faulter(void *arg)
{
	(void)arg;
	while (!atomic_load(&mig.stop)) {
		madvise(mig.view1, MIG_PAGES * psize(), MADV_DONTNEED);
		for (size_t p = MIG_CHUNK; p-- > 0;) {
			uint64_t got;

			mig_probing = 1;
			if (sigsetjmp(mig_jb, 1)) {
				mig_probing = 0;
				atomic_fetch_add(&mig.sigbus, 1);
				break;
			}
			got = *(volatile uint64_t *)(mig.view1 + p * psize());
			mig_probing = 0;
			if (got != mig_word(p))
				atomic_fetch_add(&mig.wrong, 1);
		}
		atomic_fetch_add(&mig.faults, 1);
	}
	return NULL;
}

static uint64_t mig_pfn(size_t page)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	off_t off = (off_t)(((uintptr_t)mig.view2 / psize() + page) * sizeof(entry));

	if (fd < 0 || pread(fd, &entry, sizeof(entry), off) != sizeof(entry))
		entry = 0;
	if (fd >= 0)
		close(fd);
	return entry & PM_PRESENT ? entry & PM_PFN_MASK : 0;
}

/* Keep the chunk's base pages moving: between nodes, else by compaction. */
static void *mig_mover(void *arg)
{
	void *addrs[MIG_CHUNK];
	int nodes[MIG_CHUNK], status[MIG_CHUNK], target = 1;
	uint64_t pfn[MIG_CHUNK];

	(void)arg;
	for (int i = 0; i < MIG_CHUNK; i++)
		addrs[i] = mig.view2 + i * psize();
	while (!atomic_load(&mig.stop)) {
		for (int i = 0; i < MIG_CHUNK; i++) {
			(void)*(volatile char *)addrs[i];	/* mapped in view2 */
			pfn[i] = mig_pfn(i);
			nodes[i] = target;
		}
		if (mig.numa) {
			syscall(SYS_move_pages, 0, MIG_CHUNK, addrs, nodes, status, 0);
			target ^= 1;
		} else {
			int fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);

			if (fd < 0 || write(fd, "1", 1) != 1)
				atomic_store(&mig.stop, 1);
			if (fd >= 0)
				close(fd);
		}
		for (int i = 0; i < MIG_CHUNK; i++)
			if (pfn[i] && mig_pfn(i) && mig_pfn(i) != pfn[i])
				atomic_fetch_add(&mig.moved, 1);
	}
	return NULL;
}

TEST_F_TIMEOUT(hostile, base_pages_migrate_while_faulted, 120)
{
	size_t len = MIG_PAGES * psize();
	uint64_t *buf = malloc(len);
	pthread_t faulter, mover;
	struct sigaction sa = { .sa_handler = mig_sigbus }, old;
	int fd = new_region(_metadata, len);

	ASSERT_NE(NULL, buf);
	for (size_t p = 0; p < MIG_PAGES; p++)
		for (size_t w = 0; w < psize() / 8; w++)
			buf[p * psize() / 8 + w] = mig_word(p);
	ASSERT_EQ((ssize_t)len, pwrite(fd, buf, len, 0));
	free(buf);
	ASSERT_EQ(0, cowshare_seal(fd));
	memset(&mig, 0, sizeof(mig));
	mig.numa = !access("/sys/devices/system/node/node1", F_OK);
	mig.view1 = map_view(_metadata, fd, len, PROT_READ, 0);
	mig.view2 = map_view(_metadata, fd, len, PROT_READ, 0);
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, &old));

	ASSERT_EQ(0, pthread_create(&faulter, NULL, mig_faulter, NULL));
	ASSERT_EQ(0, pthread_create(&mover, NULL, mig_mover, NULL));
	for (int t = 0; t < 150 && !atomic_load(&mig.stop) &&
	     !atomic_load(&mig.sigbus) && !atomic_load(&mig.wrong); t++)
		usleep(100 * 1000);
	atomic_store(&mig.stop, 1);
	pthread_join(faulter, NULL);
	pthread_join(mover, NULL);
	sigaction(SIGBUS, &old, NULL);

	TH_LOG("%s: %ld base pages moved; %ld window faults, %ld SIGBUS, %ld pages wrong",
	       mig.numa ? "move_pages between nodes" : "compaction", atomic_load(&mig.moved),
	       atomic_load(&mig.faults), atomic_load(&mig.sigbus), atomic_load(&mig.wrong));
	EXPECT_EQ(0, atomic_load(&mig.sigbus));
	EXPECT_EQ(0, atomic_load(&mig.wrong));
	munmap(mig.view1, len);
	munmap(mig.view2, len);
	close(fd);
	if (!atomic_load(&mig.moved))
		SKIP(return, "no base page moved: one NUMA node and compaction moved none");
}

TEST_HARNESS_MAIN
