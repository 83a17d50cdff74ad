/* SPDX-License-Identifier: MIT */
/*
 * PVH entry, long-mode switch, AP trampoline, exception stubs and the ring-3 round trip.
 *
 * Everything that can be computed at link time is (page tables, GDT): ring-0 instructions
 * cost about 1 us each on a nested, emulating /dev/kvm, so the boot path stays a few dozen
 * instructions long.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x1b
#define SEL_UCODE 0x23
#define SEL_KCODE32 0x28
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define BOOT_STACK_SIZE 16384
#define AP_STACK_SIZE 4096
#define SMP_MAX_CPUS 64

/* The PVH note: the 32-bit entry point, as a quad like Linux does (loaders read 4 or 8). */
	.section .note.Xen, "a"
	.p2align 2
	.long 4f - 3f		/* namesz */
	.long 6f - 5f		/* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
3:	.asciz "Xen"
4:	.p2align 2
5:	.quad pvh_entry32
6:	.p2align 2

/* ---- identity page tables, 0-4 GiB with 2 MiB pages, user-accessible ---- */
	.section .data.pagetables, "aw"
	.p2align 12
	.globl kit_pml4
kit_pml4:
	.quad kit_pdpt + 0x7
	.fill 511, 8, 0
kit_pdpt:
	.quad kit_pd + 0x0000 + 0x7
	.quad kit_pd + 0x1000 + 0x7
	.quad kit_pd + 0x2000 + 0x7
	.quad kit_pd + 0x3000 + 0x7
	.fill 508, 8, 0
kit_pd:
	/* P RW US PS; the top GiB (ECAM, IOAPIC, LAPIC) also PCD PWT */
	.set i, 0
	.rept 1536
	.quad (i << 21) | 0x87
	.set i, i + 1
	.endr
	.rept 512
	.quad (i << 21) | 0x9f
	.set i, i + 1
	.endr

/* ---- GDT: kernel code/data, user data/code, 32-bit kernel code, TSS ---- */
	.section .data
	.p2align 4
	.globl kit_gdt, kit_gdt_tss
kit_gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08 kernel code, 64-bit */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00cff2000000ffff	/* 0x18 user data (DPL3) */
	.quad 0x00affa000000ffff	/* 0x20 user code, 64-bit (DPL3) */
	.quad 0x00cf9a000000ffff	/* 0x28 kernel code, 32-bit (boot and APs) */
kit_gdt_tss:
	.quad 0, 0			/* 0x30 TSS, filled by cpu_tables_init() */
kit_gdt_end:
	.globl kit_gdtr
kit_gdtr:
	.word kit_gdt_end - kit_gdt - 1
	.quad kit_gdt

	.globl ap_stack_next
ap_stack_next:
	.long 0
	.globl kit_user_saved_rsp
kit_user_saved_rsp:
	.quad 0

	.section .stacks, "aw", @nobits
	.p2align 12
boot_stack:
	.skip BOOT_STACK_SIZE
boot_stack_top:
ap_stacks:
	.skip AP_STACK_SIZE * SMP_MAX_CPUS
ap_stacks_top:

/* ---- 32-bit entry: PVH (EBX = start_info) and APs coming out of the trampoline ---- */
	.section .text.entry, "ax"
	.code32
	.globl pvh_entry32
pvh_entry32:
	cli
	cld
	lgdt kit_gdtr
	ljmp $SEL_KCODE32, $1f
1:	xor %ebp, %ebp		/* 0: boot CPU */
	jmp enter_long

	.globl ap_entry32
ap_entry32:
	mov $1, %ebp		/* 1: AP */
enter_long:
	mov $SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov %cr4, %eax
	or $0x20, %eax		/* PAE */
	mov %eax, %cr4
	mov $kit_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax	/* PG | PE */
	and $~0x60000000, %eax	/* caches on: clear CD | NW */
	mov %eax, %cr0
	ljmp $SEL_KCODE, $long_entry

	.code64
long_entry:
	test %ebp, %ebp
	jnz 2f
	mov $boot_stack_top, %esp
	mov %ebx, %edi		/* start_info physical address */
	call kit_main
	jmp cpu_stop
2:	/* AP: take the next stack slot */
	mov $1, %eax
	lock xadd %eax, ap_stack_next(%rip)
	inc %eax
	shl $12, %eax		/* AP_STACK_SIZE */
	lea ap_stacks(%rip), %rsp
	add %rax, %rsp
	call kit_ap_main
	jmp cpu_stop

/* ---- real-mode AP trampoline, copied to a page below 1 MiB ---- */
	.section .rodata
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lgdtl ap_tramp_gdtr - ap_tramp_start
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $SEL_KCODE32, $ap_entry32
	.p2align 2
ap_tramp_gdtr:
	.word kit_gdt_end - kit_gdt - 1
	.long kit_gdt
ap_tramp_end:
	.code64

/* ---- exceptions: vectors 0-31, all to kit_exception(frame) ---- */
	.section .text
.macro ISR vec
	.p2align 4
isr\vec:
	.if \vec == 6
	jmp isr_ud
	.else
	.if !(\vec == 8 || \vec == 10 || \vec == 11 || \vec == 12 || \vec == 13 || \vec == 14 || \vec == 17 || \vec == 21 || \vec == 29 || \vec == 30)
	push $0
	.endif
	push $\vec
	jmp isr_common
	.endif
.endm
	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ISR \vec
	.endr

/* #UD: the ud2 that ends a user_call is the way back to ring 0, anything else a failure */
isr_ud:
	cmpq $user_return_ud2, (%rsp)
	je user_return
	push $0
	push $6
isr_common:
	/* frame: vector, error, rip, cs, rflags, rsp, ss; 9 pushes keep the 16-byte alignment */
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	mov %rsp, %rdi
	call kit_exception	/* returns only when it handled the exception (ring-3 port I/O) */
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	add $16, %rsp
	iretq

	.section .rodata
	.p2align 3
	.globl kit_isr_table
kit_isr_table:
	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr\vec
	.endr

/*
 * ---- external interrupts: vectors 32-63 count into kit_irq_counts[] and EOI the LAPIC ----
 * A handful of instructions each: every one costs about 1 us at ring 0 here.
 */
#define LAPIC_EOI 0xfee000b0
	.section .text
.macro IRQ vec
	.p2align 4
irq\vec:
	push %rax
	lock incl kit_irq_counts + 4 * (\vec - 32)(%rip)
	mov $LAPIC_EOI, %eax
	movl $0, (%rax)
	pop %rax
	iretq
.endm
	.irp vec, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,63
	IRQ \vec
	.endr

/*
 * Vector 62 is for a level-triggered IOAPIC line (KIT_LEVEL_VECTOR): the handler masks the
 * line's redirection entry (kit_level_ioregsel selects it) before the EOI, as a level handler
 * must while the device still asserts the line; the program acks the device and unmasks.
 * Without the mask every EOI re-delivers the still-asserted line: an interrupt storm.
 */
#define IOAPIC_BASE 0xfec00000
	.p2align 4
irq62:
	push %rax
	push %rdx
	lock incl kit_irq_counts + 4 * (62 - 32)(%rip)
	mov $IOAPIC_BASE, %eax
	mov kit_level_ioregsel(%rip), %edx
	movl %edx, (%rax)
	movl 0x10(%rax), %edx
	orl $0x10000, %edx
	movl %edx, 0x10(%rax)
	mov $LAPIC_EOI, %eax
	movl $0, (%rax)
	pop %rdx
	pop %rax
	iretq

	.section .rodata
	.p2align 3
	.globl kit_irq_table
kit_irq_table:
	.irp vec, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63
	.quad irq\vec
	.endr

	.section .data
	.p2align 2
	.globl kit_level_ioregsel
kit_level_ioregsel:
	.long 0

	.section .bss
	.p2align 6
	.globl kit_irq_counts
kit_irq_counts:
	.skip 4 * 32

/*
 * ---- ring 3 and back: uint64_t user_call(user_fn fn, uint64_t arg) ----
 * In with iretq; back with a deliberate #UD at user_return_ud2, recognised by its address.
 * Not syscall: on this machine's nested KVM a syscall from ring 3 jumps to LSTAR but stays
 * at CPL3 (CS 0x23), so the first privileged instruction after it faults.
 */
	.section .text
	.globl user_call, user_return_ud2
user_call:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, kit_user_saved_rsp(%rip)
	mov %rdi, %r12
	mov %rsi, %rdi
	push $SEL_UDATA
	lea kit_user_stack_top(%rip), %rax
	push %rax
	push $0x3002		/* IOPL=3, IF=0 */
	push $SEL_UCODE
	lea user_trampoline(%rip), %rax
	push %rax
	iretq
user_trampoline:		/* CPL3 */
	call *%r12
	mov %rax, %rdi
user_return_ud2:
	ud2
user_return:			/* CPL0 on the TSS stack, from isr_ud; rdi = result */
	mov kit_user_saved_rsp(%rip), %rsp
	mov %rdi, %rax
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	.section .stacks, "aw", @nobits
	.p2align 12
	.skip 65536
kit_user_stack_top:
	.section .note.GNU-stack, "", @progbits
