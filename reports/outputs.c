/* outputs.c -- writing every report file a command asked for, after a run or from saved JSON.
 *
 * What it is for: `mqspec run` and `mqspec report` take the same --json,
 * --junit, --html, --md and --repro options; this is the one place that
 * writes them, puts reproducers in a `repro/` folder beside the HTML or
 * Markdown report when no --repro was given, and links the reports to them.
 * It also computes the scenario set's hash that identifies what was run.
 *
 * What it is not: a format. Each format has its own file.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "outputs.h"
#include "reports.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int rep_sha256_files(const char *const *paths, size_t n, char out[65], char *err, size_t errcap)
{
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -1;
    if (!sorted || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        snprintf(err, errcap, "SHA-256: out of memory");
        goto out;
    }
    memcpy(sorted, paths, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(sorted[i], "rb");
        if (!f) {
            snprintf(err, errcap, "%s: %s", sorted[i], strerror(errno));
            goto out;
        }
        unsigned char buf[8192];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, f)) > 0)
            EVP_DigestUpdate(ctx, buf, got);
        bool bad = ferror(f);
        fclose(f);
        if (bad) {
            snprintf(err, errcap, "%s: read error", sorted[i]);
            goto out;
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32) {
        snprintf(err, errcap, "SHA-256 failed");
        goto out;
    }
    for (unsigned i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    free(sorted);
    return rc;
}

/* The folder of a file path ("." for a bare name). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

int reports_write_outputs(const run_result *r, const report_outputs *o, FILE *errs)
{
    char err[600];
    int bad = 0;
    if (o->json && json_write(o->json, r, err, sizeof err) != 0) {
        fprintf(errs, "mqspec: %s\n", err);
        bad = -1;
    }
    if (o->junit && junit_write(o->junit, &r, 1, err, sizeof err) != 0) {
        fprintf(errs, "mqspec: %s\n", err);
        bad = -1;
    }
    /* Reproducers go beside the document that links to them unless told
     * otherwise; a report written to stdout gets none by default. */
    char repro[4096] = "";
    const char *doc = o->html && strcmp(o->html, "-") ? o->html : o->md && strcmp(o->md, "-") ? o->md : NULL;
    if (o->repro)
        snprintf(repro, sizeof repro, "%s", o->repro);
    else if (doc && !o->no_repro) {
        char d[4000];
        dir_of(doc, d, sizeof d);
        snprintf(repro, sizeof repro, "%s/repro", d);
    }
    int written = 0;
    if (*repro) {
        written = repro_write_all(repro, r, err, sizeof err);
        if (written < 0) {
            fprintf(errs, "mqspec: reproducers: %s\n", err);
            bad = -1;
            written = 0;
        }
    }
    /* Links are relative to the document: an explicit --repro inside the
     * document's folder is linked from there, one elsewhere as given. */
    const char *rel = o->repro ? o->repro : "repro";
    char d[4000];
    if (o->repro && doc) {
        dir_of(doc, d, sizeof d);
        size_t k = strlen(d);
        if (!strncmp(o->repro, d, k) && o->repro[k] == '/')
            rel = o->repro + k + 1;
    }
    report_opts ro = {.repro_rel = written > 0 ? rel : NULL};
    if (o->html && html_write(o->html, r, &ro, err, sizeof err) != 0) {
        fprintf(errs, "mqspec: %s\n", err);
        bad = -1;
    }
    if (o->md && md_write(o->md, r, &ro, err, sizeof err) != 0) {
        fprintf(errs, "mqspec: %s\n", err);
        bad = -1;
    }
    return bad;
}
