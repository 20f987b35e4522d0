// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded fuzzer of cowshare: random region, base, view and control
 * operations, with every page a view shows checked against a model kept
 * here. It prints its seed; the same seed replays the same run.
 *
 *   COWSHARE_FUZZ_SEED=N   seed (default: from the clock, printed)
 *   COWSHARE_FUZZ_OPS=N    operations (default 3000; per thread)
 *   COWSHARE_FUZZ_PARANOID=0  check only the view an operation picks, not
 *                          every view after every operation
 *   COWSHARE_FUZZ_TRACE=1  print every operation
 *   COWSHARE_FUZZ_THREADS=N  N threads at once (default 1), each with a
 *                          model of its own regions and views, all in one
 *                          mm; they also share sealed file images (one
 *                          region, found by COWSHARE_SHARE_BY_FILE) and a
 *                          pool of snapshots each can map, and fork
 *                          children that go on with the forking thread's
 *                          model while the others run
 *   COWSHARE_FUZZ_DURATION=S  run for S seconds rather than OPS operations
 *
 * Pages hold one byte repeated, so a page's whole content is one model
 * byte. Threads and forked children act on views too; each checks what it
 * sees against the model and reports back. At the end every view and fd is
 * closed and the module's counters must be back where they started. With
 * several threads a run is not replayable (the interleaving is the point),
 * but each thread's own operations are, from seed + thread number.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define MAX_REGIONS	8
#define MAX_VIEWS	12
#define MAX_PAGES	24

struct fz_region {
	int fd;			/* -1: closed (views may still map it) */
	int live;		/* fd open or some view maps it */
	int sealed;
	size_t pages;
	unsigned char base[MAX_PAGES];
};

struct fz_view {
	int used;
	int region;
	char *addr;
	size_t pages;
	size_t off;		/* first region page */
	int writable;
	/* -1: shows the base; else the view's copy holds this byte */
	int copy[MAX_PAGES];
};

struct fz {
	struct __test_metadata *md;
	uint64_t rng;
	struct fz_region r[MAX_REGIONS];
	struct fz_view v[MAX_VIEWS];
	unsigned long ops, checks;
	int thread;		/* -1: the only one, on the test's main thread */
	int failed;		/* a thread's check failed: it stopped */
	int in_child;		/* a forked child's: report by exit status */
};

/*
 * What the threads share: a file (its sealed image is one region for all,
 * through COWSHARE_SHARE_BY_FILE) and a pool of snapshots, sealed, whose
 * content the pool records.
 */
#define POOL_SIZE	8

struct fz_pooled {
	int fd;			/* -1: empty slot */
	size_t pages;
	unsigned char base[MAX_PAGES];
};

static struct {
	pthread_mutex_t lock;
	struct fz_pooled pool[POOL_SIZE];
	int image_file;		/* -1: none (single-threaded runs) */
	size_t image_pages;
	unsigned char image[MAX_PAGES];
	int threaded;
} fz_shared = { .lock = PTHREAD_MUTEX_INITIALIZER, .image_file = -1 };

static __thread char fz_slot_tag;	/* which thread's mremap slot */

static int fz_trace;		/* COWSHARE_FUZZ_TRACE=1: print every operation */
#define FZ_TRACE(f, fmt, ...) do {						\
	if (fz_trace)								\
		printf("# %s%d op %lu: " fmt "\n", (f)->in_child ? "child of " : "", \
		       (f)->thread, (f)->ops, ##__VA_ARGS__);			\
} while (0)

static uint64_t fz_next(struct fz *f)
{
	return cs_xorshift(&f->rng);
}

static unsigned int fz_rand(struct fz *f, unsigned int n)
{
	return n ? (unsigned int)(fz_next(f) % n) : 0;
}

static unsigned char fz_byte(struct fz *f)
{
	return (unsigned char)(1 + fz_rand(f, 254));
}

static int fz_expected(struct fz *f, struct fz_view *v, size_t p)
{
	return v->copy[p] >= 0 ? v->copy[p] : f->r[v->region].base[v->off + p];
}

static int fz_page_is(const char *page, int c)
{
	return all_bytes(page, psize(), c);
}

/*
 * A failed check: on the test's own thread the harness's ASSERT; in a
 * worker thread or a forked child, a message and the end of that thread
 * (the harness's longjmp must not cross threads).
 */
#define FZ_CHECK(f, cond, fmt, ...) do {					\
	struct __test_metadata *_metadata = (f)->md;				\
	(f)->checks++;								\
	if ((f)->thread < 0 && !(f)->in_child) {				\
		ASSERT_TRUE(cond) {						\
			TH_LOG("op %lu: " fmt, (f)->ops, ##__VA_ARGS__);	\
		}								\
	} else if (!(cond)) {							\
		printf("# thread %d%s: op %lu: " fmt "\n", (f)->thread,	\
		       (f)->in_child ? " (child)" : "", (f)->ops, ##__VA_ARGS__); \
		fflush(stdout);							\
		if ((f)->in_child)						\
			_exit(40);						\
		(f)->failed = 1;						\
		pthread_exit(NULL);						\
	}									\
} while (0)

static void fz_check_page(struct fz *f, struct fz_view *v, size_t p)
{
	int want = fz_expected(f, v, p);

	FZ_CHECK(f, fz_page_is(v->addr + p * psize(), want),
		 "view %ld page %zu: %#x, model %#x", (long)(v - f->v), p,
		 (unsigned char)v->addr[p * psize()], want);
}

static int fz_pick_region(struct fz *f, int need_fd)
{
	int i, start = (int)fz_rand(f, MAX_REGIONS);

	for (i = 0; i < MAX_REGIONS; i++) {
		struct fz_region *r = &f->r[(start + i) % MAX_REGIONS];

		if (r->live && (!need_fd || r->fd >= 0))
			return (start + i) % MAX_REGIONS;
	}
	return -1;
}

static struct fz_view *fz_pick_view(struct fz *f)
{
	int i, start = (int)fz_rand(f, MAX_VIEWS);

	for (i = 0; i < MAX_VIEWS; i++)
		if (f->v[(start + i) % MAX_VIEWS].used)
			return &f->v[(start + i) % MAX_VIEWS];
	return NULL;
}

static void fz_region_gone_check(struct fz *f, int ri)
{
	int i;

	if (f->r[ri].fd >= 0)
		return;
	for (i = 0; i < MAX_VIEWS; i++)
		if (f->v[i].used && f->v[i].region == ri)
			return;
	f->r[ri].live = 0;
}

static void op_create(struct fz *f)
{
	int i;

	for (i = 0; i < MAX_REGIONS && f->r[i].live; i++)
		;
	if (i == MAX_REGIONS)
		return;
	memset(&f->r[i], 0, sizeof(f->r[i]));
	f->r[i].pages = 1 + fz_rand(f, MAX_PAGES);
	f->r[i].fd = cowshare_create(f->r[i].pages * psize() - fz_rand(f, (unsigned int)psize()),
				     COWSHARE_CLOEXEC);
	FZ_CHECK(f, f->r[i].fd >= 0, "create: %s", strerror(-f->r[i].fd));
	f->r[i].live = 1;
	FZ_TRACE(f, "create r%d pages %zu", i, f->r[i].pages);
}

static void op_pwrite(struct fz *f)
{
	int ri = fz_pick_region(f, 1);
	struct fz_region *r;
	unsigned char c = fz_byte(f);
	char *buf;
	size_t p;
	ssize_t n;

	if (ri < 0)
		return;
	r = &f->r[ri];
	p = fz_rand(f, (unsigned int)r->pages);
	buf = malloc(psize());
	memset(buf, c, psize());
	n = pwrite(r->fd, buf, psize(), (off_t)(p * psize()));
	free(buf);
	if (r->sealed) {
		FZ_CHECK(f, n == -1 && errno == EPERM, "pwrite on a sealed region: %zd", n);
		return;
	}
	FZ_CHECK(f, n == (ssize_t)psize(), "pwrite: %zd (%s)", n, strerror(errno));
	r->base[p] = c;
	FZ_TRACE(f, "pwrite r%d p%zu %#x", ri, p, c);
}

static void op_mmap(struct fz *f)
{
	int ri = fz_pick_region(f, 1), i, prot;
	struct fz_view *v;
	size_t p;

	if (ri < 0)
		return;
	for (i = 0; i < MAX_VIEWS && f->v[i].used; i++)
		;
	if (i == MAX_VIEWS)
		return;
	v = &f->v[i];
	memset(v, 0, sizeof(*v));
	v->region = ri;
	v->off = fz_rand(f, (unsigned int)f->r[ri].pages);
	v->pages = 1 + fz_rand(f, (unsigned int)(f->r[ri].pages - v->off));
	v->writable = (int)fz_rand(f, 4) != 0;
	prot = PROT_READ | (v->writable ? PROT_WRITE : 0);
	v->addr = mmap(NULL, v->pages * psize(), prot, MAP_SHARED, f->r[ri].fd,
		       (off_t)(v->off * psize()));
	FZ_CHECK(f, v->addr != MAP_FAILED, "mmap: %s", strerror(errno));
	for (p = 0; p < v->pages; p++)
		v->copy[p] = -1;
	v->used = 1;
	FZ_TRACE(f, "mmap v%d r%d off %zu pages %zu w%d at %p", i, ri, v->off, v->pages,
		 v->writable, v->addr);
}

static void op_munmap(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);

	if (!v)
		return;
	FZ_CHECK(f, munmap(v->addr, v->pages * psize()) == 0, "munmap");
	v->used = 0;
	fz_region_gone_check(f, v->region);
	FZ_TRACE(f, "munmap v%ld", (long)(v - f->v));
}

/* Unmap the first or last pages: the rest keeps its copies. */
static void op_munmap_part(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	size_t n, p;

	if (!v || v->pages < 2)
		return;
	n = 1 + fz_rand(f, (unsigned int)(v->pages - 1));
	if (fz_rand(f, 2)) {
		FZ_CHECK(f, munmap(v->addr + (v->pages - n) * psize(), n * psize()) == 0, "munmap tail");
	} else {
		FZ_CHECK(f, munmap(v->addr, n * psize()) == 0, "munmap head");
		v->addr += n * psize();
		v->off += n;
		for (p = 0; p + n < v->pages; p++)
			v->copy[p] = v->copy[p + n];
	}
	v->pages -= n;
	FZ_TRACE(f, "munmap part v%ld now off %zu pages %zu", (long)(v - f->v), v->off, v->pages);
}

static void op_write(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	unsigned char c = fz_byte(f);
	size_t p;

	if (!v || !v->writable)
		return;
	p = fz_rand(f, (unsigned int)v->pages);
	memset(v->addr + p * psize(), c, psize());
	v->copy[p] = c;
	FZ_TRACE(f, "write v%ld p%zu %#x", (long)(v - f->v), p, c);
}

static void op_check(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	size_t p;

	if (!v)
		return;
	for (p = 0; p < v->pages; p++)
		fz_check_page(f, v, p);
}

static void op_mprotect(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);

	if (!v)
		return;
	v->writable = !v->writable;
	FZ_TRACE(f, "mprotect v%ld w%d", (long)(v - f->v), v->writable);
	FZ_CHECK(f, mprotect(v->addr, v->pages * psize(),
			     PROT_READ | (v->writable ? PROT_WRITE : 0)) == 0,
		 "mprotect: %s", strerror(errno));
}

/* MADV_DONTNEED drops nothing (shared-memory semantics): the model stays. */
static void op_dontneed(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	size_t a, n, p;

	if (!v)
		return;
	a = fz_rand(f, (unsigned int)v->pages);
	n = 1 + fz_rand(f, (unsigned int)(v->pages - a));
	FZ_CHECK(f, madvise(v->addr + a * psize(), n * psize(), MADV_DONTNEED) == 0,
		 "madvise: %s", strerror(errno));
	FZ_TRACE(f, "dontneed v%ld p%zu n%zu", (long)(v - f->v), a, n);
	for (p = a; p < a + n; p++)
		fz_check_page(f, v, p);
}

/*
 * What would make two vmas of a view alias, or grow it, is refused and
 * changes nothing: growth (EFAULT), old_size 0 (EFAULT), MREMAP_DONTUNMAP
 * (EINVAL); so is a mapping past the region's end (ENXIO).
 */
static void op_refused(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	unsigned int how = fz_rand(f, 4);
	char *slot, *r;
	int err = 0;

	if (!v)
		return;
	slot = (char *)0x300000000000ULL + (size_t)fz_slot_tag * (1UL << 32) +
	       (size_t)(v - f->v) * (64UL << 20) + (48UL << 20);
	errno = 0;
	switch (how) {
	case 0:
		r = mremap(v->addr, v->pages * psize(), (v->pages + 1) * psize(), MREMAP_MAYMOVE);
		err = EFAULT;
		break;
	case 1:
		r = mremap(v->addr, 0, v->pages * psize(), MREMAP_MAYMOVE | MREMAP_FIXED, slot);
		err = EFAULT;
		break;
	case 2:
		r = mremap(v->addr, v->pages * psize(), v->pages * psize(),
			   MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, slot);
		err = EINVAL;
		break;
	default:
		if (f->r[v->region].fd < 0)
			return;
		r = mmap(NULL, (f->r[v->region].pages + 1) * psize(), PROT_READ, MAP_SHARED,
			 f->r[v->region].fd, 0);
		err = ENXIO;
		break;
	}
	FZ_CHECK(f, r == MAP_FAILED && errno == err, "refused op %u: %p, %s", how, r,
		 strerror(errno));
	FZ_TRACE(f, "refused v%ld op %u", (long)(v - f->v), how);
}

static void op_mremap(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	char *slot, *to;

	if (!v)
		return;
	/* Each view moves between two places of its own 64 MiB slot. */
	slot = (char *)0x300000000000ULL + (size_t)fz_slot_tag * (1UL << 32) +
	       (size_t)(v - f->v) * (64UL << 20);
	to = v->addr >= slot && v->addr < slot + (32UL << 20) ? slot + (32UL << 20) : slot;
	to = mremap(v->addr, v->pages * psize(), v->pages * psize(),
		    MREMAP_MAYMOVE | MREMAP_FIXED, to);
	FZ_CHECK(f, to != MAP_FAILED, "mremap: %s", strerror(errno));
	v->addr = to;
	FZ_TRACE(f, "mremap v%ld to %p", (long)(v - f->v), to);
}

static void op_dirty(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	uint64_t bitmap[1] = { 0 };
	int reset = (int)fz_rand(f, 2), n, want = 0;
	size_t p;

	if (!v)
		return;
	n = cowshare_dirty(f->r[v->region].fd >= 0 ? f->r[v->region].fd : -1, v->addr,
			   v->pages * psize(), bitmap, reset ? COWSHARE_DIRTY_RESET : 0);
	if (f->r[v->region].fd < 0) {
		FZ_CHECK(f, n == -EBADF, "dirty on a closed fd: %d", n);
		return;
	}
	for (p = 0; p < v->pages; p++) {
		int bit = (int)((bitmap[0] >> p) & 1);

		FZ_CHECK(f, bit == (v->copy[p] >= 0), "dirty bit %zu: %d, copy %d", p, bit,
			 v->copy[p]);
		want += v->copy[p] >= 0;
		if (reset)
			v->copy[p] = -1;
	}
	FZ_CHECK(f, n == want, "dirty count %d, model %d", n, want);
	FZ_TRACE(f, "dirty v%ld reset %d: %d", (long)(v - f->v), reset, n);
}

static void op_reset(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	size_t p;
	int n;

	if (!v || f->r[v->region].fd < 0)
		return;
	n = cowshare_reset(f->r[v->region].fd, v->addr, v->pages * psize());
	FZ_CHECK(f, n >= 0, "reset: %s", strerror(-n));
	for (p = 0; p < v->pages; p++)
		v->copy[p] = -1;
	FZ_TRACE(f, "reset v%ld", (long)(v - f->v));
}

static void op_seal(struct fz *f)
{
	int ri = fz_pick_region(f, 1);

	if (ri < 0)
		return;
	FZ_CHECK(f, cowshare_seal(f->r[ri].fd) == 0, "seal");
	f->r[ri].sealed = 1;
	FZ_TRACE(f, "seal r%d", ri);
}

static void op_snapshot(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	struct fz_region *s;
	int i, fd;
	size_t p;

	if (!v || f->r[v->region].fd < 0 || (f->in_child && !f->r[v->region].sealed))
		return;
	for (i = 0; i < MAX_REGIONS && f->r[i].live; i++)
		;
	if (i == MAX_REGIONS)
		return;
	fd = cowshare_snapshot(f->r[v->region].fd, v->addr, v->pages * psize(),
			       COWSHARE_CLOEXEC);
	FZ_CHECK(f, fd >= 0, "snapshot: %s", strerror(-fd));
	s = &f->r[i];
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->live = 1;
	s->sealed = 1;
	s->pages = v->pages;
	for (p = 0; p < v->pages; p++)
		s->base[p] = (unsigned char)fz_expected(f, v, p);
	f->r[v->region].sealed = 1;
	FZ_TRACE(f, "snapshot v%ld -> r%d", (long)(v - f->v), i);
}

static void op_close(struct fz *f)
{
	int ri = fz_pick_region(f, 1);

	if (ri < 0)
		return;
	close(f->r[ri].fd);
	f->r[ri].fd = -1;
	fz_region_gone_check(f, ri);
	FZ_TRACE(f, "close r%d", ri);
}

static void fz_step(struct fz *f, bool paranoid);

/*
 * A child checks every view it inherited against the model, then goes on
 * with a copy of the model for a few dozen operations of its own (writes,
 * resets, snapshots, ... of the views it shares with the parent) while the
 * parent, and in threaded runs the other threads, go on too; the parent's
 * views must not see any of it.
 */
static void op_fork(struct fz *f)
{
	int status, i;
	size_t p;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	FZ_CHECK(f, pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		f->in_child = 1;
		for (i = 0; i < MAX_VIEWS; i++)
			for (p = 0; f->v[i].used && p < f->v[i].pages; p++)
				fz_check_page(f, &f->v[i], p);
		for (i = 0; i < 40; i++)
			fz_step(f, false);
		for (i = 0; i < MAX_VIEWS; i++)
			for (p = 0; f->v[i].used && p < f->v[i].pages; p++)
				fz_check_page(f, &f->v[i], p);
		_exit(0);
	}
	/* The parent writes too before it waits: the child must not see it. */
	for (i = 0; i < 4; i++)
		op_write(f);
	FZ_CHECK(f, waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	FZ_CHECK(f, WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "child saw a wrong page: status %#x", status);
}

/* A free region slot of the model, or -1. */
static int fz_free_region(struct fz *f)
{
	int i;

	for (i = 0; i < MAX_REGIONS && f->r[i].live; i++)
		;
	return i == MAX_REGIONS ? -1 : i;
}

/* Threaded runs: put a snapshot of one of our views into the shared pool. */
static void op_pool_put(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	struct fz_pooled *slot = NULL;
	int fd, i;
	size_t p;

	if (!fz_shared.threaded || f->in_child || !v || f->r[v->region].fd < 0)
		return;
	fd = cowshare_snapshot(f->r[v->region].fd, v->addr, v->pages * psize(), COWSHARE_CLOEXEC);
	FZ_CHECK(f, fd >= 0, "snapshot for the pool: %s", strerror(-fd));
	f->r[v->region].sealed = 1;
	pthread_mutex_lock(&fz_shared.lock);
	for (i = 0; i < POOL_SIZE && !slot; i++)
		if (fz_shared.pool[i].fd < 0)
			slot = &fz_shared.pool[i];
	if (slot) {
		slot->fd = fd;
		slot->pages = v->pages;
		for (p = 0; p < v->pages; p++)
			slot->base[p] = (unsigned char)fz_expected(f, v, p);
		fd = -1;
	}
	pthread_mutex_unlock(&fz_shared.lock);
	if (fd >= 0)
		close(fd);
	FZ_TRACE(f, "pool put v%ld", (long)(v - f->v));
}

/*
 * Threaded runs: a region of ours that another thread made, a snapshot
 * from the pool (our own fd of it), or the image all threads share: each
 * sealed, with a known base.
 */
static void op_pool_take(struct fz *f)
{
	int ri = fz_free_region(f), i, fd = -1;
	struct fz_region *r;

	if (!fz_shared.threaded || f->in_child || ri < 0)
		return;
	r = &f->r[ri];
	memset(r, 0, sizeof(*r));
	if (fz_rand(f, 3) == 0 && fz_shared.image_file >= 0) {
		fd = cowshare_create_from_file(fz_shared.image_file, 0,
					       fz_shared.image_pages * psize(),
					       COWSHARE_SHARE_BY_FILE | COWSHARE_CLOEXEC);
		FZ_CHECK(f, fd >= 0, "image: %s", strerror(-fd));
		r->pages = fz_shared.image_pages;
		memcpy(r->base, fz_shared.image, r->pages);
	} else {
		pthread_mutex_lock(&fz_shared.lock);
		i = (int)fz_rand(f, POOL_SIZE);
		if (fz_shared.pool[i].fd >= 0) {
			fd = fcntl(fz_shared.pool[i].fd, F_DUPFD_CLOEXEC, 0);
			r->pages = fz_shared.pool[i].pages;
			memcpy(r->base, fz_shared.pool[i].base, r->pages);
		}
		pthread_mutex_unlock(&fz_shared.lock);
		if (fd < 0)
			return;
	}
	r->fd = fd;
	r->live = 1;
	r->sealed = 1;
	FZ_TRACE(f, "pool take r%d", ri);
}

/* Threaded runs: empty a pool slot (views of it, anyone's, keep it alive). */
static void op_pool_drop(struct fz *f)
{
	int i = (int)fz_rand(f, POOL_SIZE), fd;

	if (!fz_shared.threaded || f->in_child)
		return;
	pthread_mutex_lock(&fz_shared.lock);
	fd = fz_shared.pool[i].fd;
	fz_shared.pool[i].fd = -1;
	pthread_mutex_unlock(&fz_shared.lock);
	if (fd >= 0)
		close(fd);
}

/* A view's fd passed to a child by SCM_RIGHTS, mapped there and checked. */
static void op_pass_fd(struct fz *f)
{
	int ri = fz_pick_region(f, 1), sv[2], status;
	struct fz_region *r;
	pid_t pid;

	if (ri < 0 || f->in_child)
		return;
	r = &f->r[ri];
	FZ_CHECK(f, socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	fflush(stdout);
	pid = fork();
	FZ_CHECK(f, pid >= 0, "fork");
	if (!pid) {
		char cbuf[CMSG_SPACE(sizeof(int))], byte;
		struct iovec iov = { &byte, 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		size_t p;
		char *m;
		int fd;

		close(sv[0]);
		/* Drop every inherited region fd: only the passed one counts. */
		for (p = 0; p < MAX_REGIONS; p++)
			if (f->r[p].fd >= 0)
				close(f->r[p].fd);
		if (recvmsg(sv[1], &msg, 0) != 1)
			_exit(20);
		cm = CMSG_FIRSTHDR(&msg);
		if (!cm || cm->cmsg_type != SCM_RIGHTS)
			_exit(21);
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		m = mmap(NULL, r->pages * psize(), PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			_exit(22);
		for (p = 0; p < r->pages; p++)
			if (!fz_page_is(m + p * psize(), r->base[p]))
				_exit(23);
		_exit(0);
	} else {
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, byte = 'x';
		struct iovec iov = { &byte, 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

		close(sv[1]);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &r->fd, sizeof(int));
		FZ_CHECK(f, sendmsg(sv[0], &msg, 0) == 1, "sendmsg");
		close(sv[0]);
		FZ_CHECK(f, waitpid(pid, &status, 0) == pid, "waitpid");
		FZ_CHECK(f, WIFEXITED(status) && WEXITSTATUS(status) == 0,
			 "fd receiver saw a wrong base: status %#x", status);
	}
}

struct fz_thread_arg {
	char *page;
	unsigned char c;
};

static void *fz_thread_write(void *p)
{
	struct fz_thread_arg *a = p;

	memset(a->page, a->c, psize());
	return NULL;
}

/* Threads first-write pages of one view at the same time. */
static void op_threads(struct fz *f)
{
	struct fz_view *v = fz_pick_view(f);
	struct fz_thread_arg a[4];
	pthread_t t[4];
	size_t n, i;

	if (!v || !v->writable)
		return;
	n = v->pages < 4 ? v->pages : 4;
	for (i = 0; i < n; i++) {
		a[i].page = v->addr + i * psize();
		a[i].c = fz_byte(f);
		FZ_CHECK(f, pthread_create(&t[i], NULL, fz_thread_write, &a[i]) == 0,
			 "pthread_create");
	}
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		v->copy[i] = a[i].c;
	}
	FZ_TRACE(f, "threads v%ld pages %zu", (long)(v - f->v), n);
}

static const struct {
	void (*fn)(struct fz *f);
	unsigned int weight;
} fz_ops[] = {
	{ op_create, 4 }, { op_pwrite, 8 }, { op_mmap, 8 }, { op_munmap, 4 },
	{ op_munmap_part, 3 }, { op_write, 20 }, { op_check, 14 }, { op_mprotect, 3 },
	{ op_dontneed, 4 }, { op_mremap, 3 }, { op_dirty, 4 }, { op_reset, 2 },
	{ op_seal, 1 }, { op_snapshot, 2 }, { op_close, 2 }, { op_fork, 2 },
	{ op_pass_fd, 1 }, { op_threads, 3 }, { op_refused, 1 },
	{ op_pool_put, 2 }, { op_pool_take, 3 }, { op_pool_drop, 1 },
};

static unsigned int fz_total_weight(void)
{
	unsigned int total = 0, k;

	for (k = 0; k < ARRAY_SIZE(fz_ops); k++)
		total += fz_ops[k].weight;
	return total;
}

/* One random operation; then, if @paranoid, every view checked. */
static void fz_step(struct fz *f, bool paranoid)
{
	unsigned int pick = fz_rand(f, fz_total_weight()), k;
	int j;

	for (k = 0; pick >= fz_ops[k].weight; k++)
		pick -= fz_ops[k].weight;
	/*
	 * A child forks no grandchildren (its model is one branch only) and
	 * leaves the bases it shares with its parent as they are: no base
	 * write, no seal (a snapshot seals its source: only of sealed ones).
	 */
	if (f->in_child && (fz_ops[k].fn == op_fork || fz_ops[k].fn == op_pass_fd ||
			    fz_ops[k].fn == op_pwrite || fz_ops[k].fn == op_seal))
		return;
	f->ops++;
	fz_ops[k].fn(f);
	for (j = 0; paranoid && j < MAX_VIEWS; j++)
		for (size_t p = 0; f->v[j].used && p < f->v[j].pages; p++)
			fz_check_page(f, &f->v[j], p);
}

/* Every view checked and unmapped, every fd closed. */
static void fz_finish(struct fz *f)
{
	int j;

	for (j = 0; j < MAX_VIEWS; j++) {
		if (!f->v[j].used)
			continue;
		for (size_t p = 0; p < f->v[j].pages; p++)
			fz_check_page(f, &f->v[j], p);
		munmap(f->v[j].addr, f->v[j].pages * psize());
		f->v[j].used = 0;
	}
	for (j = 0; j < MAX_REGIONS; j++)
		if (f->r[j].fd >= 0)
			close(f->r[j].fd);
}

struct fz_run {
	unsigned long nops;
	double deadline;	/* 0: nops operations */
	bool paranoid;
};

static double fz_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fz_loop(struct fz *f, const struct fz_run *run)
{
	unsigned long i;

	for (i = 0; run->deadline ? fz_now() < run->deadline : i < run->nops; i++)
		fz_step(f, run->paranoid);
}

struct fz_worker {
	struct fz *f;
	const struct fz_run *run;
	pthread_t t;
};

static void *fz_worker_main(void *arg)
{
	struct fz_worker *w = arg;

	fz_slot_tag = (char)(1 + w->f->thread);
	fz_loop(w->f, w->run);
	fz_finish(w->f);
	return NULL;
}

/* The file whose sealed image every thread maps (through its own fd). */
static void fz_make_image(struct __test_metadata *_metadata, uint64_t seed)
{
	char path[] = "/tmp/fuzz-image.XXXXXX";
	unsigned char *buf;
	size_t p;
	int fd;

	fz_shared.image_pages = MAX_PAGES;
	buf = malloc(MAX_PAGES * psize());
	ASSERT_NE(NULL, buf);
	for (p = 0; p < MAX_PAGES; p++) {
		fz_shared.image[p] = (unsigned char)(1 + (seed + p * 37) % 254);
		memset(buf + p * psize(), fz_shared.image[p], psize());
	}
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	ASSERT_EQ((ssize_t)(MAX_PAGES * psize()), pwrite(fd, buf, MAX_PAGES * psize(), 0));
	fz_shared.image_file = fd;
	free(buf);
}

FIXTURE(fuzz) {
	int unused;
};

FIXTURE_SETUP(fuzz)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(fuzz)
{
}

static unsigned long fz_env(const char *name, unsigned long dflt)
{
	const char *env = getenv(name);

	return env ? strtoul(env, NULL, 0) : dflt;
}

/* A long run (COWSHARE_FUZZ_OPS, _DURATION) may take minutes under emulation. */
TEST_F_TIMEOUT(fuzz, run, 3600)
{
	struct cowshare_global_info before, after;
	struct fz_run run = { .nops = fz_env("COWSHARE_FUZZ_OPS", 3000) };
	unsigned int nthreads = (unsigned int)fz_env("COWSHARE_FUZZ_THREADS", 1), t;
	unsigned long duration = fz_env("COWSHARE_FUZZ_DURATION", 0), ops = 0, checks = 0;
	struct fz_worker *w;
	uint64_t seed;
	const char *env;
	int j, failed = 0;

	env = getenv("COWSHARE_FUZZ_SEED");
	seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (!seed)
		seed = 1;
	fz_trace = getenv("COWSHARE_FUZZ_TRACE") != NULL;
	env = getenv("COWSHARE_FUZZ_PARANOID");
	run.paranoid = !env || strcmp(env, "0");
	if (duration)
		run.deadline = fz_now() + (double)duration;
	ASSERT_LE(1, nthreads);
	ASSERT_GE(64, nthreads);
	TH_LOG("seed %llu, %u thread(s), %lu %s (COWSHARE_FUZZ_SEED=%llu replays%s)",
	       (unsigned long long)seed, nthreads, duration ? duration : run.nops,
	       duration ? "seconds" : "operations each", (unsigned long long)seed,
	       nthreads > 1 ? " each thread's operations" : "");
	for (j = 0; j < POOL_SIZE; j++)
		fz_shared.pool[j].fd = -1;
	global_info(_metadata, &before);

	w = calloc(nthreads, sizeof(*w));
	ASSERT_NE(NULL, w);
	for (t = 0; t < nthreads; t++) {
		w[t].f = calloc(1, sizeof(*w[t].f));
		ASSERT_NE(NULL, w[t].f);
		w[t].f->md = _metadata;
		w[t].f->rng = seed + t * 0x9e3779b97f4a7c15ULL;
		w[t].f->thread = nthreads > 1 ? (int)t : -1;
		w[t].run = &run;
		for (j = 0; j < MAX_REGIONS; j++)
			w[t].f->r[j].fd = -1;
	}
	if (nthreads == 1) {
		fz_loop(w[0].f, &run);
		fz_finish(w[0].f);
	} else {
		fz_shared.threaded = 1;
		fz_make_image(_metadata, seed);
		for (t = 0; t < nthreads; t++)
			ASSERT_EQ(0, pthread_create(&w[t].t, NULL, fz_worker_main, &w[t]));
		for (t = 0; t < nthreads; t++)
			pthread_join(w[t].t, NULL);
		for (j = 0; j < POOL_SIZE; j++)
			if (fz_shared.pool[j].fd >= 0)
				close(fz_shared.pool[j].fd);
		close(fz_shared.image_file);
	}
	for (t = 0; t < nthreads; t++) {
		failed |= w[t].f->failed;
		ops += w[t].f->ops;
		checks += w[t].f->checks;
		free(w[t].f);
	}
	free(w);
	EXPECT_EQ(0, failed) TH_LOG("a thread's check failed (its message is above)");
	global_info(_metadata, &after);
	TH_LOG("%lu operations, %lu checks", ops, checks);
	EXPECT_EQ(before.regions, after.regions);
	EXPECT_EQ(before.base_pages, after.base_pages);
	EXPECT_EQ(before.private_pages, after.private_pages);
	EXPECT_EQ(before.views, after.views);
	EXPECT_EQ(before.copy_pages, after.copy_pages);
	EXPECT_EQ(before.cache_pages, after.cache_pages);
	EXPECT_EQ(before.meta_bytes, after.meta_bytes);
}

TEST_HARNESS_MAIN
