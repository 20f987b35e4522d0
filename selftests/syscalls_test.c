// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare views under real syscalls: the kernel writing into a view
 * (read() from a pipe, process_vm_writev(), ptrace(PTRACE_POKEDATA),
 * O_DIRECT read) must copy the page like a user write and leave the base
 * alone; the kernel reading from a view (write() to a pipe,
 * process_vm_readv()) sees what the view shows; futexes and process-shared
 * mutexes work in a view; vmsplice()d pages keep their content when the
 * view is written afterwards (the cases of mm/cow.c that apply).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define REGION_PAGES	4

FIXTURE(sys)
{
	struct cs_env env;
	int region;
	size_t len;
	char *v;		/* read-write view of the whole region */
};

FIXTURE_SETUP(sys)
{
	size_t i;

	env_setup(_metadata, &self->env);
	self->len = REGION_PAGES * psize();
	self->region = new_region(_metadata, self->len);
	for (i = 0; i < REGION_PAGES; i++)
		base_fill(_metadata, self->region, i, 'a' + (int)i);
	self->v = map_view(_metadata, self->region, self->len,
			   PROT_READ | PROT_WRITE, 0);
}

FIXTURE_TEARDOWN(sys)
{
	EXPECT_EQ(0, close(self->region));
	env_teardown(_metadata, &self->env);
}


static uint64_t cow_faults(struct __test_metadata *_metadata, int region,
			   const void *addr)
{
	struct cowshare_view_info vi;

	view_info(_metadata, region, addr, &vi);
	return vi.cow_faults;
}

/* The view's page i is a copy: not the base PFN; the base is untouched. */
static void expect_copied(struct __test_metadata *_metadata, int region,
			  char *p, size_t idx)
{
	char *ro = map_view(_metadata, region, psize(), PROT_READ,
			    (off_t)(idx * psize()));

	EXPECT_NE(touch_pfn(_metadata, ro), touch_pfn(_metadata, p));
	EXPECT_TRUE(all_bytes(ro, psize(), 'a' + (int)idx)) {
		TH_LOG("base page %zu changed", idx);
	}
	EXPECT_EQ('a' + (int)idx, base_byte(_metadata, region,
					    (off_t)(idx * psize() + 17)));
	EXPECT_EQ(0, munmap(ro, psize()));
}

/* read() from a pipe into a view: the kernel's write copies the page. */
TEST_F(sys, pipe_read_into_view)
{
	static const char msg[] = "from the pipe";
	int p[2];

	ASSERT_EQ(0, pipe(p));
	/* Page 1 mapped (base, read-only pte); page 2 never touched. */
	EXPECT_EQ('b', VP(self->v, 1)[0]);
	ASSERT_EQ((ssize_t)sizeof(msg), write(p[1], msg, sizeof(msg)));
	ASSERT_EQ((ssize_t)sizeof(msg), read(p[0], VP(self->v, 1) + 100, sizeof(msg)));
	ASSERT_EQ((ssize_t)sizeof(msg), write(p[1], msg, sizeof(msg)));
	ASSERT_EQ((ssize_t)sizeof(msg), read(p[0], VP(self->v, 2) + 100, sizeof(msg)));

	EXPECT_EQ(0, memcmp(VP(self->v, 1) + 100, msg, sizeof(msg)));
	EXPECT_EQ(0, memcmp(VP(self->v, 2) + 100, msg, sizeof(msg)));
	EXPECT_EQ('b', VP(self->v, 1)[99]);
	EXPECT_EQ('c', VP(self->v, 2)[0]);
	expect_copied(_metadata, self->region, VP(self->v, 1), 1);
	expect_copied(_metadata, self->region, VP(self->v, 2), 2);
	EXPECT_EQ(2, cow_faults(_metadata, self->region, self->v));
	close(p[0]);
	close(p[1]);
}

/* write() from a view into a pipe: base pages and copies both read right. */
TEST_F(sys, pipe_write_from_view)
{
	char buf[64];
	int p[2];

	ASSERT_EQ(0, pipe(p));
	/* Page 0 untouched: the kernel's read faults in the base page. */
	ASSERT_EQ((ssize_t)sizeof(buf), write(p[1], VP(self->v, 0), sizeof(buf)));
	ASSERT_EQ((ssize_t)sizeof(buf), read(p[0], buf, sizeof(buf)));
	EXPECT_TRUE(all_bytes(buf, sizeof(buf), 'a'));

	memset(VP(self->v, 3), 'X', psize());
	ASSERT_EQ((ssize_t)sizeof(buf), write(p[1], VP(self->v, 3) + psize() - 64,
					      sizeof(buf)));
	ASSERT_EQ((ssize_t)sizeof(buf), read(p[0], buf, sizeof(buf)));
	EXPECT_TRUE(all_bytes(buf, sizeof(buf), 'X'));
	/* Reading did not copy. */
	EXPECT_EQ(1, cow_faults(_metadata, self->region, self->v));
	close(p[0]);
	close(p[1]);
}

/* A base page reaches the view through pread() of the region fd into it. */
TEST_F(sys, pread_region_into_own_view)
{
	/* Kernel copies base page 0 into view page 1: view 1 gets a copy. */
	ASSERT_EQ(64, pread(self->region, VP(self->v, 1), 64, 0));
	EXPECT_TRUE(all_bytes(VP(self->v, 1), 64, 'a'));
	EXPECT_EQ('b', VP(self->v, 1)[64]);
	expect_copied(_metadata, self->region, VP(self->v, 1), 1);
	/* And back: pwrite from a view into the base. */
	ASSERT_EQ(64, pwrite(self->region, VP(self->v, 1), 64, 3 * psize()));
	EXPECT_EQ('a', base_byte(_metadata, self->region, 3 * psize()));
	EXPECT_EQ('a', VP(self->v, 3)[0]);
}

/*
 * process_vm_writev from a child into the parent's view makes the parent's
 * copy; process_vm_readv reads what the parent's view shows.
 */
TEST_F(sys, process_vm_rw)
{
	pid_t pid;

	memset(VP(self->v, 0), 'P', psize());	/* the parent's copy */
	EXPECT_EQ('b', VP(self->v, 1)[0]);	/* base, mapped */

	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		char msg[32] = "written by the child", got[64];
		struct iovec local = { msg, sizeof(msg) };
		struct iovec remote = { VP(self->v, 1) + 8, sizeof(msg) };
		struct iovec rlocal = { got, sizeof(got) };
		struct iovec rremote = { VP(self->v, 0), sizeof(got) };
		pid_t parent = getppid();

		EXPECT_EQ((ssize_t)sizeof(msg),
			  process_vm_writev(parent, &local, 1, &remote, 1, 0)) {
			TH_LOG("process_vm_writev: %s", strerror(errno));
		}
		/* Page 2 was never touched in the parent. */
		remote.iov_base = VP(self->v, 2);
		EXPECT_EQ((ssize_t)sizeof(msg),
			  process_vm_writev(parent, &local, 1, &remote, 1, 0));
		EXPECT_EQ((ssize_t)sizeof(got),
			  process_vm_readv(parent, &rlocal, 1, &rremote, 1, 0));
		EXPECT_TRUE(all_bytes(got, sizeof(got), 'P'));
		/* The child's own view did not change. */
		EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'b'));
		EXPECT_TRUE(all_bytes(VP(self->v, 2), psize(), 'c'));
		_exit(0);
	}
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	EXPECT_EQ(0, memcmp(VP(self->v, 1) + 8, "written by the child", 21));
	EXPECT_EQ('b', VP(self->v, 1)[7]);
	EXPECT_EQ(0, memcmp(VP(self->v, 2), "written by the child", 21));
	expect_copied(_metadata, self->region, VP(self->v, 1), 1);
	expect_copied(_metadata, self->region, VP(self->v, 2), 2);
	EXPECT_EQ(3, cow_faults(_metadata, self->region, self->v));
}

/*
 * PTRACE_POKEDATA into a read-only (or read-exec) view of a traced child,
 * as a debugger sets a breakpoint: it succeeds, the child sees the word,
 * the base and the tracer's own view do not.
 */
FIXTURE(poke)
{
	struct cs_env env;
	int region;
};

FIXTURE_VARIANT(poke)
{
	int prot;
};

FIXTURE_VARIANT_ADD(poke, read) { .prot = PROT_READ };
FIXTURE_VARIANT_ADD(poke, read_exec) { .prot = PROT_READ | PROT_EXEC };

FIXTURE_SETUP(poke)
{
	env_setup(_metadata, &self->env);
	self->region = new_region(_metadata, 2 * psize());
	base_fill(_metadata, self->region, 0, 'a');
	base_fill(_metadata, self->region, 1, 'b');
}

FIXTURE_TEARDOWN(poke)
{
	EXPECT_EQ(0, close(self->region));
	env_teardown(_metadata, &self->env);
}

TEST_F(poke, pokedata_readonly_view)
{
	char *v = map_view(_metadata, self->region, 2 * psize(), variant->prot, 0);
	long word, poked;
	char *target = VP(v, 1) + 16;
	int status;
	pid_t pid;

	memset(&poked, 'Z', sizeof(poked));
	EXPECT_EQ('b', *target);	/* the base page mapped in parent and child */
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(10);
		raise(SIGSTOP);
		/* The tracer poked: we see it, and only there. */
		if (memcmp(target, &poked, sizeof(poked)))
			_exit(11);
		if (target[-1] != 'b' || target[sizeof(poked)] != 'b')
			_exit(12);
		if (!all_bytes(VP(v, 0), psize(), 'a'))
			_exit(13);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status));

	errno = 0;
	word = ptrace(PTRACE_PEEKDATA, pid, target, NULL);
	EXPECT_EQ(0, errno);
	EXPECT_TRUE(all_bytes(&word, sizeof(word), 'b'));
	EXPECT_EQ(0, ptrace(PTRACE_POKEDATA, pid, target, (void *)poked)) {
		TH_LOG("PTRACE_POKEDATA: %s", strerror(errno));
	}
	errno = 0;
	word = ptrace(PTRACE_PEEKDATA, pid, target, NULL);
	EXPECT_EQ(0, errno);
	EXPECT_EQ(poked, word);
	/* Peek of the untouched neighbour word. */
	errno = 0;
	word = ptrace(PTRACE_PEEKDATA, pid, target + sizeof(long), NULL);
	EXPECT_EQ(0, errno);
	EXPECT_TRUE(all_bytes(&word, sizeof(word), 'b'));

	ASSERT_EQ(0, ptrace(PTRACE_CONT, pid, NULL, NULL));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid)) {
		TH_LOG("child exit 10: TRACEME failed, 11: word not seen, "
		       "12: neighbours changed, 13: other page changed");
	}
	/* The base and the tracer's view stay as they were. */
	EXPECT_TRUE(all_bytes(VP(v, 1), psize(), 'b'));
	EXPECT_EQ('b', base_byte(_metadata, self->region, psize() + 16));
	EXPECT_EQ(0, munmap(v, 2 * psize()));
}

/* futex on words in a view: on a base page and on a copy. */
static long futex(uint32_t *uaddr, int op, uint32_t val,
		  const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

struct waiter {
	uint32_t *word;
	int op;
	long ret;
	int err;
};

static void *futex_waiter(void *arg)
{
	struct waiter *w = arg;
	struct timespec ts = { .tv_sec = 10 };

	while (__atomic_load_n(w->word, __ATOMIC_ACQUIRE) == 0) {
		w->ret = futex(w->word, w->op, 0, &ts);
		w->err = errno;
		if (w->ret && w->err != EAGAIN && w->err != EINTR)
			break;
	}
	return NULL;
}

/* Shared and private futex ops on a word in a copy, between threads. */
static void futex_between_threads(struct __test_metadata *_metadata,
				  uint32_t *word, int op_wait, int op_wake)
{
	struct waiter w = { .word = word, .op = op_wait };
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	long woken = 0;
	pthread_t th;
	int i;

	*word = 0;
	/* A mismatching value: EAGAIN, so the key was found. */
	errno = 0;
	EXPECT_EQ(-1, futex(word, op_wait, 1, &ts));
	EXPECT_EQ(EAGAIN, errno);
	/* A matching one: sleeps until the timeout. */
	errno = 0;
	EXPECT_EQ(-1, futex(word, op_wait, 0, &ts));
	EXPECT_EQ(ETIMEDOUT, errno);

	ASSERT_EQ(0, pthread_create(&th, NULL, futex_waiter, &w));
	/* Wake until the waiter has been woken by us (it may not sleep yet). */
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
	for (i = 0; i < 200 && !woken; i++) {
		usleep(10000);
		woken = futex(word, op_wake, 1, NULL);
		EXPECT_LE(0, woken) {
			TH_LOG("FUTEX_WAKE: %s", strerror(errno));
			break;
		}
	}
	__atomic_store_n(word, 1, __ATOMIC_RELEASE);
	futex(word, op_wake, 1, NULL);
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(1, woken) {
		TH_LOG("the waiter was never woken by FUTEX_WAKE");
	}
	EXPECT_EQ(0, w.ret ? w.err : 0) {
		TH_LOG("FUTEX_WAIT: %s", strerror(w.err));
	}
}

TEST_F(sys, futex_shared_in_copy)
{
	uint32_t *word = (uint32_t *)VP(self->v, 1);

	futex_between_threads(_metadata, word, FUTEX_WAIT, FUTEX_WAKE);
	expect_copied(_metadata, self->region, VP(self->v, 1), 1);
}

TEST_F(sys, futex_private_in_copy)
{
	uint32_t *word = (uint32_t *)VP(self->v, 1);

	futex_between_threads(_metadata, word, FUTEX_WAIT_PRIVATE,
			      FUTEX_WAKE_PRIVATE);
	expect_copied(_metadata, self->region, VP(self->v, 1), 1);
}

/* FUTEX_WAIT on a base page (read-only view): the key is the base page. */
TEST_F(sys, futex_wait_on_base_page)
{
	char *ro = map_view(_metadata, self->region, self->len, PROT_READ, 0);
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	uint32_t *word = (uint32_t *)VP(ro, 2);
	uint32_t val = *word;

	errno = 0;
	EXPECT_EQ(-1, futex(word, FUTEX_WAIT, val + 1, &ts));
	EXPECT_EQ(EAGAIN, errno);
	errno = 0;
	EXPECT_EQ(-1, futex(word, FUTEX_WAIT, val, &ts));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, futex(word, FUTEX_WAKE, 1, NULL));
	EXPECT_EQ(0, munmap(ro, self->len));
}

/*
 * A shared futex on a hole. get_futex_key() asks for the page writable
 * first: in a writable view that is a write fault, which gives the view a
 * copy, and the futex is keyed by it. In a read-only view it gets the
 * module's zero page, which has no mapping to key a futex by: EFAULT, as
 * on the kernel's zero page in anonymous memory (docs/design.md).
 */
TEST_F(sys, futex_on_hole)
{
	int region = new_region(_metadata, psize());
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	uint32_t *rw = (uint32_t *)map_view(_metadata, region, psize(),
					    PROT_READ | PROT_WRITE, 0);
	uint32_t *ro = (uint32_t *)map_view(_metadata, region, psize(), PROT_READ, 0);
	struct cowshare_view_info vi;

	errno = 0;
	EXPECT_EQ(-1, futex(ro, FUTEX_WAIT, 0, &ts));
	EXPECT_EQ(EFAULT, errno);
	errno = 0;
	EXPECT_EQ(-1, futex(rw, FUTEX_WAIT, 0, &ts));
	EXPECT_EQ(ETIMEDOUT, errno);
	view_info(_metadata, region, rw, &vi);
	EXPECT_EQ(1, vi.private_pages);
	EXPECT_EQ(0, munmap(ro, psize()));
	EXPECT_EQ(0, munmap(rw, psize()));
	EXPECT_EQ(0, close(region));
}

/* A process-shared mutex in a view serialises threads. */
#define MUTEX_THREADS	4
#define MUTEX_LOOPS	20000

struct locked {
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	unsigned long counter;
	unsigned long unlocked;	/* raced without the lock: must stay 0 */
	int in;
};

static void *mutex_worker(void *arg)
{
	struct locked *l = arg;
	int i;

	for (i = 0; i < MUTEX_LOOPS; i++) {
		if (pthread_mutex_lock(&l->mutex))
			return (void *)1;
		if (l->in++)
			l->unlocked++;
		l->counter++;
		l->in--;
		if (pthread_mutex_unlock(&l->mutex))
			return (void *)1;
	}
	return NULL;
}

TEST_F(sys, pshared_mutex_in_view)
{
	struct locked *l = (struct locked *)VP(self->v, 2);
	pthread_mutexattr_t ma;
	pthread_t th[MUTEX_THREADS];
	void *ret;
	int i;

	ASSERT_LE(sizeof(*l), psize());
	ASSERT_EQ(0, pthread_mutexattr_init(&ma));
	ASSERT_EQ(0, pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED));
	ASSERT_EQ(0, pthread_mutex_init(&l->mutex, &ma));
	l->counter = 0;
	l->unlocked = 0;
	l->in = 0;
	for (i = 0; i < MUTEX_THREADS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, mutex_worker, l));
	for (i = 0; i < MUTEX_THREADS; i++) {
		ASSERT_EQ(0, pthread_join(th[i], &ret));
		EXPECT_EQ(NULL, ret);
	}
	EXPECT_EQ((unsigned long)MUTEX_THREADS * MUTEX_LOOPS, l->counter);
	EXPECT_EQ(0, l->unlocked);
	EXPECT_EQ(0, pthread_mutex_destroy(&l->mutex));
	expect_copied(_metadata, self->region, VP(self->v, 2), 2);
	EXPECT_EQ(1, cow_faults(_metadata, self->region, self->v));
}

/*
 * vmsplice (the cases of mm/cow.c that apply): a page spliced into a pipe
 * keeps the content it had when the view is written afterwards, if the
 * write must copy.
 */
static void vmsplice_page(struct __test_metadata *_metadata, int pipe_w,
			  char *p)
{
	struct iovec iov = { p, psize() };

	ASSERT_EQ((ssize_t)psize(), vmsplice(pipe_w, &iov, 1, 0)) {
		TH_LOG("vmsplice: %s", strerror(errno));
	}
}

static void expect_pipe_page(struct __test_metadata *_metadata, int pipe_r,
			     int c)
{
	char *buf = malloc(psize());
	size_t got = 0;
	ssize_t n;

	ASSERT_NE(NULL, buf);
	while (got < psize()) {
		n = read(pipe_r, buf + got, psize() - got);
		ASSERT_LT(0, n);
		got += n;
	}
	EXPECT_TRUE(all_bytes(buf, psize(), c)) {
		TH_LOG("the pipe holds '%c', not '%c'", buf[0], c);
	}
	free(buf);
}

/* A pipe big enough for one page (64 KiB pages need it). */
static void page_pipe(struct __test_metadata *_metadata, int p[2])
{
	ASSERT_EQ(0, pipe(p));
	if (fcntl(p[1], F_GETPIPE_SZ) < (int)psize())
		ASSERT_LE((int)psize(), fcntl(p[1], F_SETPIPE_SZ, (int)psize()));
}

/* A base page in a pipe; the view writes: the base, hence the pipe, stays. */
TEST_F(sys, vmsplice_base_then_write)
{
	int p[2];

	page_pipe(_metadata, p);
	EXPECT_EQ('b', VP(self->v, 1)[0]);
	vmsplice_page(_metadata, p[1], VP(self->v, 1));
	memset(VP(self->v, 1), 'W', psize());
	expect_pipe_page(_metadata, p[0], 'b');
	EXPECT_EQ('b', base_byte(_metadata, self->region, psize()));
	close(p[0]);
	close(p[1]);
}

/*
 * The parent splices its copy, forks, writes: the copy is the child's too
 * now, so the write copies and the pipe keeps the old content.
 */
TEST_F(sys, vmsplice_before_fork_parent_writes)
{
	struct sync_pipes s;
	int p[2];
	pid_t pid;

	sync_init(_metadata, &s);
	page_pipe(_metadata, p);
	memset(VP(self->v, 1), 'P', psize());
	vmsplice_page(_metadata, p[1], VP(self->v, 1));
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		if (!sync_wait(s.to_child[0]))
			_exit(3);
		EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'P'));
		_exit(0);
	}
	memset(VP(self->v, 1), 'Q', psize());
	ASSERT_TRUE(sync_post(s.to_child[1]));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	expect_pipe_page(_metadata, p[0], 'P');
	EXPECT_TRUE(all_bytes(VP(self->v, 1), psize(), 'Q'));
	close(p[0]);
	close(p[1]);
	sync_close(&s);
}

/*
 * The child splices the inherited copy and unmaps (or exits); then the
 * parent writes: the spliced page must keep the old content.
 */
FIXTURE(splice_child)
{
	struct cs_env env;
	int region;
	char *v;
};

FIXTURE_VARIANT(splice_child)
{
	bool child_exits;	/* else it unmaps and waits */
	bool parent_copied;	/* the page is a copy at fork time, else base */
};

FIXTURE_VARIANT_ADD(splice_child, unmap_copy) { .parent_copied = true };
FIXTURE_VARIANT_ADD(splice_child, exit_copy) { .child_exits = true, .parent_copied = true };
FIXTURE_VARIANT_ADD(splice_child, unmap_base) { };
FIXTURE_VARIANT_ADD(splice_child, exit_base) { .child_exits = true };

FIXTURE_SETUP(splice_child)
{
	env_setup(_metadata, &self->env);
	self->region = new_region(_metadata, psize());
	base_fill(_metadata, self->region, 0, 'b');
	self->v = map_view(_metadata, self->region, psize(),
			   PROT_READ | PROT_WRITE, 0);
}

FIXTURE_TEARDOWN(splice_child)
{
	EXPECT_EQ(0, close(self->region));
	env_teardown(_metadata, &self->env);
}

TEST_F(splice_child, parent_writes_after)
{
	int old = variant->parent_copied ? 'P' : 'b';
	struct sync_pipes s;
	int p[2];
	pid_t pid;

	sync_init(_metadata, &s);
	page_pipe(_metadata, p);
	if (variant->parent_copied)
		memset(self->v, 'P', psize());
	else
		EXPECT_EQ('b', self->v[0]);

	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		struct iovec iov = { self->v, psize() };

		if (vmsplice(p[1], &iov, 1, 0) != (ssize_t)psize())
			_exit(2);
		if (munmap(self->v, psize()))
			_exit(3);
		if (variant->child_exits)
			_exit(0);
		sync_post(s.to_parent[1]);
		sync_wait(s.to_child[0]);
		_exit(0);
	}
	if (variant->child_exits) {
		EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	} else {
		ASSERT_TRUE(sync_wait(s.to_parent[0]));
	}
	memset(self->v, 'Q', psize());
	expect_pipe_page(_metadata, p[0], old);
	EXPECT_TRUE(all_bytes(self->v, psize(), 'Q'));
	EXPECT_EQ('b', base_byte(_metadata, self->region, 0));
	if (!variant->child_exits) {
		ASSERT_TRUE(sync_post(s.to_child[1]));
		EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	}
	close(p[0]);
	close(p[1]);
	sync_close(&s);
}

/* O_DIRECT read from a file into a view: the device DMA is a write. */
TEST_F(sys, o_direct_read_into_view)
{
	static const char *const dirs[] = { "/var/tmp", "/tmp", "/dev/shm", "." };
	char path[128], *buf;
	int fd = -1, err = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/cowshare-odirect.XXXXXX", dirs[i]);
		fd = mkstemp(path);
		if (fd < 0)
			continue;
		close(fd);
		fd = open(path, O_RDWR | O_DIRECT);
		err = errno;
		if (fd >= 0)
			break;
		unlink(path);
	}
	if (fd < 0)
		SKIP(return, "no file system here supports O_DIRECT (open: %s)",
		     strerror(err));

	buf = aligned_alloc(psize(), psize());
	ASSERT_NE(NULL, buf);
	memset(buf, 'D', psize());
	ASSERT_EQ((ssize_t)psize(), pwrite(fd, buf, psize(), 0));
	free(buf);
	EXPECT_EQ('c', VP(self->v, 2)[0]);
	EXPECT_EQ((ssize_t)psize(), pread(fd, VP(self->v, 2), psize(), 0));
	EXPECT_TRUE(all_bytes(VP(self->v, 2), psize(), 'D'));
	expect_copied(_metadata, self->region, VP(self->v, 2), 2);
	close(fd);
	unlink(path);
}

TEST_HARNESS_MAIN
