/*
 * runtimes: the installed packages (SPEC section 3), scanned from
 * DATA/packages/LANG/VERSION/ (only directories holding .ppman-installed).
 *
 * A runtime_set is an immutable snapshot; the engine swaps in a new one
 * after an install or uninstall. Snapshots are reference-counted so a job
 * keeps its runtime entry valid while it runs (the engine asks the job queue
 * whether a package directory is in use before uninstalling it).
 */
#ifndef PISTON_RUNTIMES_H
#define PISTON_RUNTIMES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "json.h"
#include "semver.h"

typedef struct runtime {
	char *language;           /* the language asked for (a provided one, for provides) */
	char *version;            /* the package version text */
	semver ver;
	char **aliases;
	size_t naliases;
	char *package;            /* the package's own language name (directory name) */
	bool provided;            /* entry comes from metadata.provides */
	char *pkg_dir;            /* DATA/packages/PKG/VERSION */
	bool has_compile;
	char **env;               /* KEY=VALUE from `environment`, PATH defaulted */
	size_t nenv;
	const json_value *limit_overrides;  /* package (or provides entry) limit_overrides, or NULL */
} runtime;

typedef struct runtime_set runtime_set;

/* Scan data_dir/packages. A broken package is skipped with a warning. */
runtime_set *runtimes_scan(const char *data_dir);
void runtimes_ref(runtime_set *rs);
void runtimes_unref(runtime_set *rs);
size_t runtimes_count(const runtime_set *rs);
const runtime *runtimes_at(const runtime_set *rs, size_t i);
/* Resolve language or alias + semver selector: highest matching version. */
const runtime *runtimes_find(const runtime_set *rs, const char *language, const char *selector);
/* The /api/v2/runtimes body, rendered once per snapshot. */
const buf *runtimes_json(const runtime_set *rs);

#endif
