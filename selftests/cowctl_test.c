// SPDX-License-Identifier: GPL-2.0
/*
 * cowctl in the guest: stats (text and JSON against the counters), ls and
 * info while a helper process holds two regions and three views between
 * two processes, ls --json's ids, exit statuses 0/1/2, and load/unload of
 * a cowctl built without libkmod. Skips without /bin/cowctl (or $COWCTL).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define OUT_MAX	65536

struct run {
	int status;		/* exit status, or 128 + signal */
	char out[OUT_MAX];
	char err[OUT_MAX];
};

static const char *cowctl_path(void)
{
	const char *p = getenv("COWCTL");

	return p && *p ? p : "/bin/cowctl";
}

/* Drain both pipes until EOF on each. */
static void drain(int ofd, int efd, struct run *r)
{
	struct pollfd pf[2] = { { .fd = ofd, .events = POLLIN }, { .fd = efd, .events = POLLIN } };
	size_t olen = 0, elen = 0;
	ssize_t n;

	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[0].revents) {
			n = read(ofd, r->out + olen, OUT_MAX - 1 - olen);
			if (n <= 0)
				pf[0].fd = -1;
			else
				olen += (size_t)n;
		}
		if (pf[1].revents) {
			n = read(efd, r->err + elen, OUT_MAX - 1 - elen);
			if (n <= 0)
				pf[1].fd = -1;
			else
				elen += (size_t)n;
		}
	}
	r->out[olen] = '\0';
	r->err[elen] = '\0';
}

/* Run cowctl with args (NULL-terminated); output and status into r. */
static void cowctl(struct __test_metadata *_metadata, struct run *r, ...)
{
	const char *argv[16];
	int o[2], e[2], status;
	unsigned int n = 1;
	va_list ap;
	pid_t pid;

	argv[0] = "cowctl";
	va_start(ap, r);
	while (n < ARRAY_SIZE(argv) - 1 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	ASSERT_EQ(0, pipe2(o, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(e, O_CLOEXEC));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		execv(cowctl_path(), (char *const *)argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	drain(o[0], e[0], r);
	close(o[0]);
	close(e[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	r->status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* The unsigned number after "key": in a JSON text, from p on; -1 if none. */
static long long json_u64(const char *p, const char *key, const char **next)
{
	char pat[64];
	const char *q;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	q = strstr(p, pat);
	if (!q)
		return -1;
	q += strlen(pat);
	if (next)
		*next = q;
	return strtoll(q, NULL, 10);
}

/* The JSON object of region id in an ls --json array, or NULL. */
static const char *json_region(const char *text, uint64_t id)
{
	const char *p = text, *next;
	long long v;

	while ((v = json_u64(p, "id", &next)) >= 0) {
		if ((uint64_t)v == id)
			return next;
		p = next;
	}
	return NULL;
}

FIXTURE(cowctl)
{
	struct cs_env env;
	struct run r;
};

FIXTURE_SETUP(cowctl)
{
	if (access(cowctl_path(), X_OK))
		SKIP(return, "no %s", cowctl_path());
	env_setup(_metadata, &self->env);
}

FIXTURE_TEARDOWN(cowctl)
{
	if (!access(cowctl_path(), X_OK))
		env_teardown(_metadata, &self->env);
}

TEST_F(cowctl, stats)
{
	struct cowshare_global_info gi;
	int region = new_region(_metadata, psize());
	char line[64];

	global_info(_metadata, &gi);
	cowctl(_metadata, &self->r, "stats", NULL);
	EXPECT_EQ(0, self->r.status) {
		TH_LOG("stderr: %s", self->r.err);
	}
	snprintf(line, sizeof(line), "regions          %llu\n",
		 (unsigned long long)gi.regions);
	EXPECT_NE(NULL, strstr(self->r.out, line)) {
		TH_LOG("stdout: %s", self->r.out);
	}
	snprintf(line, sizeof(line), "page_size        %zu\n", psize());
	EXPECT_NE(NULL, strstr(self->r.out, line));

	cowctl(_metadata, &self->r, "stats", "--json", NULL);
	EXPECT_EQ(0, self->r.status);
	EXPECT_EQ('{', self->r.out[0]);
	EXPECT_EQ((long long)gi.regions, json_u64(self->r.out, "regions", NULL));
	EXPECT_EQ((long long)psize(), json_u64(self->r.out, "page_size", NULL));
	EXPECT_EQ((long long)gi.max_region_size,
		  json_u64(self->r.out, "max_region_size", NULL));
	EXPECT_EQ((long long)gi.huge_folios, json_u64(self->r.out, "huge_folios", NULL));
	EXPECT_LE(0, json_u64(self->r.out, "pmd_maps", NULL));
	EXPECT_LE(0, json_u64(self->r.out, "huge_fallbacks", NULL));
	/* Counted since load: at least what it was before cowctl ran. */
	EXPECT_LE((long long)gi.pmd_splits, json_u64(self->r.out, "pmd_splits", NULL));
	EXPECT_EQ(0, close(region));
}

TEST_F(cowctl, usage_and_exit_status)
{
	cowctl(_metadata, &self->r, "--help", NULL);
	EXPECT_EQ(0, self->r.status);
	EXPECT_NE(NULL, strstr(self->r.out, "ls [--json]"));
	cowctl(_metadata, &self->r, "--version", NULL);
	EXPECT_EQ(0, self->r.status);
	cowctl(_metadata, &self->r, NULL);
	EXPECT_EQ(2, self->r.status);
	cowctl(_metadata, &self->r, "frobnicate", NULL);
	EXPECT_EQ(2, self->r.status);
	cowctl(_metadata, &self->r, "stats", "extra", NULL);
	EXPECT_EQ(2, self->r.status);
	cowctl(_metadata, &self->r, "stats", "--bogus", NULL);
	EXPECT_EQ(2, self->r.status);
	cowctl(_metadata, &self->r, "ls", "extra", NULL);
	EXPECT_EQ(2, self->r.status);
	cowctl(_metadata, &self->r, "ls", "--help", NULL);
	EXPECT_EQ(0, self->r.status);
	cowctl(_metadata, &self->r, "info", NULL);
	EXPECT_EQ(2, self->r.status);
	cowctl(_metadata, &self->r, "info", "12x", NULL);
	EXPECT_EQ(2, self->r.status);
	cowctl(_metadata, &self->r, "info", "-5", NULL);
	EXPECT_EQ(2, self->r.status);
	cowctl(_metadata, &self->r, "info", "1", "2", NULL);
	EXPECT_EQ(2, self->r.status);
}

/*
 * A static guest cowctl has no libkmod: load and unload say so and exit 1.
 * A cowctl with libkmod would really load (the module is loaded: 0);
 * unload is then not tried, it could take the module away.
 */
TEST_F(cowctl, load_unload_without_libkmod)
{
	cowctl(_metadata, &self->r, "load", NULL);
	if (self->r.status == 0)
		SKIP(return, "cowctl has libkmod: load succeeded, unload not tried");
	EXPECT_EQ(1, self->r.status);
	EXPECT_NE(NULL, strstr(self->r.err, "built without libkmod")) {
		TH_LOG("stderr: %s", self->r.err);
	}
	cowctl(_metadata, &self->r, "unload", NULL);
	EXPECT_EQ(1, self->r.status);
	EXPECT_NE(NULL, strstr(self->r.err, "built without libkmod"));
	cowctl(_metadata, &self->r, "load", "--ko", "/lib/cowshare.ko", NULL);
	EXPECT_EQ(1, self->r.status);
	cowctl(_metadata, &self->r, "load", "extra", NULL);
	EXPECT_EQ(2, self->r.status);
	EXPECT_TRUE(access("/sys/module/cowshare", F_OK) == 0);
}

/*
 * A helper process creates regions a (2 pages) and b (3 pages), maps a
 * and b, writes a page of a, and forks a grandchild that inherits the
 * view of a: a has two views (two processes), b one. It sends the ids and
 * holds everything until told to go.
 */
TEST_F(cowctl, ls_and_info)
{
	const size_t p = psize();
	struct sync_pipes s;
	uint64_t ids[2];
	char row[128], idbuf[32];
	const char *obj;
	pid_t pid;

	sync_init(_metadata, &s);
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		int a = cowshare_create(2 * p, COWSHARE_CLOEXEC);
		int b = cowshare_create(3 * p - 1, COWSHARE_CLOEXEC);
		struct cowshare_region_info ri;
		char *va, *vb;
		pid_t gc;

		if (a < 0 || b < 0)
			_exit(2);
		va = mmap(NULL, 2 * p, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
		if (va == MAP_FAILED)
			_exit(3);
		va[0] = 1;
		if (cowshare_region_info(a, &ri))
			_exit(4);
		ids[0] = ri.id;
		if (cowshare_region_info(b, &ri))
			_exit(4);
		ids[1] = ri.id;
		gc = fork();
		if (gc < 0)
			_exit(5);
		if (!gc) {
			/* the second process: holds its view of a until killed */
			for (;;)
				pause();
		}
		/* after the fork: b's one view is the helper's only */
		vb = mmap(NULL, 3 * p, PROT_READ, MAP_SHARED, b, 0);
		if (vb == MAP_FAILED)
			_exit(3);
		(void)*(volatile char *)vb;
		if (write(s.to_parent[1], ids, sizeof(ids)) != sizeof(ids))
			_exit(6);
		sync_wait(s.to_child[0]);
		kill(gc, SIGKILL);
		waitpid(gc, NULL, 0);
		_exit(0);
	}
	close(s.to_parent[1]);
	ASSERT_EQ((ssize_t)sizeof(ids), read(s.to_parent[0], ids, sizeof(ids)));

	/* Text: a header and one row per region. */
	cowctl(_metadata, &self->r, "ls", NULL);
	EXPECT_EQ(0, self->r.status) {
		TH_LOG("stderr: %s", self->r.err);
	}
	EXPECT_EQ(0, strncmp(self->r.out, "ID ", 3));
	snprintf(row, sizeof(row), "\n%-8llu %14zu %10u %6u %10u %-6s %-4s %u\n",
		 (unsigned long long)ids[0], 2 * p, 0, 2, 2, "no", "no", geteuid());
	EXPECT_NE(NULL, strstr(self->r.out, row)) {
		TH_LOG("no row '%s' in:\n%s", row + 1, self->r.out);
	}
	snprintf(row, sizeof(row), "\n%-8llu %14zu %10u %6u %10u %-6s %-4s %u\n",
		 (unsigned long long)ids[1], 3 * p, 0, 1, 0, "no", "no", geteuid());
	EXPECT_NE(NULL, strstr(self->r.out, row)) {
		TH_LOG("no row '%s' in:\n%s", row + 1, self->r.out);
	}

	/* JSON: an array with both ids and their counters. */
	cowctl(_metadata, &self->r, "ls", "--json", NULL);
	EXPECT_EQ(0, self->r.status);
	EXPECT_EQ('[', self->r.out[0]);
	EXPECT_NE(NULL, strstr(self->r.out, "]\n"));
	obj = json_region(self->r.out, ids[0]);
	ASSERT_NE(NULL, obj) {
		TH_LOG("id %llu not in %s", (unsigned long long)ids[0], self->r.out);
	}
	EXPECT_EQ((long long)(2 * p), json_u64(obj, "length", NULL));
	EXPECT_EQ(2, json_u64(obj, "views", NULL));
	EXPECT_EQ(2, json_u64(obj, "private_pages", NULL));
	EXPECT_EQ((long long)geteuid(), json_u64(obj, "creator_uid", NULL));
	obj = json_region(self->r.out, ids[1]);
	ASSERT_NE(NULL, obj);
	EXPECT_EQ((long long)(3 * p), json_u64(obj, "length", NULL));
	EXPECT_EQ(1, json_u64(obj, "views", NULL));
	EXPECT_NE(NULL, strstr(obj, "\"sealed\":false"));

	/* info: one region. */
	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)ids[1]);
	cowctl(_metadata, &self->r, "info", idbuf, NULL);
	EXPECT_EQ(0, self->r.status);
	EXPECT_NE(NULL, strstr(self->r.out, "views            1\n")) {
		TH_LOG("%s", self->r.out);
	}
	cowctl(_metadata, &self->r, "info", "--json", idbuf, NULL);
	EXPECT_EQ(0, self->r.status);
	EXPECT_EQ((long long)ids[1], json_u64(self->r.out, "id", NULL));
	EXPECT_EQ((long long)(3 * p), json_u64(self->r.out, "length", NULL));
	cowctl(_metadata, &self->r, "info", "18446744073709551615", NULL);
	EXPECT_EQ(1, self->r.status);
	EXPECT_NE(NULL, strstr(self->r.err, "no region"));

	/* The helper lets go: both regions are gone from the list. */
	sync_post(s.to_child[1]);
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	cowctl(_metadata, &self->r, "ls", "--json", NULL);
	EXPECT_EQ(0, self->r.status);
	EXPECT_EQ(NULL, json_region(self->r.out, ids[0]));
	EXPECT_EQ(NULL, json_region(self->r.out, ids[1]));
	sync_close(&s);
}

TEST_HARNESS_MAIN
