// SPDX-License-Identifier: GPL-2.0
/*
 * The region list: COWSHARE_IOC_LIST_REGIONS in batches from a start id,
 * and what another user sees of it.
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


CS_ENV_FIXTURE(list)

/* Find region id in the listing, walking it in batches of batch. */
static bool list_find(struct __test_metadata *_metadata, uint64_t id,
		      unsigned int batch, struct cowshare_region_entry *found)
{
	struct cowshare_region_entry e[8];
	uint64_t start = 0, total, prev = 0;
	bool seen = false;
	int n, i;

	ASSERT_GE(ARRAY_SIZE(e), batch);
	for (;;) {
		n = cowshare_list_regions(start, e, batch, &total);
		ASSERT_LE(0, n) {
			TH_LOG("cowshare_list_regions: %s", strerror(-n));
		}
		EXPECT_GE(total, (uint64_t)n);
		for (i = 0; i < n; i++) {
			EXPECT_LT(prev, e[i].id);	/* in id order, once each */
			EXPECT_LE(start, e[i].id);
			prev = e[i].id;
			if (e[i].id == id) {
				*found = e[i];
				seen = true;
			}
		}
		if (n == 0 || (uint64_t)n >= total)
			break;
		start = e[n - 1].id + 1;
	}
	return seen;
}

TEST_F(list, list_regions)
{
	const size_t p = psize();
	struct cowshare_region_entry e, first[2];
	struct cowshare_list_regions req;
	uint64_t ida, idb, total;
	int a, b, n, dev;
	char *va, *vb;
	unsigned int batch;

	a = new_region(_metadata, 3 * p);
	b = new_region(_metadata, 5 * p - 1);
	ida = region_id(_metadata, a);
	idb = region_id(_metadata, b);
	ASSERT_LT(ida, idb);
	va = map_view(_metadata, a, 3 * p, PROT_READ | PROT_WRITE, 0);
	vb = map_view(_metadata, b, p, PROT_READ, 0);
	va[0] = 1;
	(void)*(volatile char *)vb;
	EXPECT_EQ(0, cowshare_seal(b));

	for (batch = 1; batch <= 8; batch *= 2) {
		memset(&e, 0, sizeof(e));
		EXPECT_TRUE(list_find(_metadata, ida, batch, &e)) {
			TH_LOG("region %llu not listed (batch %u)", (unsigned long long)ida,
			       batch);
		}
		EXPECT_EQ(3 * p, e.length);
		EXPECT_EQ(1, e.views);
		EXPECT_EQ(1, e.private_pages);
		EXPECT_EQ(0, e.base_pages);	/* the write copied the zero page */
		EXPECT_EQ(default_region_flags(), e.region_flags);
		EXPECT_EQ(geteuid(), e.creator_uid);
		memset(&e, 0, sizeof(e));
		EXPECT_TRUE(list_find(_metadata, idb, batch, &e));
		EXPECT_EQ(5 * p, e.length);
		EXPECT_EQ(1, e.views);
		EXPECT_EQ(0, e.private_pages);
		EXPECT_EQ(0, e.base_pages);	/* a read maps the zero page */
		EXPECT_EQ(COWSHARE_REGION_SEALED | default_region_flags(), e.region_flags);
	}

	/* start_id: the regions from there on, in id order. */
	n = cowshare_list_regions(ida, first, 2, &total);
	ASSERT_LE(1, n);
	EXPECT_EQ(ida, first[0].id);
	EXPECT_LE(2, total);
	n = cowshare_list_regions(idb, first, 2, &total);
	ASSERT_LE(1, n);
	EXPECT_EQ(idb, first[0].id);
	EXPECT_LE(1, total);
	EXPECT_EQ(total, (uint64_t)n);	/* b is the newest region: nothing after it */
	/* Room for none: only the total. */
	total = 0;
	EXPECT_EQ(0, cowshare_list_regions(ida, NULL, 0, &total));
	EXPECT_LE(2, total);
	EXPECT_EQ(0, cowshare_list_regions(idb + 1000000, first, 2, &total));
	EXPECT_EQ(0, total);

	/* A freed region is gone from the list. */
	EXPECT_EQ(0, munmap(vb, p));
	EXPECT_EQ(0, close(b));
	EXPECT_FALSE(list_find(_metadata, idb, 8, &e));

	/* Bad requests. */
	dev = open(COWSHARE_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.entries = (uintptr_t)first;
	req.nr_entries = 2;
	req.entry_size = sizeof(first[0]);
	req.flags = 1;
	EXPECT_EQ(-1, ioctl(dev, COWSHARE_IOC_LIST_REGIONS, &req));
	EXPECT_EQ(EINVAL, errno);
	req.flags = 0;
	req.entries = 8;	/* unmapped */
	EXPECT_EQ(-1, ioctl(dev, COWSHARE_IOC_LIST_REGIONS, &req));
	EXPECT_EQ(EFAULT, errno);
	/* Only the device has it. */
	req.entries = (uintptr_t)first;
	EXPECT_EQ(-1, ioctl(a, COWSHARE_IOC_LIST_REGIONS, &req));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(0, close(dev));

	EXPECT_EQ(0, munmap(va, 3 * p));
	EXPECT_EQ(0, close(a));
}

/* Others than root see only the regions created with their euid. */
TEST_F(list, list_regions_by_uid)
{
	const uid_t nobody = 65534;
	struct cowshare_region_entry e;
	struct sync_pipes s;
	uint64_t ida, idc = 0;
	int a, n;
	pid_t pid;

	if (geteuid() != 0)
		SKIP(return, "needs root");
	a = new_region(_metadata, psize());
	ida = region_id(_metadata, a);
	n = cowshare_list_regions(0, NULL, 0, NULL);

	sync_init(_metadata, &s);
	pid = env_fork(_metadata, &self->env);
	if (!pid) {
		struct cowshare_region_entry ents[8];
		uint64_t start = 0, total, id = 0;
		int c, bad = 0, seen = 0, i;

		close(a);
		if (setresgid(nobody, nobody, nobody) || setresuid(nobody, nobody, nobody))
			_exit(2);
		c = cowshare_create(psize(), COWSHARE_CLOEXEC);
		if (c < 0)
			_exit(3);
		id = region_id(_metadata, c);
		for (;;) {
			n = cowshare_list_regions(start, ents, ARRAY_SIZE(ents), &total);
			if (n < 0)
				_exit(4);
			for (i = 0; i < n; i++) {
				if (ents[i].creator_uid != nobody || ents[i].id == ida)
					bad++;
				if (ents[i].id == id)
					seen++;
			}
			if (n == 0 || (uint64_t)n >= total)
				break;
			start = ents[n - 1].id + 1;
		}
		EXPECT_EQ(0, bad);
		EXPECT_EQ(1, seen);
		if (write(s.to_parent[1], &id, sizeof(id)) != sizeof(id))
			_exit(5);
		sync_wait(s.to_child[0]);	/* hold the region while root looks */
		_exit(bad || seen != 1 ? 1 : 0);
	}
	ASSERT_EQ((ssize_t)sizeof(idc), read(s.to_parent[0], &idc, sizeof(idc)));
	/* Root sees both. */
	EXPECT_TRUE(list_find(_metadata, ida, 8, &e));
	EXPECT_TRUE(list_find(_metadata, idc, 8, &e));
	EXPECT_EQ(nobody, e.creator_uid);
	sync_post(s.to_child[1]);
	EXPECT_EQ(0, env_wait(_metadata, &self->env, pid));
	sync_close(&s);
	EXPECT_EQ(0, close(a));
}

TEST_HARNESS_MAIN
