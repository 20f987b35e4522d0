// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/cowshare: the node exists, is a misc character device, opens and
 * closes (badinput_test.c refuses the commands it does not know).
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

TEST_HARNESS_MAIN
