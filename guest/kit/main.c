/* SPDX-License-Identifier: MIT */
/* Start-up of the boot CPU and the result protocol: a serial line, then port 0xf4. */
#include "kit.h"

static void report(int code)
{
	/* with --debug-exit (ptvm) or isa-debug-exit (QEMU) this ends the VM */
	outb(DEBUG_EXIT_PORT, (uint8_t)code);
}

void cpu_stop(void)
{
	if (cpu_cpl() == 3) {
		for (;;)
			cpu_relax();
	}
	for (;;)
		__asm__ volatile("cli; hlt");
}

void test_pass(void)
{
	printf("PASS %s\n", test_name);
	report(0);
	cpu_stop();
}

void test_fail(int code, const char *fmt, ...)
{
	va_list ap;

	if (code == 0)
		code = FAIL_GENERIC; /* 0 would read as a pass */
	printf("FAIL %s: ", test_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	report(code);
	cpu_stop();
}

void kit_main(uint32_t start_info_paddr)
{
	int ret;

	memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
	serial_init();
	cpu_tables_init();
	ret = bootinfo_parse(start_info_paddr);
	if (ret)
		test_fail(FAIL_BOOT, "bad hvm_start_info at 0x%x (error %d)", start_info_paddr,
			  ret);
	ret = page_alloc_init();
	if (ret)
		test_fail(FAIL_BOOT, "page allocator: no free RAM in the start_info memmap");
	ret = test_main();
	if (ret)
		test_fail(ret, "test_main returned %d", ret);
	test_pass();
}
