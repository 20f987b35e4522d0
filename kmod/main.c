// SPDX-License-Identifier: GPL-2.0
/*
 * cowshare: module init/exit and the /dev/cowshare misc device.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include <linux/cowshare.h>

static long cowshare_dev_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	switch (cmd) {
	default:
		return -ENOTTY;
	}
}

static const struct file_operations cowshare_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = cowshare_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice cowshare_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "cowshare",
	.fops = &cowshare_dev_fops,
	.mode = 0666,
};

static int __init cowshare_init(void)
{
	return misc_register(&cowshare_misc);
}

static void __exit cowshare_exit(void)
{
	misc_deregister(&cowshare_misc);
}

module_init(cowshare_init);
module_exit(cowshare_exit);
MODULE_DESCRIPTION("Copy-on-write sharing of memory regions between processes");
MODULE_LICENSE("GPL");
