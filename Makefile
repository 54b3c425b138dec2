# atrousd - build, test and run. Plain GNU make; every output goes under $(BUILD).
#
#   make          build the library, the service (build/atrousd) and the tests
#   make run      build and start the service on port 8080
#   make test     check the include rule, build and run every test, ending with
#                 "tests: N passed, N failed"; every daemon's log is kept in
#                 $(BUILD)/test-logs and grepped for secrets (tests/check_secrets.sh)
#   make check-layers  the include rule alone (tests/check_layers.sh)
#   make check    the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench    build and run the benchmarks (not part of make test)
#   make docs-check  run every shell example of the READMEs as written (tests/docs)
#   make fuzz     libFuzzer targets (clang), FUZZ_SECONDS=N each (default 60)
#   make soak     wrk soak (SOAK_SECONDS, default 60), overload and drain under load
#   make chaos    normal traffic among adversaries (CHAOS_SECONDS, default 60), checked
#   make valgrind the HTTP integration tests with the daemon under valgrind memcheck
#   make deps     install the Debian packages the build needs (run by the targets above)
#   make format   clang-format every C file in place
#   make format-check  fail when a C file is not formatted (run by .ci/run)
#   make clean    remove build/
#   make docker   build the container image atrousd:latest (docker/README.md)
#   make docker-test  build it and run the container smoke test (docker/smoke.sh)
#   make rollout-test rolling updates on Docker Swarm under load lose no request (docker/rollout.sh)
#   make k8s-check    validate docker/k8s/ (kubectl dry run, HPA, KServe CRD schemas)
#   make help     this list
#
# Missing Debian packages are installed automatically (apt-get, with sudo when not root).

BUILD ?= build
CC ?= cc
PORT ?= 8080

DEBIAN_PACKAGES := libdnnl-dev libjansson-dev libmicrohttpd-dev libcmocka-dev zlib1g-dev pkg-config \
	libgnutls28-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror
OPT ?= -O2 -g
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARNINGS) -pthread -MMD -MP \
	-Ilib -Iproto -Iserver -Itests -Itests/support $(EXTRA_CFLAGS) $(CFLAGS)
# Each layer's own libraries: a binary links those of the layers it uses and no more.
# libgomp: oneDNN's OpenMP runtime, which lib/ also calls to size each thread's team.
# zlib: gzip/deflate request and response bodies (server/compress.c).
LIB_LIBS := -ldnnl -lgomp -lm -pthread
PROTO_LIBS := -ljansson -lm -pthread
ZLIB_LIBS := -lz
# GnuTLS: native TLS and mutual TLS (server/tls.c) and the SHA-256 of bearer tokens
# (server/auth.c), the server's only; the TLS tests' client and test PKI (tests/support/tls_*.c)
# use it too.
TLS_LIBS := -lgnutls
SERVER_LIBS := -lmicrohttpd $(ZLIB_LIBS) $(TLS_LIBS)
LIBS := $(LIB_LIBS) $(PROTO_LIBS) $(SERVER_LIBS)
LDFLAGS_ALL = $(EXTRA_LDFLAGS) $(LDFLAGS)

LIB_SRC := $(wildcard lib/*.c)
PROTO_SRC := $(wildcard proto/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_A := $(BUILD)/libatrous.a
PROTO_A := $(BUILD)/libatrousproto.a
SERVER_A := $(BUILD)/libatrousd.a
TEST_SUPPORT_A := $(BUILD)/libtestsupport.a
DAEMON := $(BUILD)/atrousd
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all run test check check-layers bench docs-check fuzz fuzz-build deps format format-check \
	clean help
.DEFAULT_GOAL := all
# Keep objects that only pattern rules mention (make would delete them as intermediates and
# rebuild them every time).
.SECONDARY:

all: $(DAEMON) $(TEST_BINS)

help:
	@sed -n '3,/^$$/p' Makefile | sed -n '/^#/s/^# \{0,1\}//p'

# $(call ensure_packages,PKGS): installs the Debian packages of PKGS that are missing, and
# nothing when all are there (a dpkg query costs milliseconds; apt-get runs only when needed).
define ensure_packages
missing=""; \
for p in $(1); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  echo "deps: installing Debian packages:$$missing"; \
  $(SUDO) apt-get update -qq && \
  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef

deps:
	@$(call ensure_packages,$(DEBIAN_PACKAGES))

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB_A): $(call obj,$(LIB_SRC))
$(PROTO_A): $(call obj,$(PROTO_SRC))
$(SERVER_A): $(call obj,$(SERVER_SRC))
$(TEST_SUPPORT_A): $(call obj,$(TEST_SUPPORT_SRC))
$(LIB_A) $(PROTO_A) $(SERVER_A) $(TEST_SUPPORT_A):
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(DAEMON): $(call obj,server/main.c) $(SERVER_A) $(PROTO_A) $(LIB_A)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(LIBS)

# Tests link by the layer they test (tests/README.md): a unit test links its layer and those
# below it, and only their libraries. The support archive gives only the objects a test uses
# (the corpus reader needs jansson; corpus_check.c and codec_suite.c the engine).
#   lib units         libatrous                                    -ldnnl, no -lmicrohttpd
#   codec units       libatrousproto + libatrous, no engine        neither -ldnnl nor -lmicrohttpd
#   codec + engine    the same, running decoded requests in lib    -ldnnl, no -lmicrohttpd
#   server units      libatrousd + below, without sockets          no -lmicrohttpd
#   test_deadline     the connection deadlines alone               neither
#   test_budget       the memory budget alone                      neither
#   the rest          HTTP integration (a daemon over sockets) and the spec client: all
TESTS_LIB := test_error test_tensor test_dtype test_op test_cache test_cost test_engine test_engine_filters \
	test_engine_forms \
	test_conformance_lib test_model
TESTS_CODEC := test_binary test_json test_json_doc test_json_writer test_model_formats
TESTS_CODEC_ENGINE := test_kserve test_tfserving
TESTS_SERVER := test_handlers test_model_repo test_compute_queue test_compress test_auth
TESTS_SERVER_PLAIN := test_deadline test_trace test_budget
test_bins = $(patsubst %,$(BUILD)/tests/%,$(1))
$(call test_bins,$(TESTS_LIB)): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(LIB_LIBS) -ljansson -lcmocka
$(call test_bins,$(TESTS_CODEC)): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_A) \
		$(PROTO_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(PROTO_LIBS) -lcmocka
$(call test_bins,$(TESTS_CODEC_ENGINE)): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o \
		$(TEST_SUPPORT_A) $(PROTO_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(PROTO_LIBS) $(LIB_LIBS) -lcmocka
$(call test_bins,$(TESTS_SERVER)): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_A) \
		$(SERVER_A) $(PROTO_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(PROTO_LIBS) $(LIB_LIBS) $(ZLIB_LIBS) $(TLS_LIBS) \
	  -lcmocka
$(call test_bins,$(TESTS_SERVER_PLAIN)): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SERVER_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) -pthread -lcmocka
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_A) $(SERVER_A) $(PROTO_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(LIBS) -lcmocka

run: $(DAEMON)
	$(DAEMON) --port $(PORT)

# The include rule that keeps the layers (README.md "Layout"): a violation fails make test.
check-layers:
	@tests/check_layers.sh

# Every test binary runs even when one fails; the runner prints the summary line last.
test: check-layers $(DAEMON) $(TEST_BINS)
	@ATROUSD_BIN=$(abspath $(DAEMON)) ATROUSD_TEST_LOG_DIR=$(abspath $(BUILD))/test-logs \
	  tests/run_tests.sh $(TEST_BINS)

# Sanitizer build of everything (library, service, tests) in its own folder; the integration
# tests start this instrumented daemon. Leaks are reported at exit (LeakSanitizer); the
# suppressions cover only one-time allocations inside oneDNN and libgomp, never our code.
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
check:
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	$(MAKE) --no-print-directory BUILD=$(BUILD)/check OPT="-O1 -g" \
	  EXTRA_CFLAGS="$(SANITIZE)" EXTRA_LDFLAGS="$(SANITIZE)" test

BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(TEST_SUPPORT_A) $(SERVER_A) $(PROTO_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(LIBS)

bench: $(DAEMON) $(BENCH_BINS)
	@$(call ensure_packages,wrk)
	@BUILD=$(BUILD) tests/bench/run_bench.sh

# Every ```sh block of README.md, proto/README.md, proto/KSERVE.md and docker/README.md, run as
# written from the repository root against the service on port 8080, inside a private network
# namespace (tests/docs/run_examples.sh says how); the docker blocks are docker/smoke.sh's.
# Ends with "docs: N passed, N failed, N skipped"; about a minute (two wrk examples run 15 s).
# gnutls-bin: certtool, for the TLS example's certificates.
docs-check: $(DAEMON)
	@$(call ensure_packages,curl wrk python3 iproute2 util-linux gzip gnutls-bin)
	@tests/docs/run_examples.sh
	@$(DAEMON) --help | tests/docs/check_env_table.sh

# Fuzzing: every tests/fuzz/fuzz_*.c is a libFuzzer target built with clang, ASan and UBSan
# in $(BUILD)/fuzz; tests/fuzz/run_fuzz.sh seeds each from the conformance corpus, runs it for
# FUZZ_SECONDS and fails on any crash (the input is kept under $(BUILD)/fuzz/artifacts).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz:
	@$(call ensure_packages,$(DEBIAN_PACKAGES) clang libclang-rt-14-dev)
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz CC=clang OPT="-O1 -g" \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SANITIZE)" \
	  EXTRA_LDFLAGS="$(FUZZ_SANITIZE)" fuzz-build
	@BUILD=$(BUILD)/fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run_fuzz.sh $(FUZZ_TARGETS)

fuzz-build: $(patsubst %,$(BUILD)/fuzz-bin/%,$(FUZZ_TARGETS)) $(BUILD)/fuzz-bin/make_seeds
$(BUILD)/fuzz-bin/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(TEST_SUPPORT_A) $(SERVER_A) \
		$(PROTO_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer $^ -o $@ $(LDFLAGS_ALL) $(LIBS)
$(BUILD)/fuzz-bin/make_seeds: $(BUILD)/obj/tests/fuzz/make_seeds.o $(TEST_SUPPORT_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(LIBS)

# Soak, overload and drain under load with wrk against build/atrousd on 127.0.0.1 (minutes and
# both cores, so not part of make test); tests/soak/soak.sh says what each phase checks.
SOAK_SECONDS ?= 60
.PHONY: soak valgrind
soak: $(DAEMON)
	@$(call ensure_packages,wrk curl)
	@BUILD=$(BUILD) SOAK_SECONDS=$(SOAK_SECONDS) tests/soak/soak.sh

# Chaos (tests/chaos/chaos.c): normal clients checked against the corpus while slow readers
# of maximal answers, trickling uploads, the most expensive accepted problem and a stalled log
# pipe run at once, for CHAOS_SECONDS on 127.0.0.1; fails on a wrong answer, a normal client's
# non-2xx other than 429/503 with Retry-After, p99 bounds, or an RSS over the memory budget.
CHAOS_SECONDS ?= 60
.PHONY: chaos
$(BUILD)/chaos/chaos: $(BUILD)/obj/tests/chaos/chaos.o $(TEST_SUPPORT_A) $(PROTO_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(LIBS)
chaos: $(DAEMON) $(BUILD)/chaos/chaos
	@ATROUSD_BIN=$(abspath $(DAEMON)) CHAOS_SECONDS=$(CHAOS_SECONDS) $(BUILD)/chaos/chaos

# The HTTP integration tests with the daemon under valgrind memcheck: a definite leak or a
# memory error fails the test (tests/valgrind/atrousd.sh). make check's LeakSanitizer is what
# CI runs; this is the second opinion, on oneDNN's AVX2 path (valgrind has no AVX-512). The
# lifecycle and overload tests are left out: their 40-GFLOP requests take minutes under it.
VALGRIND_TESTS ?= test_http_api test_http_hostile test_http_limits test_http_slowloris \
	test_http_conformance
valgrind: $(DAEMON) $(patsubst %,$(BUILD)/tests/%,$(VALGRIND_TESTS))
	@$(call ensure_packages,valgrind)
	@ATROUSD_BIN=$(abspath tests/valgrind/atrousd.sh) ATROUSD_VALGRIND_DAEMON=$(abspath $(DAEMON)) \
	  tests/run_tests.sh $(patsubst %,$(BUILD)/tests/%,$(VALGRIND_TESTS))

# Every C file of the tree, wherever subfolders put it; clang-format 14 with .clang-format.
C_FILES = $(shell find lib proto server tests -name '*.[ch]' | sort)
CLANG_FORMAT_PACKAGE := clang-format-14
format:
	@$(call ensure_packages,$(CLANG_FORMAT_PACKAGE))
	clang-format-14 -i $(C_FILES)

# Fails, naming each file and line, when a C file is not as `make format` would write it.
format-check:
	@$(call ensure_packages,$(CLANG_FORMAT_PACKAGE))
	@clang-format-14 --dry-run --Werror $(C_FILES) && echo "format-check: $(words $(C_FILES)) files ok"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Container image and its smoke test (docker/README.md). Both install what they miss and start
# a private dockerd when no engine answers; docker-test ends with "docker-test: N passed, N failed".
.PHONY: docker docker-test rollout-test k8s-check
docker:
	docker/smoke.sh --build-only

docker-test:
	docker/smoke.sh

# A private dockerd turned swarm manager, 3 replicas behind nginx, two rolling updates (image,
# then model) under a checked load; minutes, not run by .ci/run. Ends with "rollout-test: N
# passed, N failed".
rollout-test:
	docker/rollout.sh

# The Kubernetes manifests without a cluster: kubectl's client-side dry run through a discovery
# stub, the custom-metrics HPA and its adapter rules, the KServe examples against the KServe CRD
# schemas kept in tests/data/kserve/. Seconds; no docker.
# kubectl may come from another package than Debian's kubernetes-client: only its absence counts.
k8s-check:
	@$(call ensure_packages,python3-yaml python3-jsonschema)
	@if ! command -v kubectl >/dev/null; then $(call ensure_packages,kubernetes-client); fi
	/usr/bin/python3 docker/k8s-check.py
