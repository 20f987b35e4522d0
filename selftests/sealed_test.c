// SPDX-License-Identifier: GPL-2.0
/*
 * Holes of a sealed region: never written, they stay zero forever, so a
 * view maps one shared zero page for all of them instead of allocating
 * base pages; a write to a hole still makes a private copy.
 */
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

TEST_HARNESS_MAIN
