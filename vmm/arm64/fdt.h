/* SPDX-License-Identifier: MIT */
/*
 * The arm64 machine's device tree, written with libfdt's sequential-write API: memory, the
 * vCPUs (MPIDRs, PSCI enable-method), PSCI 0.2 over HVC, the GICv3 with its ITS, the
 * architected timer, the 16550A UART, the generic ECAM PCI host (ranges, INTx interrupt-map,
 * msi-map to the ITS) and /chosen (bootargs, initrd, stdout-path, seeds). The addresses come
 * from vmm/arm64/layout.h; what varies per VM comes in struct arm64_fdt_config.
 */
#ifndef PTVM_ARM64_FDT_H
#define PTVM_ARM64_FDT_H

#include <stddef.h>
#include <stdint.h>

#define ARM64_FDT_RNG_SEED_SIZE 32
#define ARM64_FDT_PCI_SLOTS 32
#define ARM64_FDT_PCI_PINS 4

struct arm64_fdt_config {
	uint64_t ram_gpa, ram_size;
	unsigned nr_cpus;
	const uint64_t *mpidr;		  /* nr_cpus MPIDR_EL1 values, as KVM set them */
	const char *bootargs;		  /* NULL: none */
	uint64_t initrd_gpa, initrd_size; /* size 0: no initrd */
	uint64_t mmio64_start, mmio64_size;
	/* the SPI that PCI slot s, pin p + 1 (INTA..INTD) raises: the PCI bus's own routing
	 * (pci_windows_intx_line) */
	uint32_t intx_spi[ARM64_FDT_PCI_SLOTS][ARM64_FDT_PCI_PINS];
	uint64_t kaslr_seed; /* 0: none (the kernel then runs without KASLR) */
	uint8_t rng_seed[ARM64_FDT_RNG_SEED_SIZE];
};

/*
 * Writes the device tree into buf (size bytes). Returns 0 with *used = the blob's size, or
 * -ENOSPC when it does not fit, -EINVAL on a bad config (after a pr_err).
 */
int arm64_fdt_build(const struct arm64_fdt_config *cfg, void *buf, size_t size, size_t *used);

/* The path of the UART node, which /chosen's stdout-path names. */
extern const char arm64_fdt_uart_path[];

#endif
