# The benchmarks of issue 5 (tests/bench/): ptvm against QEMU, side by side. Included by the top
# Makefile.
#
#   make bench           every figure, with the repetitions the results need (a few minutes)
#   make bench ONLY=passthrough,testhost   those figures only (bench.py --only: startup,
#                        memory, exits, blk, net, viommu, testhost, passthrough)
#   make bench QUICK=1   few repetitions and small counts, under two minutes: `make test` runs
#                        it to check that the harness still runs and writes its table
# Writes $(BUILD)/bench/results.md (figure, ptvm, QEMU, ratio, how measured), results.tsv,
# chart.png (gnuplot) and raw/ (every run's output). Never fails on a time; it fails when it
# cannot measure (a VMM that does not start, a guest that fails).

BENCH_DIR := $(BUILD)/bench
BENCH_GUESTS := $(patsubst guest/%.c,$(BUILD)/guest/%.elf,$(wildcard guest/bench_*.c))

.PHONY: bench

$(BENCH_DIR)/kvm_floor: tests/bench/kvm_floor.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O2 -o $@ $<

# tests/install-deps.sh brings QEMU; bench.py installs gnuplot-nox for the chart if missing
bench: deps $(BUILD)/ptvm $(BENCH_GUESTS) $(BENCH_DIR)/kvm_floor
	@tests/bench/bench.py --build $(BUILD) $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))

# ptvm's vIOMMU bookkeeping with a domain of many mappings (no /dev/kvm, no VFIO: the DMA
# backend only counts): MAP, one UNMAP of many, single UNMAPs. Writes viommu_unmap.txt.
$(BENCH_DIR)/viommu_unmap: tests/bench/viommu_unmap.c $(BUILD)/libptvm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) $(HARDEN_CFLAGS) $(HARDEN_LDFLAGS) -o $@ $< $(BUILD)/libptvm.a $(LDLIBS)

.PHONY: bench-viommu
bench-viommu: $(BENCH_DIR)/viommu_unmap
	@$< 30000 $(BENCH_DIR)/viommu_unmap.txt
