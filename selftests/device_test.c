// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/cowshare: the node exists, is a misc character device, opens and
 * closes, and refuses commands it does not know with ENOTTY.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/cowshare.h>

#include "kselftest_harness.h"

#define MISC_MAJOR_NR	10U

TEST(node_is_misc_char_device)
{
	struct stat st;

	ASSERT_EQ(0, stat(COWSHARE_DEVICE, &st)) {
		TH_LOG("stat %s: %s (is the module loaded?)",
		       COWSHARE_DEVICE, strerror(errno));
	}
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(MISC_MAJOR_NR, major(st.st_rdev));
	/* Any user may open it: region creation is not privileged. */
	EXPECT_EQ(0666U, st.st_mode & 0777);
}

TEST(open_close)
{
	static const int modes[] = { O_RDWR, O_RDONLY, O_WRONLY };
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		fd = open(COWSHARE_DEVICE, modes[i] | O_CLOEXEC);
		ASSERT_LE(0, fd) {
			TH_LOG("open mode %d: %s", modes[i], strerror(errno));
		}
		EXPECT_EQ(0, close(fd));
	}
}

TEST(many_opens)
{
	int fds[64];
	unsigned int i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		fds[i] = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fds[i]);
	}
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		EXPECT_EQ(0, close(fds[i]));
}

FIXTURE(dev)
{
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) {
		TH_LOG("open %s: %s", COWSHARE_DEVICE, strerror(errno));
	}
}

FIXTURE_TEARDOWN(dev)
{
	EXPECT_EQ(0, close(self->fd));
}

/* check_enotty: cmd on the device fd fails with ENOTTY */
static void check_enotty(struct __test_metadata *_metadata, int fd,
			 unsigned long cmd, unsigned long arg)
{
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, cmd, arg)) {
		TH_LOG("ioctl 0x%lx succeeded", cmd);
	}
	EXPECT_EQ(ENOTTY, errno) {
		TH_LOG("ioctl 0x%lx: %s", cmd, strerror(errno));
	}
}

/* An unused number with the cowshare magic. */
TEST_F(dev, unknown_cmd_own_magic)
{
	check_enotty(_metadata, self->fd, _IO(COWSHARE_IOC_MAGIC, 0x7f), 0);
	check_enotty(_metadata, self->fd,
		     _IOWR(COWSHARE_IOC_MAGIC, 0x7e, struct cowshare_create), 0);
}

/*
 * Commands of other drivers and arbitrary values, avoiding the generic
 * ones the VFS answers itself (FIOCLEX, FIONBIO, FIOASYNC, FIGETBSZ, ...).
 */
TEST_F(dev, unknown_cmd_other)
{
	static const unsigned long cmds[] = {
		0xdeadbeef, 0x12345678, 0xffffffff, 0x1,
		_IOR('x', 0x42, int), _IOW('T', 0x99, long),
	};
	unsigned int i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		check_enotty(_metadata, self->fd, cmds[i], 0);
}

/* An unknown command must not look at its argument, however bad. */
TEST_F(dev, unknown_cmd_bad_pointer)
{
	check_enotty(_metadata, self->fd,
		     _IOWR(COWSHARE_IOC_MAGIC, 0x7f, struct cowshare_create),
		     (unsigned long)-4096L);
}

TEST_HARNESS_MAIN
