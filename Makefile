# piston: one static musl executable, BearSSL from Debian's libbearssl-dev.
#   make            build ./piston
#   make test       build and run every test (last line: N passed, N failed)
#   make deps       install build and test dependencies with apt-get
#   make check-clang  compile every source with clang as well (warnings are errors)
#   make run        build, install the default languages into ./data, start the engine
#   make test-pkgs-all  build every recipe and run every package's test cases (empty root, then the API)
#   make test-cluster  tools/cluster-sim.sh: the Kubernetes topology with real processes in network namespaces
#   make test-kernels  the test suite inside Debian's kernels 5.10-7.3 under qemu, pure cgroup v2
#                   (tools/test-kernels.sh: KERNELS=6.1 SUITE=full, PLACEMENTS, MATRIX)

ifeq ($(origin CC),default)
CC := musl-gcc
endif
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BEARSSL_LIB ?= /usr/lib/$(MULTIARCH)/libbearssl.a
BUILD := build
INC := $(BUILD)/include
VERSION := 3.0.0

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS ?= -O2 -g
CFLAGS += -std=c17 -D_GNU_SOURCE -DPISTON_VERSION='"$(VERSION)"' $(WARN) -isystem $(INC) \
	-ffunction-sections -fdata-sections -fno-strict-aliasing
LDFLAGS += -static -Wl,--gc-sections

# src/ is grouped by concern (base net sandbox archive packages engine judge0 proxy);
# every module's name is unique, so objects stay flat in build/obj and headers are
# found through one -I per group.
SRCDIRS := src $(sort $(patsubst %/,%,$(dir $(wildcard src/*/*.c))))
SRC_INC := $(addprefix -I,$(SRCDIRS))
SRCS := $(wildcard src/*.c src/*/*.c)
OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(notdir $(SRCS)))
vpath %.c $(SRCDIRS)
LIBOBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS)) $(BUILD)/obj/vendor_fortify.o
UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(BUILD)/test/%)

.PHONY: all test deps clean check-clang run bench test-pkgs-all test-kernels test-cluster
all: piston

piston: $(OBJS) $(BUILD)/obj/vendor_fortify.o
	$(CC) $(LDFLAGS) -o $@.unstripped $^ $(BEARSSL_LIB)
	strip -o $@ $@.unstripped

$(INC)/.stamp: vendor/bearssl/include.sh
	vendor/bearssl/include.sh $(INC)
	touch $@

$(BUILD)/obj/%.o: %.c $(INC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SRC_INC) -MMD -MP -c -o $@ $<

$(BUILD)/obj/vendor_fortify.o: vendor/bearssl/fortify.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD)/test/%: test/unit/%.c $(LIBOBJS) test/unit/t.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SRC_INC) $(LDFLAGS) -o $@ $< $(LIBOBJS) $(BEARSSL_LIB)

unit: $(UNIT_BINS)

test: piston $(UNIT_BINS)
	@test/run

deps:
	@tools/deps.sh

test-kernels: piston $(UNIT_BINS)
	@tools/test-kernels.sh

test-cluster: piston
	@tools/cluster-sim.sh

check-clang: $(INC)/.stamp
	@for f in $(SRCS) $(UNIT_SRCS); do \
	  clang -fsyntax-only -nostdinc -isystem /usr/include/$(subst linux-gnu,linux-musl,$(MULTIARCH)) \
	    -isystem $$(clang -print-resource-dir)/include $(SRC_INC) $(filter-out -isystem $(INC),$(CFLAGS)) -isystem $(INC) $$f || exit 1; \
	done; echo "clang: clean"

run: piston
	tools/run-default.sh

test-pkgs-all: piston
	@tools/test-all-pkgs.sh

clean:
	rm -rf $(BUILD) piston piston.unstripped

-include $(OBJS:.o=.d)

# fuzz, fuzz-ci, test-asan, fuzz-regress
include test/fuzz/fuzz.mk
