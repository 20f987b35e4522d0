// SPDX-License-Identifier: GPL-2.0
/*
 * Privilege and isolation: an unprivileged user gets the same semantics; a
 * region has no global name (its fd is the only way in, /proc does not
 * reopen it); output structs are written in full (no stale kernel or
 * caller bytes survive).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define NOBODY	65534

CS_ENV_FIXTURE(priv)

/* The core semantics, as a plain user: exit status 0 when all held. */
static int unprivileged_round(void)
{
	struct cowshare_view_info vi;
	int region, status;
	char *a, *b;
	pid_t pid;

	region = cowshare_create(4 * psize(), COWSHARE_CLOEXEC);
	if (region < 0)
		return 10;
	if (pwrite(region, "base", 4, 0) != 4)
		return 11;
	a = mmap(NULL, 4 * psize(), PROT_READ | PROT_WRITE, MAP_SHARED, region, 0);
	b = mmap(NULL, 4 * psize(), PROT_READ, MAP_SHARED, region, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		return 12;
	if (memcmp(a, "base", 4) || memcmp(b, "base", 4))
		return 13;
	a[0] = 'A';
	if (b[0] != 'b' || a[0] != 'A')
		return 14;
	if (cowshare_view_info(region, a, &vi) || vi.private_pages != 1)
		return 15;
	pid = fork();
	if (pid < 0)
		return 16;
	if (!pid)
		_exit(a[0] == 'A' && b[0] == 'b' ? 0 : 1);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return 17;
	munmap(a, 4 * psize());
	munmap(b, 4 * psize());
	close(region);
	return 0;
}

TEST_F(priv, semantics_as_nobody)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid) {
		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(2);
		_exit(unprivileged_round());
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(priv, no_global_name)
{
	char path[64], maps[128];
	int region, fd;
	char *v;
	FILE *f;

	region = new_region(_metadata, 2 * psize());
	v = map_view(_metadata, region, 2 * psize(), PROT_READ, 0);

	/* /proc/self/fd/N does not reopen a region... */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", region);
	fd = open(path, O_RDWR);
	EXPECT_EQ(-1, fd);
	if (fd >= 0)
		close(fd);

	/* ...nor does /proc/self/map_files reopen a view's file. */
	f = fopen("/proc/self/maps", "r");
	ASSERT_NE(NULL, f);
	while (fgets(maps, sizeof(maps), f)) {
		unsigned long start, end;

		if (sscanf(maps, "%lx-%lx", &start, &end) != 2 || start != (uintptr_t)v)
			continue;
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", start, end);
		fd = open(path, O_RDONLY);
		EXPECT_EQ(-1, fd);
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
	munmap(v, 2 * psize());
	close(region);
}

TEST_F(priv, other_users_fds_unreachable)
{
	int region = new_region(_metadata, psize()), status;
	char path[64];
	pid_t pid;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), region);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(2);
		_exit(open(path, O_RDONLY) < 0 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(region);
}

#define POISON	0xa5

/* Every byte after size and flags was rewritten by the kernel. */
static bool no_poison_qword(const void *p, size_t from, size_t to)
{
	for (size_t off = from; off + 8 <= to; off += 8) {
		uint64_t q;

		memcpy(&q, (const char *)p + off, 8);
		if (q == 0xa5a5a5a5a5a5a5a5ULL)
			return false;
	}
	return true;
}

TEST_F(priv, output_structs_fully_written)
{
	struct cowshare_global_info gi;
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;
	int dev, region;
	char *v;

	dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	region = new_region(_metadata, 3 * psize());
	v = map_view(_metadata, region, 3 * psize(), PROT_READ | PROT_WRITE, 0);

	memset(&gi, POISON, sizeof(gi));
	gi.size = sizeof(gi);
	gi.flags = 0;
	ASSERT_EQ(0, ioctl(dev, COWSHARE_IOC_GLOBAL_INFO, &gi));
	EXPECT_TRUE(no_poison_qword(&gi, 8, sizeof(gi)));

	memset(&ri, POISON, sizeof(ri));
	ri.size = sizeof(ri);
	ri.flags = 0;
	ASSERT_EQ(0, ioctl(region, COWSHARE_IOC_REGION_INFO, &ri));
	EXPECT_TRUE(no_poison_qword(&ri, 8, sizeof(ri)));

	memset(&vi, POISON, sizeof(vi));
	vi.size = sizeof(vi);
	vi.flags = 0;
	vi.addr = (uintptr_t)v;
	ASSERT_EQ(0, ioctl(region, COWSHARE_IOC_VIEW_INFO, &vi));
	EXPECT_TRUE(no_poison_qword(&vi, 16, sizeof(vi)));

	/* New base pages and new copies start zeroed. */
	EXPECT_TRUE(all_bytes(v, 3 * psize(), 0));
	v[psize()] = 1;
	EXPECT_TRUE(all_bytes(v + psize() + 1, psize() - 1, 0));

	munmap(v, 3 * psize());
	close(region);
	close(dev);
}

TEST_HARNESS_MAIN
