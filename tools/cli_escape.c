/*
 * Byte buffers and the three codecs the tool speaks: the dump escaping, hex
 * and base64.
 *
 * The escaping (docs/cli.md, "Escaping") keeps every output line ASCII and
 * free of tabs, so a tab can separate fields and a newline end a record:
 *
 *   0x20..0x7e except '\'   as is
 *   '\'                     \\
 *   0x09 0x0a 0x0d          \t \n \r
 *   every other byte        \xHH, two lowercase hex digits
 *
 * The decoder also takes uppercase hex digits and \x09-style spellings of
 * tab, newline and return; the encoder always writes the forms above, so
 * encode(decode(s)) is canonical and dump → load → dump is byte-identical.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- buffers ------------------------------------------------------------ */

void *cli_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("trine: out of memory\n", stderr);
        exit(CLI_EXIT_ERROR);
    }
    return p;
}

void *cli_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("trine: out of memory\n", stderr);
        exit(CLI_EXIT_ERROR);
    }
    return q;
}

void cli_buf_reserve(cli_buf *b, size_t extra) {
    if (extra >= SIZE_MAX / 2 - b->len) {
        fputs("trine: out of memory\n", stderr);
        exit(CLI_EXIT_ERROR);
    }
    size_t need = b->len + extra + 1; /* + the terminating NUL */
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = cli_xrealloc(b->data, cap);
    b->cap = cap;
}

void cli_buf_append(cli_buf *b, const void *p, size_t n) {
    cli_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cli_buf_putc(cli_buf *b, char c) { cli_buf_append(b, &c, 1); }

void cli_buf_printf(cli_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    cli_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cli_buf_clear(cli_buf *b) {
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cli_buf_free(cli_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- escaping ----------------------------------------------------------- */

static const char hex_digits[] = "0123456789abcdef";

void cli_escape(cli_buf *out, const void *p, size_t n) {
    const unsigned char *s = p;
    cli_buf_reserve(out, n); /* the common case: nothing to escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        char esc[4];
        size_t len = 2;
        esc[0] = '\\';
        switch (c) {
        case '\\': esc[1] = '\\'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            if (c >= 0x20 && c <= 0x7e) {
                esc[0] = (char)c;
                len = 1;
            } else {
                esc[1] = 'x';
                esc[2] = hex_digits[c >> 4];
                esc[3] = hex_digits[c & 15];
                len = 4;
            }
        }
        cli_buf_append(out, esc, len);
    }
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A byte in a reason, readable whatever it is. */
static void describe_char(char *dst, size_t len, char c) {
    unsigned char u = (unsigned char)c;
    if (u > 0x20 && u < 0x7f && u != '\'')
        snprintf(dst, len, "'%c'", c);
    else
        snprintf(dst, len, "byte 0x%02x", u);
}

static bool fail(size_t *bad_at, size_t at, char *why, size_t whylen, const char *reason) {
    *bad_at = at;
    snprintf(why, whylen, "%s", reason);
    return false;
}

bool cli_unescape(cli_buf *out, const char *s, size_t n, size_t *bad_at, char *why, size_t whylen) {
    cli_buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\\') {
            if (c < 0x20 || c > 0x7e) {
                char what[16], reason[96];
                describe_char(what, sizeof what, (char)c);
                snprintf(reason, sizeof reason, "raw %s: escape it (\\t, \\n, \\r or \\xHH)", what);
                return fail(bad_at, i, why, whylen, reason);
            }
            cli_buf_putc(out, (char)c);
            continue;
        }
        if (i + 1 == n)
            return fail(bad_at, i, why, whylen, "backslash at the end: an escape needs a character after it");
        char e = s[i + 1];
        switch (e) {
        case '\\': cli_buf_putc(out, '\\'); break;
        case 't': cli_buf_putc(out, '\t'); break;
        case 'n': cli_buf_putc(out, '\n'); break;
        case 'r': cli_buf_putc(out, '\r'); break;
        case 'x': {
            int hi = i + 2 < n ? hex_value(s[i + 2]) : -1;
            int lo = i + 3 < n ? hex_value(s[i + 3]) : -1;
            if (hi < 0 || lo < 0)
                return fail(bad_at, i, why, whylen, "bad escape: \\x needs two hex digits");
            cli_buf_putc(out, (char)(hi << 4 | lo));
            i += 2;
            break;
        }
        default: {
            char what[16], reason[96];
            describe_char(what, sizeof what, e);
            snprintf(reason, sizeof reason, "unknown escape: backslash then %s (known: \\\\ \\t \\n \\r \\xHH)",
                     what);
            return fail(bad_at, i, why, whylen, reason);
        }
        }
        i++;
    }
    return true;
}

/* ---- hex ---------------------------------------------------------------- */

void cli_hex_encode(cli_buf *out, const void *p, size_t n) {
    const unsigned char *s = p;
    cli_buf_reserve(out, 2 * n);
    for (size_t i = 0; i < n; i++) {
        out->data[out->len++] = hex_digits[s[i] >> 4];
        out->data[out->len++] = hex_digits[s[i] & 15];
    }
    out->data[out->len] = '\0';
}

bool cli_hex_decode(cli_buf *out, const char *s, size_t n, size_t *bad_at, char *why, size_t whylen) {
    for (size_t i = 0; i < n; i++) {
        if (hex_value(s[i]) < 0) {
            char what[16], reason[64];
            describe_char(what, sizeof what, s[i]);
            snprintf(reason, sizeof reason, "%s is not a hex digit", what);
            return fail(bad_at, i, why, whylen, reason);
        }
    }
    if (n % 2)
        return fail(bad_at, n, why, whylen, "odd number of hex digits (two a byte)");
    cli_buf_reserve(out, n / 2);
    for (size_t i = 0; i < n; i += 2)
        cli_buf_putc(out, (char)(hex_value(s[i]) << 4 | hex_value(s[i + 1])));
    return true;
}

/* ---- base64 (RFC 4648, standard alphabet) ------------------------------- */

static const char b64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cli_base64_encode(cli_buf *out, const void *p, size_t n) {
    const unsigned char *s = p;
    cli_buf_reserve(out, (n + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        char quad[4] = {b64_digits[v >> 18], b64_digits[v >> 12 & 63], b64_digits[v >> 6 & 63],
                        b64_digits[v & 63]};
        cli_buf_append(out, quad, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        char quad[4] = {b64_digits[v >> 18], b64_digits[v >> 12 & 63], '=', '='};
        cli_buf_append(out, quad, 4);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        char quad[4] = {b64_digits[v >> 18], b64_digits[v >> 12 & 63], b64_digits[v >> 6 & 63], '='};
        cli_buf_append(out, quad, 4);
    }
}

static int b64_value(char c) {
    const char *p = c ? strchr(b64_digits, c) : NULL;
    return p ? (int)(p - b64_digits) : -1;
}

bool cli_base64_decode(cli_buf *out, const char *s, size_t n, size_t *bad_at, char *why, size_t whylen) {
    size_t data = n; /* characters before the padding */
    while (data > 0 && s[data - 1] == '=' && n - data < 2)
        data--;
    if (data < n && n % 4)
        return fail(bad_at, data, why, whylen, "padding '=' only completes a group of four characters");
    for (size_t i = 0; i < data; i++) {
        if (b64_value(s[i]) < 0) {
            char what[16], reason[80];
            describe_char(what, sizeof what, s[i]);
            snprintf(reason, sizeof reason, "%s is not a base64 character", what);
            return fail(bad_at, i, why, whylen, reason);
        }
    }
    if (data % 4 == 1)
        return fail(bad_at, data, why, whylen, "truncated: one character cannot end a base64 group");
    cli_buf_reserve(out, data / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data; i++) {
        acc = acc << 6 | (uint32_t)b64_value(s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            cli_buf_putc(out, (char)(acc >> bits & 0xff));
        }
    }
    if (acc & ((1u << bits) - 1))
        return fail(bad_at, data - 1, why, whylen, "non-zero bits after the last byte (not canonical base64)");
    return true;
}

/* ---- by encoding -------------------------------------------------------- */

void cli_encode(cli_buf *out, cli_encoding enc, const void *p, size_t n) {
    switch (enc) {
    case CLI_ENC_HEX: cli_hex_encode(out, p, n); break;
    case CLI_ENC_BASE64: cli_base64_encode(out, p, n); break;
    default: cli_escape(out, p, n); break;
    }
}

bool cli_decode(cli_buf *out, cli_encoding enc, const char *s, size_t n, size_t *bad_at, char *why,
                size_t whylen) {
    switch (enc) {
    case CLI_ENC_ESCAPED: return cli_unescape(out, s, n, bad_at, why, whylen);
    case CLI_ENC_HEX: return cli_hex_decode(out, s, n, bad_at, why, whylen);
    case CLI_ENC_BASE64: return cli_base64_decode(out, s, n, bad_at, why, whylen);
    default: cli_buf_append(out, s, n); return true;
    }
}

const char *cli_encoding_name(cli_encoding enc) {
    switch (enc) {
    case CLI_ENC_ESCAPED: return "escaped";
    case CLI_ENC_HEX: return "hex";
    case CLI_ENC_BASE64: return "base64";
    default: return "text";
    }
}
