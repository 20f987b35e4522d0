// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots: COWSHARE_IOC_SNAPSHOT of a view's range as a new region, and
 * a refused snapshot that changes nothing. (hostile_test.c races them.)
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


CS_ENV_FIXTURE(snapshot)

TEST_F(snapshot, snapshot)
{
	const size_t p = psize(), pages = 6;
	const size_t copied[2] = { 1, 4 };
	struct cowshare_region_info ri, sri;
	uint64_t pfn[6], spfn;
	unsigned char *before;
	char *v, *sv, *sub;
	int region, snap, snap2, ret;
	size_t i;

	region = new_region(_metadata, pages * p);
	for (i = 0; i < pages; i++)
		base_fill(_metadata, region, i, 'a' + (int)i);
	v = map_view(_metadata, region, pages * p, PROT_READ | PROT_WRITE, 0);
	for (i = 0; i < pages; i++)
		pfn[i] = touch_pfn(_metadata, VP(v, i));
	for (i = 0; i < 2; i++) {
		memset(VP(v, copied[i]), 'A' + (int)copied[i], p / 2);
		pfn[copied[i]] = pagemap_pfn(_metadata, VP(v, copied[i]));
	}
	before = malloc(pages * p);
	ASSERT_NE(NULL, before);
	memcpy(before, v, pages * p);

	ret = cowshare_snapshot(region, v, pages * p, COWSHARE_CLOEXEC);
	ASSERT_LE(0, ret) {
		TH_LOG("cowshare_snapshot: %s", strerror(-ret));
	}
	snap = ret;
	EXPECT_EQ(FD_CLOEXEC, fcntl(snap, F_GETFD) & FD_CLOEXEC);
	region_info(_metadata, region, &ri);
	region_info(_metadata, snap, &sri);
	EXPECT_NE(ri.id, sri.id);
	EXPECT_EQ(pages * p, sri.length);
	EXPECT_EQ(geteuid(), sri.creator_uid);

	/* Same content; base pages and copies are shared, not copied. */
	sv = map_view(_metadata, snap, pages * p, PROT_READ, 0);
	EXPECT_EQ(0, memcmp(before, sv, pages * p));
	for (i = 0; i < pages; i++) {
		EXPECT_EQ(pfn[i], touch_pfn(_metadata, VP(sv, i))) {
			TH_LOG("snapshot page %zu", i);
		}
	}
	EXPECT_EQ(0, memcmp(before, v, pages * p));

	/* The view's next write to a snapshotted copy makes a new copy. */
	for (i = 0; i < 2; i++) {
		*(volatile char *)VP(v, copied[i]) = 'z';
		EXPECT_NE(pfn[copied[i]], pagemap_pfn(_metadata, VP(v, copied[i]))) {
			TH_LOG("view page %zu written in place after the snapshot",
			       copied[i]);
		}
	}
	/* ... and a new one of a base page too; the snapshot stays. */
	*(volatile char *)VP(v, 0) = 'z';
	EXPECT_EQ(0, memcmp(before, sv, pages * p));
	for (i = 0; i < pages; i++) {
		EXPECT_EQ(pfn[i], pagemap_pfn(_metadata, VP(sv, i)));
	}
	/* The bases are shared: the original region is sealed now. */
	region_info(_metadata, region, &ri);
	EXPECT_EQ(COWSHARE_REGION_SEALED, ri.region_flags & COWSHARE_REGION_SEALED);
	EXPECT_EQ(-1, pwrite(region, "q", 1, (off_t)(2 * p)));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(before[2 * p], (unsigned char)sv[2 * p]);

	/* A subrange with an offset. */
	sub = VP(v, 2);
	memcpy(before, sub, 3 * p);
	spfn = pagemap_pfn(_metadata, VP(v, 4));	/* the copy written above */
	EXPECT_NE(0, spfn);
	ret = cowshare_snapshot(region, sub, 3 * p, 0);
	ASSERT_LE(0, ret);
	snap2 = ret;
	EXPECT_EQ(0, fcntl(snap2, F_GETFD) & FD_CLOEXEC);
	region_info(_metadata, snap2, &sri);
	EXPECT_EQ(3 * p, sri.length);
	/* view page 4 (snapshot page 2) was a copy: now the snapshot's base */
	EXPECT_EQ(spfn, region_base_pfn(_metadata, snap2, 2));
	{
		char *sv2 = map_view(_metadata, snap2, 3 * p, PROT_READ, 0);

		EXPECT_EQ(0, memcmp(before, sv2, 3 * p));
		EXPECT_EQ(0, munmap(sv2, 3 * p));
	}

	/* Errors. */
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v + 1, p, 0));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, 0, 0));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, (pages + 1) * p, 0));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, p, 1U << 5));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(snap, v, p, 0));
	EXPECT_EQ(-EINVAL, range_raw(region, COWSHARE_IOC_SNAPSHOT, (uintptr_t)v, p, 0,
				     (uintptr_t)before));

	free(before);
	EXPECT_EQ(0, munmap(sv, pages * p));
	EXPECT_EQ(0, munmap(v, pages * p));
	EXPECT_EQ(0, close(snap2));
	EXPECT_EQ(0, close(snap));
	EXPECT_EQ(0, close(region));
}

/* A snapshot call that fails changes nothing: the region stays unsealed. */
TEST_F(snapshot, snapshot_error_has_no_effect)
{
	const size_t p = psize();
	struct cowshare_region_info ri;
	int region = new_region(_metadata, 2 * p);
	char *v = map_view(_metadata, region, 2 * p, PROT_READ | PROT_WRITE, 0);
	int ret;

	v[0] = 1;
	ret = cowshare_snapshot(region, v + 1, p, 0);
	EXPECT_EQ(-EINVAL, ret);
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, 3 * p, 0));
	EXPECT_EQ(-EINVAL, cowshare_snapshot(region, v, p, 1U << 7));
	region_info(_metadata, region, &ri);
	EXPECT_EQ(0, ri.region_flags & COWSHARE_REGION_SEALED);
	EXPECT_EQ(1, pwrite(region, "b", 1, (off_t)p));
	EXPECT_EQ(1, ri.private_pages);
	EXPECT_EQ(1, v[0]);
	v[0] = 2;	/* still its own, writable copy */
	EXPECT_EQ(2, v[0]);
	EXPECT_EQ(0, munmap(v, 2 * p));
	EXPECT_EQ(0, close(region));
}

TEST_HARNESS_MAIN
