// SPDX-License-Identifier: GPL-2.0
/*
 * cowctl: control and inspect the cowshare kernel module.
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cowshare.h"

#define EXIT_USAGE	2

static const char *progname = "cowctl";

struct cowctl_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(const struct cowctl_cmd *cmd, int argc, char **argv);
};

/* A __u64 counter of an info struct, for tables of output fields. */
struct u64_field {
	const char *name;
	size_t offset;
};

#define U64_FIELD(type, member) { #member, offsetof(type, member) }

static const struct u64_field global_fields[] = {
	U64_FIELD(struct cowshare_global_info, regions),
	U64_FIELD(struct cowshare_global_info, base_pages),
	U64_FIELD(struct cowshare_global_info, private_pages),
	U64_FIELD(struct cowshare_global_info, views),
	U64_FIELD(struct cowshare_global_info, page_size),
	U64_FIELD(struct cowshare_global_info, max_region_size),
	{ NULL, 0 },
};

static unsigned long long field_u64(const void *info,
				    const struct u64_field *f)
{
	__u64 v;

	memcpy(&v, (const char *)info + f->offset, sizeof(v));
	return v;
}

/* Print "cowctl: WHAT: strerror" and a hint for the usual causes. */
static void report(const char *what, int err, const char *hint)
{
	fprintf(stderr, "%s: %s: %s\n", progname, what, strerror(-err));
	if (hint)
		fprintf(stderr, "%s: hint: %s\n", progname, hint);
}

/* Hint for failures to reach /dev/cowshare. */
static const char *dev_hint(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENODEV:
	case -ENXIO:
		return "the cowshare module is not loaded (" COWSHARE_DEVICE
		       " is missing); load it with 'cowctl load'";
	case -EACCES:
	case -EPERM:
		return "no permission to open " COWSHARE_DEVICE;
	case -ENOTTY:
		return "the loaded cowshare module does not support this request";
	default:
		return NULL;
	}
}

static void cmd_usage(FILE *f, const struct cowctl_cmd *cmd)
{
	fprintf(f, "usage: %s %s%s%s\n", progname, cmd->name,
		cmd->args[0] ? " " : "", cmd->args);
}

/*
 * Parse a subcommand's options; argv[0] is the command name. Returns
 * the option character, -1 at the end, or '?' after printing usage.
 * "-h/--help" is handled here: it sets *help.
 */
static int cmd_getopt(const struct cowctl_cmd *cmd, int argc, char **argv,
		      const char *shortopts, const struct option *longopts,
		      int *help)
{
	int c = getopt_long(argc, argv, shortopts, longopts, NULL);

	if (c == 'h') {
		*help = 1;
		return -1;
	}
	if (c == '?')
		cmd_usage(stderr, cmd);
	return c;
}

/* After options: reject operands. Returns 0 or EXIT_USAGE. */
static int no_operands(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	if (optind < argc) {
		fprintf(stderr, "%s %s: unexpected argument '%s'\n", progname,
			cmd->name, argv[optind]);
		cmd_usage(stderr, cmd);
		return EXIT_USAGE;
	}
	return 0;
}

#ifdef COWSHARE_NO_LIBKMOD
static int no_libkmod(const struct cowctl_cmd *cmd)
{
	fprintf(stderr, "%s %s: built without libkmod; use insmod/rmmod\n",
		progname, cmd->name);
	return EXIT_FAILURE;
}
#endif

static int cmd_load(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ko", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ko = NULL;
	const char *hint = NULL;
	int help = 0, c, err;

	while ((c = cmd_getopt(cmd, argc, argv, "+k:h", opts, &help)) != -1) {
		if (c == 'k')
			ko = optarg;
		else
			return EXIT_USAGE;
	}
	if (help) {
		cmd_usage(stdout, cmd);
		printf("Load the cowshare module: from PATH with --ko, else by\n"
		       "name from /lib/modules/$(uname -r). Succeeds if it is\n"
		       "already loaded.\n");
		return EXIT_SUCCESS;
	}
	err = no_operands(cmd, argc, argv);
	if (err)
		return err;
#ifdef COWSHARE_NO_LIBKMOD
	(void)ko;
	(void)hint;
	return no_libkmod(cmd);
#else
	err = cowshare_module_load(ko);
	if (!err)
		return EXIT_SUCCESS;
	switch (err) {
	case -ENOENT:
		hint = ko ? "no such module file, or the module needs symbols "
			    "this kernel lacks (built for another kernel?)"
			  : "cowshare is not installed in the module path; "
			    "give the .ko with --ko PATH";
		break;
	case -EPERM:
	case -EACCES:
		hint = "loading modules needs root (CAP_SYS_MODULE)";
		break;
	case -ENOSYS:
		hint = "the kernel refuses module syscalls (no "
		       "CONFIG_MODULES, or a seccomp filter in a container)";
		break;
	case -ENOEXEC:
	case -EINVAL:
		hint = "the module does not fit the running kernel "
		       "(built for another version or architecture?)";
		break;
	case -EKEYREJECTED:
	case -ENOKEY:
		hint = "the module signature was rejected (module signing "
		       "enforced, or Secure Boot lockdown)";
		break;
	default:
		break;
	}
	report(ko ? ko : "load cowshare", err, hint);
	return EXIT_FAILURE;
#endif
}

static int cmd_unload(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hint = NULL;
	int help = 0, c, err;

	while ((c = cmd_getopt(cmd, argc, argv, "+h", opts, &help)) != -1)
		return EXIT_USAGE;
	if (help) {
		cmd_usage(stdout, cmd);
		printf("Unload the cowshare module (never forced).\n");
		return EXIT_SUCCESS;
	}
	err = no_operands(cmd, argc, argv);
	if (err)
		return err;
#ifdef COWSHARE_NO_LIBKMOD
	(void)hint;
	return no_libkmod(cmd);
#else
	err = cowshare_module_unload();
	if (!err)
		return EXIT_SUCCESS;
	switch (err) {
	case -EBUSY:
		hint = "the module is in use: close every region fd and "
		       "/dev/cowshare fd and unmap every view first";
		break;
	case -ENOENT:
		hint = "the cowshare module is not loaded";
		break;
	case -EPERM:
	case -EACCES:
		hint = "unloading modules needs root (CAP_SYS_MODULE)";
		break;
	case -ENOSYS:
		hint = "the kernel refuses module syscalls (no "
		       "CONFIG_MODULES, or a seccomp filter in a container)";
		break;
	default:
		break;
	}
	report("unload cowshare", err, hint);
	return EXIT_FAILURE;
#endif
}

static int cmd_stats(const struct cowctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cowshare_global_info gi;
	const struct u64_field *f;
	int json = 0, help = 0, c, err;

	while ((c = cmd_getopt(cmd, argc, argv, "+jh", opts, &help)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return EXIT_USAGE;
	}
	if (help) {
		cmd_usage(stdout, cmd);
		printf("Print the module's global counters; --json prints one\n"
		       "JSON object.\n");
		return EXIT_SUCCESS;
	}
	err = no_operands(cmd, argc, argv);
	if (err)
		return err;

	err = cowshare_global_info(&gi);
	if (err < 0) {
		report("global info", err, dev_hint(err));
		return EXIT_FAILURE;
	}
	if (json)
		putchar('{');
	for (f = global_fields; f->name; f++) {
		unsigned long long v = field_u64(&gi, f);

		if (json)
			printf("%s\"%s\":%llu", f == global_fields ? "" : ",",
			       f->name, v);
		else
			printf("%-16s %llu\n", f->name, v);
	}
	if (json)
		printf("}\n");
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static const struct cowctl_cmd cowctl_cmds[] = {
	{ "load", "[--ko PATH]", "load the module", cmd_load },
	{ "unload", "", "unload the module", cmd_unload },
	{ "stats", "[--json]", "print global counters", cmd_stats },
	{ NULL, NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	const struct cowctl_cmd *cmd;

	fprintf(f, "usage: %s [--help] [--version] COMMAND [ARGS]\n\n"
		"Control and inspect the cowshare kernel module.\n\n"
		"Commands:\n", progname);
	for (cmd = cowctl_cmds; cmd->name; cmd++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%s%s%s", cmd->name,
			 cmd->args[0] ? " " : "", cmd->args);
		fprintf(f, "  %-22s %s\n", buf, cmd->help);
	}
	fprintf(f, "\nRun '%s COMMAND --help' for a command's options.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n",
		progname);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cowctl_cmd *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("cowctl (cowshare) %d.%d.%d\n",
			       COWSHARE_VERSION_MAJOR, COWSHARE_VERSION_MINOR,
			       COWSHARE_VERSION_PATCH);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (cmd = cowctl_cmds; cmd->name; cmd++) {
		if (strcmp(cmd->name, argv[optind]) == 0) {
			char name[64];

			argc -= optind;
			argv += optind;
			/* getopt's messages then read "cowctl CMD: ..." */
			snprintf(name, sizeof(name), "%s %s", progname,
				 cmd->name);
			argv[0] = name;
			optind = 0;	/* restart getopt on the command's args */
			return cmd->run(cmd, argc, argv);
		}
	}
	fprintf(stderr, "%s: unknown command '%s'\n", progname, argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
