/*
 * commands: the subcommands' entry points. Each takes (argc, argv) with
 * argv[0] = the subcommand name and returns the process exit status.
 */
#ifndef PISTON_COMMANDS_H
#define PISTON_COMMANDS_H

int cmd_serve(int argc, char **argv);    /* serve.c */
int cmd_run(int argc, char **argv);      /* cli_run.c */
int cmd_ppman(int argc, char **argv);    /* ppman.c */
int cmd_proxy(int argc, char **argv);    /* proxy.c */
int cmd_sandbox(int argc, char **argv);  /* sandbox_cli.c */

#endif
