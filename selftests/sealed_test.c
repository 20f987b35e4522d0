// SPDX-License-Identifier: GPL-2.0
/*
 * COWSHARE_IOC_SEAL (what a seal refuses from then on, its errno table),
 * and the holes of a sealed region: never written, they stay zero
 * forever, so a view maps one shared zero page for all of them instead of
 * allocating base pages; a write to a hole still makes a private copy.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cowshare_test.h"

#define PAGES	16

FIXTURE(sealed) {
	struct cs_env env;
	int region;
	char *view;
};

FIXTURE_SETUP(sealed)
{
	env_setup(_metadata, &self->env);
	self->region = new_region(_metadata, PAGES * psize());
	base_fill(_metadata, self->region, 3, 'D');	/* one page of data */
	ASSERT_EQ(0, cowshare_seal(self->region));
	self->view = map_view(_metadata, self->region, PAGES * psize(),
			      PROT_READ | PROT_WRITE, 0);
}

FIXTURE_TEARDOWN(sealed)
{
	munmap(self->view, PAGES * psize());
	close(self->region);
	env_teardown(_metadata, &self->env);
}

TEST_F(sealed, holes_share_one_zero_page)
{
	struct cowshare_region_info ri;
	uint64_t zero;

	for (size_t p = 0; p < PAGES; p++)
		EXPECT_TRUE(all_bytes(self->view + p * psize(), psize(), p == 3 ? 'D' : 0));
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(1, ri.base_pages);		/* only the page written before the seal */
	zero = pagemap_pfn(_metadata, self->view);
	EXPECT_NE(0, zero);
	for (size_t p = 1; p < PAGES; p++) {
		uint64_t pfn = pagemap_pfn(_metadata, self->view + p * psize());

		if (p == 3) {
			EXPECT_NE(zero, pfn);
		} else {
			EXPECT_EQ(zero, pfn) TH_LOG("hole %zu", p);
		}
	}
}

TEST_F(sealed, write_to_a_hole_copies)
{
	struct cowshare_region_info ri;
	struct cowshare_view_info vi;
	uint64_t zero;
	char c;

	c = self->view[5 * psize()];		/* map the hole */
	EXPECT_EQ(0, c);
	zero = pagemap_pfn(_metadata, self->view + 5 * psize());
	self->view[5 * psize() + 7] = 'W';
	EXPECT_NE(zero, pagemap_pfn(_metadata, self->view + 5 * psize()));
	EXPECT_EQ('W', self->view[5 * psize() + 7]);
	EXPECT_TRUE(all_bytes(self->view + 5 * psize(), 7, 0));
	EXPECT_EQ(0, base_byte(_metadata, self->region, 5 * psize() + 7));
	view_info(_metadata, self->region, self->view, &vi);
	EXPECT_EQ(1, vi.private_pages);
	region_info(_metadata, self->region, &ri);
	EXPECT_EQ(1, ri.base_pages);		/* the copy did not allocate a base page */
	/* Other holes still show zero, through the other views too. */
	EXPECT_EQ(0, self->view[6 * psize() + 7]);
}

CS_ENV_FIXTURE(seal)

TEST_F(seal, seal)
{
	const size_t p = psize();
	struct cowshare_region_info ri;
	struct cowshare_seal bad = { .size = sizeof(bad), .flags = 1 };
	int region = new_region(_metadata, 2 * p);
	int dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	char buf[16] = "sealed?", *v, *ro;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	uint64_t base0;

	ASSERT_LE(0, dev);
	base_fill(_metadata, region, 0, 'b');
	region_info(_metadata, region, &ri);
	EXPECT_EQ(0, ri.region_flags & COWSHARE_REGION_SEALED);
	EXPECT_EQ(geteuid(), ri.creator_uid);
	EXPECT_EQ(-1, ioctl(region, COWSHARE_IOC_SEAL, &bad));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-ENOTTY, cowshare_seal(dev));
	EXPECT_EQ(-EBADF, cowshare_seal(-1));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(0, ri.region_flags & COWSHARE_REGION_SEALED);

	v = map_view(_metadata, region, 2 * p, PROT_READ | PROT_WRITE, 0);
	base0 = touch_pfn(_metadata, v);

	EXPECT_EQ(0, cowshare_seal(region));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(COWSHARE_REGION_SEALED, ri.region_flags & COWSHARE_REGION_SEALED);
	EXPECT_EQ(-1, pwrite(region, buf, sizeof(buf), 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, pwrite(region, buf, sizeof(buf), (off_t)p));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, pwritev(region, &iov, 1, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ('b', base_byte(_metadata, region, 0));
	EXPECT_EQ(0, base_byte(_metadata, region, (off_t)p));

	/* Views still copy on write; the base does not change. */
	v[0] = 'w';
	v[p] = 'x';
	EXPECT_NE(base0, pagemap_pfn(_metadata, v));
	EXPECT_EQ('b', base_byte(_metadata, region, 0));
	EXPECT_EQ(0, base_byte(_metadata, region, (off_t)p));
	ro = map_view(_metadata, region, 2 * p, PROT_READ, 0);
	EXPECT_EQ('b', ro[0]);
	EXPECT_EQ(base0, pagemap_pfn(_metadata, ro));
	EXPECT_EQ(0, ro[p]);
	region_info(_metadata, region, &ri);
	EXPECT_EQ(2, ri.private_pages);

	/* Sealing again is fine; the region stays sealed. */
	EXPECT_EQ(0, cowshare_seal(region));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(COWSHARE_REGION_SEALED, ri.region_flags & COWSHARE_REGION_SEALED);

	/* Reset works on a sealed region: back to the base. */
	EXPECT_EQ(2, cowshare_reset(region, v, 2 * p));
	EXPECT_EQ('b', v[0]);
	EXPECT_EQ(base0, pagemap_pfn(_metadata, v));

	EXPECT_EQ(0, munmap(v, 2 * p));
	EXPECT_EQ(0, munmap(ro, 2 * p));
	EXPECT_EQ(0, close(dev));
	EXPECT_EQ(0, close(region));
}

/*
 * DIRTY_RESET racing writers. Writer w owns one page and writes an
 * increasing sequence number to it; the main thread loops DIRTY_RESET
 * over the whole view and counts, per page, the calls that reported it
 * (after the call returned). A writer that wrote s must later read s or
 * the base (0): 0 means a call dropped its copy after the write, so that
 * call reported the page, and the report count must rise above the value
 * read before the write. A dropped write whose page no call reported
 * leaves the count unchanged: a lost write.
 */

TEST_HARNESS_MAIN
