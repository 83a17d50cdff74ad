/* SPDX-License-Identifier: MIT */
/* ptvm-args: --cmdline "$HOSTILE_UART_CMDLINE" */
/*
 * hostile_uart: COM1 flooded both ways and written with garbage.
 *   - input flood (when the host side feeds ptvm's stdin: tokens=N on the command line): the
 *     host writes N tokens "%08d " (0, 1, 2, ...) at once while this guest does not read for
 *     2 s; then the guest reads them all. The receive FIFO holds 64 bytes, so ptvm must hold
 *     the rest back (it stops reading stdin) rather than drop it or stall its main thread:
 *     the tokens must arrive without a gap, up to the last one (only those sent before this
 *     guest set up its UART, which clears the FIFO, may be missing);
 *   - output flood: 32 KiB through THR as fast as the guest can write it;
 *   - register garbage: every value into every register (THR under loopback, so the junk
 *     stays inside), every register read, then the UART set up again: output must still work.
 */
#include "hostile.h"

const char test_name[] = "hostile_uart";

#define COM1 0x3f8
#define LSR 5
#define MCR 4
#define LSR_DR 0x01
#define TOKEN 9 /* "%08d " */

static uint64_t tsc_us(void)
{
	return rdtsc() / 3000; /* the kit's delays assume about 3 GHz; generous is fine here */
}

/* The next input byte, or -1 when none came for @idle_us. CPL0. */
static int read_byte(uint64_t idle_us)
{
	uint64_t t0 = tsc_us();

	while (!(inb(COM1 + LSR) & LSR_DR))
		if (tsc_us() - t0 > idle_us)
			return -1;
	return inb(COM1);
}

static void input_flood(uint64_t tokens)
{
	char tok[TOKEN + 1];
	uint64_t first = 0, expect = 0, got = 0;
	int c;

	delay_us(2000000); /* not reading: ptvm must hold back what does not fit */
	/* find a token boundary: what came before this guest set its UART up may be cut */
	do
		c = read_byte(3000000);
	while (c >= 0 && c != ' ');
	if (c < 0)
		test_fail(20, "no input arrived (the host side sent %llu tokens)",
			  (unsigned long long)tokens);
	for (;;) {
		unsigned int n = 0;
		uint64_t v = 0;

		while (n < TOKEN && (c = read_byte(got ? 1000000 : 3000000)) >= 0)
			tok[n++] = (char)c;
		if (n == 0)
			break;
		tok[n] = '\0';
		for (unsigned int k = 0; k < 8 && n == TOKEN; k++)
			v = v * 10 + (uint64_t)(tok[k] - '0');
		if (n != TOKEN || tok[8] != ' ')
			test_fail(21, "input token %llu is '%s'", (unsigned long long)got, tok);
		if (!got)
			first = expect = v;
		if (v != expect)
			test_fail(22, "input token %llu reads %llu, want %llu: bytes were lost",
				  (unsigned long long)got, (unsigned long long)v,
				  (unsigned long long)expect);
		got++;
		expect++;
	}
	if (expect != tokens)
		test_fail(23, "input stopped at token %llu of %llu", (unsigned long long)expect,
			  (unsigned long long)tokens);
	printf("CHECK input flood: tokens %llu to %llu arrived in order, none lost\n",
	       (unsigned long long)first, (unsigned long long)(expect - 1));
}

static void output_flood(void)
{
	static const char line[] =
	    "FLOOD 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU\n";

	/* straight into THR, without waiting for THRE */
	for (unsigned int n = 0; n < 512; n++)
		for (unsigned int k = 0; k < sizeof(line) - 1; k++)
			outb(COM1, (uint8_t)line[k]);
}

static void register_garbage(void)
{
	outb(COM1 + MCR, 0x10); /* loopback: what goes to THR stays inside */
	for (unsigned int v = 0; v < 256; v++) {
		for (unsigned int r = 1; r < 8; r++)
			if (r != MCR)
				outb((uint16_t)(COM1 + r), (uint8_t)v);
		outb(COM1 + MCR, (uint8_t)(v | 0x10));
		outb(COM1, (uint8_t)v);
		for (unsigned int r = 0; r < 8; r++)
			(void)inb((uint16_t)(COM1 + r));
	}
	/* wider accesses too */
	outw(COM1, 0xffff);
	outl(COM1 + 4, 0xffffffffu);
	(void)inl(COM1);
	serial_init();
}

int test_main(void)
{
	uint64_t tokens = 0;

	if (cmdline_get_uint("tokens", &tokens) && tokens) {
		attack_begin("uart-input-flood");
		input_flood(tokens);
	}
	attack_begin("uart-output-flood");
	output_flood();
	serial_init();
	printf("\n");
	attack_begin("uart-register-garbage");
	register_garbage();
	printf("CHECK the UART prints again after the garbage\n");
	return 0;
}
