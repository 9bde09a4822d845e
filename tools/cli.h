/*
 * trine command-line tool: what its files share.
 *
 * The tool is built on the public API alone (include/trine/trine.h); it
 * never includes anything from src/. Its pieces:
 *
 *   trine.c       main, the command table, option parsing, help texts
 *   cli_escape.c  byte buffers and the codecs: dump escaping, hex, base64
 *   cli_util.c    error reporting, exit codes, opening databases, progress
 *   cli_cmds.c    get, put, delete, scan, flush, compact, repair, version
 *   cli_info.c    stats and verify
 *   cli_buckets.c --bucket, buckets, bucket-create, bucket-drop, and the
 *                 per-bucket stats lines stats shares
 *   cli_dump.c    dump and load (the text format is described there and in
 *                 docs/cli.md)
 *
 * Every command is a function taking the parsed arguments and returning the
 * process exit code (CLI_EXIT_*). Messages go to stderr as
 * "trine: <command>: <status name>: <detail>"; data goes to stdout.
 */
#ifndef TRINE_TOOLS_CLI_H
#define TRINE_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <trine/trine.h>

/* Exit codes: docs/cli.md has the table. One code per kind of outcome. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,       /* library or system error, damage found, bad dump input */
    CLI_EXIT_USAGE = 2,       /* unknown command or option, missing or bad argument */
    CLI_EXIT_NOT_FOUND = 3,   /* get: the key is absent */
    CLI_EXIT_LOCKED = 4,      /* the database is open elsewhere (TRINE_LOCKED) */
    CLI_EXIT_UNSUPPORTED = 5, /* the library lacks the feature (TRINE_UNSUPPORTED) */
    CLI_EXIT_NO_DATABASE = 6  /* DIR is missing, not a directory, or holds no database */
};

/* ---- byte buffers (cli_escape.c) -------------------------------------- */

/* A growable byte string; always NUL-terminated after data[len] for printing. */
typedef struct cli_buf {
    char *data;
    size_t len, cap;
} cli_buf;

/* Allocation failure ends the process: a command-line tool has no better answer. */
void *cli_xmalloc(size_t n);
void *cli_xrealloc(void *p, size_t n);
void cli_buf_reserve(cli_buf *b, size_t extra);
void cli_buf_append(cli_buf *b, const void *p, size_t n);
void cli_buf_putc(cli_buf *b, char c);
void cli_buf_printf(cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_buf_clear(cli_buf *b);
void cli_buf_free(cli_buf *b);

/* ---- codecs (cli_escape.c) -------------------------------------------- */

/* How keys and values are written on the command line and in output. */
typedef enum cli_encoding {
    CLI_ENC_TEXT = 0, /* input: the argument's bytes as they are; output: escaped */
    CLI_ENC_ESCAPED,  /* the dump escaping, both ways */
    CLI_ENC_HEX,      /* two lowercase hex digits a byte (either case accepted) */
    CLI_ENC_BASE64    /* RFC 4648 standard alphabet, padded (padding optional on input) */
} cli_encoding;

/* Appends the dump escaping of p[0..n): printable ASCII but backslash as is,
 * \\ \t \n \r, and \xHH (lowercase) for every other byte. Output is ASCII. */
void cli_escape(cli_buf *out, const void *p, size_t n);
void cli_hex_encode(cli_buf *out, const void *p, size_t n);
void cli_base64_encode(cli_buf *out, const void *p, size_t n);
/* Appends s encoded as enc (TEXT output is the escaping). */
void cli_encode(cli_buf *out, cli_encoding enc, const void *p, size_t n);

/*
 * Decoders append the bytes s[0..n) stands for. On bad input they return
 * false, set *bad_at to the 0-based offset of the offending character and
 * write a reason (without the position) into why[0..whylen).
 */
bool cli_unescape(cli_buf *out, const char *s, size_t n, size_t *bad_at, char *why, size_t whylen);
bool cli_hex_decode(cli_buf *out, const char *s, size_t n, size_t *bad_at, char *why, size_t whylen);
bool cli_base64_decode(cli_buf *out, const char *s, size_t n, size_t *bad_at, char *why, size_t whylen);
bool cli_decode(cli_buf *out, cli_encoding enc, const char *s, size_t n, size_t *bad_at, char *why,
                size_t whylen);
/* "text", "escaped", "hex", "base64". */
const char *cli_encoding_name(cli_encoding enc);

/* ---- parsed command line (trine.c) ------------------------------------ */

/* Options, by id; each command lists the ones it takes (CLI_OPTBIT). */
typedef enum cli_opt {
    CLI_OPT_HELP = 0,
    CLI_OPT_HEX,
    CLI_OPT_BASE64,
    CLI_OPT_ESCAPED,
    CLI_OPT_RAW,
    CLI_OPT_FROM,
    CLI_OPT_TO,
    CLI_OPT_PREFIX,
    CLI_OPT_REVERSE,
    CLI_OPT_LIMIT,
    CLI_OPT_JSON,
    CLI_OPT_CONTINUE,
    CLI_OPT_BUCKET,     /* global: the bucket get/put/delete/scan/dump/load act on */
    CLI_OPT_PREFIX_LEN, /* bucket-create */
    CLI_OPT_BLOB_THRESHOLD, /* bucket-create */
    CLI_OPT_BLOB_LEVEL,     /* bucket-create: blob_compression_level */
    CLI_OPT_COUNT
} cli_opt;
#define CLI_OPTBIT(o) (1u << (o))

#define CLI_MAX_POSITIONAL 4

typedef struct cli_args {
    const char *cmd;                          /* command name, for messages */
    const char *pos[CLI_MAX_POSITIONAL];      /* positional arguments, in order */
    int npos;
    bool set[CLI_OPT_COUNT];                  /* option given */
    const char *value[CLI_OPT_COUNT];         /* its argument, for options that take one */
    cli_encoding enc;                         /* from --hex / --base64 / --escaped */
} cli_args;

/* ---- reporting and helpers (cli_util.c) -------------------------------- */

/* "trine: <cmd>: <fmt...>" on stderr, newline added. */
void cli_msg(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Usage error: the message and a pointer to the command's help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "trine: <cmd>: <STATUS_NAME>: <detail>" where detail is the given text, or
 * trine_last_error() when text is NULL, or the status's meaning when that is
 * empty. Returns the exit code for s (cli_exit_for). */
int cli_fail(const char *cmd, trine_status s, const char *text);
/* The exit code for a failed status: LOCKED, UNSUPPORTED as listed, the rest ERROR. */
int cli_exit_for(trine_status s);

/*
 * Opens the database at dir. Reading commands (writable = false) open it
 * read-only and never create it; without create, a directory holding no
 * CURRENT, MANIFEST or WAL is refused before the library sees it (the open
 * would leave a LOCK file there). Writing commands create the database when
 * missing (create = true), but refuse a directory that has no CURRENT and
 * holds files Trine would not have written: a database is never created
 * among foreign files. On failure the message is printed and *exit_code set.
 */
trine_db *cli_open(const cli_args *a, const char *dir, bool writable, bool create, int *exit_code);
/* Closes db; a failing close is reported and turns exit_code into an error. */
int cli_close(const cli_args *a, trine_db *db, int exit_code);

/* ---- buckets (cli_buckets.c) -------------------------------------------- */

/* The --bucket name, or NULL for the default bucket (no --bucket, or
 * --bucket default). */
const char *cli_bucket_name(const cli_args *a);
/* Checks a bucket name given on the command line (what: "--bucket", "NAME")
 * against the library's rule: 1..TRINE_MAX_BUCKET_NAME bytes of letters,
 * digits and "_-.:". "default" passes only with allow_default. Returns
 * CLI_EXIT_OK or a usage error, so a bad name never opens (or creates) a
 * database. */
int cli_check_bucket_name(const cli_args *a, const char *what, const char *name, bool allow_default);
/*
 * The bucket a per-key command acts on: the default bucket, or the --bucket
 * one through trine_bucket_open_sync. A writable db creates a missing bucket
 * (as writing commands create a missing database); on a read-only db a
 * missing bucket is an error naming it. On failure the message is printed,
 * *exit_code set and NULL returned. The handle belongs to db.
 */
trine_bucket *cli_bucket(const cli_args *a, trine_db *db, const char *dir, bool writable, int *exit_code);

/* What a scan of one bucket found (stats). */
typedef struct cli_contents {
    uint64_t keys, key_bytes, value_bytes;
} cli_contents;
/* One bucket's lines as `buckets` prints them (indent: spaces before each
 * stats line); contents NULL leaves its lines out. */
void cli_bucket_stats_text(cli_buf *out, const char *name, const trine_bucket_stats *st, const cli_contents *c,
                           int indent);
/* One bucket as a JSON object; contents NULL leaves its fields out. */
void cli_bucket_stats_json(cli_buf *out, const char *name, const trine_bucket_stats *st, const cli_contents *c);
/* s as a JSON string. */
void cli_json_string(cli_buf *out, const char *s);
/* Frees what trine_bucket_list returned. */
void cli_free_names(char **names, size_t n);

/* Decodes a KEY/VALUE/bound argument per a->enc. what names it in messages
 * ("KEY", "--from"). is_key checks 1..TRINE_MAX_KEY_LEN (allow_empty lifts the
 * lower bound for bounds and prefixes). Returns CLI_EXIT_OK or USAGE. */
int cli_arg_bytes(const cli_args *a, const char *what, const char *s, bool is_key, bool allow_empty,
                  cli_buf *out);

/* Writes n bytes to f; false (errno set) on failure. */
bool cli_write(FILE *f, const void *p, size_t n);
/* Flushes stdout and reports a write error on it; returns the updated exit code. */
int cli_finish_stdout(const char *cmd, int exit_code);

/* Progress on stderr, only when stderr is a terminal and the command's own
 * output does not go to that same terminal. */
typedef struct cli_progress {
    bool on;
    uint64_t next_ns; /* monotonic time of the next update */
    bool shown;       /* something was drawn: end with a newline */
} cli_progress;
void cli_progress_init(cli_progress *p, bool output_is_tty);
/* Redraws at most a few times a second; fmt describes the work so far. */
void cli_progress_update(cli_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_progress_done(cli_progress *p);

/* ---- commands ---------------------------------------------------------- */

int cli_cmd_get(const cli_args *a);
int cli_cmd_put(const cli_args *a);
int cli_cmd_delete(const cli_args *a);
int cli_cmd_scan(const cli_args *a);
int cli_cmd_flush(const cli_args *a);
int cli_cmd_compact(const cli_args *a);
int cli_cmd_repair(const cli_args *a);
int cli_cmd_version(const cli_args *a);
int cli_cmd_stats(const cli_args *a);
int cli_cmd_verify(const cli_args *a);
int cli_cmd_dump(const cli_args *a);
int cli_cmd_load(const cli_args *a);
int cli_cmd_buckets(const cli_args *a);
int cli_cmd_bucket_create(const cli_args *a);
int cli_cmd_bucket_drop(const cli_args *a);

#endif /* TRINE_TOOLS_CLI_H */
