/* cmd_check.c -- `mqspec check` and `mqspec list`, and where the bundled
 * scenarios live (default_scenarios_dir).
 *
 * What it is for: validating scenario files without a broker (every error on
 * stderr, one summary line, exit 2 if anything is wrong) and printing the
 * catalogue, as text or as JSON for tools.
 *
 * What it is not: `mqspec run` (cmd_run.c) or a general JSON writer: the few
 * strings printed here are escaped by hand.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../mqtt/mqtt.h"
#include "cli.h"
#include "load.h"
#include "load_int.h"

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A directory as a reader wants to see it in FILE:LINE:COL messages: without
 * "bin/../", and relative to the working directory when it is below it. */
static const char *tidy_dir(char *buf, size_t cap)
{
    char real[PATH_MAX], cwd[PATH_MAX];
    if (!realpath(buf, real))
        return buf;
    size_t n = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (n && !strncmp(real, cwd, n) && real[n] == '/')
        snprintf(buf, cap, "%s", real + n + 1);
    else
        snprintf(buf, cap, "%s", real);
    return buf;
}

const char *default_scenarios_dir(void)
{
    static char buf[PATH_MAX + 64];
    const char *env = getenv("MQSPEC_SCENARIOS");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;     /* exe is now BIN, the binary's directory */
            /* in the source tree: build/mqspec -> scenarios/ */
            snprintf(buf, sizeof buf, "%s/../scenarios", exe);
            if (is_dir(buf))
                return tidy_dir(buf, sizeof buf);
            /* installed: PREFIX/bin/mqspec -> PREFIX/share/mqspec/scenarios */
            snprintf(buf, sizeof buf, "%s/../share/mqspec/scenarios", exe);
            if (is_dir(buf))
                return tidy_dir(buf, sizeof buf);
        }
    }
    return "scenarios";
}

static const char *proto_name(uint8_t p)
{
    return p == MQTT_V311 ? "3.1.1" : "5";
}

static void check_usage(FILE *f)
{
    fputs("usage: mqspec check [PATH...]\n"
          "\n"
          "Validates scenario files (directories are searched for *.yaml and *.yml) without\n"
          "connecting anywhere. Every error is printed to stderr as FILE:LINE:COL: message,\n"
          "then one line \"N scenarios, M errors\". Without PATH, the bundled scenarios.\n"
          "\n"
          "exit status: 0 all valid, 2 any error\n",
          f);
}

static void list_usage(FILE *f)
{
    fputs("usage: mqspec list [--json] [PATH...]\n"
          "\n"
          "Prints one line per scenario: id, level, protocol, title and the statements it\n"
          "checks, separated by tabs. --json prints a JSON array instead, with the file and\n"
          "each client's protocol, driver and the driver capabilities it needs.\n"
          "Without PATH, the bundled scenarios.\n"
          "\n"
          "exit status: 0 fine, 2 an invalid scenario or bad invocation\n",
          f);
}

/* Collects the PATH arguments; returns -1 (after a message) on an unknown option. */
static int collect_paths(int argc, char **argv, const char *cmd, bool *json, const char ***paths,
                         size_t *n)
{
    *paths = calloc((size_t)argc + 1, sizeof **paths);
    if (!*paths)
        return -1;
    *n = 0;
    bool opts = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && !strcmp(a, "--")) {
            opts = false;
        } else if (opts && json && !strcmp(a, "--json")) {
            *json = true;
        } else if (opts && a[0] == '-' && a[1]) {
            fprintf(stderr, "mqspec %s: unknown option '%s' (see mqspec %s --help)\n", cmd, a, cmd);
            return -1;
        } else {
            (*paths)[(*n)++] = a;
        }
    }
    if (*n == 0)
        (*paths)[(*n)++] = default_scenarios_dir();
    return 0;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    }
    return false;
}

int cmd_check(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        check_usage(stdout);
        return 0;
    }
    const char **paths;
    size_t n;
    if (collect_paths(argc, argv, "check", NULL, &paths, &n) < 0) {
        free(paths);
        return 2;
    }
    /* count the files as the loader will see them, for the summary */
    char **files = NULL;
    size_t nfiles = 0;
    load_expand_paths(paths, n, &files, &nfiles, NULL);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);

    scenario_set set;
    int errors = scenario_set_load(paths, n, &set, stderr);
    fflush(stderr);
    printf("%zu scenario%s, %d error%s\n", nfiles, nfiles == 1 ? "" : "s", errors,
           errors == 1 ? "" : "s");
    scenario_set_free(&set);
    free(paths);
    return errors ? 2 : 0;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7F)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void list_json(const scenario_set *set)
{
    printf("[");
    for (size_t i = 0; i < set->n; i++) {
        const scenario_t *s = set->items[i];
        printf("%s\n  {\"id\": ", i ? "," : "");
        json_str(stdout, s->id);
        printf(", \"title\": ");
        json_str(stdout, s->title);
        printf(", \"file\": ");
        json_str(stdout, s->file);
        printf(",\n   \"spec\": [");
        for (size_t k = 0; k < s->n_spec; k++) {
            printf("%s", k ? ", " : "");
            json_str(stdout, s->spec[k]);
        }
        printf("], \"level\": \"%s\", \"protocol\": \"%s\", \"tags\": [", level_name(s->level),
               proto_name(s->protocol));
        for (size_t k = 0; k < s->n_tags; k++) {
            printf("%s", k ? ", " : "");
            json_str(stdout, s->tags[k]);
        }
        printf("],\n   \"clients\": [");
        for (size_t k = 0; k < s->n_clients; k++) {
            const client_def *c = &s->clients[k];
            const char *drv = c->driver ? c->driver : s->driver;
            printf("%s{\"name\": ", k ? ", " : "");
            json_str(stdout, c->name);
            printf(", \"protocol\": \"%s\", \"driver\": ", proto_name(c->protocol));
            if (drv)
                json_str(stdout, drv);
            else
                printf("null");
            printf(", \"needs\": [");
            int first = 1;
            for (unsigned bit = 1; bit & CAP__ALL; bit <<= 1)
                if (c->needs & bit) {
                    printf("%s\"%s\"", first ? "" : ", ", cap_name(bit));
                    first = 0;
                }
            printf("]}");
        }
        printf("]}");
    }
    printf("%s]\n", set->n ? "\n" : "");
}

/* Tabs and newlines inside a field would break the one-line-per-scenario form. */
static void text_field(const char *s)
{
    for (const char *p = s ? s : ""; *p; p++)
        putchar(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p);
}

int cmd_list(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        list_usage(stdout);
        return 0;
    }
    const char **paths;
    size_t n;
    bool json = false;
    if (collect_paths(argc, argv, "list", &json, &paths, &n) < 0) {
        free(paths);
        return 2;
    }
    scenario_set set;
    int errors = scenario_set_load(paths, n, &set, stderr);
    if (json) {
        list_json(&set);
    } else {
        for (size_t i = 0; i < set.n; i++) {
            const scenario_t *s = set.items[i];
            text_field(s->id);
            printf("\t%s\t%s\t", level_name(s->level), proto_name(s->protocol));
            text_field(s->title);
            putchar('\t');
            for (size_t k = 0; k < s->n_spec; k++) {
                if (k)
                    putchar(' ');
                text_field(s->spec[k]);
            }
            putchar('\n');
        }
    }
    if (errors)
        fprintf(stderr, "mqspec list: %d error%s\n", errors, errors == 1 ? "" : "s");
    scenario_set_free(&set);
    free(paths);
    return errors ? 2 : 0;
}
