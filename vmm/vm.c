// SPDX-License-Identifier: MIT
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
#include "eventloop.h"
#include "ioctl.h"
#include "log.h"
#include "util.h"

static const struct vm_cap vm_required_caps[] = {
	VM_CAP(KVM_CAP_USER_MEMORY), VM_CAP(KVM_CAP_IRQ_ROUTING),    VM_CAP(KVM_CAP_IRQFD),
	VM_CAP(KVM_CAP_IOEVENTFD),   VM_CAP(KVM_CAP_IMMEDIATE_EXIT), VM_CAP(KVM_CAP_MP_STATE),
};

struct memmap *vm_memmap(struct vm *vm)
{
	return vm->mm;
}

struct eventloop *vm_eventloop(struct vm *vm)
{
	return vm->loop;
}

int vm_register_pio(struct vm *vm, struct bus_dev *dev)
{
	return bus_register(&vm->pio, dev);
}

void vm_unregister_pio(struct vm *vm, struct bus_dev *dev)
{
	bus_unregister(&vm->pio, dev);
}

int vm_register_mmio(struct vm *vm, struct bus_dev *dev)
{
	return bus_register(&vm->mmio, dev);
}

void vm_unregister_mmio(struct vm *vm, struct bus_dev *dev)
{
	bus_unregister(&vm->mmio, dev);
}

int vm_set_irq_line(struct vm *vm, unsigned gsi, bool level)
{
	return arch_irq_line(vm, gsi, level);
}

void vm_request_exit(struct vm *vm, int status, const char *reason)
{
	bool expected = false;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->exiting, &expected, true))
		return;
	vm->exit_status = status;
	pr_info("vm: stopping (%s), exit status %d", reason, status);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0)
		pr_warn("vm: cannot signal stop: %s", strerror(errno));
}

bool vm_is_exiting(struct vm *vm)
{
	return atomic_load(&vm->exiting);
}

/* ---- the KVM memslot listener: RAM, ROM (read-only) and DEVICE_RAM become memslots ---- */

static int vm_memslot_alloc(struct vm *vm)
{
	for (int i = 0; i < vm->nr_kvm_slots && i < 64; i++) {
		if (!(vm->used_slots & (1ULL << i))) {
			vm->used_slots |= 1ULL << i;
			return i;
		}
	}
	return -ENOSPC;
}

static int vm_memslot_region_add(struct memmap_listener *l, struct memmap_region *r)
{
	struct vm *vm = container_of(l, struct vm, kvm_listener);
	struct kvm_userspace_memory_region slot;
	int ret, id;

	if (r->kind == MEMMAP_MMIO)
		return 0;
	id = vm_memslot_alloc(vm);
	if (id < 0) {
		pr_err("kvm: no free memslot for %s", r->name);
		return id;
	}
	slot = (struct kvm_userspace_memory_region){
		.slot = (uint32_t)id,
		.flags = r->kind == MEMMAP_ROM ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)r->hva,
	};
	if (r->kind == MEMMAP_DEVICE_RAM) {
		/* a passthrough BAR goes where the guest puts it, as often as it likes (beyond
		 * the guest's physical address width, say): what KVM refuses there is the
		 * guest's doing, told rate-limited */
		ret = ptvm_ioctl_quiet(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
		if (ret)
			pr_warn_ratelimited("kvm: memslot %d for %s [0x%llx, +0x%llx) refused: "
					    "KVM_SET_USER_MEMORY_REGION: %s",
					    id, r->name, (unsigned long long)r->gpa,
					    (unsigned long long)r->size, strerror(-ret));
	} else {
		ret = ptvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
		if (ret)
			pr_err("kvm: memslot %d for %s [0x%llx, +0x%llx) refused", id, r->name,
			       (unsigned long long)r->gpa, (unsigned long long)r->size);
	}
	if (ret) {
		vm->used_slots &= ~(1ULL << id);
		return ret;
	}
	r->kvm_slot = id;
	pr_debug("kvm: memslot %d = %s %s gpa 0x%llx size 0x%llx hva %p%s", id,
		 memmap_kind_name(r->kind), r->name, (unsigned long long)r->gpa,
		 (unsigned long long)r->size, r->hva, r->kind == MEMMAP_ROM ? " read-only" : "");
	return 0;
}

static void vm_memslot_region_del(struct memmap_listener *l, struct memmap_region *r)
{
	struct vm *vm = container_of(l, struct vm, kvm_listener);
	struct kvm_userspace_memory_region slot = { 0 };

	if (r->kvm_slot < 0)
		return;
	slot.slot = (uint32_t)r->kvm_slot;
	slot.guest_phys_addr = r->gpa; /* size 0 deletes */
	if (ptvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) == 0)
		pr_debug("kvm: memslot %d (%s) deleted", r->kvm_slot, r->name);
	vm->used_slots &= ~(1ULL << r->kvm_slot);
	r->kvm_slot = -1;
}

int vm_require_caps(struct vm *vm, const struct vm_cap *caps, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (ptvm_ioctl_val(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			pr_err("/dev/kvm: missing capability %s", caps[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

static int vm_check_caps(struct vm *vm)
{
	int ver = ptvm_ioctl_val_quiet(vm->kvm_fd, KVM_GET_API_VERSION, 0);

	if (ver < 0) {
		/* one line: something else (a bind mount, a wrong mknod) sits at /dev/kvm */
		pr_err("/dev/kvm: not a KVM device (KVM_GET_API_VERSION: %s)", strerror(-ver));
		return -ENOTSUP;
	}
	if (ver != KVM_API_VERSION) {
		pr_err("/dev/kvm: API version %d, ptvm needs %d", ver, KVM_API_VERSION);
		return -ENOTSUP;
	}
	if (vm_require_caps(vm, vm_required_caps, ARRAY_SIZE(vm_required_caps)))
		return -ENOTSUP;
	vm->max_vcpus = ptvm_ioctl_val(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (vm->max_vcpus <= 0)
		vm->max_vcpus = ptvm_ioctl_val(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (vm->max_vcpus <= 0)
		vm->max_vcpus = 4; /* the documented minimum without the capability */
	vm->nr_kvm_slots = ptvm_ioctl_val(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	if (vm->nr_kvm_slots <= 0)
		vm->nr_kvm_slots = 32;
	vm->vcpu_mmap_size = ptvm_ioctl_val(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0)
		return -ENOTSUP;
	return 0;
}

int vm_create(struct vm **out)
{
	unsigned long type;
	struct vm *vm;
	int ret;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->kvm_fd = vm->vm_fd = vm->ram_fd = vm->stop_fd = -1;
	pthread_mutex_init(&vm->irq_lock, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		pr_err("/dev/kvm: %s%s", strerror(-ret),
		       ret == -ENOENT
			   ? " (is the kvm module loaded, or is this host without VT-x/SVM?)"
		       : ret == -EACCES ? " (add the user to the kvm group)"
					: "");
		goto out_destroy;
	}
	ret = vm_check_caps(vm);
	if (ret)
		goto out_destroy;
	ret = arch_vm_type(vm, &type);
	if (ret)
		goto out_destroy;
	vm->vm_fd = ptvm_ioctl_val(vm->kvm_fd, KVM_CREATE_VM, type);
	if (vm->vm_fd < 0) {
		ret = vm->vm_fd;
		goto out_destroy;
	}
	ret = arch_vm_init(vm);
	if (ret) {
		pr_err("kvm: %s VM set-up failed: %s", arch_name, strerror(-ret));
		goto out_destroy;
	}
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0) {
		ret = -errno;
		goto out_destroy;
	}
	ret = memmap_create(&vm->mm);
	if (ret)
		goto out_destroy;
	vm->kvm_listener = (struct memmap_listener){
		.name = "kvm-memslots",
		.priority = 0,
		.region_add = vm_memslot_region_add,
		.region_del = vm_memslot_region_del,
	};
	ret = memmap_listener_register(vm->mm, &vm->kvm_listener);
	if (ret)
		goto out_destroy;
	ret = eventloop_create(&vm->loop);
	if (ret)
		goto out_destroy;
	pr_debug("kvm: VM created (max %d vCPUs, %d memslots)", vm->max_vcpus, vm->nr_kvm_slots);
	*out = vm;
	return 0;

out_destroy:
	vm_destroy(vm);
	return ret;
}

const char *vm_thp_sysfs = "/sys/kernel/mm/transparent_hugepage";

/* The bracketed value of a /sys/kernel/mm/transparent_hugepage file ("madvise"), or "". */
static const char *vm_thp_setting(const char *file, char *buf, size_t len)
{
	char path[128], line[128], *l, *r;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", vm_thp_sysfs, file);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (!f)
		return buf;
	if (fgets(line, sizeof(line), f) && (l = strchr(line, '[')) && (r = strchr(l, ']'))) {
		*r = '\0';
		snprintf(buf, len, "%s", l + 1);
	}
	fclose(f);
	return buf;
}

void vm_ram_backing_choose(uint64_t size, bool hugepages, bool dma, struct vm_ram_backing *out)
{
	char shmem[32], anon[32];

	memset(out, 0, sizeof(*out));
	vm_thp_setting("shmem_enabled", shmem, sizeof(shmem));
	vm_thp_setting("enabled", anon, sizeof(anon));
	if (hugepages && IS_ALIGNED(size, SZ_2M)) {
		/* an explicit hugetlb pool is what pins cheapest for VFIO */
		out->kind = VM_RAM_HUGETLB;
		snprintf(out->why, sizeof(out->why), "hugetlb (hugepages=on)");
		return;
	}
	if (!strcmp(shmem, "always") || !strcmp(shmem, "within_size") || !strcmp(shmem, "advise") ||
	    !strcmp(shmem, "force")) {
		out->kind = VM_RAM_MEMFD;
		out->thp = true;
		snprintf(out->why, sizeof(out->why),
			 "memfd with transparent huge pages (shmem_enabled %s)", shmem);
		return;
	}
	if (!strcmp(anon, "always") || !strcmp(anon, "madvise")) {
		/*
		 * Anonymous memory gets THP where shmem does not (QEMU's default RAM too): it pins
		 * ~3x faster than 4 KiB pages (VFIO_IOMMU_MAP_DMA faults every page in), and a
		 * guest without a device boots faster on it (fewer faults in the host, 2 MiB
		 * nested page tables). The balloon discards it with MADV_DONTNEED.
		 */
		out->kind = VM_RAM_ANON;
		out->thp = true;
		snprintf(out->why, sizeof(out->why),
			 "anonymous memory with transparent huge pages (%s; enabled %s, "
			 "shmem_enabled %s)",
			 dma	     ? "pinned for DMA"
			 : hugepages ? "hugepages=on but not 2 MiB aligned"
				     : "not pinned",
			 anon, shmem[0] ? shmem : "unknown");
		return;
	}
	out->kind = VM_RAM_MEMFD;
	snprintf(out->why, sizeof(out->why),
		 "memfd with 4 KiB pages (shmem_enabled %s, enabled %s)",
		 shmem[0] ? shmem : "unknown", anon[0] ? anon : "unknown");
}

/* A mapping of size bytes whose start is 2 MiB aligned (huge pages need it), or MAP_FAILED. */
static void *vm_ram_map_aligned(uint64_t size, int fd)
{
	uint64_t span = size + SZ_2M;
	uint8_t *res, *at;
	void *p;

	res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	at = (uint8_t *)ALIGN_UP((uintptr_t)res, SZ_2M);
	if (fd >= 0)
		p = mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE | MAP_FIXED,
			 fd, 0);
	else
		p = mmap(at, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		munmap(res, span);
		return MAP_FAILED;
	}
	if (at > res)
		munmap(res, (size_t)(at - res));
	if (at + size < res + span)
		munmap(at + size, (size_t)(res + span - (at + size)));
	return p;
}

int vm_memory_create(struct vm *vm, uint64_t size, bool hugepages, bool dma)
{
	struct memmap_region r = { .kind = MEMMAP_RAM };
	struct arch_ram_layout layout;
	struct vm_ram_backing b;
	uint64_t offset = 0;
	int ret;

	ret = arch_ram_layout(size, &layout);
	if (ret)
		return ret;
	vm_ram_backing_choose(size, hugepages, dma, &b);
	if (hugepages && b.kind != VM_RAM_HUGETLB)
		pr_warn("--memory: %llu bytes is not a multiple of 2 MiB, using THP",
			(unsigned long long)size);
	if (b.kind != VM_RAM_ANON) {
		vm->ram_fd = memfd_create(
		    "ptvm-ram", MFD_CLOEXEC | (b.kind == VM_RAM_HUGETLB ? MFD_HUGETLB : 0));
		if (vm->ram_fd < 0) {
			ret = -errno;
			pr_err("guest RAM: memfd_create: %s", strerror(-ret));
			return ret;
		}
		if (ftruncate(vm->ram_fd, (off_t)size) < 0) {
			ret = -errno;
			pr_err("guest RAM: cannot size memfd to %llu bytes: %s",
			       (unsigned long long)size, strerror(-ret));
			return ret;
		}
	}
	vm->ram = vm_ram_map_aligned(size, vm->ram_fd);
	if (vm->ram == MAP_FAILED) {
		ret = -errno;
		vm->ram = NULL;
		pr_err("guest RAM: cannot map %llu bytes: %s", (unsigned long long)size,
		       strerror(-ret));
		return ret;
	}
	vm->ram_size = size;
	/* a core dump of ptvm must not carry the guest's memory (its secrets, and its size) */
	if (madvise(vm->ram, size, MADV_DONTDUMP) < 0)
		pr_warn("guest RAM: MADV_DONTDUMP: %s (a core dump would include guest memory)",
			strerror(errno));
	if (b.thp && madvise(vm->ram, size, MADV_HUGEPAGE))
		pr_warn("guest RAM: madvise(MADV_HUGEPAGE): %s", strerror(errno));
	if (b.kind == VM_RAM_HUGETLB) {
		/* hugetlb pages are taken at fault time: fail now, clearly, not with a SIGBUS
		 * when the guest first touches them */
		if (fallocate(vm->ram_fd, 0, 0, (off_t)size) < 0) {
			ret = -errno;
			pr_err("--memory hugepages=on: cannot reserve %llu MiB of huge pages (%s): "
			       "raise /proc/sys/vm/nr_hugepages",
			       (unsigned long long)(size >> 20), strerror(-ret));
			return ret;
		}
	}

	r.hugepages = b.kind == VM_RAM_HUGETLB || b.thp;
	r.fd = vm->ram_fd;
	for (unsigned i = 0; i < layout.nr_banks; i++) {
		r.gpa = layout.banks[i].gpa;
		r.size = layout.banks[i].size;
		r.hva = (uint8_t *)vm->ram + offset;
		r.fd_offset = vm->ram_fd >= 0 ? offset : 0;
		snprintf(r.name, sizeof(r.name), "%s", layout.banks[i].name);
		ret = memmap_add_region(vm->mm, &r);
		if (ret)
			return ret;
		offset += r.size;
	}
	vm->mmio64_start = layout.mmio64_start;
	pr_info("guest RAM: %llu MiB in %u bank(s), the first %llu MiB at 0x%llx; %s",
		(unsigned long long)(size >> 20), layout.nr_banks,
		(unsigned long long)(layout.banks[0].size >> 20),
		(unsigned long long)layout.banks[0].gpa, b.why);
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (vm->mm) {
		memmap_destroy(vm->mm); /* the memslot listener deletes each slot */
		vm->mm = NULL;
	}
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	eventloop_destroy(vm->loop);
	arch_vm_destroy(vm);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	bus_exit(&vm->pio);
	bus_exit(&vm->mmio);
	free(vm->vcpus);
	vm_irq_routing_free(vm);
	pthread_mutex_destroy(&vm->irq_lock);
	free(vm);
}
