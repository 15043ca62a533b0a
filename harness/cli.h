/* cli.h -- the mqspec subcommands, one function each, called from main.c.
 * Each returns the process exit status: 0 fine, 1 a scenario failed or erred,
 * 2 bad invocation or invalid scenario, 3 broker unreachable. */
#ifndef HARNESS_CLI_H
#define HARNESS_CLI_H

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_report(int argc, char **argv);   /* reports from saved JSON, the matrix */
int cmd_coverage(int argc, char **argv); /* statements against scenarios (spec/statements.yaml) */
int cmd_soak(int argc, char **argv);     /* persistent sessions through repeated cycles (soak.h) */

/* The directory of bundled scenarios, found next to the binary
 * (BIN/../scenarios, BIN/../share/mqspec/scenarios) or MQSPEC_SCENARIOS. */
const char *default_scenarios_dir(void);

#endif
