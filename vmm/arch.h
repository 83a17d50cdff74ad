/* SPDX-License-Identifier: MIT */
/*
 * The architecture line. The arch-neutral core (the VM and vCPU loop, the memory map and its
 * listeners, the buses, the event loop, the CLI and the device table) calls these; each
 * architecture implements them in its own folder: vmm/x86/, vmm/arm64/ (kvmtool's x86/ and
 * arm/ folders are the model). The core includes this header and never an arch header.
 *
 * Start-up order, as vmm/main.c runs it:
 *   vm_create            -> arch_vm_type (KVM_CREATE_VM's argument), arch_vm_init
 *   vm_memory_create     -> arch_ram_layout
 *   irqchip              -> arch_irqchip_create (before any vCPU: x86's in-kernel LAPIC)
 *   vcpu_create          -> arch_vcpu_init, for each vCPU
 *   irqchip              -> arch_irqchip_finalize (after every vCPU: arm64's vGIC init)
 *   platform             -> arch_platform_create: power/reset, the console UART, the PCI host
 *   devices              (arch-neutral: virtio-pci and vfio-pci on the PCI bus)
 *   boot                 -> arch_boot_setup: firmware tables, kernel, initrd, BSP registers
 */
#ifndef PTVM_ARCH_H
#define PTVM_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/sandbox.h"
#include "vmm/util.h"

struct vm;
struct vcpu;
struct vm_config;
struct platform;

/* Per-VM state of the architecture (x86: the CPUID template; arm64: the vGIC fds). */
struct arch_vm;
/* The architecture's platform devices (x86: ACPI power/reset registers and the i8042). */
struct arch_platform;

/* "x86_64" or "arm64", for messages. */
extern const char arch_name[];
/*
 * The architecture's lines of `ptvm run --help` (each ends with a newline): what --kernel takes,
 * --boot-protocol's values, and --debug-exit's ("" where the architecture has none).
 */
extern const char arch_usage_kernel[], arch_usage_boot_protocol[], arch_usage_debug_exit[];

/* ---- the VM ---- */

/* Checks the architecture's KVM capabilities and returns KVM_CREATE_VM's type argument. */
int arch_vm_type(struct vm *vm, unsigned long *type) __must_check;
/* After KVM_CREATE_VM: the architecture's per-VM set-up; allocates vm->arch. */
int arch_vm_init(struct vm *vm) __must_check;
/* Frees vm->arch (called by vm_destroy; accepts a VM whose arch_vm_init never ran). */
void arch_vm_destroy(struct vm *vm);
/* The most vCPUs the architecture's firmware tables / interrupt controller describe. */
unsigned arch_max_vcpus(void);

#define ARCH_MAX_RAM_BANKS 4

struct arch_ram_layout {
	struct {
		uint64_t gpa, size;
		const char *name;
	} banks[ARCH_MAX_RAM_BANKS];
	unsigned nr_banks;
	/* where the 64-bit PCI window starts: above the last bank, aligned */
	uint64_t mmio64_start;
};

/* Where `size` bytes of guest RAM go; -EINVAL (after a pr_err) when they cannot fit. */
int arch_ram_layout(uint64_t size, struct arch_ram_layout *out) __must_check;

/* ---- interrupts ---- */

/* The in-kernel interrupt controller: before the first vCPU is created. */
int arch_irqchip_create(struct vm *vm) __must_check;
/* After every vCPU exists (arm64 initialises its vGIC here; x86 has nothing to do). */
int arch_irqchip_finalize(struct vm *vm) __must_check;
/* Drives a wired interrupt line (x86: an IOAPIC/PIC GSI; arm64: a GIC SPI). */
int arch_irq_line(struct vm *vm, unsigned line, bool level);

struct kvm_irq_routing_entry;
/*
 * The irqchip routes KVM installed with the irqchip, which ptvm's GSI routing table keeps
 * (KVM_SET_GSI_ROUTING replaces the whole table; x86: the PIC and IOAPIC pins; arm64: GSI n ->
 * SPI n): writes at most max entries to e and returns how many; MSI routes take the GSIs from
 * *first_msi_gsi up.
 */
unsigned arch_irq_routes_default(struct kvm_irq_routing_entry *e, unsigned max,
				 unsigned *first_msi_gsi);

/* ---- vCPUs ---- */

/* After KVM_CREATE_VCPU and the kvm_run mapping: registers, CPUID, MSRs, interrupt setup. */
int arch_vcpu_init(struct vcpu *vcpu) __must_check;

enum arch_exit_action {
	ARCH_EXIT_CONTINUE,  /* handled, run the vCPU again */
	ARCH_EXIT_STOP,	     /* handled, the VM is ending (vm_request_exit was called) */
	ARCH_EXIT_UNHANDLED, /* not an exit this architecture knows */
};
/* The exits only the architecture knows (x86: port I/O, SHUTDOWN). */
enum arch_exit_action arch_vcpu_handle_exit(struct vcpu *vcpu);
/* The guest's program counter, ~0 when it cannot be read. */
uint64_t arch_vcpu_pc(struct vcpu *vcpu);
/* Logs the register file at debug level (after a guest failure). */
void arch_vcpu_dump_regs(struct vcpu *vcpu);
/* Appends KVM internal-error details (x86: the instruction bytes) to a message. */
void arch_vcpu_internal_error_detail(struct vcpu *vcpu, char *buf, unsigned len);

/* ---- the platform and boot ---- */

/*
 * The devices every machine of this architecture has: power-off/reset, the console UART
 * (output to serial_fd, -1 discards it), the PCI host bridge with its windows. Fills *pl.
 */
int arch_platform_create(struct vm *vm, const struct vm_config *cfg, int serial_fd,
			 struct platform *pl) __must_check;
/* Undoes arch_platform_create (also a half-built one). */
void arch_platform_destroy(struct vm *vm, struct platform *pl);

/*
 * Parses --boot-protocol for this architecture into *out (x86: auto, pvh, linux64); -EINVAL
 * after a pr_err naming the value.
 */
int arch_boot_protocol_parse(const char *arg, unsigned *out) __must_check;

/*
 * Writes the firmware tables (x86: ACPI; arm64: the device tree), loads the kernel, initrd and
 * command line, and puts the boot vCPU in the kernel's entry state. The vCPUs and every device
 * exist by now.
 */
int arch_boot_setup(struct vm *vm, const struct vm_config *cfg, struct platform *pl) __must_check;

/* ---- the sandbox ---- */

/*
 * The ioctl requests the architecture's own code makes once the seccomp filters are on (x86:
 * KVM_GET_REGS/SREGS; arm64: KVM_GET_ONE_REG), for vmm/sandbox.c's lists. Its set-up ioctls
 * (vCPU init, the vGIC's KVM_CREATE_DEVICE and attributes, CPUID, ...) all come before.
 */
extern const struct sandbox_ioctl arch_sandbox_ioctls[];
extern const unsigned arch_nr_sandbox_ioctls;

#endif
