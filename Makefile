# mxdelegate -- Matrix delegation responder.
#
#   make            build the responder and the backend plugins
#   make check      install missing packages, build with -Werror, run every test
#   make run        install missing packages, build, serve a demo through lighttpd
#                   (SERVER=apache, nginx or caddy for another web server)
#   make install    PREFIX, DESTDIR, SBINDIR, LIBDIR, LIBEXECDIR, INCLUDEDIR, MANDIR,
#                   DOCDIR, SYSCONFDIR, PLUGINDIR honoured; nothing is written to SYSCONFDIR
#   make uninstall  removes what make install put there, with the same variables
#
# Packagers: make PREFIX=/usr SYSCONFDIR=/etc && make install DESTDIR=...
# (the first build remembers the paths in build/config.mk for make install).

PORT     ?= 8080
SERVER   ?= lighttpd
# SANITIZE=1: AddressSanitizer and UndefinedBehaviorSanitizer, in a build
# directory of their own so that the two builds never mix objects.
SANITIZE ?=
# make check compiles with one job a core: two builds of the whole tree
# (plain and sanitizers) are most of its time on a 2-core machine.
CHECK_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
ifeq ($(SANITIZE),1)
BUILDDIR ?= build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# Line tables only: a sanitizer's report names files, lines and functions,
# which is all it reads, and the full debug information was a quarter of
# this build's compile time.
CXXFLAGS ?= -O2 -g1
else
BUILDDIR ?= build
SAN_FLAGS :=
endif

# The paths a build is made for, remembered in $(BUILDDIR)/config.mk by the
# build, since PLUGINDIR, SYSCONFDIR and LIBEXECDIR are compiled in: "make PREFIX=/usr
# SYSCONFDIR=/etc", then "make install DESTDIR=..." as dh_auto_install runs
# it, installs for /usr what was built for /usr.  The paths given (on the
# command line or in the environment) are remembered, the others follow
# from them as below.  A path given again with another value replaces the
# remembered one, a message says so, and the build follows it.  Read with
# $(file), not include: make remakes an included file even under -n, and
# make -n must leave the build as it was.
PATH_VARS := PREFIX SBINDIR LIBDIR LIBEXECDIR INCLUDEDIR MANDIR DOCDIR SYSCONFDIR PLUGINDIR PKGCONFIGDIR
CONFIG_MK := $(BUILDDIR)/config.mk
given = $(filter command environment,$(firstword $(origin $(1))))
ifneq ($(wildcard $(CONFIG_MK)),)
$(eval $(file <$(CONFIG_MK)))
endif
$(foreach v,$(remembered),$(if $(call given,$(v)),,$(eval $(v) := $(remembered_$(v)))))
REMEMBER := $(sort $(remembered) $(foreach v,$(PATH_VARS),$(if $(call given,$(v)),$(v))))
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
# mxdelegate-follow and mxdelegate-probe, which "mxdelegatectl follow" execs
# and "mxdelegatectl probe" runs.
LIBEXECDIR ?= $(PREFIX)/libexec
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/mxdelegate
SYSCONFDIR ?= $(PREFIX)/etc
PLUGINDIR  ?= $(LIBDIR)/mxdelegate/backends
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PATHS_CHANGED := $(strip $(foreach v,$(remembered),$(if $(filter-out $(remembered_$(v)),$($(v))),$(v))))
ifneq ($(PATHS_CHANGED),)
$(info mxdelegate: $(CONFIG_MK) remembers $(foreach v,$(PATHS_CHANGED),$(v)=$(remembered_$(v))); \
	given $(foreach v,$(PATHS_CHANGED),$(v)=$($(v))), this build and install use those)
endif

# The version the programs print (--version): one place, the first entry
# of debian/changelog, so that a package and what it holds agree;
# debian/rules passes the same one explicitly (VERSION=$(DEB_VERSION)).
# (Braces: make would end $(shell ...) at the script's first parenthesis.)
VERSION  ?= ${shell sed -n '1s/^mxdelegate (\([^)]*\)).*/\1/p' debian/changelog 2>/dev/null}
ifeq ($(VERSION),)
$(error mxdelegate: no version: debian/changelog's first line is not "mxdelegate (VERSION) ..."; give VERSION=)
endif

CXX      ?= g++
CXXFLAGS ?= -O2 -g
WARN     := -Wall -Wextra -Wpedantic
# make check sets WERROR=-Werror; the packagers' default build does not.
WERROR   ?=
# What a CGI request pays before it answers is mostly the dynamic loader's
# work, so the libraries below are not linked where they can be compiled in
# or opened late (HACKING.md, "Libraries, and why each"; bench/RESULTS.md,
# "CGI start-up without the shared C++ runtime"):
# - toml++ is compiled into the core once (core/toml_library.cpp, whose
#   header every file includes it through), not linked from
#   libtomlplusplus.so.3;
# - XXH3 is xxhash's inline form (XXH_INLINE_ALL), not libxxhash.so.0;
# - libidn2 is opened by core/lazy_library for the first name that is not
#   plain ASCII.
PKG_CFLAGS := -DXXH_INLINE_ALL $(shell pkg-config --cflags libidn2 2>/dev/null)
PKG_LIBS   := -ldl
# STATIC_CXXRT=1 (the default): the C++ runtime (libstdc++, libgcc) linked
# into each program and plugin.  The shared libstdc++ binds some 1,700 of
# its own symbols at every start, two thirds of a CGI request's
# instructions; linked in, only what is used is there, bound when linked.
# Not with the sanitizers, whose runtime replaces operator new.
STATIC_CXXRT ?= 1
CXXRT_LDFLAGS := $(if $(filter 1,$(STATIC_CXXRT)),$(if $(filter 1,$(SANITIZE)),,-static-libstdc++ -static-libgcc))

ALL_CXXFLAGS = -std=c++20 -fPIC $(WARN) $(WERROR) $(CXXFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) \
	-Iinclude -Isrc$(if $(CPPFLAGS), $(CPPFLAGS))
LIBS = $(PKG_LIBS) -pthread

# The layers are the folders of src/ (HACKING.md): each is built from every
# .cpp in it, and tools/check-layers keeps a lower one from including a
# higher one.
#   core           pure modules, linked by everything, plugins included
#   service        what both programs share: plugin loader, configuration,
#                  directory, responder
#   mxdelegate     the responder's program
#   mxdelegatectl  the admin tool's program
#   plugin         what only backend plugins use: the base of their entry
#                  points, configuration and reader pool
#   follow         mxdelegate-follow, the program that keeps a node's SQLite
#                  copy of a PostgreSQL store (core, service and plugin below it)
#   probe          mxdelegate-probe, the HTTP side of "mxdelegatectl probe"
#                  (core below it)
layer_obj = $(patsubst %.cpp,$(BUILDDIR)/%.o,$(wildcard src/$(1)/*.cpp))
CORE_OBJ    := $(call layer_obj,core)
SERVICE_OBJ := $(call layer_obj,service)
PLUGIN_OBJ  := $(call layer_obj,plugin)
# Each program's main.o apart, so that the unit tests link the rest.
DAEMON_OBJ  := $(filter-out %/main.o,$(call layer_obj,mxdelegate))
DAEMON_MAIN := $(BUILDDIR)/src/mxdelegate/main.o
CTL_OBJ     := $(filter-out %/main.o,$(call layer_obj,mxdelegatectl))
CTL_MAIN    := $(BUILDDIR)/src/mxdelegatectl/main.o
FOLLOW_OBJ  := $(filter-out %/main.o,$(call layer_obj,follow))
FOLLOW_MAIN := $(BUILDDIR)/src/follow/main.o
PROBE_OBJ   := $(filter-out %/main.o,$(call layer_obj,probe))
PROBE_MAIN  := $(BUILDDIR)/src/probe/main.o
CORE_LIB    := $(BUILDDIR)/libmxdcore.a
PLUGIN_LIB  := $(BUILDDIR)/libmxdplugin.a

PLUGINS  := toml sqlite postgres
# Libraries a plugin links besides the core (SQLiteCpp is a static library).
PLUGIN_LIBS_sqlite := -lSQLiteCpp -lsqlite3
PLUGIN_LIBS_postgres := -lpq
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
PLUGIN_SO := $(PLUGINS:%=$(BUILDDIR)/backends/%.so)
# Deliberately broken plugins for the loader's tests.
TEST_PLUGINS := $(patsubst tests/plugins/%.c,$(BUILDDIR)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))

UNIT_SRC := $(wildcard tests/unit/*.cpp)
UNIT_OBJ := $(UNIT_SRC:%.cpp=$(BUILDDIR)/%.o)
# The tests' own code unoptimised (the code under test keeps CXXFLAGS): a
# Catch2 file at -O2 took 2 to 3 times as long to compile, and under the
# sanitizers the unit tests were most of make check's build time.
$(UNIT_OBJ): ALL_CXXFLAGS += -O0

BIN := $(BUILDDIR)/mxdelegate
CTL_BIN := $(BUILDDIR)/mxdelegatectl
FOLLOW_BIN := $(BUILDDIR)/mxdelegate-follow
# libpq for the primary, sqlite3 for the copy, libsystemd for sd_notify.
FOLLOW_LIBS := -lpq -lsqlite3 -lsystemd
# mxdelegate links no libsystemd: mxdelegate/notify.cpp opens it when
# NOTIFY_SOCKET is set (core/lazy_library).
DAEMON_LIBS :=
PROBE_BIN := $(BUILDDIR)/mxdelegate-probe
# libcurl for the fetches, libresolv for res_query (SRV): only in
# mxdelegate-probe, which "mxdelegatectl probe" runs, so that nothing else
# needs them at run time.
PROBE_LIBS := -lcurl -lresolv

.PHONY: all check unit e2e run install uninstall clean deps
all: $(BIN) $(CTL_BIN) $(FOLLOW_BIN) $(PROBE_BIN) $(PLUGIN_SO) $(CONFIG_MK)

# Rewritten only when the text changes, by a recipe: make -n prints it and
# runs nothing.
.PHONY: FORCE
FORCE:
$(CONFIG_MK): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '# The paths given to the build (the Makefile reads this file); the others' \
		'# follow from them: $(foreach v,$(PATH_VARS),$(v)=$($(v)))' \
		'remembered := $(REMEMBER)' $(foreach v,$(REMEMBER),'remembered_$(v) := $($(v))') > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# Objects depend on the flags they were built with, so that "make check"
# after a plain "make" rebuilds with -Werror instead of trusting old objects.
# Written when the flags change, as the Makefile is read, but not under
# make -n, which must leave the build as it was: there the objects are only
# shown as out of date.
DRY_RUN := $(findstring n,$(firstword -$(MAKEFLAGS)))
# make deb and make clean build nothing here, and make check, bench, fuzz
# and deps build through a make of their own, with other flags (check and
# bench add -Werror): they leave the stamps (this one, .version and .paths
# below) as they are, or the next build would recompile everything for
# flags that only their own command line lacked.
KEEP_STAMPS := $(DRY_RUN)$(if $(MAKECMDGOALS),$(if $(filter-out deb clean check bench fuzz deps,$(MAKECMDGOALS)),,goals))
# $(call stamp,FILE,TEXT), as FILE's prerequisites: FILE is to hold TEXT.
# When it holds anything else it is rewritten now, as the Makefile is read
# (prerequisites are expanded then), so that what depends on it is older;
# under KEEP_STAMPS it is left as it is and made out of date (FORCE).
stamp = $(if $(shell [ "$$(cat $(1) 2>/dev/null)" = '$(2)' ] && echo same),,$(if \
	$(KEEP_STAMPS),FORCE,$(shell mkdir -p $(BUILDDIR) && printf '%s' '$(2)' > $(1))))
FLAGS_FILE := $(BUILDDIR)/.flags
FLAGS_NOW  := $(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $(CXXRT_LDFLAGS)
$(FLAGS_FILE): $(call stamp,$(FLAGS_FILE),$(FLAGS_NOW))

# The version is compiled into src/core/version.cpp alone, which depends
# on $(BUILDDIR)/.version, rewritten (as .flags) when the version changes: a
# new version recompiles one file and relinks the programs.
VERSION_FILE := $(BUILDDIR)/.version
$(VERSION_FILE): $(call stamp,$(VERSION_FILE),$(VERSION))
$(BUILDDIR)/src/core/version.o: $(VERSION_FILE)
$(BUILDDIR)/src/core/version.o: ALL_CXXFLAGS += -DMXD_VERSION='"$(VERSION)"'

# The paths the programs look in at run time, likewise, into
# src/core/install_paths.cpp alone: a build for another PREFIX recompiles
# one file and relinks.
PATHS_FILE := $(BUILDDIR)/.paths
$(PATHS_FILE): $(call stamp,$(PATHS_FILE),$(PLUGINDIR) $(LIBEXECDIR) $(SYSCONFDIR))
$(BUILDDIR)/src/core/install_paths.o: $(PATHS_FILE)
$(BUILDDIR)/src/core/install_paths.o: ALL_CXXFLAGS += -DMXD_PLUGINDIR='"$(PLUGINDIR)"' \
	-DMXD_LIBEXECDIR='"$(LIBEXECDIR)"' -DMXD_SYSCONFDIR='"$(SYSCONFDIR)"'

# toml++ 3.3's generated Unicode tables reach __builtin_unreachable() for
# U+00A1 to U+0499 (is_non_ascii_horizontal_whitespace: those fall to its
# switch's default), which compilers turn into "not whitespace"; the
# library Debian ships holds the same code.  UBSan's check of that is off
# for toml++'s one object, in the sanitizer build and the fuzzers, so that
# they go on checking everything else
# (tests/fuzz/regressions/config/non-ascii-after-key.toml).
$(BUILDDIR)/src/core/toml_library.o: ALL_CXXFLAGS += $(if $(SAN_FLAGS),-fno-sanitize=unreachable)

$(BUILDDIR)/%.o: %.cpp $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) -MMD -MP -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^
$(PLUGIN_LIB): $(PLUGIN_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(DAEMON_MAIN) $(DAEMON_OBJ) $(SERVICE_OBJ) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $(CXXRT_LDFLAGS) -o $@ $^ $(LIBS) $(DAEMON_LIBS)

$(CTL_BIN): $(CTL_MAIN) $(CTL_OBJ) $(SERVICE_OBJ) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $(CXXRT_LDFLAGS) -o $@ $^ $(LIBS)

# The plugin library for sql_columns alone (and the header sqlite_cells):
# the copy's renderings are made with the sqlite plugin's own cells, record
# text, row digest and domain id.
$(FOLLOW_BIN): $(FOLLOW_MAIN) $(FOLLOW_OBJ) $(SERVICE_OBJ) $(PLUGIN_LIB) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $(CXXRT_LDFLAGS) -o $@ $^ $(LIBS) $(FOLLOW_LIBS)

$(PROBE_BIN): $(PROBE_MAIN) $(PROBE_OBJ) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $(CXXRT_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(PROBE_LIBS)

# A plugin's schema (backends/NAME/schema.sql) is compiled into it as a raw
# string literal, so that the plugin needs no file beside it.
$(BUILDDIR)/backends/%/schema.inc: backends/%/schema.sql
	@mkdir -p $(@D)
	{ printf 'R"mxd_schema('; cat $<; printf ')mxd_schema"\n'; } > $@.tmp && mv $@.tmp $@
SQLITE_INC := $(BUILDDIR)/backends/sqlite/schema.inc
$(BUILDDIR)/backends/sqlite/sqlite_backend.o: $(SQLITE_INC)
$(BUILDDIR)/backends/sqlite/sqlite_backend.o: ALL_CXXFLAGS += -I$(BUILDDIR)/backends/sqlite
PG_INC := $(BUILDDIR)/backends/postgres/schema.inc
# The follower makes its copy with the sqlite plugin's schema.
$(BUILDDIR)/src/follow/copy.o: $(SQLITE_INC)
$(BUILDDIR)/src/follow/copy.o: ALL_CXXFLAGS += -I$(BUILDDIR)/backends/sqlite
$(FOLLOW_OBJ) $(FOLLOW_MAIN): ALL_CXXFLAGS += $(PQ_CFLAGS)
$(BUILDDIR)/backends/postgres/postgres_backend.o: $(PG_INC)
$(BUILDDIR)/backends/postgres/postgres_backend.o: ALL_CXXFLAGS += -I$(BUILDDIR)/backends/postgres $(PQ_CFLAGS)

.SECONDEXPANSION:
# Objects made by pattern rules are kept, so a rebuild compiles only what changed.
.SECONDARY:
# A plugin exports its one symbol and nothing else (backends/plugin.map), so
# its copy of the core can never bind to another plugin's or the host's.
plugin_objs = $(patsubst %.cpp,$(BUILDDIR)/%.o,$(wildcard backends/$(1)/*.cpp))
$(BUILDDIR)/backends/%.so: $$(call plugin_objs,$$*) $(PLUGIN_LIB) $(CORE_LIB) backends/plugin.map
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $(CXXRT_LDFLAGS) -shared -Wl,--version-script=backends/plugin.map \
		-o $@ $(filter %.o %.a,$^) $(PLUGIN_LIBS_$*) $(PKG_LIBS) -pthread
$(BUILDDIR)/tests/plugins/%.so: tests/plugins/%.c include/mxdelegate/backend.h $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) -std=c11 -fPIC -shared $(WARN) $(WERROR) $(SAN_FLAGS) -Iinclude -o $@ $<

ifeq ($(SANITIZE),1)
# g++ 12 with -fsanitize reports a false -Wmaybe-uninitialized inside
# libstdc++'s <regex>, which only Catch2's main pulls in; our code keeps it.
$(BUILDDIR)/tests/unit/main.o: WARN += -Wno-maybe-uninitialized
endif

# The sqlite plugin's statements are tested on their own
# (tests/unit/sqlite_statement_test.cpp), linked in with SQLiteCpp, whose
# exceptions they throw.
UNIT_PLUGIN_OBJ := $(BUILDDIR)/backends/sqlite/sqlite_statement.o
$(BUILDDIR)/tests/unit_tests: $(UNIT_OBJ) $(DAEMON_OBJ) $(CTL_OBJ) $(FOLLOW_OBJ) $(PROBE_OBJ) $(SERVICE_OBJ) $(UNIT_PLUGIN_OBJ) $(PLUGIN_LIB) $(CORE_LIB)
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $(CXXRT_LDFLAGS) -o $@ $^ $(LIBS) $(FOLLOW_LIBS) $(PROBE_LIBS) -lSQLiteCpp
$(BUILDDIR)/tests/unit/sqlite_statement_test.o: ALL_CXXFLAGS += -I.
$(BUILDDIR)/tests/unit/postgres_backend_test.o $(BUILDDIR)/tests/unit/pq_text_test.o: ALL_CXXFLAGS += $(PQ_CFLAGS)
# follow/copy.hpp names the primary's rows (follow/primary.hpp, libpq).
$(BUILDDIR)/tests/unit/copy_renderings_test.o: ALL_CXXFLAGS += $(PQ_CFLAGS)

# make fuzz: the libFuzzer targets of tests/fuzz/ (clang 14).  Each replays its
# seeds and regressions from the repository, then fuzzes for FUZZ_TIME seconds
# (FUZZ_TARGETS=host,config for some), FUZZ_JOBS targets at a time (default
# one a core).  Everything is built with clang,
# libFuzzer's coverage, ASan and UBSan into $(BUILDDIR)/fuzz/, apart from the
# g++ objects; the fuzz copies of the toml and sqlite plugins are dlopen()ed by
# their targets as the responder loads the real ones.  Corpus growth and crash
# inputs stay in $(BUILDDIR)/fuzz/ (tests/fuzz/run says where).
FUZZ_TIME ?= 30
FUZZ_CXX  ?= clang++
FUZZ_DIR  := $(BUILDDIR)/fuzz
# -O1: faster than -O0 under ASan and still exact in its stack traces.
# -gline-tables-only: what a crash's stack trace reads, as with SANITIZE=1.
FUZZ_CXXFLAGS = -std=c++20 -fPIC $(WARN) -Werror -O1 -gline-tables-only \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer $(PKG_CFLAGS) -Iinclude -Isrc
FUZZ_PLUGINS := toml sqlite
FUZZ_PROGS := $(patsubst tests/fuzz/%.cpp,$(FUZZ_DIR)/%,$(wildcard tests/fuzz/*_fuzz.cpp))
FUZZ_LIB   := $(FUZZ_DIR)/libmxdfuzz.a
FUZZ_SO    := $(FUZZ_PLUGINS:%=$(FUZZ_DIR)/backends/%.so)
FUZZ_FLAGS_FILE := $(FUZZ_DIR)/.flags
# Only when fuzzing, so that a plain build never makes $(FUZZ_DIR); as
# $(FLAGS_FILE), never under make -n.
ifneq ($(filter fuzz fuzz-build,$(MAKECMDGOALS)),)
FUZZ_FLAGS_NOW := $(FUZZ_CXX) $(FUZZ_CXXFLAGS)
ifeq ($(shell [ "$$(cat $(FUZZ_FLAGS_FILE) 2>/dev/null)" = '$(FUZZ_FLAGS_NOW)' ] && echo same),)
ifeq ($(DRY_RUN),)
$(shell mkdir -p $(FUZZ_DIR) && printf '%s' '$(FUZZ_FLAGS_NOW)' > $(FUZZ_FLAGS_FILE))
else
$(FUZZ_FLAGS_FILE): FORCE
endif
endif
endif

$(FUZZ_DIR)/%.o: %.cpp $(FUZZ_FLAGS_FILE)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -MMD -MP -c -o $@ $<
# toml++'s unreachable Unicode default: see the same line for $(BUILDDIR) above.
$(FUZZ_DIR)/src/core/toml_library.o: FUZZ_CXXFLAGS += -fno-sanitize=unreachable
$(FUZZ_DIR)/backends/sqlite/sqlite_backend.o: $(SQLITE_INC)
$(FUZZ_DIR)/backends/sqlite/sqlite_backend.o: FUZZ_CXXFLAGS += -I$(BUILDDIR)/backends/sqlite
# Core, plugin and service modules in one archive: each target and plugin
# links only the members it uses.
$(FUZZ_LIB): $(patsubst $(BUILDDIR)/%,$(FUZZ_DIR)/%,$(CORE_OBJ) $(PLUGIN_OBJ) $(SERVICE_OBJ))
	rm -f $@
	ar rcs $@ $^
fuzz_plugin_objs = $(patsubst %.cpp,$(FUZZ_DIR)/%.o,$(wildcard backends/$(1)/*.cpp))
$(FUZZ_DIR)/backends/%.so: $$(call fuzz_plugin_objs,$$*) $(FUZZ_LIB) backends/plugin.map
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -shared -Wl,--version-script=backends/plugin.map \
		-o $@ $(filter %.o %.a,$^) $(PLUGIN_LIBS_$*) $(PKG_LIBS) -pthread
$(FUZZ_DIR)/%_fuzz: $(FUZZ_DIR)/tests/fuzz/%_fuzz.o $(FUZZ_LIB)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -ldl -pthread

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_PROGS) $(FUZZ_SO)
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@BUILDDIR=$(BUILDDIR) FUZZ_TIME=$(FUZZ_TIME) FUZZ_TARGETS=$(FUZZ_TARGETS) FUZZ_JOBS=$(FUZZ_JOBS) sh tests/fuzz/run

deps:
	@sh tools/deps.sh check

# make bench: mxdelegate against the floor, static files and nginx's map, in
# one run (bench/RESULTS.md).  QUICK=1: a reduced set in under a minute;
# ONLY=callgrind: the instructions per request alone; ONLY=follow: the fleet
# figures alone (a follower node beside PostgreSQL and SQLite, the full copy).
# Generated data goes to $(BUILDDIR)/bench/.  Not part of make check.
.PHONY: bench
# With make check's -Werror (unless given another WERROR): the flags are
# what objects depend on, so the two reuse each other's build.
bench:
	@sh tools/deps.sh bench
	@$(MAKE) --no-print-directory WERROR=$(if $(filter command,$(origin WERROR)),$(WERROR),-Werror) all
	@BUILDDIR=$(BUILDDIR) QUICK=$(QUICK) ONLY=$(ONLY) python3 bench/bench.py

# make check runs three stages, as CI does: the whole suite on the plain
# build, the whole suite again with ASan and UBSan ($(BUILDDIR)/san), then
# make fuzz (FUZZ_TIME seconds a target).  One stage alone: SANITIZE=0 (plain),
# SANITIZE=1 (sanitizers), or make fuzz.
ifeq ($(SANITIZE),)
check: deps
	@$(MAKE) --no-print-directory check SANITIZE=0 BUILDDIR=$(BUILDDIR)
	@$(MAKE) --no-print-directory check SANITIZE=1 BUILDDIR=$(BUILDDIR)/san
	@$(MAKE) --no-print-directory fuzz BUILDDIR=$(BUILDDIR) FUZZ_TIME=$(FUZZ_TIME)
else
check: deps
	@$(MAKE) --no-print-directory -j$(CHECK_JOBS) WERROR=-Werror all $(BUILDDIR)/tests/unit_tests $(TEST_PLUGINS)
	@BUILDDIR=$(BUILDDIR) SANITIZE=$(SANITIZE) sh tests/run
endif

# make deb: the Debian packages of debian/ (mxdelegate, mxdelegate-postgres,
# mxdelegate-dev and their -dbgsym), then lintian on them, warnings
# included.  dpkg-buildpackage writes beside the tree it builds, so it builds
# a copy in $(BUILDDIR)/deb/src (the files git would see: tracked and
# untracked, not what .gitignore names), and the packages land in
# $(BUILDDIR)/deb/; the tree and build/ are left alone.  One compiler job
# a core, as make check.
DEB_DIR := $(BUILDDIR)/deb
.PHONY: deb
deb:
	@sh tools/deps.sh deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar -c --exclude-vcs --exclude-vcs-ignores --exclude=./$(BUILDDIR) -f - . | tar -x -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && DEB_BUILD_OPTIONS="parallel=$(CHECK_JOBS) $(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -us -uc -b
	lintian --fail-on error,warning $(DEB_DIR)/*.changes
	@echo "make deb: install with: apt-get install $(abspath $(DEB_DIR))/mxdelegate_*.deb"

run:
	@SERVER=$(SERVER) sh tools/deps.sh run
	@$(MAKE) --no-print-directory all
	@BUILDDIR=$(BUILDDIR) PORT=$(PORT) SERVER=$(SERVER) sh tools/demo.sh

# What make install puts where; make uninstall removes the same list.
# The pages are written with the paths of a PREFIX=/usr SYSCONFDIR=/etc
# build and get the configured ones on the way; the etc/ files go to the
# examples as they are, @PLACEHOLDERS@ included.
MAN5 := mxdelegate.toml.5
MAN7 := mxdelegate-backend.7
MAN8 := mxdelegate.8 mxdelegatectl.8
EXAMPLES := $(patsubst etc/%,%,$(sort $(wildcard etc/*.toml etc/*/*)))
EXAMPLE_DIRS := $(sort $(patsubst %/,%,$(filter-out ./,$(dir $(EXAMPLES)))))
ABI_VERSION = $(shell sed -n 's/^\#define MXD_BACKEND_ABI_MAJOR //p' include/mxdelegate/backend.h).$(shell \
	sed -n 's/^\#define MXD_BACKEND_ABI_MINOR //p' include/mxdelegate/backend.h)
MAN_PATHS = -e 's|/etc/mxdelegate/|$(SYSCONFDIR)/mxdelegate/|g' \
	-e 's|/usr/lib/mxdelegate/backends|$(PLUGINDIR)|g' \
	-e 's|/usr/lib/pkgconfig|$(PKGCONFIGDIR)|g' \
	-e 's|/usr/sbin/mxdelegate|$(SBINDIR)/mxdelegate|g' \
	-e 's|/usr/include/mxdelegate|$(INCLUDEDIR)/mxdelegate|g' \
	-e 's|/usr/share/doc/mxdelegate|$(DOCDIR)|g' \
	-e 's|/usr/libexec|$(LIBEXECDIR)|g'
# Our own directories, removed by uninstall when they are empty; the shared
# ones (SBINDIR, MANDIR/man8, ...) may have been there before and stay.
OWN_DIRS = $(EXAMPLE_DIRS:%=$(DESTDIR)$(DOCDIR)/examples/%) $(DESTDIR)$(DOCDIR)/examples \
	$(DESTDIR)$(DOCDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(LIBDIR)/mxdelegate \
	$(DESTDIR)$(INCLUDEDIR)/mxdelegate
GEN := $(BUILDDIR)/install

install: all
	@mkdir -p $(GEN)
	for p in $(MAN5) $(MAN7) $(MAN8); do sed $(MAN_PATHS) man/$$p > $(GEN)/$$p || exit 1; done
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$(INCLUDEDIR)' 'plugindir=$(PLUGINDIR)' '' \
		'Name: mxdelegate-backend' \
		'Description: plugin interface of mxdelegate backends, ABI version $(ABI_VERSION) (header only)' \
		'Version: $(ABI_VERSION)' 'Cflags: -I$${includedir}' > $(GEN)/mxdelegate-backend.pc
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(INCLUDEDIR)/mxdelegate \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/examples \
		$(EXAMPLE_DIRS:%=$(DESTDIR)$(DOCDIR)/examples/%)
	install -m 755 $(BIN) $(DESTDIR)$(SBINDIR)/mxdelegate
	install -m 755 $(CTL_BIN) $(DESTDIR)$(SBINDIR)/mxdelegatectl
	install -m 755 $(FOLLOW_BIN) $(DESTDIR)$(LIBEXECDIR)/mxdelegate-follow
	install -m 755 $(PROBE_BIN) $(DESTDIR)$(LIBEXECDIR)/mxdelegate-probe
	install -m 644 $(PLUGIN_SO) $(DESTDIR)$(PLUGINDIR)/
	install -m 644 include/mxdelegate/backend.h $(DESTDIR)$(INCLUDEDIR)/mxdelegate/backend.h
	install -m 644 $(GEN)/mxdelegate-backend.pc $(DESTDIR)$(PKGCONFIGDIR)/mxdelegate-backend.pc
	install -m 644 $(MAN5:%=$(GEN)/%) $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(MAN7:%=$(GEN)/%) $(DESTDIR)$(MANDIR)/man7/
	install -m 644 $(MAN8:%=$(GEN)/%) $(DESTDIR)$(MANDIR)/man8/
	for f in $(EXAMPLES); do install -m 644 etc/$$f $(DESTDIR)$(DOCDIR)/examples/$$f || exit 1; done
	install -m 755 etc/spawn-fcgi/run $(DESTDIR)$(DOCDIR)/examples/spawn-fcgi/run

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/mxdelegate $(DESTDIR)$(SBINDIR)/mxdelegatectl
	rm -f $(DESTDIR)$(LIBEXECDIR)/mxdelegate-follow $(DESTDIR)$(LIBEXECDIR)/mxdelegate-probe
	rm -f $(PLUGINS:%=$(DESTDIR)$(PLUGINDIR)/%.so)
	rm -f $(DESTDIR)$(INCLUDEDIR)/mxdelegate/backend.h
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/mxdelegate-backend.pc
	rm -f $(MAN5:%=$(DESTDIR)$(MANDIR)/man5/%) $(MAN7:%=$(DESTDIR)$(MANDIR)/man7/%) \
		$(MAN8:%=$(DESTDIR)$(MANDIR)/man8/%)
	rm -f $(EXAMPLES:%=$(DESTDIR)$(DOCDIR)/examples/%)
	for d in $(OWN_DIRS); do if [ -d $$d ]; then rmdir $$d 2>/dev/null || true; fi; done

clean:
	rm -rf $(BUILDDIR)

# Not make deb's copy of the tree, whose objects are debian/rules' business.
-include $(shell find $(BUILDDIR) -path $(DEB_DIR) -prune -o -name '*.d' -print 2>/dev/null)
