/* t-sched.c -- the runner's scheduling against a real broker (argv[1]: its
 * port on 127.0.0.1): with -j auto everything starts at once, an exclusive
 * scenario runs alone after the others; with -j 1 the longest expected
 * scenario starts first. Run by tests/sched.t, which starts mqspec-broker.
 *
 * What it is not: a test of verdicts (every scenario here passes against
 * the bundled broker) or of refusals (tests/parallel.t).
 */
#include <stdlib.h>
#include <string.h>

#include "../../harness/runner.h"
#include "tap.h"

static const char *const files[] = {
    "scenarios/takeover/session-kept-with-clean-start-0.yaml",              /* ~0 s */
    "scenarios/session-expiry/kept-before-expiry.yaml",                      /* ~1 s */
    "scenarios/session-expiry/zero-ends-session-at-close.yaml",              /* ~2 s */
    "scenarios/client-id/zero-length-id-accepted-with-unique-assigned-id.yaml", /* ~0 s */
};
#define NFILES (sizeof files / sizeof *files)

static int run(int port, int jobs, int exclusive, run_result *res)
{
    scenario_set set = {0};
    if (scenario_set_load(files, NFILES, &set, stderr) != 0 || set.n != NFILES)
        return -1;
    if (exclusive >= 0)
        set.items[exclusive]->exclusive = true;
    run_options opt;
    memset(&opt, 0, sizeof opt);
    opt.target.host = "127.0.0.1";
    opt.target.port = port;
    opt.target.connect_timeout_ms = 10000;
    opt.jobs = jobs;
    run_result_init(res);
    int rc = runner_run(&set, &opt, res);
    scenario_set_free(&set);
    return rc;
}

static bool all_pass(const run_result *r)
{
    for (size_t i = 0; i < r->n_items; i++)
        if (r->items[i].verdict != V_PASS)
            return false;
    return r->n_items == NFILES;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: t-sched PORT\n");
        return 2;
    }
    int port = atoi(argv[1]);
    run_result r;

    /* -j auto, scenario 0 (the quickest) exclusive: it is queued last and
     * starts only when the three others are over. */
    ok(run(port, 0, 0, &r) == 0, "auto with one exclusive scenario: the run completes");
    ok(all_pass(&r), "auto: every scenario passes");
    const scenario_result *x = &r.items[0];
    int64_t x0 = x->started_ms, x1 = x->started_ms + x->duration_ms;
    bool alone = true, others_at_once = true;
    for (size_t i = 1; i < r.n_items; i++) {
        int64_t s = r.items[i].started_ms, e = s + r.items[i].duration_ms;
        alone &= e <= x0 || s >= x1;
        others_at_once &= s < 200;
        diag("%s: %lld..%lld ms", r.items[i].id, (long long)s, (long long)e);
    }
    diag("exclusive %s: %lld..%lld ms", x->id, (long long)x0, (long long)x1);
    ok(alone, "the exclusive scenario overlaps no other");
    ok(others_at_once, "the others started together (-j auto)");
    ok(r.sched.jobs == 0 && r.sched.max_connections == RUNNER_MAX_CONNECTIONS && r.sched.requeued == 0,
       "the results say auto, the default budget, nothing re-queued");
    run_result_free(&r);

    /* -j 1: the one with the longest declared waits (index 2) goes first,
     * then index 1; results still come back in file order. */
    ok(run(port, 1, -1, &r) == 0, "-j 1: the run completes");
    ok(all_pass(&r), "-j 1: every scenario passes");
    ok(r.items[2].started_ms <= r.items[1].started_ms && r.items[1].started_ms <= r.items[0].started_ms &&
           r.items[1].started_ms <= r.items[3].started_ms,
       "-j 1: longest expected first (started %lld, %lld, then %lld and %lld ms)",
       (long long)r.items[2].started_ms, (long long)r.items[1].started_ms,
       (long long)r.items[0].started_ms, (long long)r.items[3].started_ms);
    bool in_order = true;
    for (size_t i = 0; i < r.n_items && i < NFILES; i++)
        in_order &= r.items[i].file && !strcmp(r.items[i].file, files[i]);
    ok(in_order, "results are kept in file order");
    run_result_free(&r);
    return done_testing();
}
