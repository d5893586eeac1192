/*
 * piston: one executable, several subcommands (SPEC section 0).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"serve", cmd_serve, "run the engine: REST API and WebSocket"},
	{"run", cmd_run, "run code through an engine's API, like Piston's CLI"},
	{"ppman", cmd_ppman, "package manager: list, install, uninstall languages"},
	{"proxy", cmd_proxy, "public front: API keys, rate limits, many engines"},
	{"sandbox", cmd_sandbox, "run one command in the sandbox, print the result as JSON"},
};

static void usage(FILE *f)
{
	fprintf(f, "piston " PISTON_VERSION " - a code-execution engine\n\n"
	           "usage: piston COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`piston COMMAND --help` explains each command and its options;\n"
	           "`piston serve --help` lists every PISTON_* configuration variable.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		puts("piston " PISTON_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "piston: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
