# Fuzzing and sanitizer builds (included by the top Makefile). These are
# test builds: clang with glibc, dynamically linked, never the product.
#   make fuzz        build every test/fuzz/fuzz_*.c harness and run each for
#                    FUZZ_SECONDS (default 60) on its seed corpus
#   make fuzz-ci     the same with 10 s per harness (what CI runs)
#   make test-asan   the whole test suite on an ASan+UBSan build of piston
#   make fuzz-regress  replay binaries for test/fuzz/regress (make test runs them)

FUZZ_SECONDS ?= 60
SAN_CC := clang
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS := -std=c17 -D_GNU_SOURCE -DPISTON_VERSION='"$(VERSION)"' $(WARN) -O1 -g \
	-fno-strict-aliasing $(SRC_INC)
SAN_LIBS := -lbearssl

FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:test/fuzz/fuzz_%.c=%)
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
REGRESS_BINS := $(FUZZ_NAMES:%=$(BUILD)/asan/regress_%)
FUZZ_LIBOBJS := $(filter-out $(BUILD)/fuzz/obj/main.o,$(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(notdir $(SRCS))))
ASAN_OBJS := $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(notdir $(SRCS)))
ASAN_LIBOBJS := $(filter-out $(BUILD)/asan/obj/main.o,$(ASAN_OBJS))
ASAN_UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(BUILD)/asan/test/%)

.PHONY: fuzz fuzz-ci fuzz-build fuzz-regress test-asan

# Objects for the fuzzers carry coverage instrumentation; objects for the
# ASan test build (and the regression replays) do not.
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_CFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_CFLAGS) $(SAN_DEFS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

# A stage's init (src/sandbox/stage.c) runs beside the engine's thread in its
# address space and must touch no runtime state, the sanitizers' included.
$(BUILD)/asan/obj/stage.o: SAN_FLAGS =

$(BUILD)/fuzz/fuzz_%: test/fuzz/fuzz_%.c $(FUZZ_LIBOBJS)
	$(SAN_CC) $(SAN_CFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIBOBJS) $(SAN_LIBS)

$(BUILD)/asan/regress_%: test/fuzz/fuzz_%.c test/fuzz/regress_main.c $(ASAN_LIBOBJS)
	$(SAN_CC) $(SAN_CFLAGS) $(SAN_FLAGS) -o $@ $< test/fuzz/regress_main.c $(ASAN_LIBOBJS) $(SAN_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz-regress: $(REGRESS_BINS)

# Each harness: seeds from test/fuzz/corpus/NAME (read only), new inputs in
# build/fuzz/corpus/NAME, crashes in build/fuzz/crashes/NAME.
fuzz: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$n $(BUILD)/fuzz/crashes/$$n test/fuzz/corpus/$$n; \
	  echo "== fuzz_$$n ($(FUZZ_SECONDS) s)"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
	    -rss_limit_mb=1024 -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/fuzz/crashes/$$n/ $(BUILD)/fuzz/corpus/$$n test/fuzz/corpus/$$n \
	    2>$(BUILD)/fuzz/fuzz_$$n.log || { tail -n 60 $(BUILD)/fuzz/fuzz_$$n.log; exit 1; }; \
	  grep -E '^stat::number_of_executed_units|^Done ' $(BUILD)/fuzz/fuzz_$$n.log | tail -n 1; \
	done; echo "fuzz: no crashes"

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

$(BUILD)/asan/piston: $(ASAN_OBJS)
	$(SAN_CC) $(SAN_FLAGS) -o $@ $^ $(SAN_LIBS)

$(BUILD)/asan/test/%: test/unit/%.c $(ASAN_LIBOBJS) test/unit/t.h
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_CFLAGS) $(SAN_FLAGS) -o $@ $< $(ASAN_LIBOBJS) $(SAN_LIBS)

# quarantine_size_mb: ASan keeps freed memory (256 MB by default) before reuse,
# which test_http's "peak RSS stays within 4 MB" check would count as growth;
# 1 MB still catches a use soon after a free (the common case).
test-asan: piston $(BUILD)/asan/piston $(ASAN_UNIT_BINS) $(REGRESS_BINS)
	@PISTON_BIN=$(CURDIR)/$(BUILD)/asan/piston TEST_UNIT_DIR=$(BUILD)/asan/test \
	  ASAN_OPTIONS=$${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:quarantine_size_mb=1} \
	  UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	  LSAN_OPTIONS=$${LSAN_OPTIONS:-suppressions=$(CURDIR)/test/fuzz/lsan.supp} test/run

-include $(FUZZ_LIBOBJS:.o=.d) $(ASAN_OBJS:.o=.d)
