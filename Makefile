# atrousd - build, test and run. Plain GNU make; every output goes under $(BUILD).
#
#   make          build the library, the service (build/atrousd) and the tests
#   make run      build and start the service on port 8080
#   make test     build and run every test, ending with "tests: N passed, N failed"
#   make deps     install the Debian packages the build needs (run by the targets above)
#   make format   clang-format every C file in place
#   make clean    remove build/
#
# Missing Debian packages are installed automatically (apt-get, with sudo when not root).

BUILD ?= build
CC ?= cc
PORT ?= 8080

DEBIAN_PACKAGES := libdnnl-dev libjansson-dev libmicrohttpd-dev libcmocka-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror
OPT ?= -O2 -g
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARNINGS) -pthread -MMD -MP \
	-Ilib -Iproto -Iserver $(EXTRA_CFLAGS) $(CFLAGS)
# libgomp: oneDNN's OpenMP runtime, which lib/ also calls to size each thread's team.
LIBS := -ldnnl -ljansson -lmicrohttpd -lgomp -lm -pthread
LDFLAGS_ALL = $(EXTRA_LDFLAGS) $(LDFLAGS)

LIB_SRC := $(wildcard lib/*.c)
PROTO_SRC := $(wildcard proto/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_SUPPORT_SRC := $(filter-out tests/test_%.c,$(wildcard tests/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_A := $(BUILD)/libatrous.a
PROTO_A := $(BUILD)/libatrousproto.a
SERVER_A := $(BUILD)/libatrousd.a
TEST_SUPPORT_A := $(BUILD)/libtestsupport.a
DAEMON := $(BUILD)/atrousd
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all run test deps format clean help
.DEFAULT_GOAL := all

all: $(DAEMON) $(TEST_BINS)

help:
	@sed -n '2,12p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

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

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_A) $(SERVER_A) $(PROTO_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDFLAGS_ALL) $(LIBS) -lcmocka

run: $(DAEMON)
	$(DAEMON) --port $(PORT)

# Every test binary runs even when one fails; the runner prints the summary line last.
test: $(DAEMON) $(TEST_BINS)
	@ATROUSD_BIN=$(abspath $(DAEMON)) tests/run_tests.sh $(TEST_BINS)

format:
	clang-format -i $(wildcard lib/*.[ch] proto/*.[ch] server/*.[ch] tests/*.[ch])

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
