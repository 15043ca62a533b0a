/* fuzz_load.c -- libFuzzer target for the scenario loader.
 *
 * What it is for: feeding arbitrary bytes to scenario_load_string() (libyaml,
 * then the validator) and checking the loader's promises: it never crashes,
 * leaks or hangs, a success gives a scenario with an id, title and clients, and
 * a refusal gives exactly one line "FILE:LINE:COL: message" with LINE and COL
 * at least 1 and a message that is not empty. Aborts otherwise, so libFuzzer
 * saves the input.
 *
 * What it is not: a test of the wording of errors (tests/bad-input.t does
 * that) or of what a loaded scenario means to the runner.
 */
#include "../../harness/load.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz.yaml"

static void fail(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_load: %s: [%s]\n", what, err);
    abort();
}

/* "fuzz.yaml:LINE:COL: message", one line, LINE and COL >= 1. */
static void check_error(const char *err)
{
    size_t nl = strlen(NAME);
    if (strncmp(err, NAME ":", nl + 1) != 0)
        fail("error does not start with FILE:", err);
    const char *p = err + nl + 1;
    for (int field = 0; field < 2; field++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || *end != ':' || v < 1)
            fail(field ? "error has no COL >= 1" : "error has no LINE >= 1", err);
        p = end + 1;
    }
    if (p[0] != ' ' || p[1] == 0 || p[1] == ' ')
        fail("error has no message after FILE:LINE:COL:", err);
    if (strchr(err, '\n') || strchr(err, '\r'))
        fail("error is more than one line", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The loader is given a length, and must not read past it: copy to an
     * exact-size heap block so ASan sees any over-read. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    scenario_t *s = NULL;
    char err[1024];
    memset(err, 'x', sizeof err);
    int rc = scenario_load_string(NAME, text, size, &s, err, sizeof err);
    if (rc == 0) {
        if (!s || !s->id || !s->title || s->n_clients == 0)
            fail("load succeeded without a complete scenario", "");
        scenario_free(s);
    } else {
        if (rc != -1 || s)
            fail("load failed but returned a scenario or an odd status", "");
        if (!memchr(err, 0, sizeof err))
            fail("error is not NUL-terminated", "");
        check_error(err);
    }
    free(text);
    return 0;
}
