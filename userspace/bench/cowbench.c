// SPDX-License-Identifier: GPL-2.0
/*
 * cowbench: cowshare against its competitors, scenarios s1..s9 of
 * docs/benchmarks.md. Runs in the guest (static, busybox only); prints
 * one CSV row per figure, prefixed "@CSV ", for scripts/bench:
 *
 *   scenario,params,x,method,metric,unit,median,min,max,q1,q3,n
 *
 * Every figure is over --reps repetitions, the competitors of a scenario
 * interleaved within each repetition (A B C A B C ...). "@SKIP" lines say
 * why a competitor did not run; "@INFO" lines are context.
 *
 * cowbench [--reps N] [--s5-reps N] [--s5-mib M] [--div D] [--quick] [--only s1,s2,...]
 *   --div D   divide every size by D (arm64 under TCG is 10-20x slower)
 *   --s5-mib M  region size of s5 in MiB (default 256; not divided)
 *   --quick   1 repetition, tiny sizes: a smoke run
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cowshare.h>

#define MIB (1024UL * 1024UL)
#define MAXREPS 64

static size_t pg;
static int reps = 11, s5_reps = 3, quick;
static unsigned long s5_mib = 256;
static unsigned long div_ = 1;
static const char *only;

/* A page shared with every child: where they put what they measured. */
#define MAXKIDS 128
struct shared {
	volatile uint64_t t1;
	volatile uint64_t ns;
	volatile uint64_t minflt;
	volatile uint64_t sum;
	volatile uint64_t done[MAXKIDS];	/* s8: when each sharer had touched its set */
	volatile double res[16];		/* s8, s9: a template process's results */
};
static struct shared *shm;

static void die(const char *what, int err)
{
	fprintf(stderr, "cowbench: %s: %s\n", what, strerror(err));
	printf("@FATAL %s: %s\n", what, strerror(err));
	fflush(stdout);
	exit(1);
}

#define CHECK(cond, what) do { if (!(cond)) die(what, errno); } while (0)
#define CHECKR(r, what) do { int _r = (r); if (_r < 0) die(what, -_r); } while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static size_t mib(unsigned long m)
{
	unsigned long v = m / div_;

	if (quick)
		v = m >= 1024 ? 8 : m >= 256 ? 4 : 2;
	return (v ? v : 1) * MIB;
}

static int enabled(const char *s)
{
	const char *p;
	size_t n = strlen(s);

	if (!only)
		return 1;
	for (p = only; (p = strstr(p, s)); p += n)
		if ((p == only || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double quant(const double *s, int n, double q)
{
	double pos = q * (n - 1);
	int i = (int)pos;

	if (i + 1 >= n)
		return s[n - 1];
	return s[i] + (pos - i) * (s[i + 1] - s[i]);
}

/* One CSV row: median, min, max, q1, q3 of v[0..n). */
static void emit(const char *sc, const char *params, double x,
		 const char *method, const char *metric, const char *unit,
		 const double *v, int n)
{
	double s[MAXREPS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmpd);
	printf("@CSV %s,%s,%g,%s,%s,%s,%.4g,%.4g,%.4g,%.4g,%.4g,%d\n", sc, params,
	       x, method, metric, unit, quant(s, n, 0.5), s[0], s[n - 1],
	       quant(s, n, 0.25), quant(s, n, 0.75), n);
	fflush(stdout);
}

/* ---- memory helpers --------------------------------------------------- */

static void fill_fd(int fd, size_t len)
{
	static char buf[1 << 20];
	size_t off;

	memset(buf, 0x5a, sizeof(buf));
	for (off = 0; off < len; off += sizeof(buf)) {
		size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);

		CHECK(pwrite(fd, buf, n, off) == (ssize_t)n, "pwrite");
	}
}

static int make_region(size_t len)
{
	int fd = cowshare_create(len, COWSHARE_CLOEXEC);

	CHECKR(fd, "cowshare_create");
	fill_fd(fd, len);
	return fd;
}

static int make_memfd(size_t len)
{
	int fd = memfd_create("cowbench", MFD_CLOEXEC);

	CHECK(fd >= 0, "memfd_create");
	CHECK(ftruncate(fd, len) == 0, "ftruncate");
	fill_fd(fd, len);
	return fd;
}

static char *map_view(int region, size_t len)
{
	void *p;

	CHECKR(cowshare_map(region, len, PROT_READ | PROT_WRITE, 0, &p), "cowshare_map");
	return p;
}

static char *map_priv(int fd, size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);

	CHECK(p != MAP_FAILED, "mmap MAP_PRIVATE");
	return p;
}

/* Anonymous memory, written, 4 KiB pages (THP off for this range). */
static char *make_anon(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED, "mmap anon");
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 0x5a, len);
	return p;
}

static uint64_t read_pages(const char *p, size_t len)
{
	uint64_t sum = 0;
	size_t off;

	for (off = 0; off < len; off += pg)
		sum += *(const volatile char *)(p + off);
	return sum;
}

static void write_pages(char *p, size_t len, size_t stride)
{
	size_t off;

	for (off = 0; off < len; off += stride * pg)
		*(volatile char *)(p + off) = 1;
}

/* The "key: N kB" line of a /proc file, in KiB; -1 if there is none. */
static long proc_kib(const char *path, const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long meminfo(const char *key)
{
	return proc_kib("/proc/meminfo", key);
}

/* Free memory in KiB: MemFree plus the pages sitting on the per-cpu free
 * lists, which MemFree leaves out (megabytes after a large free). */
static long free_kib(void)
{
	char line[256];
	long pcp = 0;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *p = strstr(line, "count:");

			if (p && strspn(line, " ") > 8)
				pcp += strtol(p + 6, NULL, 10);
		}
		fclose(f);
	}
	return meminfo("MemFree") + pcp * (long)(pg / 1024);
}

static uint64_t cow_pages(void)
{
	struct cowshare_global_info gi;

	CHECKR(cowshare_global_info(&gi), "cowshare_global_info");
	return gi.base_pages + gi.private_pages;
}

/* Touch most of the guest's RAM once: QEMU's own first touch of guest
 * memory otherwise lands in whichever measurement comes first. */
static void warm_guest_ram(void)
{
	long avail = meminfo("MemFree");
	size_t len;
	char *p;

	if (avail < 512 * 1024)
		return;
	len = (size_t)(avail - 256 * 1024) * 1024;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p != MAP_FAILED)
		munmap(p, len);
	printf("@INFO warmed %zu MiB of guest RAM\n", len / MIB);
}

static void reap(pid_t pid)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die("child failed", ECHILD);
}

/* ---- fd passing --------------------------------------------------------- */

struct req {
	int kind;	/* 0 exit, 1 cowshare view, 2 memfd MAP_PRIVATE */
	size_t len;
};

static void send_fd(int sock, const struct req *r, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)r, .iov_len = sizeof(*r) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(cbuf, 0, sizeof(cbuf));
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	CHECK(sendmsg(sock, &mh, 0) == sizeof(*r), "sendmsg");
}

static int recv_fd(int sock, struct req *r)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = r, .iov_len = sizeof(*r) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd = -1;

	if (recvmsg(sock, &mh, 0) != sizeof(*r))
		return -2;
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* The "new process": small, started before any image exists; receives an
 * fd, maps it, reads one page (the middle one), reports the time. */
static void sharer_loop(int sock)
{
	struct req r;
	char ack = 1;

	for (;;) {
		int fd = recv_fd(sock, &r);
		char *p;

		if (fd == -2 || r.kind == 0)
			_exit(0);
		if (r.kind == 1)
			p = map_view(fd, r.len);
		else
			p = map_priv(fd, r.len);
		shm->sum += *(volatile char *)(p + (r.len / 2 / pg) * pg);
		shm->t1 = now_ns();
		munmap(p, r.len);
		close(fd);
		CHECK(write(sock, &ack, 1) == 1, "ack");
	}
}

/* ---- s1: new sharer ------------------------------------------------------ */

static void s1(int region, int mfd, int sock)
{
	static const unsigned long sizes[] = { 64, 256, 1024 };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		size_t len = mib(sizes[i]);
		double vc[MAXREPS], vf[MAXREPS], vm[MAXREPS];
		char params[64], ack;
		char *anon = make_anon(len);
		struct req r = { .len = len };
		int k;

		if (quick && i && len == mib(sizes[i - 1])) {
			munmap(anon, len);
			continue;
		}
		for (k = 0; k < reps; k++) {
			uint64_t t0;
			pid_t pid;

			r.kind = 1;
			t0 = now_ns();
			send_fd(sock, &r, region);
			CHECK(read(sock, &ack, 1) == 1, "ack");
			vc[k] = (shm->t1 - t0) / 1e3;

			t0 = now_ns();
			pid = fork();
			CHECK(pid >= 0, "fork");
			if (!pid) {
				shm->sum += *(volatile char *)(anon + (len / 2 / pg) * pg);
				shm->t1 = now_ns();
				_exit(0);
			}
			reap(pid);
			vf[k] = (shm->t1 - t0) / 1e3;

			r.kind = 2;
			t0 = now_ns();
			send_fd(sock, &r, mfd);
			CHECK(read(sock, &ack, 1) == 1, "ack");
			vm[k] = (shm->t1 - t0) / 1e3;
		}
		snprintf(params, sizeof(params), "S=%zuMiB", len / MIB);
		emit("s1", params, len / MIB, "cowshare", "time_to_first_read", "us", vc, reps);
		emit("s1", params, len / MIB, "fork", "time_to_first_read", "us", vf, reps);
		emit("s1", params, len / MIB, "memfd_private", "time_to_first_read", "us", vm, reps);
		munmap(anon, len);
	}
}

/* ---- s2: read every page ---------------------------------------------- */

static void s2(int region, int mfd)
{
	size_t len = mib(256), npages = len / pg;
	double tc[MAXREPS], tm[MAXREPS], tf[MAXREPS];
	double fc[MAXREPS], fm[MAXREPS], ff[MAXREPS];
	char *anon = make_anon(len), params[64];
	int k;

	for (k = 0; k < reps; k++) {
		uint64_t t0;
		long f0;
		char *p;
		pid_t pid;

		p = map_view(region, len);
		f0 = minflt();
		t0 = now_ns();
		shm->sum += read_pages(p, len);
		tc[k] = (double)(now_ns() - t0) / npages;
		fc[k] = minflt() - f0;
		munmap(p, len);

		p = map_priv(mfd, len);
		f0 = minflt();
		t0 = now_ns();
		shm->sum += read_pages(p, len);
		tm[k] = (double)(now_ns() - t0) / npages;
		fm[k] = minflt() - f0;
		munmap(p, len);

		pid = fork();
		CHECK(pid >= 0, "fork");
		if (!pid) {
			f0 = minflt();
			t0 = now_ns();
			shm->sum += read_pages(anon, len);
			shm->ns = now_ns() - t0;
			shm->minflt = minflt() - f0;
			_exit(0);
		}
		reap(pid);
		tf[k] = (double)shm->ns / npages;
		ff[k] = shm->minflt;
	}
	snprintf(params, sizeof(params), "S=%zuMiB", len / MIB);
	emit("s2", params, len / MIB, "cowshare", "ns_per_page", "ns", tc, reps);
	emit("s2", params, len / MIB, "memfd_private", "ns_per_page", "ns", tm, reps);
	emit("s2", params, len / MIB, "fork_child", "ns_per_page", "ns", tf, reps);
	emit("s2", params, len / MIB, "cowshare", "minflt", "faults", fc, reps);
	emit("s2", params, len / MIB, "memfd_private", "minflt", "faults", fm, reps);
	emit("s2", params, len / MIB, "fork_child", "minflt", "faults", ff, reps);
	munmap(anon, len);
}

/* ---- s3: first write to every page -------------------------------------- */

struct uffd_ctx {
	int uffd, stop;
	char *base, *backup;
};

static void *uffd_handler(void *arg)
{
	struct uffd_ctx *u = arg;
	struct pollfd pf[2] = { { .fd = u->uffd, .events = POLLIN },
				{ .fd = u->stop, .events = POLLIN } };

	for (;;) {
		struct uffd_msg msg;
		struct uffdio_writeprotect wp;
		unsigned long addr;

		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents)
			return NULL;
		if (read(u->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT ||
		    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
			continue;
		addr = msg.arg.pagefault.address & ~(pg - 1);
		/* the handler's copy: save the page before it changes */
		memcpy(u->backup + (addr - (unsigned long)u->base), (void *)addr, pg);
		wp.range.start = addr;
		wp.range.len = pg;
		wp.mode = 0;	/* un-protect and wake the writer */
		if (ioctl(u->uffd, UFFDIO_WRITEPROTECT, &wp))
			die("UFFDIO_WRITEPROTECT", errno);
	}
}

/* Sets *why and returns -1 when the kernel has no anon write-protect. */
static int uffd_setup(struct uffd_ctx *u, char *base, size_t len, const char **why)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { (unsigned long)base, len },
				       .mode = UFFDIO_REGISTER_MODE_WP };

	u->uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->uffd < 0) {
		*why = errno == ENOSYS ? "no userfaultfd syscall" : strerror(errno);
		return -1;
	}
	if (ioctl(u->uffd, UFFDIO_API, &api)) {
		*why = "UFFDIO_API failed";
		goto fail;
	}
	if (!(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		*why = "kernel lacks UFFD_FEATURE_PAGEFAULT_FLAG_WP";
		goto fail;
	}
	if (ioctl(u->uffd, UFFDIO_REGISTER, &reg)) {
		*why = "UFFDIO_REGISTER_MODE_WP refused on anonymous memory";
		goto fail;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT))) {
		*why = "UFFDIO_WRITEPROTECT not offered for the range";
		goto fail;
	}
	u->base = base;
	return 0;
fail:
	close(u->uffd);
	return -1;
}

static void s3(int region, int mfd)
{
	size_t len = mib(32), npages = len / pg;
	double vc[MAXREPS], vf[MAXREPS], vm[MAXREPS], vu[MAXREPS], vx[MAXREPS];
	char *anon = make_anon(len), *uanon = make_anon(len), *dst = make_anon(len);
	char params[64];
	struct uffd_ctx u;
	const char *why = NULL;
	pthread_t th;
	int k, pipefd[2], have_uffd;

	have_uffd = uffd_setup(&u, uanon, len, &why) == 0;
	if (have_uffd) {
		CHECK(pipe(pipefd) == 0, "pipe");
		u.stop = pipefd[0];
		u.backup = dst;
		CHECK(pthread_create(&th, NULL, uffd_handler, &u) == 0, "pthread_create");
	} else {
		printf("@SKIP s3 uffd_wp_copy: %s\n", why);
	}
	for (k = 0; k < reps; k++) {
		uint64_t t0;
		size_t off;
		char *p;
		pid_t pid;

		p = map_view(region, len);
		t0 = now_ns();
		write_pages(p, len, 1);
		vc[k] = (double)(now_ns() - t0) / npages;
		munmap(p, len);

		pid = fork();
		CHECK(pid >= 0, "fork");
		if (!pid) {
			t0 = now_ns();
			write_pages(anon, len, 1);
			shm->ns = now_ns() - t0;
			_exit(0);
		}
		reap(pid);
		vf[k] = (double)shm->ns / npages;

		p = map_priv(mfd, len);
		t0 = now_ns();
		write_pages(p, len, 1);
		vm[k] = (double)(now_ns() - t0) / npages;
		munmap(p, len);

		if (have_uffd) {
			struct uffdio_writeprotect wp = {
				.range = { (unsigned long)uanon, len },
				.mode = UFFDIO_WRITEPROTECT_MODE_WP };

			CHECK(ioctl(u.uffd, UFFDIO_WRITEPROTECT, &wp) == 0, "UFFDIO_WRITEPROTECT");
			t0 = now_ns();
			write_pages(uanon, len, 1);
			vu[k] = (double)(now_ns() - t0) / npages;
		}

		t0 = now_ns();
		for (off = 0; off < len; off += pg)
			memcpy(dst + off, anon + off, pg);
		vx[k] = (double)(now_ns() - t0) / npages;
		shm->sum += dst[len - 1];
	}
	snprintf(params, sizeof(params), "S=%zuMiB", len / MIB);
	emit("s3", params, len / MIB, "cowshare", "ns_per_page", "ns", vc, reps);
	emit("s3", params, len / MIB, "fork_child_cow", "ns_per_page", "ns", vf, reps);
	emit("s3", params, len / MIB, "memfd_private_cow", "ns_per_page", "ns", vm, reps);
	if (have_uffd)
		emit("s3", params, len / MIB, "uffd_wp_copy", "ns_per_page", "ns", vu, reps);
	emit("s3", params, len / MIB, "memcpy_4k", "ns_per_page", "ns", vx, reps);
	if (have_uffd) {
		CHECK(write(pipefd[1], "x", 1) == 1, "stop");
		pthread_join(th, NULL);
		close(u.uffd);
		close(pipefd[0]);
		close(pipefd[1]);
	}
	munmap(anon, len);
	munmap(uanon, len);
	munmap(dst, len);
}

/* ---- s4: fork with a fully read view ------------------------------------ */

/* A subject process: on each byte received, time one fork(), send ns. */
static pid_t fork_subject(int region, size_t len, int *cmd, int *res)
{
	int c[2], r[2];
	pid_t pid;

	CHECK(pipe(c) == 0 && pipe(r) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		char x;

		close(c[1]);
		close(r[0]);
		if (region >= 0)
			shm->sum += read_pages(map_view(region, len), len);
		while (read(c[0], &x, 1) == 1) {
			uint64_t t0 = now_ns(), ns;
			pid_t ch = fork();

			CHECK(ch >= 0, "fork");
			if (!ch)
				_exit(0);
			ns = now_ns() - t0;
			reap(ch);
			CHECK(write(r[1], &ns, sizeof(ns)) == sizeof(ns), "write");
		}
		_exit(0);
	}
	close(c[0]);
	close(r[1]);
	*cmd = c[1];
	*res = r[0];
	return pid;
}

static double subject_fork(int cmd, int res)
{
	uint64_t ns;

	CHECK(write(cmd, "f", 1) == 1, "write");
	CHECK(read(res, &ns, sizeof(ns)) == sizeof(ns), "read");
	return ns / 1e3;
}

static void s4(int region)
{
	size_t len = mib(1024);
	double vw[MAXREPS], vn[MAXREPS];
	int cw, rw, cn, rn, k, n = reps * 3 > MAXREPS ? MAXREPS : reps * 3;
	pid_t pw, pn;
	char params[64];

	pn = fork_subject(-1, 0, &cn, &rn);
	pw = fork_subject(region, len, &cw, &rw);
	subject_fork(cw, rw);	/* waits until the view is read */
	subject_fork(cn, rn);
	for (k = 0; k < n; k++) {	/* cheap and noisy: 3x the repetitions */
		vw[k] = subject_fork(cw, rw);
		vn[k] = subject_fork(cn, rn);
	}
	close(cw);
	close(cn);
	reap(pw);
	reap(pn);
	close(rw);
	close(rn);
	snprintf(params, sizeof(params), "S=%zuMiB", len / MIB);
	emit("s4", params, len / MIB, "fork_with_view", "fork", "us", vw, n);
	emit("s4", params, len / MIB, "fork_without_view", "fork", "us", vn, n);
}

/* ---- s5: memory with N sharers ------------------------------------------- */

struct memsnap {
	long memfree, memavail, pagetables;
	uint64_t cow;
};

static void snap(struct memsnap *m)
{
	m->memfree = free_kib();
	m->memavail = meminfo("MemAvailable");
	m->pagetables = meminfo("PageTables");
	m->cow = cow_pages();
}

/* method 0 cowshare, 1 memfd MAP_PRIVATE, 2 fork (anon) */
static void s5_once(int method, int n, size_t stride, size_t len, double *out)
{
	struct memsnap a, b;
	int ready[2], go[2], i, fd = -1;
	char *anon = NULL, x;
	pid_t pids[128];

	sync();
	snap(&a);
	if (method == 0)
		fd = make_region(len);
	else if (method == 1)
		fd = make_memfd(len);
	else
		anon = make_anon(len);
	CHECK(pipe(ready) == 0 && pipe(go) == 0, "pipe");
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0, "fork");
		if (!pids[i]) {
			char *p = anon;

			close(ready[0]);
			close(go[1]);
			if (method == 0)
				p = map_view(fd, len);
			else if (method == 1)
				p = map_priv(fd, len);
			shm->sum += read_pages(p, len);
			if (stride)
				write_pages(p, len, stride);
			CHECK(write(ready[1], "r", 1) == 1, "ready");
			if (read(go[0], &x, 1) < 0)
				_exit(1);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (i = 0; i < n; i++)
		CHECK(read(ready[0], &x, 1) == 1, "ready");
	snap(&b);
	close(go[1]);
	for (i = 0; i < n; i++)
		reap(pids[i]);
	close(ready[0]);
	if (fd >= 0)
		close(fd);
	if (anon)
		munmap(anon, len);
	out[0] = (a.memfree - b.memfree) / 1024.0;
	out[1] = (a.memavail - b.memavail) / 1024.0;
	out[2] = (b.pagetables - a.pagetables) / 1024.0;
	out[3] = (double)(b.cow - a.cow) * pg / MIB;
}

static void s5(void)
{
	static const int ns_full[] = { 1, 8, 32, 64 }, ns_quick[] = { 1, 4 };
	static const size_t strides[] = { 0, 100, 10 };	/* p = 0%, 1%, 10% */
	static const char *const names[] = { "cowshare", "memfd_private", "fork" };
	const int *ns = quick ? ns_quick : ns_full;
	int nn = quick ? 2 : 4, r5 = quick ? 1 : s5_reps, in, ip, m, k;
	size_t len = quick ? mib(256) : s5_mib * MIB, npages = len / pg;

	for (ip = 0; ip < 3; ip++)
		for (in = 0; in < nn; in++) {
			double v[3][4][MAXREPS], ideal, pct = ip ? 100.0 / strides[ip] : 0;
			char params[64];
			size_t written = strides[ip] ? (npages + strides[ip] - 1) / strides[ip] : 0;

			ideal = (double)(npages + (size_t)ns[in] * written) * pg / MIB;
			for (k = 0; k < r5; k++)
				for (m = 0; m < 3; m++) {
					double o[4];
					int j;

					s5_once(m, ns[in], strides[ip], len, o);
					for (j = 0; j < 4; j++)
						v[m][j][k] = o[j];
				}
			snprintf(params, sizeof(params), "S=%zuMiB;N=%d;p=%g%%", len / MIB, ns[in], pct);
			for (m = 0; m < 3; m++) {
				double id[MAXREPS];

				for (k = 0; k < r5; k++)
					id[k] = ideal;
				emit("s5", params, ns[in], names[m], "memfree_delta", "MiB", v[m][0], r5);
				emit("s5", params, ns[in], names[m], "memavail_delta", "MiB", v[m][1], r5);
				emit("s5", params, ns[in], names[m], "pagetables_delta", "MiB", v[m][2], r5);
				if (m == 0)
					emit("s5", params, ns[in], names[m], "module_counters", "MiB", v[m][3], r5);
				emit("s5", params, ns[in], names[m], "ideal", "MiB", id, r5);
			}
		}
}

/* ---- s6: reset and dirty report ------------------------------------------ */

static int pagemap_count(int pm, char *p, size_t len, uint64_t *buf)
{
	size_t n = len / pg, i;
	int cnt = 0;

	CHECK(pread(pm, buf, n * 8, (unsigned long)p / pg * 8) == (ssize_t)(n * 8), "pagemap");
	for (i = 0; i < n; i++)	/* present, not file/shared: a private copy */
		if ((buf[i] >> 63 & 1) && !(buf[i] >> 61 & 1))
			cnt++;
	return cnt;
}

static void s6(int region, int mfd)
{
	static const size_t strides[] = { 1000, 100, 10 };	/* 0.1%, 1%, 10% */
	size_t len = mib(1024), npages = len / pg;
	uint64_t *bitmap = calloc((npages + 63) / 64, 8), *pmbuf = calloc(npages, 8);
	char *v = map_view(region, len), *mp = map_priv(mfd, len);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), ip, k;

	CHECK(bitmap && pmbuf, "calloc");
	CHECK(pm >= 0, "open pagemap");
	shm->sum += read_pages(v, len) + read_pages(mp, len);
	for (ip = 0; ip < 3; ip++) {
		double vr[MAXREPS], vd[MAXREPS], vu[MAXREPS], vdr[MAXREPS], vp[MAXREPS];
		size_t dirty = (npages + strides[ip] - 1) / strides[ip];
		char params[64];
		double pct = 100.0 / strides[ip];

		for (k = 0; k < reps; k++) {
			uint64_t t0;
			int r;

			write_pages(v, len, strides[ip]);
			t0 = now_ns();
			r = cowshare_dirty(region, v, len, bitmap, 0);
			vdr[k] = (now_ns() - t0) / 1e3;
			CHECK(r == (int)dirty, "cowshare_dirty count");
			t0 = now_ns();
			r = cowshare_reset(region, v, len);
			vr[k] = (now_ns() - t0) / 1e3;
			CHECK(r == (int)dirty, "cowshare_reset count");

			write_pages(mp, len, strides[ip]);
			t0 = now_ns();
			r = pagemap_count(pm, mp, len, pmbuf);
			vp[k] = (now_ns() - t0) / 1e3;
			CHECK(r == (int)dirty, "pagemap count");
			t0 = now_ns();
			CHECK(madvise(mp, len, MADV_DONTNEED) == 0, "madvise");
			vd[k] = (now_ns() - t0) / 1e3;
			shm->sum += read_pages(mp, len);

			write_pages(mp, len, strides[ip]);
			t0 = now_ns();
			munmap(mp, len);
			mp = map_priv(mfd, len);
			vu[k] = (now_ns() - t0) / 1e3;
			shm->sum += read_pages(mp, len);
		}
		snprintf(params, sizeof(params), "S=%zuMiB;p=%g%%", len / MIB, pct);
		emit("s6", params, pct, "cowshare_reset", "reset", "us", vr, reps);
		emit("s6", params, pct, "madv_dontneed", "reset", "us", vd, reps);
		emit("s6", params, pct, "munmap_mmap", "reset", "us", vu, reps);
		emit("s6", params, pct, "cowshare_dirty", "dirty_report", "us", vdr, reps);
		emit("s6", params, pct, "pagemap", "dirty_report", "us", vp, reps);
	}
	close(pm);
	munmap(v, len);
	munmap(mp, len);
	free(bitmap);
	free(pmbuf);
}

/* ---- s7: snapshot --------------------------------------------------------- */

static void s7(int region)
{
	static const size_t strides[] = { 100 };	/* 1% */
	/* 128 MiB, not 1 GiB: the memfd copy of 1 GiB takes 30 s a
	 * repetition under TCG. The snapshot is O(copies), the copy O(S):
	 * a smaller S understates cowshare's advantage. */
	size_t len = mib(128);
	char *v = map_view(region, len);
	int ip, k;

	shm->sum += read_pages(v, len);
	for (ip = 0; ip < 1; ip++) {
		double ts[MAXREPS], ms[MAXREPS], tm[MAXREPS], mm[MAXREPS];
		double pct = 100.0 / strides[ip];
		char params[64];

		cowshare_reset(region, v, len);
		write_pages(v, len, strides[ip]);
		for (k = 0; k < reps; k++) {
			long f0;
			uint64_t t0;
			int fd;

			sync();
			f0 = free_kib();
			t0 = now_ns();
			fd = cowshare_snapshot(region, v, len, COWSHARE_CLOEXEC);
			ts[k] = (now_ns() - t0) / 1e3;
			CHECKR(fd, "cowshare_snapshot");
			ms[k] = (f0 - free_kib()) / 1024.0;
			close(fd);

			f0 = free_kib();
			t0 = now_ns();
			fd = memfd_create("copy", MFD_CLOEXEC);
			CHECK(fd >= 0 && ftruncate(fd, len) == 0, "memfd");
			CHECK(write(fd, v, len) == (ssize_t)len, "write memfd");
			tm[k] = (now_ns() - t0) / 1e3;
			mm[k] = (f0 - free_kib()) / 1024.0;
			close(fd);
		}
		snprintf(params, sizeof(params), "S=%zuMiB;p=%g%%", len / MIB, pct);
		emit("s7", params, pct, "cowshare_snapshot", "time", "us", ts, reps);
		emit("s7", params, pct, "memfd_copy", "time", "us", tm, reps);
		emit("s7", params, pct, "cowshare_snapshot", "memfree_delta", "MiB", ms, reps);
		emit("s7", params, pct, "memfd_copy", "memfree_delta", "MiB", mm, reps);
	}
	munmap(v, len);
}

/* ---- s10: read every page of a huge view ---------------------------------- */

static long vmpte_kib(void)
{
	return proc_kib("/proc/self/status", "VmPTE");
}

/* Fill @fd with PMD-covering writes (32 MiB: a whole number of PMDs on 4 and 16 KiB pages). */
static void fill_fd_big(int fd, size_t len)
{
	size_t chunk = 32 * MIB, off;
	char *buf = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(buf != MAP_FAILED, "mmap");
	memset(buf, 0x5a, chunk);
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		CHECK(pwrite(fd, buf, n, off) == (ssize_t)n, "pwrite");
	}
	munmap(buf, chunk);
}

/* shmem's THP setting, for memfd's own huge pages; "" if there is none. */
static void shmem_thp(const char *set, char *old, size_t n)
{
	const char *path = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	FILE *f;

	if (old) {
		old[0] = 0;
		f = fopen(path, "r");
		if (f) {
			char buf[128], *a, *b;

			if (fgets(buf, sizeof(buf), f) && (a = strchr(buf, '[')) && (b = strchr(a, ']'))) {
				*b = 0;
				snprintf(old, n, "%s", a + 1);
			}
			fclose(f);
		}
	}
	if (set && *set) {
		f = fopen(path, "w");
		if (f) {
			fputs(set, f);
			fclose(f);
		}
	}
}

enum { M10_HUGE, M10_4K, M10_MEMFD, M10_MEMFD_THP, M10_N };
static const char *const m10_names[M10_N] = {
	"cowshare_huge", "cowshare_4k", "memfd_private", "memfd_private_thp" };

/*
 * A sealed region of S written in whole PMDs (a huge view maps it with
 * PMDs), the same with COWSHARE_NO_HUGE (4 KiB ptes), a memfd with 4 KiB
 * pages and a memfd with shmem's own THP (shmem_enabled=advise, filled
 * and read through MADV_HUGEPAGE mappings), each read one byte a page
 * from a fresh mapping: time per page, faults, page tables added. The
 * huge-page issue's goals name 1 GiB; every term here scales with S.
 */
static void s10(void)
{
	size_t len = mib(512), npages;	/* four images of it live at once */
	double t[M10_N][MAXREPS], fl[M10_N][MAXREPS], pt[M10_N][MAXREPS], wr[2][MAXREPS];
	size_t stride = 2 * MIB / pg;	/* a write every 2 MiB: one per PMD on 4 KiB pages */
	int fd[M10_N], k, m;
	char params[64], old[64];
	struct cowshare_view_info vi;

	npages = len / pg;
	fd[M10_HUGE] = cowshare_create(len, COWSHARE_CLOEXEC);
	CHECKR(fd[M10_HUGE], "cowshare_create");
	fill_fd_big(fd[M10_HUGE], len);
	CHECKR(cowshare_seal(fd[M10_HUGE]), "cowshare_seal");
	fd[M10_4K] = cowshare_create(len, COWSHARE_CLOEXEC | COWSHARE_NO_HUGE);
	CHECKR(fd[M10_4K], "cowshare_create");
	fill_fd_big(fd[M10_4K], len);
	CHECKR(cowshare_seal(fd[M10_4K]), "cowshare_seal");
	fd[M10_MEMFD] = make_memfd(len);
	shmem_thp("advise", old, sizeof(old));
	fd[M10_MEMFD_THP] = memfd_create("cowbench-thp", MFD_CLOEXEC);
	CHECK(fd[M10_MEMFD_THP] >= 0 && ftruncate(fd[M10_MEMFD_THP], len) == 0, "memfd");
	{
		char *w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd[M10_MEMFD_THP], 0);

		CHECK(w != MAP_FAILED, "mmap memfd");
		madvise(w, len, MADV_HUGEPAGE);
		memset(w, 0x5a, len);
		munmap(w, len);
	}
	for (k = 0; k < reps; k++) {
		for (m = 0; m < M10_N; m++) {
			uint64_t t0;
			long f0, p0;
			char *p;

			if (m == M10_HUGE || m == M10_4K) {
				p = map_view(fd[m], len);
				if (!k && !cowshare_view_info(fd[m], p, &vi))
					printf("@INFO s10 %s: view_flags %#llx\n", m10_names[m],
					       (unsigned long long)vi.view_flags);
			} else {
				p = map_priv(fd[m], len);
				if (m == M10_MEMFD_THP)
					madvise(p, len, MADV_HUGEPAGE);
			}
			p0 = vmpte_kib();
			f0 = minflt();
			t0 = now_ns();
			shm->sum += read_pages(p, len);
			t[m][k] = (double)(now_ns() - t0) / npages;
			fl[m][k] = minflt() - f0;
			pt[m][k] = vmpte_kib() - p0;
			/* The first write to a page of each 2 MiB: PMD split + copy, or copy. */
			if (m == M10_HUGE || m == M10_4K) {
				t0 = now_ns();
				write_pages(p, len, stride);
				wr[m][k] = (double)(now_ns() - t0) / (npages / stride);
			}
			munmap(p, len);
		}
	}
	shmem_thp(old, NULL, 0);
	snprintf(params, sizeof(params), "S=%zuMiB", len / MIB);
	for (m = 0; m < M10_N; m++) {
		emit("s10", params, len / MIB, m10_names[m], "ns_per_page", "ns", t[m], reps);
		emit("s10", params, len / MIB, m10_names[m], "minflt", "faults", fl[m], reps);
		emit("s10", params, len / MIB, m10_names[m], "vmpte", "KiB", pt[m], reps);
		if (m == M10_HUGE || m == M10_4K)
			emit("s10", params, len / MIB, m10_names[m], "first_write", "ns", wr[m], reps);
		close(fd[m]);
	}
}

/* ---- s8: start many processes from a snapshot ----------------------------- */

/*
 * Memory as /proc/meminfo and the module tell it, for a breakdown that
 * explains every MiB the sharers add: free memory (what they cost in all),
 * anonymous pages (fork's and memfd's copies), shmem (memfd's page cache),
 * page tables, slab (the module's own objects counted apart), kernel stacks,
 * and the module's physical copies and base pages.
 */
struct mem8 {
	long free, anon, shmem, pt, slab, kstack;
	uint64_t copies, cache, meta;
};

static void snap8(struct mem8 *m)
{
	struct cowshare_global_info gi;

	m->free = free_kib();
	m->anon = meminfo("AnonPages");
	m->shmem = meminfo("Shmem");
	m->pt = meminfo("PageTables");
	m->slab = meminfo("Slab");
	m->kstack = meminfo("KernelStack");
	memset(&gi, 0, sizeof(gi));
	if (!cowshare_global_info(&gi)) {
		m->copies = gi.copy_pages;
		m->cache = gi.cache_pages;
		m->meta = gi.meta_bytes;
	} else {
		m->copies = m->cache = m->meta = 0;
	}
}

/* Whether page i is one of the W% a template writes (spread, deterministic). */
static int s8_written(size_t i, unsigned int w)
{
	return (i * 2654435761u >> 7) % 100 < w;
}

enum { M8_COWSHARE, M8_FORK, M8_MEMFD, M8_N };
static const char *const m8_names[M8_N] = { "cowshare_snapshot", "fork", "memfd_private" };

/* Results of one start of N sharers, in shm->res. */
enum { R8_MS, R8_FREE, R8_ANON, R8_SHMEM, R8_PT, R8_SLAB, R8_KSTACK, R8_COPIES,
       R8_CACHE, R8_META, R8_N };

/*
 * Start @n sharers from here, each mapping its state (a view of @fd, a
 * memfd MAP_PRIVATE of @fd, or the anonymous @anon it inherits), reading
 * every page and writing one page in a hundred; timed from the first
 * fork() until the last has touched its set, memory taken while all of
 * them still hold theirs.
 */
static void s8_start(int method, int n, int fd, char *anon, size_t len)
{
	int ready[2], go[2], i;
	struct mem8 a, b;
	uint64_t t0, last = 0;
	pid_t pids[MAXKIDS];
	char x;

	CHECK(pipe(ready) == 0 && pipe(go) == 0, "pipe");
	snap8(&a);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0, "fork");
		if (!pids[i]) {
			char *p = anon;

			close(ready[0]);
			close(go[1]);
			if (method == M8_COWSHARE)
				p = map_view(fd, len);
			else if (method == M8_MEMFD)
				p = map_priv(fd, len);
			shm->sum += read_pages(p, len);
			write_pages(p, len, 100);
			shm->done[i] = now_ns();
			CHECK(write(ready[1], "r", 1) == 1, "ready");
			if (read(go[0], &x, 1) < 0)
				_exit(1);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (i = 0; i < n; i++)
		CHECK(read(ready[0], &x, 1) == 1, "ready");
	for (i = 0; i < n; i++)
		if (shm->done[i] > last)
			last = shm->done[i];
	snap8(&b);
	close(go[1]);
	for (i = 0; i < n; i++)
		reap(pids[i]);
	close(ready[0]);
	shm->res[R8_MS] = (last - t0) / 1e6;
	shm->res[R8_FREE] = (a.free - b.free) / 1024.0;
	shm->res[R8_ANON] = (b.anon - a.anon) / 1024.0;
	shm->res[R8_SHMEM] = (b.shmem - a.shmem) / 1024.0;
	shm->res[R8_PT] = (b.pt - a.pt) / 1024.0;
	shm->res[R8_SLAB] = (b.slab - a.slab) / 1024.0;
	shm->res[R8_KSTACK] = (b.kstack - a.kstack) / 1024.0;
	shm->res[R8_COPIES] = (double)(b.copies - a.copies) * pg / MIB;
	shm->res[R8_CACHE] = (double)(b.cache - a.cache) * pg / MIB;
	shm->res[R8_META] = ((double)b.meta - (double)a.meta) / MIB;
}

/*
 * fork's template: a process holding the image as anonymous memory (W% of
 * its pages written, the rest never touched, as a process that built that
 * state would), which starts the sharers itself on each command.
 */
static pid_t s8_fork_template(size_t len, unsigned int w, int *cmd, int *res)
{
	int c[2], r[2];
	pid_t pid;

	CHECK(pipe(c) == 0 && pipe(r) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		size_t i;
		int n;

		CHECK(p != MAP_FAILED, "mmap");
		madvise(p, len, MADV_NOHUGEPAGE);
		for (i = 0; i < len / pg; i++)
			if (s8_written(i, w))
				p[i * pg] = 0x5a;
		close(c[1]);
		close(r[0]);
		while (read(c[0], &n, sizeof(n)) == sizeof(n)) {
			s8_start(M8_FORK, n, -1, p, len);
			CHECK(write(r[1], "d", 1) == 1, "done");
		}
		_exit(0);
	}
	close(c[0]);
	close(r[1]);
	*cmd = c[1];
	*res = r[0];
	return pid;
}

/*
 * cowshare's template: a region whose view wrote W% of its pages, then a
 * snapshot of the view, which the sharers map. It stays alive (its view
 * keeps the copies it shares with the snapshot), in a process of its own
 * so that the sharers' parent maps nothing of it.
 */
static int s8_snapshot(size_t len, unsigned int w, pid_t *tpl, int *tsock)
{
	int sv[2], fd;
	struct req r;

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "socketpair");
	*tpl = fork();
	CHECK(*tpl >= 0, "fork");
	if (!*tpl) {
		int region = cowshare_create(len, COWSHARE_CLOEXEC), snap;
		struct req done = { 1, len };
		char *v, x;
		size_t i;

		CHECKR(region, "cowshare_create");
		v = map_view(region, len);
		for (i = 0; i < len / pg; i++)
			if (s8_written(i, w))
				v[i * pg] = 0x5a;
		snap = cowshare_snapshot(region, v, len, COWSHARE_CLOEXEC);
		CHECKR(snap, "cowshare_snapshot");
		close(sv[0]);
		send_fd(sv[1], &done, snap);
		close(snap);
		if (read(sv[1], &x, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(sv[1]);
	fd = recv_fd(sv[0], &r);
	CHECK(fd >= 0, "recv snapshot");
	*tsock = sv[0];		/* closed to end the template */
	return fd;
}

static void s8_emit_mem(const char *params, int n, int m, double v[][MAXREPS], int r8)
{
	static const struct { int idx; const char *metric; } cols[] = {
		{ R8_FREE, "memfree_delta" }, { R8_ANON, "anon_delta" },
		{ R8_SHMEM, "shmem_delta" }, { R8_PT, "pagetables_delta" },
		{ R8_SLAB, "slab_delta" }, { R8_KSTACK, "kstack_delta" },
		{ R8_COPIES, "module_copies" }, { R8_CACHE, "module_cache" },
		{ R8_META, "module_meta" },
	};
	unsigned int c;

	for (c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
		emit("s8", params, n, m8_names[m], cols[c].metric, "MiB", v[cols[c].idx], r8);
}

static void s8(void)
{
	static const int ns_full[] = { 8, 32, 64 }, ns_quick[] = { 2 };
	static const unsigned int ws[] = { 25, 90 };
	const int *ns = quick ? ns_quick : ns_full;
	int nn = quick ? 1 : 3, r8 = quick ? 1 : (reps < 5 ? reps : 5), iw, in, k, m, j;
	size_t len = mib(64);

	for (iw = 0; iw < 2; iw++) {
		unsigned int w = ws[iw];
		int snap, mfd, cmd, res, tsock;
		pid_t tpl, ftpl;
		char *buf = calloc(1, pg);
		size_t i;

		CHECK(buf != NULL, "calloc");
		snap = s8_snapshot(len, w, &tpl, &tsock);
		memset(buf, 0x5a, pg);
		ftpl = s8_fork_template(len, w, &cmd, &res);
		for (in = 0; in < nn; in++) {
			double v[M8_N][R8_N][MAXREPS];
			char params[64], x;

			for (k = 0; k < r8; k++)
				for (m = 0; m < M8_N; m++) {
					if (m == M8_FORK) {
						CHECK(write(cmd, &ns[in], sizeof(int)) == sizeof(int), "cmd");
						CHECK(read(res, &x, 1) == 1, "res");
					} else if (m == M8_COWSHARE) {
						s8_start(m, ns[in], snap, NULL, len);
					} else {
						/*
						 * A fresh memfd each time: the first sharer to
						 * read one of its holes allocates it, which a
						 * reused memfd would pay only once.
						 */
						mfd = memfd_create("s8", MFD_CLOEXEC);
						CHECK(mfd >= 0 && ftruncate(mfd, len) == 0, "memfd");
						for (i = 0; i < len / pg; i++)
							if (s8_written(i, w))
								CHECK(pwrite(mfd, buf, pg, i * pg) ==
								      (ssize_t)pg, "pwrite memfd");
						s8_start(m, ns[in], mfd, NULL, len);
						close(mfd);
					}
					for (j = 0; j < R8_N; j++)
						v[m][j][k] = shm->res[j];
				}
			snprintf(params, sizeof(params), "S=%zuMiB;N=%d;W=%u%%", len / MIB, ns[in], w);
			for (m = 0; m < M8_N; m++) {
				emit("s8", params, ns[in], m8_names[m], "start_all", "ms", v[m][R8_MS], r8);
				s8_emit_mem(params, ns[in], m, v[m], r8);
			}
		}
		close(cmd);
		reap(ftpl);
		close(res);
		close(snap);
		close(tsock);
		reap(tpl);
		free(buf);
	}
}

/* ---- s9: fork of a process whose view holds copies ----------------------- */

/*
 * A subject holding the image (a view with W% of its pages copied, or the
 * same data as anonymous memory, 4 KiB pages): each command forks once;
 * the child stays until the next command, so that what the fork added is
 * measured with both alive; results in shm->res: fork us, MiB added.
 */
static pid_t s9_subject(int view, size_t len, unsigned int w, int *cmd, int *res)
{
	int c[2], r[2];
	pid_t pid;

	CHECK(pipe(c) == 0 && pipe(r) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		char *p, x;
		size_t i;

		if (view) {
			int region = cowshare_create(len, COWSHARE_CLOEXEC);

			CHECKR(region, "cowshare_create");
			p = map_view(region, len);
		} else {
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0);
			CHECK(p != MAP_FAILED, "mmap");
			madvise(p, len, MADV_NOHUGEPAGE);
		}
		for (i = 0; i < len / pg; i++)
			if (s8_written(i, w))
				p[i * pg] = 0x5a;
		shm->sum += read_pages(p, len);
		close(c[1]);
		close(r[0]);
		while (read(c[0], &x, 1) == 1) {
			int hold[2];
			long f0, f1;
			uint64_t t0, ns;
			pid_t ch;

			CHECK(pipe(hold) == 0, "pipe");
			sync();
			f0 = free_kib();
			t0 = now_ns();
			ch = fork();
			CHECK(ch >= 0, "fork");
			if (!ch) {
				close(hold[1]);
				if (read(hold[0], &x, 1) < 0)
					_exit(1);
				_exit(0);
			}
			ns = now_ns() - t0;
			f1 = free_kib();
			close(hold[0]);
			close(hold[1]);
			reap(ch);
			shm->res[0] = ns / 1e3;
			shm->res[1] = (f0 - f1) / 1024.0;
			/* The first write afterwards, on the parent's side: one page. */
			t0 = now_ns();
			p[pg] = 0x6b;
			shm->res[2] = (now_ns() - t0) / 1e3;
			CHECK(write(r[1], "d", 1) == 1, "done");
		}
		_exit(0);
	}
	close(c[0]);
	close(r[1]);
	*cmd = c[1];
	*res = r[0];
	return pid;
}

static void s9(void)
{
	static const unsigned int ws[] = { 25, 90 };
	size_t len = mib(64);
	int iw, k, n = quick ? 1 : (reps * 2 > MAXREPS ? MAXREPS : reps * 2);

	for (iw = 0; iw < 2; iw++) {
		double fv[MAXREPS], fa[MAXREPS], mv[MAXREPS], ma[MAXREPS], wv[MAXREPS], wa[MAXREPS];
		int cv, rv, ca, ra;
		pid_t pv, pa;
		char params[64], x;

		pv = s9_subject(1, len, ws[iw], &cv, &rv);
		pa = s9_subject(0, len, ws[iw], &ca, &ra);
		for (k = -1; k < n; k++) {	/* one warm-up round */
			CHECK(write(cv, "f", 1) == 1 && read(rv, &x, 1) == 1, "subject");
			if (k >= 0) {
				fv[k] = shm->res[0];
				mv[k] = shm->res[1];
				wv[k] = shm->res[2];
			}
			CHECK(write(ca, "f", 1) == 1 && read(ra, &x, 1) == 1, "subject");
			if (k >= 0) {
				fa[k] = shm->res[0];
				ma[k] = shm->res[1];
				wa[k] = shm->res[2];
			}
		}
		close(cv);
		close(ca);
		reap(pv);
		reap(pa);
		close(rv);
		close(ra);
		snprintf(params, sizeof(params), "S=%zuMiB;W=%u%%", len / MIB, ws[iw]);
		emit("s9", params, ws[iw], "fork_with_written_view", "fork", "us", fv, n);
		emit("s9", params, ws[iw], "fork_with_anon", "fork", "us", fa, n);
		emit("s9", params, ws[iw], "fork_with_written_view", "memfree_delta", "MiB", mv, n);
		emit("s9", params, ws[iw], "fork_with_anon", "memfree_delta", "MiB", ma, n);
		emit("s9", params, ws[iw], "fork_with_written_view", "first_write", "us", wv, n);
		emit("s9", params, ws[iw], "fork_with_anon", "first_write", "us", wa, n);
	}
}

int main(int argc, char **argv)
{
	int i, sv[2], region, mfd;
	size_t big;
	pid_t sharer;
	struct req bye = { 0, 0 };
	uint64_t t0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--s5-reps") && i + 1 < argc)
			s5_reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--s5-mib") && i + 1 < argc)
			s5_mib = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--div") && i + 1 < argc)
			div_ = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else {
			fprintf(stderr, "usage: cowbench [--reps N] [--s5-reps N] [--s5-mib M] [--div D] [--quick] [--only s1,...]\n");
			return 2;
		}
	}
	if (quick)
		reps = s5_reps = 1;
	if (reps < 1 || reps > MAXREPS || s5_reps < 1 || s5_reps > MAXREPS || !div_ || !s5_mib) {
		fprintf(stderr, "cowbench: bad --reps/--s5-reps/--div\n");
		return 2;
	}
	pg = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	shm = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(shm != MAP_FAILED, "mmap shared");
	printf("@INFO page_size=%zu reps=%d s5_reps=%d div=%lu quick=%d\n",
	       pg, reps, s5_reps, div_, quick);
	warm_guest_ram();

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "socketpair");
	sharer = fork();
	CHECK(sharer >= 0, "fork");
	if (!sharer) {
		close(sv[0]);
		sharer_loop(sv[1]);
	}
	close(sv[1]);

	big = mib(1024);
	t0 = now_ns();
	region = make_region(big);
	mfd = make_memfd(big);
	printf("@INFO prepared %zu MiB cowshare region and memfd in %.1f s\n",
	       big / MIB, (now_ns() - t0) / 1e9);

#define RUN(name, call) do { if (enabled(#name)) { t0 = now_ns(); call; \
	printf("@INFO " #name " took %.1f s\n", (now_ns() - t0) / 1e9); } } while (0)
	RUN(s1, s1(region, mfd, sv[0]));
	send_fd(sv[0], &bye, -1);
	reap(sharer);
	RUN(s2, s2(region, mfd));
	RUN(s3, s3(region, mfd));
	RUN(s4, s4(region));
	RUN(s6, s6(region, mfd));
	close(mfd);
	RUN(s7, s7(region));	/* seals the region: last user of it */
	close(region);
	RUN(s5, s5());
	RUN(s8, s8());
	RUN(s9, s9());
	RUN(s10, s10());
	printf("@DONE\n");
	return 0;
}
