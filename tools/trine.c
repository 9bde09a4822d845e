/*
 * trine: the command-line tool. main, the command table, option parsing and
 * the help texts. docs/cli.md is the manual; the texts here are its summary.
 *
 * Parsing: the first argument names the command; after it, options and
 * positional arguments may come in any order. "--name value" and
 * "--name=value" both work, "--" ends the options (for a KEY or VALUE that
 * starts with '-'), and "-" alone is a positional argument (stdin/stdout).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ENCODINGS (CLI_OPTBIT(CLI_OPT_HEX) | CLI_OPTBIT(CLI_OPT_BASE64) | CLI_OPTBIT(CLI_OPT_ESCAPED))

typedef struct cli_option {
    const char *name; /* without the leading "--" */
    bool takes_value;
} cli_option;

static const cli_option options[CLI_OPT_COUNT] = {
    [CLI_OPT_HELP] = {"help", false},     [CLI_OPT_HEX] = {"hex", false},
    [CLI_OPT_BASE64] = {"base64", false}, [CLI_OPT_ESCAPED] = {"escaped", false},
    [CLI_OPT_RAW] = {"raw", false},       [CLI_OPT_FROM] = {"from", true},
    [CLI_OPT_TO] = {"to", true},          [CLI_OPT_PREFIX] = {"prefix", true},
    [CLI_OPT_REVERSE] = {"reverse", false}, [CLI_OPT_LIMIT] = {"limit", true},
    [CLI_OPT_JSON] = {"json", false},     [CLI_OPT_CONTINUE] = {"continue", false},
    [CLI_OPT_BUCKET] = {"bucket", true},  [CLI_OPT_PREFIX_LEN] = {"prefix-len", true},
    [CLI_OPT_BLOB_THRESHOLD] = {"blob-threshold", true},
    [CLI_OPT_BLOB_LEVEL] = {"blob-compression-level", true},
};

/* The commands that act on one bucket and so take --bucket. */
#define BUCKET CLI_OPTBIT(CLI_OPT_BUCKET)

typedef struct cli_command {
    const char *name;
    int (*run)(const cli_args *a);
    unsigned opts; /* CLI_OPTBIT of each option taken, besides --help */
    int min_pos, max_pos;
    const char *synopsis;
    const char *help;
} cli_command;

#define ENCODING_HELP                                                                             \
    "  --hex        keys and values, in arguments and output, are hex (\"6b6579\")\n"          \
    "  --base64     ... are base64 (\"a2V5\")\n"                                                   \
    "  --escaped    ... use the dump escaping (\"a\\tb\", \"\\x00\"); the output always does\n"
#define BUCKET_HELP                                                                    \
    "  --bucket NAME\n"                                                                \
    "               the named bucket NAME instead of the default one (also accepted\n" \
    "               before the command: trine --bucket NAME COMMAND ...)\n"

static int cmd_help(const cli_args *a);

static const cli_command commands[] = {
    {"get", cli_cmd_get, ENCODINGS | CLI_OPTBIT(CLI_OPT_RAW) | BUCKET, 2, 2,
     "get DIR KEY [--bucket NAME] [--raw|--hex|--base64]",
     "Prints the value of KEY and a newline. By default the value is escaped as in a\n"
     "dump (printable ASCII as is, \\\\ \\t \\n \\r, \\xHH for other bytes), so a terminal\n"
     "stays sane; --raw prints the exact bytes and no newline; --hex and --base64\n"
     "print it (and read KEY) in that encoding. A missing key prints a message on\n"
     "stderr and exits 3. Opens the database read-only; a missing --bucket is an\n"
     "error (exit 1) naming it.\n\n"
     "Options:\n" ENCODING_HELP "  --raw        print the value's exact bytes, no newline\n" BUCKET_HELP},
    {"put", cli_cmd_put, ENCODINGS | BUCKET, 3, 3, "put DIR KEY VALUE [--bucket NAME]",
     "Sets KEY to VALUE (synced to disk before it returns). Creates the database\n"
     "when DIR is missing or empty, and the --bucket NAME bucket when missing (with\n"
     "default options; bucket-create sets a prefix length). KEY is 1 to 65536\n"
     "bytes; VALUE may be empty.\n\n"
     "Options:\n" ENCODING_HELP BUCKET_HELP},
    {"delete", cli_cmd_delete, ENCODINGS | BUCKET, 2, 2, "delete DIR KEY [--bucket NAME]",
     "Deletes KEY; deleting an absent key is not an error. Creates the database\n"
     "when DIR is missing or empty, and the --bucket NAME bucket when missing, as\n"
     "put does.\n\n"
     "Options:\n" ENCODING_HELP BUCKET_HELP},
    {"scan", cli_cmd_scan,
     ENCODINGS | CLI_OPTBIT(CLI_OPT_FROM) | CLI_OPTBIT(CLI_OPT_TO) | CLI_OPTBIT(CLI_OPT_PREFIX) |
         CLI_OPTBIT(CLI_OPT_REVERSE) | CLI_OPTBIT(CLI_OPT_LIMIT) | BUCKET,
     1, 1, "scan DIR [--from K] [--to K] [--prefix P] [--reverse] [--limit N] [--bucket NAME]",
     "Prints one line per entry: the key, a tab, the value, both escaped as in a\n"
     "dump, in ascending key order. With --hex or --base64 both columns are in that\n"
     "encoding instead (and K, P are read in it). Opens the database read-only; a\n"
     "missing --bucket is an error (exit 1) naming it.\n\n"
     "Options:\n"
     "  --from K     start at K, inclusive\n"
     "  --to K       stop before K, exclusive\n"
     "  --prefix P   only keys that start with P; with --from/--to, the keys that\n"
     "               satisfy all of them (the ranges intersect)\n"
     "  --reverse    descending key order (same keys, last first)\n"
     "  --limit N    print at most N entries (0 prints none)\n" ENCODING_HELP BUCKET_HELP},
    {"stats", cli_cmd_stats, CLI_OPTBIT(CLI_OPT_JSON), 1, 1, "stats DIR [--json]",
     "Opens the database read-only and prints the library's counters (for this\n"
     "read-only open: recovery figures, memtable size, last sequence), then what a\n"
     "scan of every bucket finds (keys, key bytes, value bytes, in all), the\n"
     "directory's files and bytes, and each bucket's share (as 'trine buckets'\n"
     "prints it, plus its keys and bytes).\n\n"
     "Options:\n"
     "  --json       one JSON object: {\"path\", \"library\": {...}, \"keys\", ...,\n"
     "               \"buckets\": [{\"name\", ...}, ...]}\n"},
    {"buckets", cli_cmd_buckets, CLI_OPTBIT(CLI_OPT_JSON), 1, 1, "buckets DIR [--json]",
     "Lists the buckets, 'default' first, then the named ones in creation order:\n"
     "each name on a line of its own, followed by its stats (trine_bucket_stats of\n"
     "this read-only open): memtable bytes and memtables, tables and bytes of each\n"
     "non-empty level, pending compaction bytes, puts and deletes (counted since\n"
     "the open, so 0 here). Opens the database read-only.\n\n"
     "Options:\n"
     "  --json       one JSON object: {\"path\", \"buckets\": [{\"name\", \"id\", ...}, ...]}\n"},
    {"bucket-create", cli_cmd_bucket_create,
     CLI_OPTBIT(CLI_OPT_PREFIX_LEN) | CLI_OPTBIT(CLI_OPT_BLOB_THRESHOLD) | CLI_OPTBIT(CLI_OPT_BLOB_LEVEL), 2, 2,
     "bucket-create DIR NAME [--prefix-len N] [--blob-threshold N] [--blob-compression-level L]",
     "Creates the named bucket NAME (durably), and the database when DIR is missing\n"
     "or empty. NAME is 1 to 64 bytes of letters, digits and _-.: and not 'default'.\n"
     "A bucket that exists already is left as it is (success); with --prefix-len,\n"
     "N must then be its prefix length.\n\n"
     "Options:\n"
     "  --prefix-len N\n"
     "               keys' first N bytes also enter the table filters (fixed for the\n"
     "               life of the bucket); default 0, none\n"
     "  --blob-threshold N\n"
     "               values of N bytes or more go to blob files at flush (kept in the\n"
     "               MANIFEST with the bucket; a new bucket only); default 0, never\n"
     "  --blob-compression-level L\n"
     "               zstd level of the blob records, 1 to 19 or -7 to -1 (zstd's fast\n"
     "               levels; a new bucket only); default -1\n"},
    {"bucket-drop", cli_cmd_bucket_drop, 0, 2, 2, "bucket-drop DIR NAME",
     "Drops the named bucket NAME and all its data, durably. An unknown NAME is an\n"
     "error (exit 1); the default bucket cannot be dropped. Opens an existing\n"
     "database for writing; never creates one.\n"},
    {"dump", cli_cmd_dump, BUCKET, 1, 2, "dump DIR [FILE] [--bucket NAME]",
     "Writes every record of the database as text, format 'trine-dump 1': a header\n"
     "line, one 'put<TAB>key<TAB>value' line per record (escaped), an 'end<TAB>N'\n"
     "line. FILE missing or '-' is stdout; a FILE is replaced only when the dump is\n"
     "complete. Opens the database read-only. docs/cli.md describes the format.\n"
     "One bucket per dump: the default one, or --bucket's.\n\n"
     "Options:\n" BUCKET_HELP},
    {"load", cli_cmd_load, CLI_OPTBIT(CLI_OPT_CONTINUE) | BUCKET, 1, 2,
     "load DIR [FILE] [--continue] [--bucket NAME]",
     "Adds the records of a dump (FILE missing or '-': stdin) to the database,\n"
     "creating it when missing. The whole input is checked first: any bad line is\n"
     "reported with its number and nothing is loaded. Records are written in\n"
     "synced batches (1000 records or 1 MiB).\n\n"
     "Options:\n"
     "  --continue   load the good lines, report and skip the bad ones; the exit\n"
     "               code is still 1 when any line was skipped\n" BUCKET_HELP
     "               (load creates it when missing)\n"},
    {"verify", cli_cmd_verify, 0, 1, 1, "verify DIR",
     "Checks every file of a closed database (checksums, record structure) and\n"
     "changes nothing. One line per file ('OK  name  bytes, records' or\n"
     "'BAD name offset N: problem'), then a summary. Exit 0 when all is sound,\n"
     "1 when damage was found.\n"},
    {"flush", cli_cmd_flush, 0, 1, 1, "flush DIR",
     "Writes the memtables of an existing database to table files (trine_flush).\n"},
    {"compact", cli_cmd_compact, 0, 1, 1, "compact DIR",
     "Compacts an existing database into its last level (trine_compact).\n"},
    {"repair", cli_cmd_repair, 0, 1, 1, "repair DIR",
     "Removes known-safe leftovers of a closed database (trine_repair): *.tmp files and\n"
     "tables a flush cut short that the MANIFEST never referenced. Prints each removal;\n"
     "never touches a file the MANIFEST references or a WAL.\n"},
    {"version", cli_cmd_version, 0, 0, 0, "version",
     "Prints 'trine X.Y.Z', the version of the linked library, and the header's\n"
     "version when it differs.\n"},
    {"help", cmd_help, 0, 0, 1, "help [COMMAND]", "Prints the usage, or a command's help.\n"},
};
#define COMMAND_COUNT (sizeof commands / sizeof *commands)

static const char usage_text[] =
    "usage: trine COMMAND [OPTIONS] ARGS...\n"
    "\n"
    "Reading commands open the database read-only and never create one:\n"
    "  get DIR KEY            print the value of KEY\n"
    "  scan DIR               print key<TAB>value lines (--from, --to, --prefix, ...)\n"
    "  stats DIR              counters, keys, bytes, files (--json)\n"
    "  dump DIR [FILE]        write every record as text (format trine-dump 1)\n"
    "  verify DIR             check every file of the database; change nothing\n"
    "  buckets DIR            list the buckets with their stats (--json)\n"
    "Writing commands create the database when DIR is missing or empty:\n"
    "  put DIR KEY VALUE      set KEY to VALUE\n"
    "  delete DIR KEY         delete KEY\n"
    "  load DIR [FILE]        add the records of a dump (checked first)\n"
    "  bucket-create DIR NAME create a named bucket (--prefix-len N, --blob-threshold N,\n"
    "                         --blob-compression-level L)\n"
    "Maintenance:\n"
    "  flush DIR              write the memtables to table files\n"
    "  compact DIR            compact every bucket into its last level\n"
    "  repair DIR             remove known-safe leftovers (temp files, unreferenced tables)\n"
    "  bucket-drop DIR NAME   drop a named bucket and its data\n"
    "Other:\n"
    "  version                print the version\n"
    "  help [COMMAND]         this text, or a command's ('trine COMMAND --help')\n"
    "\n"
    "get, put, delete, scan, dump and load act on the default bucket, or with\n"
    "--bucket NAME (before or after the command) on the named bucket NAME.\n"
    "Keys and values are text; --hex, --base64 or --escaped read (and print) them\n"
    "in that encoding. Exit codes: 0 ok, 1 error, 2 usage, 3 key not found,\n"
    "4 locked, 5 unsupported, 6 no database at DIR. Manual: docs/cli.md.\n";

static const cli_command *find_command(const char *name) {
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void print_command_help(FILE *f, const cli_command *c) {
    fprintf(f, "usage: trine %s\n\n%s", c->synopsis, c->help);
    if (!strstr(c->help, "Options:"))
        fputs("\nOptions:\n", f);
    fputs("  -h, --help   this text\n", f);
}

static int cmd_help(const cli_args *a) {
    if (a->npos == 0) {
        fputs(usage_text, stdout);
        return cli_finish_stdout("help", CLI_EXIT_OK);
    }
    const cli_command *c = find_command(a->pos[0]);
    if (!c) {
        cli_msg("help", "unknown command '%s'", a->pos[0]);
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    print_command_help(stdout, c);
    return cli_finish_stdout("help", CLI_EXIT_OK);
}

/* Fills a from argv[0..argc) (the words after the command). */
static int parse(const cli_command *c, int argc, char **argv, cli_args *a) {
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || !strcmp(arg, "-")) {
            if (a->npos == c->max_pos)
                return cli_usage_error(c->name, "unexpected argument '%s' (%s takes at most %d)", arg, c->name,
                                       c->max_pos);
            a->pos[a->npos++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            options_done = true;
            continue;
        }
        if (!strcmp(arg, "-h")) {
            a->set[CLI_OPT_HELP] = true;
            continue;
        }
        if (arg[1] != '-')
            return cli_usage_error(c->name, "unknown option '%s'", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        int id = -1;
        for (int o = 0; o < CLI_OPT_COUNT; o++)
            if (strlen(options[o].name) == name_len && !strncmp(options[o].name, name, name_len))
                id = o;
        if (id < 0 || (id != CLI_OPT_HELP && !(c->opts & CLI_OPTBIT(id))))
            return cli_usage_error(c->name, "unknown option '--%.*s'%s", (int)name_len, name,
                                   id < 0 ? "" : " for this command");
        if (a->set[id])
            return cli_usage_error(c->name, "option '--%s' given twice", options[id].name);
        if (options[id].takes_value) {
            if (eq) {
                a->value[id] = eq + 1;
            } else if (i + 1 < argc) {
                a->value[id] = argv[++i];
            } else {
                return cli_usage_error(c->name, "option '--%s' needs a value", options[id].name);
            }
        } else if (eq) {
            return cli_usage_error(c->name, "option '--%s' takes no value", options[id].name);
        }
        a->set[id] = true;
    }
    if (a->set[CLI_OPT_HELP])
        return CLI_EXIT_OK;
    int encodings = a->set[CLI_OPT_HEX] + a->set[CLI_OPT_BASE64] + a->set[CLI_OPT_ESCAPED];
    if (encodings > 1)
        return cli_usage_error(c->name, "--hex, --base64 and --escaped exclude each other");
    a->enc = a->set[CLI_OPT_HEX] ? CLI_ENC_HEX : a->set[CLI_OPT_BASE64] ? CLI_ENC_BASE64
             : a->set[CLI_OPT_ESCAPED] ? CLI_ENC_ESCAPED : CLI_ENC_TEXT;
    if (a->npos < c->min_pos)
        return cli_usage_error(c->name, "missing argument%s: usage: trine %s", c->min_pos - a->npos > 1 ? "s" : "",
                               c->synopsis);
    return CLI_EXIT_OK;
}

/* "--bucket NAME" or "--bucket=NAME" before the command: *used is how many
 * words it took (0 when argv[0] is not --bucket), -1 when NAME is missing. */
static const char *global_bucket(int argc, char **argv, int *used) {
    *used = 0;
    if (argc < 1 || strncmp(argv[0], "--bucket", 8) || (argv[0][8] != '\0' && argv[0][8] != '='))
        return NULL;
    if (argv[0][8] == '=') {
        *used = 1;
        return argv[0] + 9;
    }
    *used = argc > 1 ? 2 : -1;
    return argc > 1 ? argv[1] : NULL;
}

int main(int argc, char **argv) {
    int used;
    const char *bucket = global_bucket(argc - 1, argv + 1, &used);
    if (used < 0) {
        fputs("trine: option '--bucket' needs a value\n\n", stderr);
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    argc -= used;
    argv += used; /* argv[0] is no longer the program's name: only argv[1..] is read below */
    if (argc < 2) {
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        fputs(usage_text, stdout);
        return cli_finish_stdout("help", CLI_EXIT_OK);
    }
    if (!strcmp(name, "--version"))
        name = "version";
    const cli_command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "trine: unknown command '%s'\n\n", name);
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    cli_args a;
    memset(&a, 0, sizeof a);
    a.cmd = c->name;
    int code = parse(c, argc - 2, argv + 2, &a);
    if (code != CLI_EXIT_OK)
        return code;
    if (a.set[CLI_OPT_HELP]) {
        print_command_help(stdout, c);
        return cli_finish_stdout(c->name, CLI_EXIT_OK);
    }
    if (bucket) {
        if (!(c->opts & CLI_OPTBIT(CLI_OPT_BUCKET)))
            return cli_usage_error(c->name, "--bucket does not apply to %s (it applies to get, put, delete, scan, "
                                   "dump and load)", c->name);
        if (a.set[CLI_OPT_BUCKET])
            return cli_usage_error(c->name, "option '--bucket' given twice");
        a.set[CLI_OPT_BUCKET] = true;
        a.value[CLI_OPT_BUCKET] = bucket;
    }
    if (a.set[CLI_OPT_BUCKET] && (code = cli_check_bucket_name(&a, "--bucket", a.value[CLI_OPT_BUCKET], true)))
        return code;
    return c->run(&a);
}
