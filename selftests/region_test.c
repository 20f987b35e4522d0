// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare regions: COWSHARE_IOC_CREATE and its errno table, the
 * extensible-struct rules of every ioctl, ENOTTY on the wrong fd,
 * read/write/lseek/fstat on the region fd (the base), views past the
 * region's end, and how long a region lives (fds and views).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

/* Bytes rounded up to whole pages. */
static uint64_t page_round(uint64_t len)
{
	return (len + psize() - 1) / psize() * psize();
}

FIXTURE(dev)
{
	struct cs_env env;
	int dev;
};

FIXTURE_SETUP(dev)
{
	env_setup(_metadata, &self->env);
	self->dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->dev) {
		TH_LOG("open %s: %s", COWSHARE_DEVICE, strerror(errno));
	}
}

FIXTURE_TEARDOWN(dev)
{
	EXPECT_EQ(0, close(self->dev));
	env_teardown(_metadata, &self->env);
}

/* COWSHARE_IOC_CREATE with a v1 struct; the fd, or -errno. */
static int create_raw(int dev, uint64_t length, uint32_t flags)
{
	struct cowshare_create req = {
		.size = sizeof(req), .flags = flags, .length = length,
	};
	int fd = ioctl(dev, COWSHARE_IOC_CREATE, &req);

	return fd < 0 ? -errno : fd;
}

TEST_F(dev, create_lengths)
{
	struct cowshare_global_info gi;
	const uint64_t max = self->env.before.max_region_size;
	const struct {
		uint64_t length;
		int err;
	} rows[] = {
		{ 0, EINVAL },
		{ 1, 0 },
		{ psize() - 1, 0 },
		{ psize(), 0 },
		{ psize() + 1, 0 },
		{ 64 * psize(), 0 },
		{ max, 0 },
		{ max + 1, E2BIG },
		{ UINT64_MAX, E2BIG },
	};
	struct stat st;
	unsigned int i;
	int fd;

	ASSERT_LE(psize(), max);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		fd = create_raw(self->dev, rows[i].length, 0);
		if (rows[i].err) {
			EXPECT_EQ(-rows[i].err, fd) {
				TH_LOG("length %llu", (unsigned long long)rows[i].length);
			}
			if (fd >= 0)
				close(fd);
			continue;
		}
		ASSERT_LE(0, fd) {
			TH_LOG("length %llu: %s", (unsigned long long)rows[i].length,
			       strerror(-fd));
		}
		ASSERT_EQ(0, fstat(fd, &st));
		EXPECT_EQ(page_round(rows[i].length), (uint64_t)st.st_size) {
			TH_LOG("length %llu", (unsigned long long)rows[i].length);
		}
		global_info(_metadata, &gi);
		EXPECT_EQ(self->env.before.regions + 1, gi.regions);
		/* Base pages come on first touch: none yet. */
		EXPECT_EQ(self->env.before.base_pages, gi.base_pages);
		EXPECT_EQ(0, close(fd));
	}
}

TEST_F(dev, create_flags)
{
	unsigned int bit;
	int fd;

	for (bit = 0; bit < 32; bit++) {
		if ((1U << bit) & COWSHARE_CREATE_FLAGS)
			continue;
		fd = create_raw(self->dev, psize(), 1U << bit);
		EXPECT_EQ(-EINVAL, fd) {
			TH_LOG("flag bit %u", bit);
		}
		if (fd >= 0)
			close(fd);
	}
	fd = create_raw(self->dev, psize(), COWSHARE_CLOEXEC | (1U << 31));
	EXPECT_EQ(-EINVAL, fd);
	if (fd >= 0)
		close(fd);
}

TEST_F(dev, cloexec)
{
	int fd;

	fd = create_raw(self->dev, psize(), COWSHARE_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, close(fd));

	fd = create_raw(self->dev, psize(), 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, close(fd));
}

TEST_F(dev, create_bad_pointer)
{
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->dev, COWSHARE_IOC_CREATE, NULL));
	EXPECT_EQ(EFAULT, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->dev, COWSHARE_IOC_GLOBAL_INFO, NULL));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(dev, global_info_fields)
{
	struct cowshare_global_info gi;
	struct cowshare_global_info bad = { .size = sizeof(bad), .flags = 1 };

	global_info(_metadata, &gi);
	EXPECT_EQ(psize(), gi.page_size);
	EXPECT_LE(psize(), gi.max_region_size);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->dev, COWSHARE_IOC_GLOBAL_INFO, &bad));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * Every ioctl's struct: shorter than v1 is EINVAL, longer with a nonzero
 * tail E2BIG, longer with a zero tail works like v1.
 */
struct sized_case {
	const char *name;
	unsigned long cmd;
	size_t v1;		/* the first version: _SIZE_VER0 */
	size_t cur;		/* this header's sizeof */
	bool on_region;		/* else on the device */
};

#define BIG_SIZE	256

/* Fill buf (BIG_SIZE bytes) as a valid request of size usize. */
static void sized_fill(const struct sized_case *c, void *buf, uint32_t usize,
		       const void *view)
{
	memset(buf, 0, BIG_SIZE);
	*(uint32_t *)buf = usize;
	if (c->cmd == COWSHARE_IOC_CREATE)
		((struct cowshare_create *)buf)->length = psize();
	else if (c->cmd == COWSHARE_IOC_VIEW_INFO)
		((struct cowshare_view_info *)buf)->addr = (uintptr_t)view;
}

TEST_F(dev, struct_size_rules)
{
	const struct sized_case cases[] = {
		{ "CREATE", COWSHARE_IOC_CREATE, COWSHARE_CREATE_SIZE_VER0,
		  sizeof(struct cowshare_create), false },
		{ "GLOBAL_INFO", COWSHARE_IOC_GLOBAL_INFO, COWSHARE_GLOBAL_INFO_SIZE_VER0,
		  sizeof(struct cowshare_global_info), false },
		{ "REGION_INFO", COWSHARE_IOC_REGION_INFO, COWSHARE_REGION_INFO_SIZE_VER0,
		  sizeof(struct cowshare_region_info), true },
		{ "VIEW_INFO", COWSHARE_IOC_VIEW_INFO, COWSHARE_VIEW_INFO_SIZE_VER0,
		  sizeof(struct cowshare_view_info), true },
	};
	uint64_t buf[BIG_SIZE / 8];
	unsigned int i;
	uint32_t sizes[4];
	unsigned int j;
	char *view;
	int region, fd, ret;

	region = new_region(_metadata, psize());
	view = map_view(_metadata, region, psize(), PROT_READ, 0);

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct sized_case *c = &cases[i];

		fd = c->on_region ? region : self->dev;

		/* Shorter than v1, down to nothing: EINVAL. */
		sizes[0] = 0;
		sizes[1] = 4;
		sizes[2] = 8;
		sizes[3] = c->v1 - 1;
		for (j = 0; j < ARRAY_SIZE(sizes); j++) {
			sized_fill(c, buf, sizes[j], view);
			errno = 0;
			EXPECT_EQ(-1, ioctl(fd, c->cmd, buf)) {
				TH_LOG("%s size %u succeeded", c->name, sizes[j]);
			}
			EXPECT_EQ(EINVAL, errno) {
				TH_LOG("%s size %u: %s", c->name, sizes[j],
				       strerror(errno));
			}
		}

		/* Longer than known, nonzero tail: E2BIG, at the first and last extra byte. */
		sized_fill(c, buf, c->cur + 8, view);
		((char *)buf)[c->cur] = 1;
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, c->cmd, buf));
		EXPECT_EQ(E2BIG, errno) {
			TH_LOG("%s tail byte 0: %s", c->name, strerror(errno));
		}
		sized_fill(c, buf, c->cur + 8, view);
		((char *)buf)[c->cur + 7] = 1;
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, c->cmd, buf));
		EXPECT_EQ(E2BIG, errno) {
			TH_LOG("%s tail byte 7: %s", c->name, strerror(errno));
		}

		/* Longer, zero tail; current; first version: success. */
		sized_fill(c, buf, c->cur + 64, view);
		ret = ioctl(fd, c->cmd, buf);
		EXPECT_LE(0, ret) {
			TH_LOG("%s zero tail: %s", c->name, strerror(errno));
		}
		if (c->cmd == COWSHARE_IOC_CREATE && ret >= 0)
			close(ret);
		/* The tail is not the kernel's to write. */
		EXPECT_TRUE(all_bytes((char *)buf + c->cur, 64, 0));

		sized_fill(c, buf, c->cur, view);
		ret = ioctl(fd, c->cmd, buf);
		EXPECT_LE(0, ret) {
			TH_LOG("%s current: %s", c->name, strerror(errno));
		}
		if (c->cmd == COWSHARE_IOC_CREATE && ret >= 0)
			close(ret);

		/* A first-version caller: served, and nothing written past its struct. */
		sized_fill(c, buf, c->v1, view);
		ret = ioctl(fd, c->cmd, buf);
		EXPECT_LE(0, ret) {
			TH_LOG("%s first version: %s", c->name, strerror(errno));
		}
		if (c->cmd == COWSHARE_IOC_CREATE && ret >= 0)
			close(ret);
		EXPECT_TRUE(all_bytes((char *)buf + c->v1, c->cur - c->v1, 0)) {
			TH_LOG("%s wrote past a first-version struct", c->name);
		}

		/* No struct at all. */
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, c->cmd, NULL));
		EXPECT_EQ(EFAULT, errno) {
			TH_LOG("%s NULL: %s", c->name, strerror(errno));
		}
	}
	EXPECT_EQ(0, munmap(view, psize()));
	EXPECT_EQ(0, close(region));
}

static void expect_enotty(struct __test_metadata *_metadata, int fd,
			  unsigned long cmd, void *arg, const char *what)
{
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, cmd, arg)) {
		TH_LOG("%s succeeded", what);
	}
	EXPECT_EQ(ENOTTY, errno) {
		TH_LOG("%s: %s", what, strerror(errno));
	}
}

TEST_F(dev, enotty)
{
	struct cowshare_region_info ri = { .size = sizeof(ri) };
	struct cowshare_view_info vi = { .size = sizeof(vi) };
	struct cowshare_create cr = { .size = sizeof(cr), .length = 1 };
	struct cowshare_global_info gi = { .size = sizeof(gi) };
	int region = new_region(_metadata, psize());

	expect_enotty(_metadata, self->dev, _IO(COWSHARE_IOC_MAGIC, 0x7f), NULL,
		      "unknown on device");
	expect_enotty(_metadata, region, _IO(COWSHARE_IOC_MAGIC, 0x7f), NULL,
		      "unknown on region");
	expect_enotty(_metadata, region, 0xdeadbeef, NULL, "0xdeadbeef on region");
	expect_enotty(_metadata, self->dev, COWSHARE_IOC_REGION_INFO, &ri,
		      "REGION_INFO on device");
	expect_enotty(_metadata, self->dev, COWSHARE_IOC_VIEW_INFO, &vi,
		      "VIEW_INFO on device");
	expect_enotty(_metadata, region, COWSHARE_IOC_CREATE, &cr,
		      "CREATE on region");
	expect_enotty(_metadata, region, COWSHARE_IOC_GLOBAL_INFO, &gi,
		      "GLOBAL_INFO on region");
	EXPECT_EQ(0, close(region));
}

TEST_F(dev, info_flags_must_be_zero)
{
	struct cowshare_region_info ri = { .size = sizeof(ri), .flags = 1 };
	struct cowshare_view_info vi = { .size = sizeof(vi), .flags = 1 };
	int region = new_region(_metadata, psize());
	char *view = map_view(_metadata, region, psize(), PROT_READ, 0);

	vi.addr = (uintptr_t)view;
	errno = 0;
	EXPECT_EQ(-1, ioctl(region, COWSHARE_IOC_REGION_INFO, &ri));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(region, COWSHARE_IOC_VIEW_INFO, &vi));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, munmap(view, psize()));
	EXPECT_EQ(0, close(region));
}

TEST_F(dev, region_ids_unique)
{
	struct cowshare_region_info a, b;
	int ra = new_region(_metadata, psize());
	int rb = new_region(_metadata, 3 * psize());

	region_info(_metadata, ra, &a);
	region_info(_metadata, rb, &b);
	EXPECT_NE(a.id, b.id);
	EXPECT_EQ(psize(), a.length);
	EXPECT_EQ(3 * psize(), b.length);
	EXPECT_EQ(0, a.base_pages);
	EXPECT_EQ(0, a.private_pages);
	EXPECT_EQ(0, a.views);
	EXPECT_EQ(default_region_flags(), a.region_flags);
	EXPECT_EQ(0, close(ra));
	EXPECT_EQ(0, close(rb));
}

/* Base I/O, over regions of several lengths. */
FIXTURE(rw)
{
	struct cs_env env;
	int region;
	uint64_t size;		/* fstat's: length rounded up to pages */
};

FIXTURE_VARIANT(rw)
{
	uint64_t length;	/* 0: one byte short of a page */
	unsigned int pages;	/* length in pages when nonzero */
};

FIXTURE_VARIANT_ADD(rw, one_byte) { .length = 1 };
FIXTURE_VARIANT_ADD(rw, page_minus_one) { .length = 0 };
FIXTURE_VARIANT_ADD(rw, one_page) { .pages = 1 };
FIXTURE_VARIANT_ADD(rw, pages_64) { .pages = 64 };
FIXTURE_VARIANT_ADD(rw, one_mib) { .length = 1 << 20 };

FIXTURE_SETUP(rw)
{
	uint64_t length = variant->pages ? variant->pages * psize() :
			  variant->length ? variant->length : psize() - 1;

	env_setup(_metadata, &self->env);
	self->region = new_region(_metadata, length);
	self->size = page_round(length);
}

FIXTURE_TEARDOWN(rw)
{
	EXPECT_EQ(0, close(self->region));
	env_teardown(_metadata, &self->env);
}

TEST_F(rw, fstat_size)
{
	struct cowshare_region_info ri;
	struct stat st;

	ASSERT_EQ(0, fstat(self->region, &st));
	EXPECT_EQ(self->size, (uint64_t)st.st_size);
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(self->size, ri.length);
	EXPECT_EQ(0, ri.base_pages);
}

TEST_F(rw, fresh_region_reads_zero)
{
	size_t len = self->size;
	char *buf = malloc(len);

	ASSERT_NE(NULL, buf);
	memset(buf, 0xa5, len);
	EXPECT_EQ((ssize_t)len, pread(self->region, buf, len, 0));
	EXPECT_TRUE(all_bytes(buf, len, 0));
	free(buf);
}

TEST_F(rw, pwrite_pread)
{
	size_t len = self->size;
	char *in = malloc(len), *out = malloc(len);
	struct cowshare_region_info ri;
	size_t i;

	ASSERT_NE(NULL, in);
	ASSERT_NE(NULL, out);
	for (i = 0; i < len; i++)
		in[i] = (char)(i * 7 + i / psize());
	base_write(_metadata, self->region, in, len, 0);
	memset(out, 0, len);
	base_read(_metadata, self->region, out, len, 0);
	EXPECT_EQ(0, memcmp(in, out, len));
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(len / psize(), ri.base_pages);

	/* Unaligned, crossing a page boundary when there is one. */
	if (len > psize()) {
		memset(in, 0x5a, 100);
		base_write(_metadata, self->region, in, 100, psize() - 50);
		base_read(_metadata, self->region, out, 200, psize() - 100);
		EXPECT_NE(0x5a, (unsigned char)out[49]);
		EXPECT_TRUE(all_bytes(out + 50, 100, 0x5a));
		EXPECT_NE(0x5a, (unsigned char)out[150]);
	}
	free(in);
	free(out);
}

TEST_F(rw, read_write_lseek)
{
	char buf[16], out[16];

	memset(buf, 'w', sizeof(buf));
	EXPECT_EQ(0, lseek(self->region, 0, SEEK_CUR));
	EXPECT_EQ((ssize_t)sizeof(buf), write(self->region, buf, sizeof(buf)));
	EXPECT_EQ((off_t)sizeof(buf), lseek(self->region, 0, SEEK_CUR));
	EXPECT_EQ((off_t)self->size, lseek(self->region, 0, SEEK_END));
	EXPECT_EQ(0, read(self->region, out, sizeof(out)));
	EXPECT_EQ(0, lseek(self->region, 0, SEEK_SET));
	memset(out, 0, sizeof(out));
	EXPECT_EQ((ssize_t)sizeof(out), read(self->region, out, sizeof(out)));
	EXPECT_EQ(0, memcmp(buf, out, sizeof(out)));
	EXPECT_EQ((off_t)self->size - 1, lseek(self->region, -1, SEEK_END));
	EXPECT_EQ(1, write(self->region, "z", 1));
	EXPECT_EQ('z', base_byte(_metadata, self->region, self->size - 1));
}

TEST_F(rw, write_at_end)
{
	char buf[32];
	struct iovec iov = { buf, sizeof(buf) };

	memset(buf, 'e', sizeof(buf));
	errno = 0;
	EXPECT_EQ(-1, pwrite(self->region, buf, 1, self->size));
	EXPECT_EQ(ENOSPC, errno);
	errno = 0;
	EXPECT_EQ(-1, pwrite(self->region, buf, 1, self->size + 12345));
	EXPECT_EQ(ENOSPC, errno);
	errno = 0;
	EXPECT_EQ(-1, pwritev(self->region, &iov, 1, self->size));
	EXPECT_EQ(ENOSPC, errno);
	/* Crossing the end: short, up to the end. */
	EXPECT_EQ(10, pwrite(self->region, buf, sizeof(buf), self->size - 10));
	EXPECT_EQ('e', base_byte(_metadata, self->region, self->size - 1));
	EXPECT_EQ(0, base_byte(_metadata, self->region, self->size - 11));
	/* write() at the end via the file position. */
	ASSERT_EQ((off_t)self->size, lseek(self->region, 0, SEEK_END));
	errno = 0;
	EXPECT_EQ(-1, write(self->region, buf, 1));
	EXPECT_EQ(ENOSPC, errno);
}

TEST_F(rw, read_past_end)
{
	char buf[32];

	EXPECT_EQ(0, pread(self->region, buf, sizeof(buf), self->size));
	EXPECT_EQ(0, pread(self->region, buf, sizeof(buf), self->size + psize()));
	EXPECT_EQ(10, pread(self->region, buf, sizeof(buf), self->size - 10));
}

/* The base written through the fd is what a view reads, and back. */
TEST_F(rw, fd_and_view_agree)
{
	char *view = map_view(_metadata, self->region, self->size,
			      PROT_READ, 0);
	size_t last = self->size - 1;

	base_write(_metadata, self->region, "abc", 3, 0);
	EXPECT_EQ(0, memcmp(view, "abc", 3));
	base_write(_metadata, self->region, "Z", 1, last);
	EXPECT_EQ('Z', view[last]);
	EXPECT_EQ(0, munmap(view, self->size));
}

/*
 * A view covers pages of its region only: a mapping that runs past the
 * region's end, or starts there, is refused (ENXIO), at any offset; one
 * that ends exactly at the end works to its last byte.
 */
TEST_F(rw, map_past_end_refused)
{
	size_t pages = self->size / psize();
	char *view;
	void *p;

	p = mmap(NULL, self->size + psize(), PROT_READ | PROT_WRITE, MAP_SHARED, self->region, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENXIO, errno);
	p = mmap(NULL, psize(), PROT_READ, MAP_SHARED, self->region, (off_t)self->size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENXIO, errno);
	p = mmap(NULL, 2 * psize(), PROT_READ, MAP_SHARED, self->region,
		 (off_t)((pages - 1) * psize()));
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENXIO, errno);
	/* A 64 TiB view of a small region: refused before anything is allocated. */
	p = mmap(NULL, 1ULL << 46, PROT_READ, MAP_SHARED | MAP_NORESERVE, self->region, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENXIO, errno);

	view = map_view(_metadata, self->region, self->size, PROT_READ | PROT_WRITE, 0);
	EXPECT_EQ(0, probe_access(view + self->size - 1, false));
	EXPECT_EQ(0, probe_access(view + self->size - 1, true));
	EXPECT_EQ(0, munmap(view, self->size));
}

TEST_F(rw, map_private_einval)
{
	void *p;

	p = mmap(NULL, self->size, PROT_READ, MAP_PRIVATE, self->region, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, self->size);
	p = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		 self->region, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, self->size);
}

TEST_F(rw, prot_variants)
{
	static const int prots[] = {
		PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC,
		PROT_READ | PROT_WRITE | PROT_EXEC,
	};
	struct cowshare_region_info ri;
	unsigned int i;
	char *view;

	base_write(_metadata, self->region, "p", 1, 0);
	for (i = 0; i < ARRAY_SIZE(prots); i++) {
		view = map_view(_metadata, self->region, self->size, prots[i], 0);
		EXPECT_EQ('p', view[0]);
		region_info(_metadata, self->region, &ri);
		EXPECT_EQ(1, ri.views);
		EXPECT_EQ(0, munmap(view, self->size));
	}
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(0, ri.views);
}

/* Region lifetime: fds (dups included) and views hold it. */
TEST_F(dev, fd_lifetime)
{
	struct cowshare_global_info gi;
	struct cowshare_region_info ri;
	int region, dup_fd;
	char *view;

	region = new_region(_metadata, 4 * psize());
	base_write(_metadata, region, "life", 4, psize());
	view = map_view(_metadata, region, 4 * psize(), PROT_READ | PROT_WRITE, 0);
	dup_fd = dup(region);
	ASSERT_LE(0, dup_fd);

	EXPECT_EQ(0, close(region));
	region_info(_metadata, dup_fd, &ri);
	EXPECT_EQ(1, ri.views);
	EXPECT_EQ(0, close(dup_fd));

	/* No fd left, one view: the region lives on. */
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.regions + 1, gi.regions);
	EXPECT_EQ(self->env.before.views + 1, gi.views);
	EXPECT_EQ(0, memcmp(view + psize(), "life", 4));
	view[0] = 'x';
	EXPECT_EQ('x', view[0]);
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.private_pages + 1, gi.private_pages);

	EXPECT_EQ(0, munmap(view, 4 * psize()));
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.regions, gi.regions);
	EXPECT_EQ(self->env.before.base_pages, gi.base_pages);
	EXPECT_EQ(self->env.before.private_pages, gi.private_pages);
	EXPECT_EQ(self->env.before.views, gi.views);
}

/* The view goes first, then the fd. */
TEST_F(dev, view_then_fd)
{
	struct cowshare_global_info gi;
	int region = new_region(_metadata, psize());
	char *view = map_view(_metadata, region, psize(), PROT_READ, 0);

	(void)*(volatile char *)view;
	base_fill(_metadata, region, 0, 'v');
	EXPECT_EQ('v', *(volatile char *)view);
	EXPECT_EQ(0, munmap(view, psize()));
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.regions + 1, gi.regions);
	EXPECT_EQ(self->env.before.views, gi.views);
	EXPECT_EQ(self->env.before.base_pages + 1, gi.base_pages);
	EXPECT_EQ(self->env.before.cache_pages + 1, gi.cache_pages);
	EXPECT_EQ(0, close(region));
	global_info(_metadata, &gi);
	EXPECT_EQ(self->env.before.regions, gi.regions);
	EXPECT_EQ(self->env.before.base_pages, gi.base_pages);
	EXPECT_EQ(self->env.before.cache_pages, gi.cache_pages);
}

/* A CLOEXEC region fd does not survive exec; a plain one does. */
TEST_F(dev, cloexec_across_exec)
{
	int with = create_raw(self->dev, psize(), COWSHARE_CLOEXEC);
	int without = create_raw(self->dev, psize(), 0);
	char cmd[128];
	pid_t pid;

	ASSERT_LE(0, with);
	ASSERT_LE(0, without);
	if (access("/bin/sh", X_OK))
		SKIP(goto out, "no /bin/sh in this system to exec");
	snprintf(cmd, sizeof(cmd), "test ! -e /proc/self/fd/%d && test -e /proc/self/fd/%d",
		 with, without);
	pid = env_fork(_metadata, &self->env);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
out:
	close(with);
	close(without);
}

TEST_HARNESS_MAIN
