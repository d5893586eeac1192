/* Unit tests for config: defaults, environment, flags, bad values. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "t.h"

static int load(int argc, char **argv) { return config_load(argc, argv); }

#define ARGV(...) ((char *[]){"serve", __VA_ARGS__, NULL})
#define NARGS(...) ((int)(sizeof((char *[]){"serve", __VA_ARGS__}) / sizeof(char *)))
#define LOAD(...) load(NARGS(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_defaults(void)
{
	char *argv[] = {"serve", NULL};
	CHECK(load(1, argv) == 0);
	CHECK(cfg.log_level == LOG_INFO);
	CHECK(!strcmp(cfg.bind_address, "0.0.0.0:2000"));
	CHECK(!strcmp(cfg.data_directory, "/piston"));
	CHECK(cfg.runner_uid_min == 1001 && cfg.runner_uid_max == 1500);
	CHECK(cfg.runner_gid_min == 1001 && cfg.runner_gid_max == 1500);
	CHECK(cfg.disable_networking);
	CHECK(cfg.output_max_size == 1024);
	CHECK(cfg.max_process_count == 64 && cfg.max_open_files == 2048);
	CHECK(cfg.max_file_size == 10000000);
	CHECK(cfg.compile_timeout == 10000 && cfg.run_timeout == 3000);
	CHECK(cfg.compile_cpu_time == 10000 && cfg.run_cpu_time == 3000);
	CHECK(cfg.compile_memory_limit == -1 && cfg.run_memory_limit == -1);
	CHECK(cfg.max_concurrent_jobs == 64 && cfg.max_queued_jobs == 1024);
	CHECK(cfg.limit_overrides_json == NULL);
	CHECK(cfg.max_body_size == 16u << 20 && cfg.idle_timeout_ms == 10000);
	CHECK(cfg.shutdown_grace_ms == 30000);
	CHECK(cfg.output_files_max_size == 1048576);
	/* no default repository: upstream's index holds packages that cannot run here */
	CHECK(cfg.repo_url[0] == '\0');
}

static void test_env_and_flags(void)
{
	setenv("PISTON_RUN_TIMEOUT", "5000", 1);
	setenv("PISTON_DISABLE_NETWORKING", "false", 1);
	setenv("PISTON_LOG_LEVEL", "debug", 1);
	setenv("PISTON_RUN_MEMORY_LIMIT", "1000000", 1);
	CHECK(LOAD("--bind-address", "[::]:2001", "--compile-timeout=7", "--data-directory", "/tmp/x") == 0);
	CHECK(cfg.run_timeout == 5000 && !cfg.disable_networking && cfg.log_level == LOG_DEBUG);
	CHECK(cfg.run_memory_limit == 1000000);
	CHECK(!strcmp(cfg.bind_address, "[::]:2001"));
	CHECK(cfg.compile_timeout == 7);
	CHECK(!strcmp(cfg.data_directory, "/tmp/x"));
	/* a relative data directory is made absolute */
	char cwd[4096], want[4200];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	snprintf(want, sizeof want, "%s/rel/data", cwd);
	CHECK(LOAD("--data-directory=rel/data") == 0 && !strcmp(cfg.data_directory, want));
	/* the flag wins over the environment */
	CHECK(LOAD("--run-timeout=42") == 0 && cfg.run_timeout == 42);
	unsetenv("PISTON_RUN_TIMEOUT");
	unsetenv("PISTON_DISABLE_NETWORKING");
	unsetenv("PISTON_LOG_LEVEL");
	unsetenv("PISTON_RUN_MEMORY_LIMIT");

	setenv("PISTON_LIMIT_OVERRIDES", "{\"c++\":{\"max_process_count\":128,\"run_memory_limit\":-1}}", 1);
	CHECK(LOAD("--max-body-size", "100") == 0 && cfg.limit_overrides_json && cfg.max_body_size == 100);
	unsetenv("PISTON_LIMIT_OVERRIDES");
	CHECK(LOAD("--max-body-size", "100") == 0 && !cfg.limit_overrides_json);
}

static void test_bad(void)
{
	static const char *const bad_env[][2] = {
		{"PISTON_RUN_TIMEOUT", "abc"},
		{"PISTON_RUN_TIMEOUT", "-5"},
		{"PISTON_RUN_TIMEOUT", ""},
		{"PISTON_RUN_TIMEOUT", "0"},
		{"PISTON_RUN_TIMEOUT", "99999999999999999999999"},
		{"PISTON_MAX_PROCESS_COUNT", "4294967296"},
		{"PISTON_DISABLE_NETWORKING", "maybe"},
		{"PISTON_LOG_LEVEL", "LOUD"},
		{"PISTON_BIND_ADDRESS", "2000"},
		{"PISTON_BIND_ADDRESS", "0.0.0.0:70000"},
		{"PISTON_BIND_ADDRESS", ":::2000"},
		{"PISTON_BIND_ADDRESS", "0.0.0.0:x"},
		{"PISTON_RUN_MEMORY_LIMIT", "-2"},
		{"PISTON_DATA_DIRECTORY", ""},
		{"PISTON_LIMIT_OVERRIDES", "{"},
		{"PISTON_LIMIT_OVERRIDES", "[]"},
		{"PISTON_LIMIT_OVERRIDES", "{\"c\":5}"},
		{"PISTON_LIMIT_OVERRIDES", "{\"c\":{\"bogus\":1}}"},
		{"PISTON_LIMIT_OVERRIDES", "{\"c\":{\"run_timeout\":\"1\"}}"},
		{"PISTON_LIMIT_OVERRIDES", "{\"c\":{\"run_timeout\":1.5}}"},
		{"PISTON_LIMIT_OVERRIDES", "{\"c\":{\"run_timeout\":-1}}"},
		{"PISTON_RUNNER_UID_MIN", "2000"},
	};
	for (size_t i = 0; i < sizeof bad_env / sizeof bad_env[0]; i++) {
		setenv(bad_env[i][0], bad_env[i][1], 1);
		char *argv[] = {"serve", NULL};
		CHECKF(load(1, argv) == -1, "%s=%s accepted", bad_env[i][0], bad_env[i][1]);
		unsetenv(bad_env[i][0]);
	}
	CHECK(LOAD("--no-such-flag") == -1);
	CHECK(LOAD("--run-timeout") == -1);
	CHECK(LOAD("--run-timeoutx=5") == -1);
	CHECK(LOAD("--run-timeout=x") == -1);
	CHECK(LOAD("stray") == -1);
}

int main(void)
{
	test_defaults();
	test_env_and_flags();
	test_bad();
	return t_done();
}
