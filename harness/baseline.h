/* baseline.h -- a broker's known failures (ci/baselines/NAME.yaml), applied to results.
 *
 * What it is for: a vendor's broker that violates a statement on purpose, or
 * has a bug with an open issue, should not turn every CI run red, and should
 * not vanish from the report either. A listed scenario that fails becomes
 * `known` (reported, with the reason and the vendor's issue; it does not fail
 * the run); a listed scenario that passes keeps `pass` and gets a note, so a
 * stale entry is noticed. Format: docs/reports.md.
 *
 * What it is not: a way to hide errors. Only `fail` becomes `known`; `error`
 * (mqspec could not judge) stays an error.
 */
#ifndef HARNESS_BASELINE_H
#define HARNESS_BASELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "results.h"

typedef struct baseline_entry {
    char *id;           /* scenario id */
    char *statement;    /* the statement the broker does not meet */
    char *reason;       /* why: examined in the packet trace */
    char *link;         /* the vendor's issue, or NULL */
} baseline_entry;

typedef struct baseline {
    char *file;
    char *broker;       /* the broker the file is for, informational */
    baseline_entry *items;
    size_t n;
} baseline;

/* Loads and validates a baseline file (unknown keys and duplicate ids are
 * errors). Returns 0, or -1 with "FILE:LINE:COL: message" in err. */
int baseline_load(const char *path, baseline *b, char *err, size_t errcap);
void baseline_free(baseline *b);

const baseline_entry *baseline_find(const baseline *b, const char *id);

typedef enum baseline_effect {
    BASELINE_NONE,      /* not listed */
    BASELINE_KNOWN,     /* listed, failed: now V_KNOWN */
    BASELINE_PASSED,    /* listed, passed: the entry may be stale */
    BASELINE_OTHER      /* listed, another verdict (error, skip ...): unchanged */
} baseline_effect;

/* Applies the baseline to one finished result. */
baseline_effect baseline_apply(const baseline *b, scenario_result *s);

#endif
