# kiln — offline builder of bootable machine images.  Plain GNU make, non-recursive.
# Honours CC, CFLAGS, CPPFLAGS, LDFLAGS, DESTDIR, PREFIX; V=1 shows command lines.

.DELETE_ON_ERROR:
.SUFFIXES:

VERSION := 0.1.0
PREFIX ?= /usr/local
O ?= build

CC ?= cc
CFLAGS ?= -O2 -g
WARN := -std=gnu11 -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wshadow -Wvla \
	-Wwrite-strings -Wno-missing-field-initializers
# -Werror is for development and CI (DEVELOPER=1), never forced on packagers.
ifeq ($(DEVELOPER),1)
WARN += -Werror
endif
KILN_CPPFLAGS := -D_GNU_SOURCE -DKILN_VERSION='"$(VERSION)"' -Icommon -Ibuilder -Iboot -Iinitramfs -Icloud-init-lite
ALL_CFLAGS = $(WARN) $(KILN_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP
LIBS := -lext2fs -lcom_err -larchive -lyaml -ljson-c -lblkid -lcrypto -lz -lzstd -llzma

ifeq ($(V),1)
Q :=
else
Q := @
endif

# cloud-init-lite: user data, #cloud-config, datasources and first-boot
# modules.  Linked into kiln-init, and into libkiln for `kiln user-data check`.
CIL_SRCS := $(sort $(wildcard cloud-init-lite/*.c))

# libkiln: the builder as a library.  Front ends link it; it never exits or prints.
LIBKILN_SRCS := \
	common/util.c \
	builder/tables.c \
	builder/spec.c \
	builder/disk.c \
	builder/ext2io.c \
	builder/tree.c \
	builder/rootfs_dir.c \
	builder/rootfs_tar.c \
	builder/scrub.c \
	builder/ext4.c \
	builder/exec.c \
	builder/json.c \
	builder/ptable.c \
	builder/fat.c \
	builder/metadata.c \
	boot/grub.c \
	initramfs/cpio.c \
	initramfs/modinfo.c \
	initramfs/modules.c \
	$(CIL_SRCS) \
	$(filter-out boot/grub.c,$(wildcard boot/*.c)) \
	builder/build.c


# What kiln-init links: the first-boot tasks, pure parsers and the disk seam.
LIBINIT_SRCS := \
	common/util.c \
	builder/disk.c \
	builder/tables.c \
	builder/ptable.c \
	initramfs/cmdline.c \
	initramfs/superblock.c \
	initramfs/parttable.c \
	initramfs/grow.c \
	initramfs/sshkeys.c \
	initramfs/pid1.c \
	initramfs/state.c \
	initramfs/cloudinit.c \
	$(CIL_SRCS)

KILN_SRCS := builder/kiln.c $(sort $(wildcard builder/cmd_*.c))

UNIT_TESTS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(wildcard tests/unit/test-*.c))
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(filter-out tests/fuzz/fuzz-main.c,$(wildcard tests/fuzz/fuzz-*.c)))
FUZZ_REPLAY := $(patsubst %,$(O)/fuzz/%,$(FUZZ_TARGETS))

LIBKILN := $(O)/libkiln.a
LIBINIT := $(O)/libkilninit.a
KILN := $(O)/kiln
KILN_INIT := $(O)/kiln-init

all: $(KILN) $(KILN_INIT)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBKILN): $(patsubst %.c,$(O)/%.o,$(LIBKILN_SRCS))
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBINIT): $(patsubst %.c,$(O)/%.o,$(LIBINIT_SRCS))
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# kiln-init is PID 1 of the initramfs: static, stripped, no shared libraries.
# glibc's warnings about NSS and dlopen in a static program are filtered out
# of ld's output, but ld's own exit status is the recipe's (PIPESTATUS): a
# failed link fails the build, and no older kiln-init is left standing.
INIT_LIBS := -lext2fs -lcom_err -lblkid -lyaml -lcrypto -lz -lpthread
$(KILN_INIT): $(O)/initramfs/kiln-init.o $(LIBINIT)
	@$(if $(Q),echo "  LD      $@ (static)")
	$(Q)rm -f $@ && $(CC) $(CFLAGS) $(LDFLAGS) -static -s -o $@ $^ $(INIT_LIBS) 2>&1 | \
		{ grep -v -e 'statically linked applications requires at runtime' -e 'in function' || true; }; \
		exit $${PIPESTATUS[0]}
	@test -x $@

$(KILN): $(patsubst %.c,$(O)/%.o,$(KILN_SRCS)) $(LIBKILN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/tests/unit/%: $(O)/tests/unit/%.o $(O)/tests/lib/tap.o $(LIBKILN) $(LIBINIT)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Fuzz targets replay their corpus under ASan+UBSan in `make check`; `make fuzz`
# builds them for libFuzzer with clang.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_LIB_SRCS := $(sort $(LIBKILN_SRCS) $(LIBINIT_SRCS))
# Every library source is compiled once with the sanitizers into one archive
# that all the replay binaries link, rather than once per target.
SAN_CFLAGS = $(WARN) $(KILN_CPPFLAGS) $(CPPFLAGS) -O1 -g $(SAN) -MMD -MP
$(O)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (sanitizers)")
	$(Q)$(CC) $(SAN_CFLAGS) -c -o $@ $<
$(O)/libkiln-san.a: $(patsubst %.c,$(O)/san/%.o,$(ALL_LIB_SRCS))
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^
$(O)/fuzz/%: $(O)/san/tests/fuzz/%.o $(O)/san/tests/fuzz/fuzz-main.o $(O)/libkiln-san.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(SAN) -o $@ $^ $(LIBS)

FUZZ_CC ?= clang
fuzz: $(patsubst %,$(O)/libfuzzer/%,$(FUZZ_TARGETS))
$(O)/libfuzzer/%: tests/fuzz/%.c $(ALL_LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(KILN_CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< \
		$(ALL_LIB_SRCS) $(LIBS)

# Unit tests built with ASan+UBSan: test-spec's leak check in `make check`,
# every one in `make check-asan` (not part of check: slower, for debugging).
SAN_UNIT_TESTS := $(patsubst $(O)/tests/unit/%,$(O)/san-unit/%,$(UNIT_TESTS))
$(O)/san-unit/%: $(O)/san/tests/unit/%.o $(O)/san/tests/lib/tap.o $(O)/libkiln-san.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@ (sanitizers)")
	$(Q)$(CC) $(SAN) -o $@ $^ $(LIBS)

# What `make check` shows of prove's output (all of it is in $(O)/check.log):
# each script's name line, with or without --timer's "[hh:mm:ss] " (a
# skipped script's reason is on it: "tests/t/tNNNN.sh .. skipped: REASON"),
# verdicts, a test's "# skip", diagnostics (run-unit.sh repeats a unit
# test's inner skips and failures as "# ..." lines) and the totals.  Then
# every skip is listed again under the totals, so "All tests successful"
# never stands alone over tests that did not run.  In CI (.ci/run sets
# KILN_REQUIRE_ALL=1) a skip is a failure in its own script.
CHECK_FILTER := ^((\[[0-9:]+\] )?(t/|tests/)|ok|not ok|[\#]|1\.\.0|All tests|Files=|Result:|Failed|Parse errors)
CHECK_SKIPS_AWK := { sub(/^\[[0-9:]+\] /, "") } \
	/^[^ ]+ \.+ skipped: / { sub(/ \.+ skipped: /, ": "); s[++n] = $$0; next } \
	/^[^ ]+ \.+ *$$/ { file = $$1; next } \
	/^ok [0-9]+ [\#] skip / { sub(/^ok [0-9]+ [\#] skip /, ""); s[++n] = file ": " $$0; next } \
	/^[\#] skipped in / { sub(/^[\#] skipped in /, ""); s[++n] = file ": " $$0 } \
	END { print "Skipped: " (n ? n : "none"); for (i = 1; i <= n; i++) print "  " s[i] }
check: all $(UNIT_TESTS) $(O)/san-unit/test-spec $(FUZZ_REPLAY)
	prove -v -j1 --timer tests/check-layering.sh tests/run-unit.sh tests/run-fuzz.sh tests/t/t*.sh 2>&1 | tee $(O)/check.log | \
		grep -aE '$(CHECK_FILTER)' ; \
	status=$${PIPESTATUS[0]}; \
	awk '$(CHECK_SKIPS_AWK)' $(O)/check.log; \
	exit $$status

check-asan: $(SAN_UNIT_TESTS)
	prove -v -j1 tests/run-unit.sh :: --asan 2>&1 | tee $(O)/check-asan.log | grep -aE '$(CHECK_FILTER)' ; \
	status=$${PIPESTATUS[0]}; \
	awk '$(CHECK_SKIPS_AWK)' $(O)/check-asan.log; \
	exit $$status

bench: all
	tests/bench/run.sh; a=$$?; tests/bench/disk.sh; b=$$?; tests/bench/initramfs.sh; c=$$?; \
	tests/bench/firstboot.sh; d=$$?; tests/bench/userdata.sh; e=$$?; exit $$((a || b || c || d || e))

demo: all
	tests/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(KILN) $(DESTDIR)$(PREFIX)/bin/kiln
	install -d $(DESTDIR)$(PREFIX)/lib/kiln
	install -m 0755 $(KILN_INIT) $(DESTDIR)$(PREFIX)/lib/kiln/kiln-init
	install -m 0644 docs/kiln.1 $(DESTDIR)$(PREFIX)/share/man/man1/kiln.1
	install -m 0644 docs/kiln-run.1 $(DESTDIR)$(PREFIX)/share/man/man1/kiln-run.1
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 docs/kiln-init.8 $(DESTDIR)$(PREFIX)/share/man/man8/kiln-init.8

clean:
	rm -rf $(O) tests/out

help:
	@echo "make            build the kiln command and kiln-init ($(KILN), $(KILN_INIT))"
	@echo "make check      run every test (unit, fuzz corpus replay, integration) under prove"
	@echo "make check-asan run every unit test built with ASan+UBSan"
	@echo "make demo       build a small bootable image (busybox + Debian's cloud kernel) and boot it under QEMU"
	@echo "make bench      benchmarks against peer tools (not part of check)"
	@echo "make fuzz       build libFuzzer targets with clang (FUZZ_CC)"
	@echo "make install    install into DESTDIR/PREFIX ($(PREFIX))"
	@echo "make clean      remove build output"
	@echo "Variables: CC CFLAGS LDFLAGS DESTDIR PREFIX V=1 DEVELOPER=1 (adds -Werror)"

SHELL := /bin/bash
.PHONY: all check check-asan bench demo fuzz install clean help

-include $(shell find $(addprefix $(O)/,common builder boot initramfs cloud-init-lite tests san) -type f -name '*.d' 2>/dev/null)
