/* main.c -- the mqspec command line: dispatch to a subcommand (cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef MQSPEC_VERSION
#define MQSPEC_VERSION "dev"
#endif

static void usage(FILE *f)
{
    fputs("usage: mqspec COMMAND [OPTIONS] [PATH...]\n"
          "\n"
          "Checks that an MQTT broker keeps sessions the way MQTT 5.0 and 3.1.1 require.\n"
          "\n"
          "commands:\n"
          "  run     run scenarios against a broker and report (TAP on stdout)\n"
          "  check   validate scenario files only\n"
          "  list    print each scenario's id, title and statements\n"
          "  coverage  which normative statements the scenarios test (spec/statements.yaml)\n"
          "  report  HTML / Markdown / JUnit from saved JSON results; the matrix of several\n"
          "  soak    thousands of persistent sessions through disconnect / publish / resume\n"
          "          cycles: nothing lost, QoS 2 exactly once, order kept\n"
          "\n"
          "  mqspec COMMAND --help   options of one command\n"
          "  mqspec --version\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("mqspec %s\n", MQSPEC_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "list"))
        return cmd_list(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "coverage"))
        return cmd_coverage(argc - 1, argv + 1);
    if (!strcmp(cmd, "soak"))
        return cmd_soak(argc - 1, argv + 1);
    fprintf(stderr, "mqspec: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
