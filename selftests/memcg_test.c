// SPDX-License-Identifier: GPL-2.0
/*
 * Memory accounting: private copies are charged to the memory cgroup of
 * the process that made them; a process that copies more than its cgroup
 * allows is OOM-killed like for its own memory, and everyone else sharing
 * the region goes on; every page comes back.
 *
 * Needs cgroup v2 with the memory controller at /sys/fs/cgroup (the test
 * VMs mount it). The kernel's OOM report prints a stack dump by design: the
 * OOM test lowers the console log level around it (warnings still panic the
 * test VM: panic_on_warn=1).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define CGROOT	"/sys/fs/cgroup"
#define CG	CGROOT "/cowshare-test"

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static long long read_number(const char *path, const char *key)
{
	char buf[4096], *p;
	long long v = -1;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (!key)
		return atoll(buf);
	p = strstr(buf, key);
	if (p)
		v = atoll(p + strlen(key));
	return v;
}

FIXTURE(memcg) {
	struct cs_env env;
	int region;
	size_t length;
	char *view;
};

FIXTURE_SETUP(memcg)
{
	char limit[32];

	env_setup(_metadata, &self->env);
	if (access(CGROOT "/cgroup.controllers", F_OK))
		SKIP(return, "cgroup v2 is not mounted at " CGROOT);
	if (write_file(CGROOT "/cgroup.subtree_control", "+memory"))
		SKIP(return, "the memory controller cannot be enabled");
	rmdir(CG);
	ASSERT_EQ(0, mkdir(CG, 0755));
	snprintf(limit, sizeof(limit), "%zu", (size_t)8 << 20);
	ASSERT_EQ(0, write_file(CG "/memory.max", limit));

	/* 32 MiB of base, filled by the parent outside the cgroup. */
	self->length = (size_t)32 << 20;
	self->region = new_region(_metadata, self->length);
	for (size_t page = 0; page < self->length / psize(); page++)
		base_fill(_metadata, self->region, page, 'B');
	self->view = map_view(_metadata, self->region, self->length,
			      PROT_READ | PROT_WRITE, 0);
}

FIXTURE_TEARDOWN(memcg)
{
	if (self->view)
		munmap(self->view, self->length);
	if (self->region > 0)
		close(self->region);
	rmdir(CG);
	env_teardown(_metadata, &self->env);
}

static void join_cgroup(void)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_file(CG "/cgroup.procs", pid))
		_exit(10);
}

TEST_F(memcg, copies_are_charged_to_the_writer)
{
	size_t pages = ((size_t)2 << 20) / psize(), i;	/* 2 MiB, well under the limit */
	int status, report[2];
	long long grew;
	pid_t pid;

	ASSERT_EQ(0, pipe(report));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		long long before, after;

		join_cgroup();
		before = read_number(CG "/memory.current", NULL);
		for (i = 0; i < pages; i++)
			self->view[i * psize()] = 'C';
		after = read_number(CG "/memory.current", NULL);
		grew = after - before;
		_exit(write(report[1], &grew, sizeof(grew)) == sizeof(grew) ? 0 : 11);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(sizeof(grew), read(report[0], &grew, sizeof(grew)));
	/* At least the copies themselves (the rest is page tables etc.). */
	EXPECT_LE((long long)(pages * psize()), grew)
		TH_LOG("memory.current grew by %lld for %zu copies", grew, pages);
	close(report[0]);
	close(report[1]);
}

TEST_F(memcg, over_the_limit_is_oom_killed_others_go_on)
{
	struct cowshare_global_info before, after;
	size_t pages = self->length / psize(), i;
	int status, printk;
	char saved[64] = "";
	pid_t pid;

	global_info(_metadata, &before);
	/* The OOM report dumps a stack by design: keep it off the console. */
	printk = open("/proc/sys/kernel/printk", O_RDWR);
	if (printk >= 0 && read(printk, saved, sizeof(saved) - 1) > 0)
		write_file("/proc/sys/kernel/printk", "1");

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		join_cgroup();
		/* 32 MiB of copies against an 8 MiB limit. */
		for (i = 0; i < pages; i++)
			self->view[i * psize()] = 'C';
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (printk >= 0) {
		write_file("/proc/sys/kernel/printk", saved);
		close(printk);
	}
	EXPECT_TRUE(WIFSIGNALED(status) &&
		    (WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGBUS))
		TH_LOG("the child was not killed: status %#x", status);
	EXPECT_LE(1, read_number(CG "/memory.events", "oom_kill "));

	/* The parent's view and the base are intact. */
	for (i = 0; i < pages; i += 97)
		EXPECT_EQ('B', self->view[i * psize()]);
	self->view[0] = 'P';
	EXPECT_EQ('P', self->view[0]);
	EXPECT_EQ('B', base_byte(_metadata, self->region, 0));

	/* Every copy the child made came back. */
	global_info(_metadata, &after);
	EXPECT_EQ(before.private_pages + 1, after.private_pages);
	EXPECT_EQ(before.views, after.views);
}

TEST_HARNESS_MAIN
