// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of libcowshare's wrappers, without the module: open(),
 * ioctl() and close() are replaced by the linker (--wrap) with fakes
 * that record what the library passed. Run by "make check" (through
 * scripts/check-install).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cowshare.h"
#include "../lib/compat.h"

#define FAKE_DEV_FD	1000
#define FAKE_REGION_FD	1001

/* The linker's --wrap names are reserved identifiers by necessity. */
/* NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
int __wrap_open(const char *path, int flags, ...);
int __wrap_ioctl(int fd, unsigned long cmd, void *arg);
int __wrap_close(int fd);

static struct {
	int open_errno;		/* fail open() with this */
	int ioctl_ret;		/* ioctl result; <0: fail with -ioctl_ret */
	char path[64];
	int open_flags, opens, closes, ioctl_fd;
	unsigned long cmd;
	unsigned char arg[256];	/* copy of the struct passed */
	uint32_t size;		/* its size field */
	int fill;		/* write kernel_size bytes back, as a kernel */
	size_t kernel_size;
} fake;

int __wrap_open(const char *path, int flags, ...)
{
	snprintf(fake.path, sizeof(fake.path), "%s", path);
	fake.open_flags = flags;
	if (fake.open_errno) {
		errno = fake.open_errno;
		return -1;
	}
	fake.opens++;
	return FAKE_DEV_FD;
}

int __wrap_close(int fd)
{
	if (fd == FAKE_DEV_FD)
		fake.closes++;
	errno = EIO;	/* close() may clobber errno: must not matter */
	return 0;
}

int __wrap_ioctl(int fd, unsigned long cmd, void *arg)
{
	fake.ioctl_fd = fd;
	fake.cmd = cmd;
	uint32_t size;

	/* Every cowshare struct starts with its size, as the kernel reads it. */
	memcpy(&size, arg, sizeof(size));
	memcpy(fake.arg, arg, size < sizeof(fake.arg) ? size : sizeof(fake.arg));
	fake.size = size;
	if (fake.fill) {	/* a kernel writes back min(its size, size) */
		size_t n = size < fake.kernel_size ? size : fake.kernel_size;

		memset((char *)arg + sizeof(size), 0x11, n - sizeof(size));
	}
	if (cmd == COWSHARE_IOC_GLOBAL_INFO) {
		struct cowshare_global_info *gi = arg;

		gi->page_size = 4096;
	}
	if (cmd == COWSHARE_IOC_LIST_REGIONS) {
		struct cowshare_list_regions *lr = arg;

		if (lr->nr_entries > 2)
			lr->nr_entries = 2;
		lr->total = 5;
	}
	if (fake.ioctl_ret < 0) {
		errno = -fake.ioctl_ret;
		return -1;
	}
	return fake.ioctl_ret;
}

/* NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

static int passed, failed;

#define CHECK(cond) do {						\
	if (cond) {							\
		passed++;						\
	} else {							\
		failed++;						\
		fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,	\
			__LINE__, #cond);				\
	}								\
} while (0)

static void reset(void)
{
	memset(&fake, 0, sizeof(fake));
}

static void test_create(void)
{
	struct cowshare_create req;

	reset();
	fake.ioctl_ret = 7;
	CHECK(cowshare_create(12345, COWSHARE_CLOEXEC) == 7);
	CHECK(strcmp(fake.path, COWSHARE_DEVICE) == 0);
	CHECK(fake.open_flags & O_CLOEXEC);
	CHECK(fake.opens == 1 && fake.closes == 1);
	CHECK(fake.cmd == COWSHARE_IOC_CREATE);
	memcpy(&req, fake.arg, sizeof(req));
	CHECK(req.size == sizeof(req));
	CHECK(req.flags == COWSHARE_CLOEXEC);
	CHECK(req.length == 12345);

	/* unknown flags pass through unchanged */
	reset();
	fake.ioctl_ret = -EINVAL;
	CHECK(cowshare_create(1, 0x80000000U) == -EINVAL);
	memcpy(&req, fake.arg, sizeof(req));
	CHECK(req.flags == 0x80000000U);
	CHECK(fake.closes == 1);

	reset();
	fake.open_errno = ENOENT;
	CHECK(cowshare_create(4096, 0) == -ENOENT);
	CHECK(fake.closes == 0);
}

static void test_global_info(void)
{
	struct cowshare_global_info gi;

	reset();
	memset(&gi, 0xff, sizeof(gi));
	CHECK(cowshare_global_info(&gi) == 0);
	CHECK(fake.cmd == COWSHARE_IOC_GLOBAL_INFO);
	CHECK(((struct cowshare_global_info *)fake.arg)->size == sizeof(gi));
	CHECK(((struct cowshare_global_info *)fake.arg)->flags == 0);
	CHECK(((struct cowshare_global_info *)fake.arg)->regions == 0);
	CHECK(gi.page_size == 4096 && gi.size == sizeof(gi));
	CHECK(fake.closes == 1);
	CHECK(cowshare_global_info(NULL) == -EFAULT);

	reset();
	fake.ioctl_ret = -ENOTTY;
	CHECK(cowshare_global_info(&gi) == -ENOTTY);
}

static void test_region_view_info(void)
{
	struct cowshare_region_info ri;
	struct cowshare_view_info vi, sent;
	static char page[1];

	reset();
	memset(&ri, 0xff, sizeof(ri));
	CHECK(cowshare_region_info(FAKE_REGION_FD, &ri) == 0);
	CHECK(fake.ioctl_fd == FAKE_REGION_FD && fake.opens == 0);
	CHECK(fake.cmd == COWSHARE_IOC_REGION_INFO);
	CHECK(ri.size == sizeof(ri) && ri.flags == 0 && ri.id == 0);

	reset();
	fake.ioctl_ret = -EBADF;
	CHECK(cowshare_region_info(-1, &ri) == -EBADF);
	CHECK(cowshare_region_info(3, NULL) == -EFAULT);

	reset();
	memset(&vi, 0xff, sizeof(vi));
	CHECK(cowshare_view_info(FAKE_REGION_FD, page, &vi) == 0);
	CHECK(fake.cmd == COWSHARE_IOC_VIEW_INFO && fake.opens == 0);
	memcpy(&sent, fake.arg, sizeof(sent));
	CHECK(sent.size == sizeof(sent) && sent.flags == 0);
	CHECK(sent.addr == (uintptr_t)page && sent.start == 0);

	reset();
	fake.ioctl_ret = -EINVAL;
	CHECK(cowshare_view_info(FAKE_REGION_FD, page, &vi) == -EINVAL);
	CHECK(cowshare_view_info(FAKE_REGION_FD, page, NULL) == -EFAULT);
}

static void test_map(void)
{
	void *addr = NULL;
	long pg = sysconf(_SC_PAGESIZE);
	int fd = memfd_create("cowshare-unit", MFD_CLOEXEC);

	CHECK(fd >= 0 && ftruncate(fd, 2 * pg) == 0);
	CHECK(cowshare_map(fd, 2 * pg, PROT_READ | PROT_WRITE, 0, &addr)
	      == 0);
	CHECK(addr != NULL);
	if (addr) {
		((char *)addr)[0] = 1;
		CHECK(cowshare_unmap(addr, 2 * pg) == 0);
	}
	CHECK(cowshare_map(fd, pg, PROT_READ, 1, &addr) == -EINVAL);
	CHECK(cowshare_map(-1, pg, PROT_READ, 0, &addr) == -EBADF);
	CHECK(cowshare_map(fd, pg, PROT_READ, 0, NULL) == -EFAULT);
	CHECK(cowshare_unmap((char *)addr + 1, pg) == -EINVAL);
	if (fd >= 0)
		close(fd);
}

static void test_ranges(void)
{
	static char view[2];
	uint64_t bitmap[1];
	struct cowshare_range r;
	struct cowshare_seal sl;

	reset();
	fake.ioctl_ret = 3;
	CHECK(cowshare_dirty(FAKE_REGION_FD, view, 8192, bitmap,
			     COWSHARE_DIRTY_RESET) == 3);
	CHECK(fake.cmd == COWSHARE_IOC_DIRTY && fake.ioctl_fd == FAKE_REGION_FD);
	CHECK(fake.opens == 0);
	memcpy(&r, fake.arg, sizeof(r));
	CHECK(r.size == sizeof(r) && r.flags == COWSHARE_DIRTY_RESET);
	CHECK(r.addr == (uintptr_t)view && r.length == 8192);
	CHECK(r.bitmap == (uintptr_t)bitmap);

	reset();
	fake.ioctl_ret = 2;
	CHECK(cowshare_reset(FAKE_REGION_FD, view, 4096) == 2);
	CHECK(fake.cmd == COWSHARE_IOC_RESET);
	memcpy(&r, fake.arg, sizeof(r));
	CHECK(r.flags == 0 && r.bitmap == 0 && r.length == 4096);

	reset();
	fake.ioctl_ret = 9;
	CHECK(cowshare_snapshot(FAKE_REGION_FD, view, 4096, COWSHARE_CLOEXEC)
	      == 9);
	CHECK(fake.cmd == COWSHARE_IOC_SNAPSHOT);
	memcpy(&r, fake.arg, sizeof(r));
	CHECK(r.flags == COWSHARE_CLOEXEC && r.bitmap == 0);

	reset();
	fake.ioctl_ret = -ENOTTY;
	CHECK(cowshare_reset(FAKE_REGION_FD, view, 4096) == -ENOTTY);

	reset();
	CHECK(cowshare_seal(FAKE_REGION_FD) == 0);
	CHECK(fake.cmd == COWSHARE_IOC_SEAL && fake.opens == 0);
	memcpy(&sl, fake.arg, sizeof(sl));
	CHECK(sl.size == sizeof(sl) && sl.flags == 0);
}

static void test_from_file_list(void)
{
	struct cowshare_create_from_file cf;
	struct cowshare_list_regions lr;
	struct cowshare_region_entry e[4];
	uint64_t total = 0;

	reset();
	fake.ioctl_ret = 8;
	CHECK(cowshare_create_from_file(5, 8192, 100,
			COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE) == 8);
	CHECK(fake.cmd == COWSHARE_IOC_CREATE_FROM_FILE);
	CHECK(fake.opens == 1 && fake.closes == 1);
	memcpy(&cf, fake.arg, sizeof(cf));
	CHECK(cf.size == sizeof(cf) && cf.fd == 5 && cf.reserved == 0);
	CHECK(cf.flags == (COWSHARE_CLOEXEC | COWSHARE_SHARE_BY_FILE));
	CHECK(cf.offset == 8192 && cf.length == 100);

	reset();
	CHECK(cowshare_create_from_file(5, -4096, 100, 0) == -EINVAL);
	CHECK(fake.opens == 0);

	reset();
	CHECK(cowshare_list_regions(7, e, 4, &total) == 2);
	CHECK(total == 5);
	CHECK(fake.cmd == COWSHARE_IOC_LIST_REGIONS && fake.closes == 1);
	memcpy(&lr, fake.arg, sizeof(lr));
	CHECK(lr.size == sizeof(lr) && lr.flags == 0);
	CHECK(lr.entries == (uintptr_t)e && lr.nr_entries == 4);
	CHECK(lr.entry_size == sizeof(e[0]) && lr.start_id == 7);

	reset();
	CHECK(cowshare_list_regions(0, NULL, 0, &total) == 0);
	CHECK(cowshare_list_regions(0, NULL, 1, &total) == -EFAULT);

	reset();
	total = 42;
	fake.ioctl_ret = -ENOTTY;
	CHECK(cowshare_list_regions(0, e, 4, &total) == -ENOTTY);
	CHECK(total == 42);
}

/*
 * A program built against an older, smaller struct: the library must not
 * write past it, whatever the kernel's size. CANARY marks the bytes the
 * caller does not own.
 */
#define CANARY 0xa5

static int canary_intact(const unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != CANARY)
			return 0;
	return 1;
}

static void test_caller_struct_size(void)
{
	unsigned char buf[512];
	struct cowshare_region_entry e[2];
	struct cowshare_list_regions lr;
	static char page[1];

	/* a short struct, from a header of the struct's first version */
	reset();
	fake.fill = 1;
	fake.kernel_size = 256;
	memset(buf, CANARY, sizeof(buf));
	CHECK(cowshare_global_info_sized((void *)buf, COWSHARE_GLOBAL_INFO_SIZE_VER0) == 0);
	CHECK(fake.size == COWSHARE_GLOBAL_INFO_SIZE_VER0);
	CHECK(buf[COWSHARE_GLOBAL_INFO_SIZE_VER0 - 1] == 0x11);
	CHECK(canary_intact(buf, COWSHARE_GLOBAL_INFO_SIZE_VER0, sizeof(buf)));

	memset(buf, CANARY, sizeof(buf));
	CHECK(cowshare_region_info_sized(FAKE_REGION_FD, (void *)buf,
					 COWSHARE_REGION_INFO_SIZE_VER0) == 0);
	CHECK(fake.size == COWSHARE_REGION_INFO_SIZE_VER0);
	CHECK(canary_intact(buf, COWSHARE_REGION_INFO_SIZE_VER0, sizeof(buf)));

	memset(buf, CANARY, sizeof(buf));
	CHECK(cowshare_view_info_sized(FAKE_REGION_FD, page, (void *)buf,
				       COWSHARE_VIEW_INFO_SIZE_VER0) == 0);
	CHECK(fake.size == COWSHARE_VIEW_INFO_SIZE_VER0);
	CHECK(((struct cowshare_view_info *)fake.arg)->addr == (uintptr_t)page);
	CHECK(canary_intact(buf, COWSHARE_VIEW_INFO_SIZE_VER0, sizeof(buf)));

	/* a struct larger than this library's, from a newer header */
	memset(buf, CANARY, sizeof(buf));
	CHECK(cowshare_global_info_sized((void *)buf, 200) == 0);
	CHECK(fake.size == 200);
	CHECK(canary_intact(buf, 200, sizeof(buf)));

	/* the 1.0 symbols fill the first version only */
	memset(buf, CANARY, sizeof(buf));
	CHECK((cowshare_global_info)((void *)buf) == 0);
	CHECK(fake.size == COWSHARE_GLOBAL_INFO_SIZE_VER0);
	CHECK(canary_intact(buf, COWSHARE_GLOBAL_INFO_SIZE_VER0, sizeof(buf)));
	memset(buf, CANARY, sizeof(buf));
	CHECK((cowshare_region_info)(FAKE_REGION_FD, (void *)buf) == 0);
	CHECK(fake.size == COWSHARE_REGION_INFO_SIZE_VER0);
	CHECK(canary_intact(buf, COWSHARE_REGION_INFO_SIZE_VER0, sizeof(buf)));
	memset(buf, CANARY, sizeof(buf));
	CHECK((cowshare_view_info)(FAKE_REGION_FD, page, (void *)buf) == 0);
	CHECK(fake.size == COWSHARE_VIEW_INFO_SIZE_VER0);
	CHECK(canary_intact(buf, COWSHARE_VIEW_INFO_SIZE_VER0, sizeof(buf)));

	/* the macros pass the struct the caller declared */
	memset(buf, CANARY, sizeof(buf));
	CHECK(cowshare_global_info((struct cowshare_global_info *)buf) == 0);
	CHECK(fake.size == sizeof(struct cowshare_global_info));

	/* below the first version: refused, nothing written or sent */
	reset();
	memset(buf, CANARY, sizeof(buf));
	CHECK(cowshare_global_info_sized((void *)buf, COWSHARE_GLOBAL_INFO_SIZE_VER0 - 8)
	      == -EINVAL);
	CHECK(cowshare_region_info_sized(FAKE_REGION_FD, (void *)buf, 4) == -EINVAL);
	CHECK(cowshare_view_info_sized(FAKE_REGION_FD, page, (void *)buf, 0) == -EINVAL);
	CHECK(canary_intact(buf, 0, sizeof(buf)) && fake.opens == 0 && fake.cmd == 0);

	/* list entries: the caller's stride, and the 1.0 symbol's first version */
	reset();
	CHECK(cowshare_list_regions_sized(0, e, 2, 64, NULL) == 2);
	memcpy(&lr, fake.arg, sizeof(lr));
	CHECK(lr.entry_size == 64);
	reset();
	CHECK((cowshare_list_regions)(0, e, 2, NULL) == 2);
	memcpy(&lr, fake.arg, sizeof(lr));
	CHECK(lr.entry_size == COWSHARE_REGION_ENTRY_SIZE_VER0);
	reset();
	CHECK(cowshare_list_regions_sized(0, e, 2, COWSHARE_REGION_ENTRY_SIZE_VER0 - 1,
					  NULL) == -EINVAL);
	CHECK(fake.opens == 0);
}

static void test_version(void)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%d.%d", COWSHARE_VERSION_MAJOR,
		 COWSHARE_VERSION_MINOR, COWSHARE_VERSION_PATCH);
	CHECK(strcmp(cowshare_version(), want) == 0);
}

int main(void)
{
	test_create();
	test_global_info();
	test_region_view_info();
	test_map();
	test_ranges();
	test_from_file_list();
	test_caller_struct_size();
	test_version();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
