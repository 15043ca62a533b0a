/* load_int.h -- internals shared by the loader's files (load*.c) and cmd_check.c.
 *
 * What it is for: the YAML node tree with source positions (load_yaml.c), the
 * loading context that collects errors, and the value parsers (load_values.c)
 * used by the step parsers (load_steps.c) and the top level (load.c).
 *
 * What it is not: a public API. The runner and the reports use load.h and
 * model.h only; nothing outside the loader should depend on ynode.
 */
#ifndef HARNESS_LOAD_INT_H
#define HARNESS_LOAD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "load.h"
#include "model.h"

/* Bounds that keep hostile input (a fuzzer, a typo'd binary file) cheap. */
#define LOAD_MAX_BYTES   (4u * 1024u * 1024u)
#define LOAD_MAX_DEPTH   64
#define LOAD_MAX_NODES   200000
#define LOAD_MAX_MAPKEYS 1024
#define LOAD_MAX_ERRORS  100
#define LOAD_MAX_STEPS   5000
#define LOAD_MAX_CLIENTS 256
/* Connections one scenario may hold with `flood` steps, all of them together:
 * enough to be a flood for a test broker, few enough for the file descriptor
 * limits of the harness and the broker (1024 by default) under `-j`. */
#define LOAD_MAX_FLOOD   256

typedef enum ynode_type { YN_SCALAR, YN_SEQ, YN_MAP } ynode_type;

typedef struct ynode ynode;
struct ynode {
    ynode_type type;
    src_pos pos;
    bool plain;             /* scalar written without quotes (may be a number / bool / null) */
    char *str;              /* scalar value, NUL-terminated (may hold NULs: see len) */
    size_t len;
    ynode **items;          /* seq: the items; map: key0, value0, key1, value1 ... */
    size_t n;               /* number of items (a map has n/2 entries) */
    size_t cap;
};

/* The loading context of one file. */
typedef struct lctx {
    const char *file;
    char *err;              /* first error, for scenario_load */
    size_t errcap;
    FILE *errs;             /* every error, or NULL */
    int nerr;
    scenario_t *s;
    /* names defined so far, in step order (borrowed from the model) */
    const char **marks;
    size_t n_marks;
    const char **saved;
    size_t n_saved;
    uint32_t flood_total;   /* connections asked for by the flood steps so far */
} lctx;

#if defined(__GNUC__)
#define LOAD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOAD_PRINTF(a, b)
#endif

/* Reports "FILE:LINE:COL: message" at pos. */
void lerr_at(lctx *c, src_pos pos, const char *fmt, ...) LOAD_PRINTF(3, 4);
void lerr(lctx *c, const ynode *n, const char *fmt, ...) LOAD_PRINTF(3, 4);

/* ---- load_yaml.c ---- */

/* Parses text into a node tree. Returns the root, or NULL after reporting the
 * error (syntax, anchors / aliases, tags, limits, several documents). */
ynode *ynode_parse(lctx *c, const char *text, size_t len);
void ynode_free(ynode *n);

const char *ynode_type_name(const ynode *n);    /* "a map", "a list", "a string" */
bool ynode_is_null(const ynode *n);
/* The value for key in a map, or NULL. */
const ynode *map_get(const ynode *map, const char *key);
const ynode *map_key(const ynode *map, const char *key);
/* Reports every key of map that is not in allowed (NULL-terminated), naming the
 * allowed ones. `what` names the map in messages ("connect"). Returns true if
 * all keys are allowed. */
bool map_check_keys(lctx *c, const ynode *map, const char *what, const char *const *allowed);
/* Reports a missing key (at the map). Returns the value or NULL. */
const ynode *map_require(lctx *c, const ynode *map, const char *what, const char *key);
/* Expects a map (or null, meaning {}). Returns false after reporting. */
bool want_map(lctx *c, const ynode *n, const char *what);
bool want_seq(lctx *c, const ynode *n, const char *what);

/* ---- load_values.c ---- */

char *xstrdup(const char *s);
char *xmemdup(const char *s, size_t len);
void *xcalloc(size_t n, size_t size);

/* Each returns 0, or -1 after reporting an error at n. */
int get_bool(lctx *c, const ynode *n, const char *key, bool *out);
int get_uint(lctx *c, const ynode *n, const char *key, uint64_t max, uint64_t *out);
int get_u32(lctx *c, const ynode *n, const char *key, uint32_t min, uint32_t max, uint32_t *out);
int get_opt_u32(lctx *c, const ynode *n, const char *key, uint32_t min, uint32_t max, opt_u32 *out);
/* Session expiry: a u32 or `never`. */
int get_expiry(lctx *c, const ynode *n, const char *key, opt_u32 *out);
/* A string scalar (no NULs). Numbers and booleans written plain are taken as
 * their text: `payload: 5` is "5". */
int get_str(lctx *c, const ynode *n, const char *key, char **out);
/* A string that may contain NULs (payloads). */
int get_bytes(lctx *c, const ynode *n, const char *key, char **out, size_t *len);
/* A template string: placeholders checked against the scenario's clients. */
int get_template(lctx *c, const ynode *n, const char *key, char **out, size_t *len);
int check_template(lctx *c, const ynode *n, const char *s, size_t len, int self_client);
int get_hex(lctx *c, const ynode *n, const char *key, uint8_t **out, size_t *len);
int get_level(lctx *c, const ynode *n, level_t *out);
int get_spec_statement(lctx *c, const ynode *n, char **out);
/* Durations: a literal or {session_expiry|will_delay|keep_alive: CLIENT, times, plus}. */
int get_duration(lctx *c, const ynode *n, const char *key, duration_t *out);
/* The map form without checking its keys (for `wait`, whose map has more). */
int get_duration_map(lctx *c, const ynode *n, const char *key, duration_t *out);
int get_duration_literal(lctx *c, const ynode *n, const char *key, bool allow_negative, int64_t *ms);
/* Packet types for reason-code validity. */
enum rc_packet { RC_CONNACK = 1, RC_PUBACK = 2, RC_PUBREL = 4, RC_SUBACK = 8, RC_UNSUBACK = 16,
                 RC_DISCONNECT = 32, RC_AUTH = 64, RC_PUBLISH = 128,
                 RC_SEND = 256 /* we send it: any number 0..255 is allowed, names must fit */ };
/* A reason code by number or name, valid for packet (enum rc_packet) and
 * protocol. allow_error: `error` is accepted and sets *is_error. */
int get_reason(lctx *c, const ynode *n, const char *key, unsigned packet, uint8_t protocol,
               bool allow_error, uint8_t *out, bool *is_error);
int get_user_props(lctx *c, const ynode *n, user_prop **out, size_t *n_out);
/* A number matcher: number, absent, present, {min, max}, $saved (allow_saved). */
int get_num_match(lctx *c, const ynode *n, const char *key, uint32_t max, bool allow_saved,
                  num_match *out);
/* Expected properties of a received packet (enum rc_packet picks which may appear). */
int get_prop_expects(lctx *c, const ynode *n, unsigned packet, prop_expect **out, size_t *n_out);
/* The client index of a name, or -1 after reporting "undefined client". */
int find_client(lctx *c, const ynode *n, const char *name, size_t len);
bool saved_defined(lctx *c, const char *name);
const char *cap_name(unsigned cap_bit);

/* Plain decimal or 0x-hex integer; false if the text is not one. */
bool ld_parse_uint(const char *s, size_t len, bool *neg, uint64_t *v, bool *overflow);
/* A scalar quoted for a message, or the node's type ("a map"). */
const char *ld_shown(const ynode *n, char *buf, size_t cap);

/* ---- load_steps.c: helpers shared with load_expect.c ---- */

/* Reports a 5.0-only feature used by a 3.1.1 client; false then. */
bool ld_v5only(lctx *c, int ci, const ynode *at, const char *what);
/* Adds a capability to a client's needs; an error if its driver is mosquitto. */
void ld_need(lctx *c, int ci, unsigned cap, const ynode *at);
int ld_push_name(lctx *c, const char ***arr, size_t *n, const char *name);
bool ld_name_in(const char *const *arr, size_t n, const char *name);
/* payload / payload_hex of a map. */
void ld_payload(lctx *c, const ynode *m, char **payload, size_t *len, bool tmpl);
/* packet_id: N or $SAVED. */
void ld_packet_id_ref(lctx *c, const ynode *v, num_match *out);
uint8_t ld_ack_type(const char *action);

/* ---- load_expect.c ---- */

void ld_expect(lctx *c, step_t *st, int ci, const ynode *a);

/* ---- load_steps.c ---- */

/* Parses the `steps` list into c->s. Returns the number of errors added. */
void load_steps(lctx *c, const ynode *steps);

/* ---- load.c ---- */

/* The files that paths name (directories expanded, sorted), appended to *out.
 * Errors ("PATH: cannot open ...") go to errs. Returns the number of errors. */
int load_expand_paths(const char *const *paths, size_t npaths, char ***out, size_t *n_out,
                      FILE *errs);

/* Reads a whole file, at most LOAD_MAX_BYTES + 1 so that the caller can say it
 * is too big. NULL with why filled on failure. */
char *ld_read_file(const char *path, size_t *len, char *why, size_t whycap);

#endif
