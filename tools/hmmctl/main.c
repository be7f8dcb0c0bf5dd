// SPDX-License-Identifier: GPL-2.0
/*
 * hmmctl: drive an hmm_dmirror device from the command line. Every
 * invocation is a whole scenario on a buffer of its own; see "hmmctl
 * --help" and README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hmmctl.h"

#define HMMCTL_VERSION	"0.1"

struct hc_opts hc_opt = { .dev = 0, .other = -1,
			  .value = HMM_DMIRROR_FLAG_FAIL_ALLOC };
size_t hc_page_size;

enum {
	O_DEV = 1 << 0, O_OTHER = 1 << 1, O_PAGES = 1 << 2,
	O_PATTERN = 1 << 3, O_LAYOUT = 1 << 4, O_VALUE = 1 << 5,
	O_THP = 1 << 6, O_UNTOUCHED = 1 << 7, O_UNLOCKED = 1 << 8,
	O_NOFAULT = 1 << 9, O_ALL = 1 << 10, O_JSON = 1 << 11,
	O_HELP = 1 << 12,
};

#define O_COMMON	(O_DEV | O_JSON | O_HELP)
#define O_BUF		(O_PAGES | O_PATTERN | O_THP)

static const struct {
	const char *name;
	int bit;
	const char *arg;
	const char *help;
} hc_options[] = {
	{ "dev", O_DEV, "N", "device /dev/hmm_dmirrorN (default 0)" },
	{ "other", O_OTHER, "N",
	  "the device 'O' runs migrate to (default: the other of the pair 0/1, 2/3)" },
	{ "pages", O_PAGES, "N", "buffer size in pages (default 16; 512 with --thp)" },
	{ "pattern", O_PATTERN, "P",
	  "data: index (default: each 64-bit word holds its index + 1),\n"
	  "                   zero, ones, or a byte such as 0x5a" },
	{ "layout", O_LAYOUT, "SPEC",
	  "pages to prepare, in the snapshot alphabet: runs like 4S or S*4, comma separated" },
	{ "value", O_VALUE, "N", "flag word (default 1 = HMM_DMIRROR_FLAG_FAIL_ALLOC)" },
	{ "thp", O_THP, NULL, "2 MiB aligned buffer with transparent huge pages advised" },
	{ "untouched", O_UNTOUCHED, NULL,
	  "do not write the buffer first (the device faults in fresh pages)" },
	{ "unlocked", O_UNLOCKED, NULL, "use READ_UNLOCKED instead of READ" },
	{ "no-fault", O_NOFAULT, NULL, "leave the pages on the device (no CPU access afterwards)" },
	{ "all", O_ALL, NULL, "every device, not only --dev" },
	{ "json", O_JSON, NULL, "print one JSON object instead of text" },
	{ "help", O_HELP, NULL, "this help" },
};

#define HC_NOPTS	ARRAY_SIZE(hc_options)

static const struct hc_command {
	const char *name;
	int (*fn)(void);
	int opts;
	const char *summary;
	const char *help;
} hc_commands[] = {
	{ "read", hc_cmd_read, O_COMMON | O_BUF | O_UNTOUCHED | O_UNLOCKED,
	  "the CPU writes a buffer, the device reads it (READ)",
	  "The CPU writes the pattern (unless --untouched: then the device must\n"
	  "read zeros), the device reads the buffer through its page table,\n"
	  "the data is checked, a snapshot shows the pages. With --unlocked the\n"
	  "read uses READ_UNLOCKED (exit 5 where the module lacks it).\n" },
	{ "write", hc_cmd_write, O_COMMON | O_BUF | O_UNTOUCHED,
	  "the device writes a buffer (WRITE), the CPU checks it",
	  "The CPU zeroes the buffer (unless --untouched), the device writes the\n"
	  "pattern into it, the CPU checks every byte, a snapshot shows the pages.\n" },
	{ "migrate", hc_cmd_migrate, O_COMMON | O_BUF | O_NOFAULT,
	  "migrate a buffer to the device, then fault it back with the CPU",
	  "The CPU writes the pattern, MIGRATE_TO_DEV moves it to device memory,\n"
	  "the device's copy is checked and a snapshot must show every page in\n"
	  "this device's memory (D, or C on a coherent device). Then the CPU\n"
	  "reads the buffer (device-private pages fault back) and checks it,\n"
	  "unless --no-fault.\n" },
	{ "migrate-back", hc_cmd_migrate_back, O_COMMON | O_BUF,
	  "migrate a buffer to the device and back (MIGRATE_TO_SYS)",
	  "As migrate, then MIGRATE_TO_SYS moves the pages back: no page may be\n"
	  "left on the device, the CPU checks the data.\n" },
	{ "snapshot", hc_cmd_snapshot,
	  O_COMMON | O_PAGES | O_PATTERN | O_THP | O_LAYOUT | O_OTHER,
	  "prepare pages per --layout and print the device's snapshot",
	  "Maps a buffer, puts each run of pages in the state its letter names,\n"
	  "and prints HMM_DMIRROR_SNAPSHOT one character per page, run-length\n"
	  "compressed (S*4 = four S pages), with a legend. Layout letters:\n"
	  "  S  written by the CPU            s  written, then made read-only\n"
	  "  z  read by the CPU (zero page)   .  untouched (also n)\n"
	  "  !  PROT_NONE (also x)            D  migrated to --dev (also C)\n"
	  "  O  migrated to --other (also K)\n"
	  "Default layout: --pages pages of S. Snapshot alphabet: lower case is\n"
	  "read-only, upper case writable; S/s system memory, H/h PMD-mapped,\n"
	  "G/g PUD-mapped, z zero page, y huge zero page, D/d this device's\n"
	  "private memory, O/o another device's, C/c this device's coherent\n"
	  "memory, K/k another device's, P/p the peer's private memory, Q/q the\n"
	  "peer's coherent memory, . not mapped, ! error, ? not in the ABI.\n"
	  "Another device's private pages show as '.': hmm_range_fault() reports\n"
	  "only the device's own private pages without faulting. In a peer group\n"
	  "(module parameter peer_group=1: devices 0 and 1 are one group, 2 and\n"
	  "3 another) the device maps its peer's pages where they are: they show\n"
	  "as P (or Q), and the legend names the peer. Every command says whether\n"
	  "--dev is in a peer group, and with which device.\n" },
	{ "exclusive", hc_cmd_exclusive, O_COMMON | O_BUF,
	  "make a buffer device-exclusive, then revoke it with the CPU",
	  "The CPU writes the pattern, EXCLUSIVE gives the device atomic access\n"
	  "(its copy is checked), CHECK_EXCLUSIVE must report it held (EPERM),\n"
	  "the CPU writes every page, CHECK_EXCLUSIVE must report it revoked.\n" },
	{ "release", hc_cmd_release, O_COMMON | O_BUF,
	  "migrate a buffer to the device, then evict everything (RELEASE)",
	  "As migrate, then RELEASE empties the device's memory: no page may be\n"
	  "left on the device, the CPU checks the data.\n" },
	{ "flags", hc_cmd_flags, O_COMMON | O_BUF | O_VALUE,
	  "set the file's flag word (FLAGS), then migrate a buffer",
	  "Sets the flag word of the open file (--value; default FAIL_ALLOC:\n"
	  "the next huge device allocation fails once) and runs the migrate\n"
	  "scenario on that file, e.g. with --thp to see the fall-back.\n"
	  "Undefined bits: exit 4 (EINVAL).\n" },
	{ "stats", hc_cmd_stats, O_COMMON | O_ALL,
	  "show the module's counters (debugfs), per device and per mm",
	  "Prints /sys/kernel/debug/hmm_dmirror/dev<N>/stats for --dev (or\n"
	  "every device with --all), with the device's peer group, and\n"
	  "mm/<tgid>/stats of every address space with a device open: every\n"
	  "counter the module lists (peer_pages_read, peer_pages_written,\n"
	  "migrated_from_peer and migrated_to_peer count a peer group's\n"
	  "accesses and device-to-device migrations). Opens no device itself.\n" },
	{ "demo", hc_cmd_demo, O_COMMON | O_PAGES,
	  "narrated tour: mirror, migrate, CPU fault, snapshot, counters",
	  "Walks one buffer (default 8 pages) through: CPU write, device READ\n"
	  "(mirror), MIGRATE_TO_DEV, a CPU fault on one page, MIGRATE_TO_SYS,\n"
	  "with a snapshot and the counters that moved at each step. Needs a\n"
	  "device-private device (0 or 1).\n" },
};

#define HC_NCMDS	ARRAY_SIZE(hc_commands)

static void print_exit_codes(FILE *f)
{
	fputs("exit status:\n"
	      "  0  the scenario ran as expected\n"
	      "  1  a system call outside the device failed (mmap, debugfs, ...)\n"
	      "  2  bad command line\n"
	      "  3  the device could not be opened (module not loaded, no such device)\n"
	      "  4  an ioctl failed (the message names it and its errno)\n"
	      "  5  the ioctl is not provided by this module build or device (ENOTTY, EOPNOTSUPP)\n"
	      "  6  data read back differs from what was written\n"
	      "  7  pages not in the state the scenario expects (snapshot, CHECK_EXCLUSIVE)\n",
	      f);
}

static void print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: hmmctl COMMAND [options]    hmmctl COMMAND --help\n\n"
		"Drives /dev/hmm_dmirrorN (module hmm_dmirror, uapi version %d).\n"
		"Each command is a whole scenario on a buffer of its own.\n\n"
		"commands:\n", HMM_DMIRROR_UAPI_VERSION);
	for (i = 0; i < HC_NCMDS; i++)
		fprintf(f, "  %-13s %s\n", hc_commands[i].name,
			hc_commands[i].summary);
	fputs("\n", f);
	print_exit_codes(f);
}

static void command_help(const struct hc_command *c)
{
	char opt[32];
	size_t i;

	printf("usage: hmmctl %s [options]\n\n%s\n%s\noptions:\n", c->name,
	       c->summary, c->help);
	for (i = 0; i < HC_NOPTS; i++) {
		if (!(c->opts & hc_options[i].bit))
			continue;
		snprintf(opt, sizeof(opt), "--%s%s%s", hc_options[i].name,
			 hc_options[i].arg ? " " : "",
			 hc_options[i].arg ? hc_options[i].arg : "");
		printf("  %-16s %s\n", opt, hc_options[i].help);
	}
	printf("\n");
	print_exit_codes(stdout);
}

static int parse_num(const char *opt, const char *s, unsigned long long max,
		     unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *v > max || s[0] == '-')
		return hc_fail(HC_EUSAGE, "--%s '%s': expected a number up to %llu",
			       opt, s, max);
	return HC_OK;
}

static int parse_options(const struct hc_command *c, int argc, char **argv)
{
	struct option lo[HC_NOPTS + 1];
	unsigned long long v;
	int i, k, ret;

	memset(lo, 0, sizeof(lo));
	for (i = 0; i < (int)HC_NOPTS; i++) {
		lo[i].name = hc_options[i].name;
		lo[i].has_arg = hc_options[i].arg ? required_argument :
						    no_argument;
		lo[i].val = 256 + i;
	}
	opterr = 0;
	optind = 1;
	while ((k = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		if (k == 'h')
			k = 256 + (int)HC_NOPTS - 1;
		if (k < 256)
			return hc_fail(HC_EUSAGE,
				       "%s: unknown option or missing value: %s (see hmmctl %s --help)",
				       c->name, argv[optind - 1], c->name);
		i = k - 256;
		if (!(c->opts & hc_options[i].bit))
			return hc_fail(HC_EUSAGE, "%s does not take --%s (see hmmctl %s --help)",
				       c->name, hc_options[i].name, c->name);
		ret = HC_OK;
		switch (hc_options[i].bit) {
		case O_DEV:
			ret = parse_num("dev", optarg, 63, &v);
			hc_opt.dev = v;
			break;
		case O_OTHER:
			ret = parse_num("other", optarg, 63, &v);
			hc_opt.other = v;
			break;
		case O_PAGES:
			ret = parse_num("pages", optarg, 1UL << 20, &v);
			if (!ret && !v)
				ret = hc_fail(HC_EUSAGE, "--pages must be at least 1");
			hc_opt.pages = v;
			break;
		case O_PATTERN:
			hc_opt.pattern = optarg;
			if (hc_pattern_check_name(optarg))
				ret = hc_fail(HC_EUSAGE,
					      "--pattern '%s': expected index, zero, ones or a byte value",
					      optarg);
			break;
		case O_LAYOUT:
			hc_opt.layout = optarg;
			break;
		case O_VALUE:
			ret = parse_num("value", optarg, ~0ULL, &v);
			hc_opt.value = v;
			break;
		case O_THP:
			hc_opt.thp = true;
			break;
		case O_UNTOUCHED:
			hc_opt.untouched = true;
			break;
		case O_UNLOCKED:
			hc_opt.unlocked = true;
			break;
		case O_NOFAULT:
			hc_opt.no_fault = true;
			break;
		case O_ALL:
			hc_opt.all = true;
			break;
		case O_JSON:
			hc_opt.json = true;
			break;
		case O_HELP:
			command_help(c);
			exit(HC_OK);
		}
		if (ret)
			return ret;
	}
	if (optind < argc)
		return hc_fail(HC_EUSAGE, "%s: unexpected argument '%s'",
			       c->name, argv[optind]);
	return HC_OK;
}

int main(int argc, char **argv)
{
	const struct hc_command *c = NULL;
	size_t i;
	int ret;

	hc_page_size = sysconf(_SC_PAGESIZE);
	if (argc < 2) {
		print_usage(stderr);
		return HC_EUSAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		if (argc < 3) {
			print_usage(stdout);
			return HC_OK;
		}
		argv[1] = argv[2];
		argv[2] = "--help";
	}
	if (!strcmp(argv[1], "--version")) {
		printf("hmmctl %s (hmm_dmirror uapi version %d)\n",
		       HMMCTL_VERSION, HMM_DMIRROR_UAPI_VERSION);
		return HC_OK;
	}
	for (i = 0; i < HC_NCMDS; i++)
		if (!strcmp(argv[1], hc_commands[i].name))
			c = &hc_commands[i];
	if (!c) {
		fprintf(stderr, "hmmctl: unknown command '%s'\n\n", argv[1]);
		print_usage(stderr);
		return HC_EUSAGE;
	}
	ret = parse_options(c, argc - 1, argv + 1);
	if (ret) {
		fprintf(stderr, "hmmctl: %s\n", hc_failure());
		return ret;
	}
	hc_out_begin(c->name);
	return hc_out_end(c->fn());
}
