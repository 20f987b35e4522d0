// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile input, table-driven in the style of the iommufd selftests: for
 * every ioctl of /dev/cowshare and of region fds, bad pointers, bad struct
 * sizes, nonzero tails, every unknown flag bit and the wrong kinds of fd,
 * each row asserting the exact errno and that the module's counters did not
 * move.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

enum fd_kind { ON_DEVICE, ON_REGION };

struct ioctl_desc {
	const char *name;
	unsigned long cmd;
	enum fd_kind on;
	size_t size;			/* the first (minimum) size: _SIZE_VER0 */
	size_t cur;			/* this header's sizeof */
	unsigned int allowed_flags;
	bool writes_back;		/* copies a struct back to the caller */
};

#define DESC(_name, _on, _struct, _ver0, _flags, _wb)				\
	{ #_name, COWSHARE_IOC_##_name, _on, _ver0, sizeof(struct _struct), _flags, _wb }

static const struct ioctl_desc ioctls[] = {
	DESC(CREATE, ON_DEVICE, cowshare_create, COWSHARE_CREATE_SIZE_VER0,
	     COWSHARE_CLOEXEC | COWSHARE_NO_HUGE, false),
	DESC(GLOBAL_INFO, ON_DEVICE, cowshare_global_info, COWSHARE_GLOBAL_INFO_SIZE_VER0,
	     0, true),
	DESC(CREATE_FROM_FILE, ON_DEVICE, cowshare_create_from_file,
	     COWSHARE_CREATE_FROM_FILE_SIZE_VER0,
	     COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE | COWSHARE_NO_HUGE, false),
	DESC(LIST_REGIONS, ON_DEVICE, cowshare_list_regions, COWSHARE_LIST_REGIONS_SIZE_VER0,
	     0, true),
	DESC(REGION_INFO, ON_REGION, cowshare_region_info, COWSHARE_REGION_INFO_SIZE_VER0,
	     0, true),
	DESC(VIEW_INFO, ON_REGION, cowshare_view_info, COWSHARE_VIEW_INFO_SIZE_VER0, 0, true),
	DESC(DIRTY, ON_REGION, cowshare_range, COWSHARE_RANGE_SIZE_VER0,
	     COWSHARE_DIRTY_RESET, false),
	DESC(RESET, ON_REGION, cowshare_range, COWSHARE_RANGE_SIZE_VER0, 0, false),
	DESC(SNAPSHOT, ON_REGION, cowshare_range, COWSHARE_RANGE_SIZE_VER0,
	     COWSHARE_CLOEXEC, false),
	DESC(SEAL, ON_REGION, cowshare_seal, COWSHARE_SEAL_SIZE_VER0, 0, false),
};

FIXTURE(bad) {
	struct cs_env env;
	int dev, region, other, file, pipefd[2];
	char *view, *other_view;
	void *unmapped, *readonly;
	uint64_t bitmap[4];
	unsigned char arg[2 * 4096];
	struct cowshare_global_info before;
};

FIXTURE_SETUP(bad)
{
	env_setup(_metadata, &self->env);
	self->dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->dev);
	self->region = new_region(_metadata, 8 * psize());
	self->other = new_region(_metadata, 8 * psize());
	self->view = map_view(_metadata, self->region, 4 * psize(), PROT_READ | PROT_WRITE, 0);
	self->other_view = map_view(_metadata, self->other, 4 * psize(), PROT_READ, 0);
	self->view[0] = 1;			/* one copy: a reset would change it */
	self->file = open("/tmp/badinput.file", O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->file);
	ASSERT_EQ(4, write(self->file, "data", 4));
	ASSERT_EQ(0, pipe(self->pipefd));
	/* A page that is not mapped, and one that cannot be written. */
	self->unmapped = mmap(NULL, psize(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->unmapped);
	self->readonly = mmap(NULL, psize(), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->readonly);
	global_info(_metadata, &self->before);
}

FIXTURE_TEARDOWN(bad)
{
	munmap(self->unmapped, psize());
	munmap(self->readonly, psize());
	munmap(self->view, 4 * psize());
	munmap(self->other_view, 4 * psize());
	close(self->file);
	unlink("/tmp/badinput.file");
	close(self->pipefd[0]);
	close(self->pipefd[1]);
	close(self->region);
	close(self->other);
	close(self->dev);
	env_teardown(_metadata, &self->env);
}

/* A valid argument for @d in @buf (size field = d->size). */
static void valid_arg(FIXTURE_DATA(bad) *self, const struct ioctl_desc *d, void *buf)
{
	memset(buf, 0, d->size);
	*(uint32_t *)buf = (uint32_t)d->size;
	switch (d->cmd) {
	case COWSHARE_IOC_CREATE:
		((struct cowshare_create *)buf)->length = psize();
		break;
	case COWSHARE_IOC_CREATE_FROM_FILE:
		((struct cowshare_create_from_file *)buf)->fd = self->file;
		((struct cowshare_create_from_file *)buf)->length = psize();
		break;
	case COWSHARE_IOC_LIST_REGIONS:
		((struct cowshare_list_regions *)buf)->entry_size =
			sizeof(struct cowshare_region_entry);
		break;
	case COWSHARE_IOC_VIEW_INFO:
		((struct cowshare_view_info *)buf)->addr = (uintptr_t)self->view;
		break;
	case COWSHARE_IOC_DIRTY:
		((struct cowshare_range *)buf)->bitmap = (uintptr_t)self->bitmap;
		/* fall through */
	case COWSHARE_IOC_RESET:
	case COWSHARE_IOC_SNAPSHOT:
		((struct cowshare_range *)buf)->addr = (uintptr_t)self->view;
		((struct cowshare_range *)buf)->length = psize();
		break;
	}
}

static int fd_for(FIXTURE_DATA(bad) *self, const struct ioctl_desc *d)
{
	return d->on == ON_DEVICE ? self->dev : self->region;
}

/* The ioctl's errno (0 on success), closing any fd it returned. */
static int try_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	if (ret < 0)
		return errno;
	if (cmd == COWSHARE_IOC_CREATE || cmd == COWSHARE_IOC_CREATE_FROM_FILE ||
	    cmd == COWSHARE_IOC_SNAPSHOT)
		close(ret);
	return 0;
}

static void expect_unchanged(struct __test_metadata *_metadata, FIXTURE_DATA(bad) *self,
			     const char *row)
{
	struct cowshare_global_info now;

	global_info(_metadata, &now);
	EXPECT_EQ(self->before.regions, now.regions) TH_LOG("%s", row);
	EXPECT_EQ(self->before.private_pages, now.private_pages) TH_LOG("%s", row);
	EXPECT_EQ(self->before.views, now.views) TH_LOG("%s", row);
}

TEST_F(bad, pointers)
{
	for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++) {
		const struct ioctl_desc *d = &ioctls[i];
		int fd = fd_for(self, d);

		EXPECT_EQ(EFAULT, try_ioctl(fd, d->cmd, NULL)) TH_LOG("%s NULL", d->name);
		EXPECT_EQ(EFAULT, try_ioctl(fd, d->cmd, self->unmapped))
			TH_LOG("%s unmapped", d->name);
		/* A valid size whose struct runs into an unmapped page. */
		if (d->size > 8) {
			char *two = mmap(NULL, 2 * psize(), PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			char *arg;

			ASSERT_NE(MAP_FAILED, two);
			ASSERT_EQ(0, mprotect(two + psize(), psize(), PROT_NONE));
			arg = two + psize() - 8;
			valid_arg(self, d, self->arg);
			memcpy(arg, self->arg, 8);
			EXPECT_EQ(EFAULT, try_ioctl(fd, d->cmd, arg))
				TH_LOG("%s straddling", d->name);
			munmap(two, 2 * psize());
		}
		if (d->writes_back) {
			/* Readable, valid, but the answer cannot be written back. */
			valid_arg(self, d, self->readonly);
			ASSERT_EQ(0, mprotect(self->readonly, psize(), PROT_READ));
			EXPECT_EQ(EFAULT, try_ioctl(fd, d->cmd, self->readonly))
				TH_LOG("%s read-only output", d->name);
			ASSERT_EQ(0, mprotect(self->readonly, psize(), PROT_READ | PROT_WRITE));
		}
		expect_unchanged(_metadata, self, d->name);
	}
}

/*
 * Sizes: below the first version EINVAL (one byte short too), the first
 * version itself works (an old caller), so does the current size and a
 * longer one with a zero tail; a nonzero byte past what the kernel knows
 * is E2BIG, as is anything over a page.
 */
TEST_F(bad, struct_sizes)
{
	for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++) {
		const struct ioctl_desc *d = &ioctls[i];
		int fd = fd_for(self, d);
		uint32_t *size = (uint32_t *)self->arg;

		memset(self->arg, 0, sizeof(self->arg));
		valid_arg(self, d, self->arg);
		*size = 0;
		EXPECT_EQ(EINVAL, try_ioctl(fd, d->cmd, self->arg)) TH_LOG("%s size 0", d->name);
		*size = 4;
		EXPECT_EQ(EINVAL, try_ioctl(fd, d->cmd, self->arg)) TH_LOG("%s size 4", d->name);
		*size = (uint32_t)d->size - 1;
		EXPECT_EQ(EINVAL, try_ioctl(fd, d->cmd, self->arg)) TH_LOG("%s ver0-1", d->name);
		*size = (uint32_t)psize() + 8;
		EXPECT_EQ(E2BIG, try_ioctl(fd, d->cmd, self->arg)) TH_LOG("%s > page", d->name);
		/* Longer than known, with a nonzero byte in the tail. */
		*size = (uint32_t)d->cur + 16;
		self->arg[d->cur + 9] = 1;
		EXPECT_EQ(E2BIG, try_ioctl(fd, d->cmd, self->arg)) TH_LOG("%s tail", d->name);
		expect_unchanged(_metadata, self, d->name);
		/* The same with a zero tail, the current and the first size succeed. */
		self->arg[d->cur + 9] = 0;
		EXPECT_EQ(0, try_ioctl(fd, d->cmd, self->arg)) TH_LOG("%s zero tail", d->name);
		self->view[0] = 1;
		*size = (uint32_t)d->cur;
		EXPECT_EQ(0, try_ioctl(fd, d->cmd, self->arg)) TH_LOG("%s current", d->name);
		self->view[0] = 1;
		memset(self->arg, 0, sizeof(self->arg));
		valid_arg(self, d, self->arg);
		EXPECT_EQ(0, try_ioctl(fd, d->cmd, self->arg)) TH_LOG("%s ver0", d->name);
		/* A reply to a first-version caller stops at its size. */
		if (d->writes_back && d->cur > d->size) {
			EXPECT_TRUE(all_bytes(self->arg + d->size, d->cur - d->size, 0))
				TH_LOG("%s wrote past the caller's struct", d->name);
		}
		/* A reset succeeding drops the copy: restore it, and the baseline. */
		self->view[0] = 1;
		global_info(_metadata, &self->before);
	}
}

TEST_F(bad, unknown_flags_and_reserved)
{
	struct cowshare_create_from_file cf;

	for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++) {
		const struct ioctl_desc *d = &ioctls[i];
		int fd = fd_for(self, d);

		for (int bit = 0; bit < 32; bit++) {
			if (d->allowed_flags & (1U << bit))
				continue;
			memset(self->arg, 0, sizeof(self->arg));
			valid_arg(self, d, self->arg);
			((uint32_t *)self->arg)[1] = 1U << bit;
			EXPECT_EQ(EINVAL, try_ioctl(fd, d->cmd, self->arg))
				TH_LOG("%s flag bit %d", d->name, bit);
		}
		expect_unchanged(_metadata, self, d->name);
	}
	valid_arg(self, &ioctls[2], &cf);
	cf.reserved = 1;
	EXPECT_EQ(EINVAL, try_ioctl(self->dev, COWSHARE_IOC_CREATE_FROM_FILE, &cf));
	expect_unchanged(_metadata, self, "reserved");
}

TEST_F(bad, wrong_fds_and_commands)
{
	int closed = dup(self->dev);

	ASSERT_LE(0, closed);
	close(closed);
	for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++) {
		const struct ioctl_desc *d = &ioctls[i];
		int wrong = d->on == ON_DEVICE ? self->region : self->dev;

		valid_arg(self, d, self->arg);
		EXPECT_EQ(ENOTTY, try_ioctl(wrong, d->cmd, self->arg)) TH_LOG("%s other fd", d->name);
		EXPECT_EQ(ENOTTY, try_ioctl(self->pipefd[0], d->cmd, self->arg))
			TH_LOG("%s pipe", d->name);
		EXPECT_EQ(ENOTTY, try_ioctl(self->file, d->cmd, self->arg))
			TH_LOG("%s regular file", d->name);
		EXPECT_EQ(EBADF, try_ioctl(closed, d->cmd, self->arg)) TH_LOG("%s closed", d->name);
		EXPECT_EQ(EBADF, try_ioctl(-1, d->cmd, self->arg)) TH_LOG("%s -1", d->name);
		expect_unchanged(_metadata, self, d->name);
	}
}

/*
 * Unknown numbers with our magic, a known number with another size or
 * direction encoded, other drivers' commands and arbitrary values, on the
 * device and on a region: ENOTTY, without looking at the argument (a bad
 * pointer included). The generic commands the VFS answers itself
 * (FIOCLEX, FIONBIO, FIOASYNC, FIGETBSZ, ...) are not ours to refuse.
 */
TEST_F(bad, unknown_commands)
{
	void *bad_pointer = (void *)-4096L;
	const struct {
		bool on_region;
		unsigned long cmd;
		bool bad_arg;
	} rows[] = {
		{ false, _IO(COWSHARE_IOC_MAGIC, 0x3f), false },
		{ false, _IO(COWSHARE_IOC_MAGIC, 0x7f), false },
		{ false, _IOWR(COWSHARE_IOC_MAGIC, 0x7e, struct cowshare_create), false },
		{ false, _IOWR(COWSHARE_IOC_MAGIC, 0x7f, struct cowshare_create), true },
		{ false, _IOW(COWSHARE_IOC_MAGIC, 0x00, uint64_t), false },
		{ false, 0xdeadbeef, false },
		{ false, 0x12345678, false },
		{ false, 0xffffffff, false },
		{ false, 0x1, false },
		{ false, _IOR('x', 0x42, int), false },
		{ false, _IOW('T', 0x99, long), false },
		{ true, _IO(COWSHARE_IOC_MAGIC, 0x7f), false },
		{ true, _IOWR('x', 0x40, struct cowshare_region_info), false },
		{ true, _IOWR(COWSHARE_IOC_MAGIC, 0x7f, struct cowshare_region_info), true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		int fd = rows[i].on_region ? self->region : self->dev;

		EXPECT_EQ(ENOTTY, try_ioctl(fd, rows[i].cmd,
					    rows[i].bad_arg ? bad_pointer : self->arg))
			TH_LOG("row %zu: cmd %#lx on the %s", i, rows[i].cmd,
			       rows[i].on_region ? "region" : "device");
	}
	expect_unchanged(_metadata, self, "unknown commands");
}

TEST_F(bad, lengths)
{
	struct cowshare_global_info g;
	struct cowshare_create c = { .size = sizeof(c) };
	const struct { uint64_t length; int err; } rows[] = {
		{ 0, EINVAL }, { 1, 0 }, { 4095, 0 }, { SIZE_MAX, E2BIG },
		{ UINT64_MAX, E2BIG }, { 0, 0 } /* the maximum, below */, { 0, E2BIG },
	};

	global_info(_metadata, &g);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		c.length = rows[i].length;
		if (i == ARRAY_SIZE(rows) - 2)
			c.length = g.max_region_size;
		if (i == ARRAY_SIZE(rows) - 1)
			c.length = g.max_region_size + 1;
		EXPECT_EQ(rows[i].err, try_ioctl(self->dev, COWSHARE_IOC_CREATE, &c))
			TH_LOG("length %llu", (unsigned long long)c.length);
	}
	expect_unchanged(_metadata, self, "lengths");
}

TEST_F(bad, view_ranges)
{
	const struct { const char *row; uintptr_t addr; uint64_t length; } rows[] = {
		{ "outside any view", 0x10000, 4096 },
		{ "another region's view", 0, 0 },
		{ "spanning two views", 1, 0 },
		{ "past the view's end", 2, 0 },
		{ "unaligned", 3, 0 },
		{ "zero length", 4, 0 },
		{ "addr + length overflows", 5, 0 },
	};
	static const unsigned long cmds[] = {
		COWSHARE_IOC_DIRTY, COWSHARE_IOC_RESET, COWSHARE_IOC_SNAPSHOT,
	};
	char *second = map_view(_metadata, self->region, 4 * psize(), PROT_READ, 4 * psize());

	for (size_t c = 0; c < ARRAY_SIZE(cmds); c++) {
		for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
			struct cowshare_range r = { .size = sizeof(r) };

			r.addr = rows[i].addr;
			r.length = rows[i].length;
			switch (i) {
			case 1: r.addr = (uintptr_t)self->other_view; r.length = psize(); break;
			case 2: r.addr = (uintptr_t)self->view; r.length = 8 * psize(); break;
			case 3: r.addr = (uintptr_t)self->view + psize(); r.length = 4 * psize(); break;
			case 4: r.addr = (uintptr_t)self->view + 1; r.length = psize(); break;
			case 5: r.addr = (uintptr_t)self->view; r.length = 0; break;
			case 6: r.addr = (uintptr_t)self->view; r.length = UINT64_MAX - 100; break;
			}
			if (cmds[c] == COWSHARE_IOC_DIRTY)
				r.bitmap = (uintptr_t)self->bitmap;
			EXPECT_EQ(EINVAL, try_ioctl(self->region, cmds[c], &r))
				TH_LOG("%s: cmd %#lx", rows[i].row, cmds[c]);
		}
	}
	/* VIEW_INFO outside a view, and in another region's view. */
	{
		struct cowshare_view_info vi = { .size = sizeof(vi), .addr = 0x10000 };

		EXPECT_EQ(EINVAL, try_ioctl(self->region, COWSHARE_IOC_VIEW_INFO, &vi));
		vi.addr = (uintptr_t)self->other_view;
		EXPECT_EQ(EINVAL, try_ioctl(self->region, COWSHARE_IOC_VIEW_INFO, &vi));
	}
	munmap(second, 4 * psize());
	expect_unchanged(_metadata, self, "view ranges");
}

TEST_HARNESS_MAIN
