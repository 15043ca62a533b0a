/* load.h -- the scenario loader and validator: YAML files in, scenario_t out.
 *
 * What it is for: reading scenario files with libyaml, checking them strictly
 * (unknown keys, wrong types, undefined clients or marks, impossible values)
 * and building the model of model.h, with the capabilities each client needs.
 * Every error is one line "FILE:LINE:COL: message".
 *
 * What it is not: the runner. Nothing here connects or expands templates.
 */
#ifndef HARNESS_LOAD_H
#define HARNESS_LOAD_H

#include <stddef.h>

#include "model.h"

/* Loads and validates one file. Returns 0 and sets *out, or -1 with the first
 * error in err as "FILE:LINE:COL: message". */
int scenario_load(const char *path, scenario_t **out, char *err, size_t errcap);

/* Loads from a string, for tests and fuzzing; `name` stands for the file. */
int scenario_load_string(const char *name, const char *text, size_t len, scenario_t **out,
                         char *err, size_t errcap);

/* A set of loaded scenarios. */
typedef struct scenario_set {
    scenario_t **items;
    size_t n;
} scenario_set;

/* Expands paths (files, or directories searched recursively for *.yaml and
 * *.yml, sorted) and loads every file. Every error is printed to `errs` (one
 * line each, all files checked, duplicate ids across files included). Returns
 * the number of errors; the scenarios that loaded are in *set either way. */
int scenario_set_load(const char *const *paths, size_t npaths, scenario_set *set, void *errs);
void scenario_set_free(scenario_set *set);

#endif
