# rightsize — one binary, one static library, one test runner.
# Sources are found by wildcard, so adding a module is adding its .c/.h (and tests/test_<module>.c).
# AVX2/FMA/F16C flags go only on *_avx2.c files, AVX-512 ones only on *_avx512.c; the binary
# dispatches at run time.

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O2
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla
CFLAGS  += $(OPT) -g $(WARN) -D_GNU_SOURCE -pthread -Isrc $(shell pkg-config --cflags libcjson yaml-0.1 libmicrohttpd libcurl 2>/dev/null)
LDLIBS  += -lcjson -lyaml -lmicrohttpd -lcurl -lcrypto -lhiredis -lm -pthread
SIMD    := -mavx2 -mfma -mf16c
SIMD512 := $(SIMD) -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mamx-tile -mamx-int8

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/harness.o

BIN   := $(BUILD)/rightsize
TESTS := $(BUILD)/run_tests
LIB   := $(BUILD)/librightsize.a

.PHONY: all test unit asan fuzz bench demo models install clean deps
all: $(BIN) $(TESTS) $(LIB)

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SIMD512) -MMD -MP -c $< -o $@
$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SIMD) -MMD -MP -c $< -o $@
# The catalog finds installed data under the PREFIX it was built for (catalog_find_dir).
$(BUILD)/src/plan/catalog.o: CFLAGS += -DRS_DATADIR='"$(PREFIX)/share/rightsize"'
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The library is a static archive for others to link; our own binaries link the objects directly
# (two modules may share a file name in different folders, which an archive cannot hold).
$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcsP $@ $^
$(BIN): $(CLI_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(CLI_OBJ) $(LIB_OBJ) $(LDLIBS) -o $@
$(TESTS): $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(TEST_OBJ) $(LIB_OBJ) $(LDLIBS) -o $@

deps:
	@scripts/deps

# The whole suite: unit tests (C) then end-to-end scripts; ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(BUILD)

unit: all
	$(TESTS)

# AddressSanitizer + UBSan over the same suite, in its own build folder.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh build-asan

# libFuzzer targets (clang), each run for FUZZ_SECONDS over its seed corpus.
FUZZ_SECONDS ?= 30
fuzz: deps
	@scripts/fuzz $(FUZZ_SECONDS) $(FUZZ_SRC)

bench: all
	@scripts/deps bench
	@scripts/bench

demo: deps all
	@scripts/demo

# The bundled support-desk teacher and student, retrained bit for bit (about 15 minutes on 2 cores).
models: all
	@scripts/make-models

# The binary finds the installed data (catalog, workloads, benchmarks) in $(PREFIX)/share/rightsize
# (next to its bin/ folder, or RS_DATADIR compiled in); RIGHTSIZE_DATA overrides both.
install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/rightsize
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/rightsize
	cp -R data/catalog data/workloads data/benchmarks $(DESTDIR)$(PREFIX)/share/rightsize/

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
