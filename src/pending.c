/* Development scaffold: subcommands whose modules have not landed yet.
 * Each module's owner deletes its line here when the real one exists. */
#include <stdio.h>

#include "commands.h"

#define PENDING(name) \
	int cmd_##name(int argc, char **argv) \
	{ \
		(void)argc; (void)argv; \
		fprintf(stderr, "piston: '" #name "' is not built yet\n"); \
		return 1; \
	}

