# mqspec -- MQTT session conformance harness.
#
#   make            build build/mqspec (and build/mqspec-broker once it exists)
#   make run        the main job: the whole scenario suite against a broker
#   make test       every test, through prove
#   make install    PREFIX=/usr/local DESTDIR=
#
# Dependencies come from Debian and are found with pkg-config; `make deps`
# (run by `make run` and `make test`) installs whatever is missing.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
CC         ?= cc
PKGS       := libmosquitto yaml-0.1 openssl

WARN       := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation
CSTD       := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
OPT        ?= -O2 -g
SAN        ?=
CFLAGS_ALL  = $(CSTD) $(WARN) $(OPT) $(SAN) -DMQSPEC_VERSION='"$(VERSION)"' \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS_ALL  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(LDLIBS)

MQTT_SRC    := $(wildcard mqtt/*.c)
HARNESS_SRC := $(filter-out harness/main.c,$(wildcard harness/*.c))
REPORT_SRC  := $(wildcard reports/*.c)
BROKER_SRC  := $(wildcard broker/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

MQTT_OBJ    := $(call obj,$(MQTT_SRC))
HARNESS_OBJ := $(call obj,$(HARNESS_SRC)) $(call obj,$(REPORT_SRC))
BROKER_OBJ  := $(call obj,$(BROKER_SRC))

UNIT_SRC    := $(wildcard tests/unit/t-*.c)
UNIT_BIN    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

PROGRAMS    := $(BUILD)/mqspec $(if $(BROKER_SRC),$(BUILD)/mqspec-broker)

.PHONY: all deps run test unit install clean fuzz check-scenarios
all: $(PROGRAMS) $(UNIT_BIN)

deps:
	@ci/install-deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/mqspec: $(BUILD)/obj/harness/main.o $(HARNESS_OBJ) $(MQTT_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/mqspec-broker: $(BROKER_OBJ) $(MQTT_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

# Unit tests print TAP. Those of the protocol core (t-mqtt-*) link only mqtt/;
# the others link everything but the two main()s.
$(BUILD)/tests/t-mqtt-%: tests/unit/t-mqtt-%.c $(MQTT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/t-%: tests/unit/t-%.c $(HARNESS_OBJ) $(MQTT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $^ $(LDLIBS_ALL)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

run: deps all
	@ci/run-suite

test: deps all
	prove -v --timer tests/*.t

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/mqspec
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	cp -R scenarios $(DESTDIR)$(PREFIX)/share/mqspec/
	cp -R spec $(DESTDIR)$(PREFIX)/share/mqspec/

clean:
	rm -rf $(BUILD)

# ---- fuzzing: tests/fuzz/ (protocol core, scenario loader) -------------------
# `make fuzz FUZZ_SECONDS=600` builds a libFuzzer target and runs it from its
# seed corpus; FUZZ_TARGET picks it: decode (the MQTT decoder, the default) or
# load (the scenario loader over libyaml, with tests/fuzz/load.dict). New inputs
# go to $(BUILD)/fuzz/corpus-TARGET so the repo's seeds stay as they are, and
# crash files land in tests/fuzz/ (ignored by git).
FUZZ_SECONDS ?= 60
FUZZ_TARGET  ?= decode
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=c11 -Wall -Wextra -Werror -Wshadow -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -Imqtt
# The loader's sources, compiled with clang here (not the objects of $(CC)).
FUZZ_LOAD_SRC := $(wildcard harness/load*.c) harness/model.c $(MQTT_SRC)

$(BUILD)/fuzz/fuzz_decode: tests/fuzz/fuzz_decode.c tests/fuzz/packet_eq.h $(MQTT_SRC) mqtt/mqtt.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_decode.c $(MQTT_SRC)

$(BUILD)/fuzz/fuzz_load: tests/fuzz/fuzz_load.c $(FUZZ_LOAD_SRC) $(wildcard harness/load*.h) \
                         harness/model.h mqtt/mqtt.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(CSTD) -Wno-unused-parameter $(shell pkg-config --cflags yaml-0.1) \
	    -o $@ tests/fuzz/fuzz_load.c $(FUZZ_LOAD_SRC) $(shell pkg-config --libs yaml-0.1)

FUZZ_OPTS_decode :=
FUZZ_OPTS_load   := -dict=tests/fuzz/load.dict -timeout=10

fuzz: $(BUILD)/fuzz/fuzz_$(FUZZ_TARGET)
	@mkdir -p $(BUILD)/fuzz/corpus-$(FUZZ_TARGET)
	$(BUILD)/fuzz/fuzz_$(FUZZ_TARGET) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    $(FUZZ_OPTS_$(FUZZ_TARGET)) -artifact_prefix=tests/fuzz/ \
	    $(BUILD)/fuzz/corpus-$(FUZZ_TARGET) tests/fuzz/corpus/$(FUZZ_TARGET)
# ---- end of fuzzing -----------------------------------------------------------

# ---- conformance reports of known brokers (ci/brokers/, docs/brokers.md) -------
# `make conformance BROKER=NAME` starts that broker (ci/brokers/NAME), runs the
# whole suite with its profile (NAME.profile: credentials, MQTT versions,
# baseline), writes reports/out/NAME.{json,html,md,xml} and stops it.
# `make conformance-all` does every known broker and the matrix; it exits
# non-zero only when a broker fails outside its baseline or does not start.
CONFORMANCE_BROKERS ?= mosquitto ejabberd rabbitmq aedes

.PHONY: conformance conformance-all
conformance: deps $(BUILD)/mqspec
	@test -n "$(BROKER)" || { echo "make conformance BROKER=NAME ($(CONFORMANCE_BROKERS))"; exit 2; }
	BUILD=$(BUILD) ci/brokers/conformance $(BROKER)

conformance-all: deps $(BUILD)/mqspec
	BUILD=$(BUILD) ci/brokers/conformance --matrix $(CONFORMANCE_BROKERS)
# ---- end of conformance -------------------------------------------------------

# ---- benchmark: bench/ (docs/bench.md) ----------------------------------------
# `make bench-broker` prints figures, it is not a test (and not part of `make
# test`): our broker and Debian mosquitto side by side, driven by our own load
# generator, build/mqspec-bench (the harness loop and the mqtt/ codec).
BENCH_SRC   := $(wildcard bench/*.c)
BENCH_OBJ   := $(call obj,$(BENCH_SRC))

# No libraries: the generator is the harness loop, its bulk connections and
# our codec, nothing else.
$(BUILD)/mqspec-bench: $(BENCH_OBJ) $(BUILD)/obj/harness/loop.o $(BUILD)/obj/harness/bulkconn.o $(MQTT_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS)

.PHONY: bench-broker bench
bench-broker: $(BUILD)/mqspec-bench $(BUILD)/mqspec-broker
	BUILD=$(BUILD) bench/run.sh

# `make bench` prints figures too: the whole suite against the bundled broker,
# serial and parallel, beside its longest scenario (bench/suite.sh).
bench: deps all
	BUILD=$(BUILD) bench/suite.sh
# ---- end of benchmark ---------------------------------------------------------
