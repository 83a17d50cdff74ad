# guest/ programs: freestanding PVH ELFs built on the kit in guest/kit/, one per guest/*.c.
# Included by the top Makefile; `make guest` builds them, `make test-guest` boots each on ptvm.

GUEST_CC ?= gcc
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-Wmissing-prototypes -Wstrict-prototypes -MMD -MP -Iguest/kit \
	-m64 -march=x86-64 -mtune=generic -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie \
	-mno-red-zone -mno-sse -mno-sse2 -mno-mmx -mno-80387 -mgeneral-regs-only \
	-mcmodel=small -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-omit-frame-pointer -fcf-protection=none -fno-strict-aliasing
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/kit/kit.ld -Wl,--build-id=none \
	-Wl,-z,max-page-size=4096 -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments

GUEST_SRCS := $(wildcard guest/*.c)
GUEST_ELFS := $(GUEST_SRCS:guest/%.c=$(BUILD)/guest/%.elf)
GUEST_KIT_OBJS := $(patsubst guest/kit/%.c,$(BUILD)/guest/kit/%.o,$(wildcard guest/kit/*.c)) \
	$(BUILD)/guest/kit/entry.o

.PHONY: guest test-guest
guest: $(GUEST_ELFS)

$(BUILD)/guest/kit/%.o: guest/kit/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/kit/entry.o: guest/kit/entry.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/%.o: guest/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

# <name>.args: the program's `/* ptvm-args: ... */` line, so that runners without the
# sources (the test host's initramfs) boot it the same way
$(BUILD)/guest/%.elf: $(BUILD)/guest/%.o $(GUEST_KIT_OBJS) guest/kit/kit.ld
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_KIT_OBJS)
	@sed -n 's|.*ptvm-args:\(.*\)|\1|p' guest/$*.c | sed 's|\*/.*||' | head -1 >$(@:.elf=.args)

# The programs boot on this machine's /dev/kvm (the runner says SKIP when there is none).
test-guest: $(BUILD)/ptvm $(GUEST_ELFS)
	@tests/guest/run.sh

# The same programs on a ThreadSanitizer build of ptvm (races between vCPU, I/O and main
# threads; a report fails the program: TSan's exit status, and run.sh names the report).
.PHONY: test-guest-tsan
test-guest-tsan: $(BUILD)/ptvm-tsan $(GUEST_ELFS)
	@$(TSAN_ENV) GUEST_PTVM=$(BUILD)/ptvm-tsan tests/guest/run.sh

# keep the objects: they are not throwaway intermediates (and make re-links only what changed)
.SECONDARY: $(GUEST_KIT_OBJS) $(GUEST_SRCS:guest/%.c=$(BUILD)/guest/%.o)
