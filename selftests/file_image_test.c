// SPDX-License-Identifier: GPL-2.0
/*
 * Regions made from a file's content: COWSHARE_IOC_CREATE_FROM_FILE (the
 * content at an offset, its errno table) and COWSHARE_SHARE_BY_FILE (one
 * region per file content, found again while the file is unchanged).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"


CS_ENV_FIXTURE(file_image)

/* A file in /tmp (tmpfs in the guest) of len bytes: byte i is (i * 7 + seed). */
static int make_file(struct __test_metadata *_metadata, char *path, size_t len,
		     unsigned int seed)
{
	unsigned char *buf = malloc(len);
	size_t i;
	int fd;

	ASSERT_NE(NULL, buf);
	strcpy(path, "/tmp/cowshare-file-XXXXXX");
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 7 + seed);
	ASSERT_EQ((ssize_t)len, pwrite(fd, buf, len, 0));
	free(buf);
	return fd;
}

static bool file_bytes_match(const unsigned char *p, size_t len, size_t file_off,
			     unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)((file_off + i) * 7 + seed))
			return false;
	return true;
}

static int from_file(struct __test_metadata *_metadata, int fd, off_t off,
		     size_t len, unsigned int flags)
{
	int ret = cowshare_create_from_file(fd, off, len, flags);

	ASSERT_LE(0, ret) {
		TH_LOG("cowshare_create_from_file(off %lld, len %zu, flags %#x): %s",
		       (long long)off, len, flags, strerror(-ret));
	}
	return ret;
}

TEST_F(file_image, from_file_content)
{
	const size_t p = psize(), flen = 3 * p + 100;
	struct cowshare_region_info ri;
	char path[64], junk[64];
	unsigned char *v;
	int fd, region, region2;

	fd = make_file(_metadata, path, flen, 0);
	region = from_file(_metadata, fd, 0, flen, COWSHARE_CLOEXEC);
	EXPECT_EQ(FD_CLOEXEC, fcntl(region, F_GETFD) & FD_CLOEXEC);
	region_info(_metadata, region, &ri);
	EXPECT_EQ(4 * p, ri.length);
	EXPECT_EQ(COWSHARE_REGION_SEALED | COWSHARE_REGION_FILE_IMAGE,
		  ri.region_flags & (COWSHARE_REGION_SEALED | COWSHARE_REGION_FILE_IMAGE));
	EXPECT_EQ(geteuid(), ri.creator_uid);

	v = (unsigned char *)map_view(_metadata, region, 4 * p, PROT_READ | PROT_WRITE, 0);
	EXPECT_TRUE(file_bytes_match(v, flen, 0, 0));
	EXPECT_TRUE(all_bytes(v + flen, 4 * p - flen, 0));

	/* Later changes to the file do not reach the region. */
	memset(junk, 0xee, sizeof(junk));
	ASSERT_EQ((ssize_t)sizeof(junk), pwrite(fd, junk, sizeof(junk), 0));
	ASSERT_EQ((ssize_t)sizeof(junk), pwrite(fd, junk, sizeof(junk), (off_t)(2 * p)));
	ASSERT_EQ(0, ftruncate(fd, (off_t)p));
	EXPECT_TRUE(file_bytes_match(v, flen, 0, 0));
	EXPECT_EQ(0, base_byte(_metadata, region, 0));	/* byte 0 of the file: 0 */
	EXPECT_EQ(7, base_byte(_metadata, region, 1));

	/* Sealed: no base write; views still copy. */
	EXPECT_EQ(-1, pwrite(region, junk, sizeof(junk), 0));
	EXPECT_EQ(EPERM, errno);
	v[1] = 0x55;
	EXPECT_EQ(7, base_byte(_metadata, region, 1));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(1, ri.private_pages);

	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, unlink(path));
	EXPECT_EQ(0, munmap(v, 4 * p));
	EXPECT_EQ(0, close(region));

	/* An offset into the file, and bytes past its end read as zero. */
	fd = make_file(_metadata, path, flen, 3);
	region2 = from_file(_metadata, fd, (off_t)p, 5 * p, 0);
	EXPECT_EQ(0, fcntl(region2, F_GETFD) & FD_CLOEXEC);
	region_info(_metadata, region2, &ri);
	EXPECT_EQ(5 * p, ri.length);
	v = (unsigned char *)map_view(_metadata, region2, 5 * p, PROT_READ, 0);
	EXPECT_TRUE(file_bytes_match(v, flen - p, p, 3));
	EXPECT_TRUE(all_bytes(v + flen - p, 5 * p - (flen - p), 0));
	EXPECT_EQ(0, munmap(v, 5 * p));
	EXPECT_EQ(0, close(region2));
	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, unlink(path));
}

TEST_F(file_image, from_file_share_by_file)
{
	const size_t p = psize(), flen = 3 * p;
	struct sync_pipes s;
	uint64_t id1, pfn[3], other[4];
	struct timespec ts[2];
	struct stat st;
	char path[64];
	unsigned char *v;
	int fd, r1, r2, r3, r4, i;
	pid_t pid;

	fd = make_file(_metadata, path, flen, 1);
	r1 = from_file(_metadata, fd, 0, flen, COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE);
	id1 = region_id(_metadata, r1);
	for (i = 0; i < 3; i++)
		pfn[i] = region_base_pfn(_metadata, r1, (size_t)i);

	/* Another process, its own open of the file: the same region. */
	sync_init(_metadata, &s);
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		int cfd = open(path, O_RDONLY | O_CLOEXEC);
		int cr = cfd < 0 ? -errno :
			 cowshare_create_from_file(cfd, 0, flen, COWSHARE_SHARE_BY_FILE);

		other[0] = cr < 0 ? 0 : region_id(_metadata, cr);
		for (i = 0; i < 3; i++)
			other[i + 1] = cr < 0 ? 0 : region_base_pfn(_metadata, cr, (size_t)i);
		if (write(s.to_parent[1], other, sizeof(other)) != sizeof(other))
			_exit(2);
		_exit(cr < 0 ? 3 : 0);
	}
	ASSERT_EQ((ssize_t)sizeof(other), read(s.to_parent[0], other, sizeof(other)));
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	EXPECT_EQ(id1, other[0]);
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(pfn[i], other[i + 1]) {
			TH_LOG("base page %d", i);
		}
	}
	sync_close(&s);

	/* Here too: a second fd of the same region. */
	r2 = from_file(_metadata, fd, 0, flen, COWSHARE_SHARE_BY_FILE);
	EXPECT_EQ(id1, region_id(_metadata, r2));
	EXPECT_EQ(pfn[1], region_base_pfn(_metadata, r2, 1));
	EXPECT_EQ(0, close(r2));

	/* Without SHARE_BY_FILE, or over another range: a new region. */
	r2 = from_file(_metadata, fd, 0, flen, 0);
	EXPECT_NE(id1, region_id(_metadata, r2));
	EXPECT_NE(pfn[0], region_base_pfn(_metadata, r2, 0));
	EXPECT_EQ(0, close(r2));
	r2 = from_file(_metadata, fd, (off_t)p, 2 * p, COWSHARE_SHARE_BY_FILE);
	EXPECT_NE(id1, region_id(_metadata, r2));
	EXPECT_EQ(0, close(r2));
	r2 = from_file(_metadata, fd, 0, 2 * p, COWSHARE_SHARE_BY_FILE);
	EXPECT_NE(id1, region_id(_metadata, r2));
	EXPECT_EQ(0, close(r2));

	/* A changed file (content and mtime): a new region with the new content. */
	ASSERT_EQ(1, pwrite(fd, "Z", 1, 0));
	ASSERT_EQ(0, fstat(fd, &st));
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ts[1].tv_sec += 10;
	ASSERT_EQ(0, futimens(fd, ts));
	r3 = from_file(_metadata, fd, 0, flen, COWSHARE_SHARE_BY_FILE);
	EXPECT_NE(id1, region_id(_metadata, r3));
	v = (unsigned char *)map_view(_metadata, r3, flen, PROT_READ, 0);
	EXPECT_EQ('Z', v[0]);
	EXPECT_TRUE(file_bytes_match(v + 1, flen - 1, 1, 1));
	EXPECT_EQ(0, munmap(v, flen));
	/* ... which the next SHARE_BY_FILE finds. */
	r4 = from_file(_metadata, fd, 0, flen, COWSHARE_SHARE_BY_FILE);
	EXPECT_EQ(region_id(_metadata, r3), region_id(_metadata, r4));
	/* The old region keeps the old content. */
	v = (unsigned char *)map_view(_metadata, r1, flen, PROT_READ, 0);
	EXPECT_TRUE(file_bytes_match(v, flen, 0, 1));
	EXPECT_EQ(0, munmap(v, flen));

	EXPECT_EQ(0, close(r4));
	EXPECT_EQ(0, close(r3));
	EXPECT_EQ(0, close(r1));
	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, unlink(path));
}

TEST_F(file_image, from_file_errors)
{
	const size_t p = psize();
	struct cowshare_create_from_file req;
	char path[64];
	int fd, wfd, dev, dir, ret;
	unsigned int bit;

	fd = make_file(_metadata, path, 2 * p, 0);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, wfd);
	dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dir);
	dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);

	ret = cowshare_create_from_file(fd, 0, p, 0);
	EXPECT_LE(0, ret);
	if (ret >= 0)
		close(ret);

	ret = cowshare_create_from_file(wfd, 0, p, 0);
	EXPECT_TRUE(ret == -EBADF || ret == -EACCES) {
		TH_LOG("write-only fd: %d", ret);
	}
	EXPECT_EQ(-EBADF, cowshare_create_from_file(-1, 0, p, 0));
	EXPECT_EQ(-EBADF, cowshare_create_from_file(9999, 0, p, 0));
	EXPECT_EQ(-EINVAL, cowshare_create_from_file(fd, 1, p, 0));
	EXPECT_EQ(-EINVAL, cowshare_create_from_file(fd, (off_t)(p / 2), p, 0));
	EXPECT_EQ(-EINVAL, cowshare_create_from_file(fd, 0, 0, 0));
	EXPECT_EQ(-EINVAL, cowshare_create_from_file(fd, -(off_t)p, p, 0));
	EXPECT_EQ(-E2BIG, cowshare_create_from_file(fd, 0,
				self->env.before.max_region_size + 1, 0));
	ret = cowshare_create_from_file(dir, 0, p, 0);
	EXPECT_GT(0, ret) {
		TH_LOG("a directory fd made region fd %d", ret);
	}
	if (ret >= 0)
		close(ret);
	for (bit = 0; bit < 32; bit++) {
		if ((1U << bit) & (COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE | COWSHARE_NO_HUGE))
			continue;
		ret = cowshare_create_from_file(fd, 0, p, 1U << bit);
		EXPECT_EQ(-EINVAL, ret) {
			TH_LOG("flag bit %u", bit);
		}
		if (ret >= 0)
			close(ret);
	}
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.fd = fd;
	req.length = p;
	req.reserved = 1;
	EXPECT_EQ(-1, ioctl(dev, COWSHARE_IOC_CREATE_FROM_FILE, &req));
	EXPECT_EQ(EINVAL, errno);
	/* Only the device has it. */
	EXPECT_EQ(-1, ioctl(fd, COWSHARE_IOC_CREATE_FROM_FILE, &req));
	EXPECT_EQ(ENOTTY, errno);

	EXPECT_EQ(0, close(dev));
	EXPECT_EQ(0, close(dir));
	EXPECT_EQ(0, close(wfd));
	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, unlink(path));
}

TEST_HARNESS_MAIN
