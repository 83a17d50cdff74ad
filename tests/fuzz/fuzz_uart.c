// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the legacy port space a guest reaches with in/out: the 16550 UART on
 * COM1 (devices/uart.c) and the reset / power-off ports (devices/power.c), on a real
 * vmm/bus.c port bus, so accesses of any width, unaligned, straddling a device's end or
 * hitting no device take the path a vCPU's exit takes. The host side feeds the UART's receive
 * FIFO as ptvm's stdin reader does.
 *
 * Input: a stream of operations, each one byte then its operands:
 *   op & 3 == 0  guest read:  port = 0x3f0 + u8 (COM1 and its neighbours) or, with op bit 2,
 *                             0x3b0 + u8 (the ACPI ports) / 0x60 + u8 % 8 (the i8042) / 0xf4
 *   op & 3 == 1  guest write: the same ports, then the value (1, 2, 4 or 8 bytes: op bits 5-6)
 *   op & 3 == 2  host input:  u8 n, then n bytes into the receive FIFO (op bit 2: through
 *                uart_input, which keeps what does not fit until the guest reads)
 *   op & 3 == 3  the console reader asks whether the FIFO has room (op bit 2: and clears
 *                the room eventfd)
 * Checked after each operation: the interrupt line the UART drives is what its IIR and OUT2
 * say, LSR.DR says whether the FIFO holds data, the FIFO never overflows.
 *
 * FUZZ_SOURCES: devices/uart.c vmm/x86/power.c vmm/bus.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmm/x86/power.h"
#include "devices/uart.h"
#include "tests/fuzz/lib/fuzz_lib.h"
#include "vmm/x86/layout.h"
#include "vmm/util.h"

struct fuzz_irq {
	struct irq_line line;
	bool level;
	unsigned changes;
};

static int out_fd = -1;

static void fuzz_irq_set(struct irq_line *line, bool level)
{
	struct fuzz_irq *irq = container_of(line, struct fuzz_irq, line);

	/* the UART drives the line only when its level changes */
	if (level == irq->level)
		fuzz_fail("uart set the irq line to %d twice", level);
	irq->level = level;
	irq->changes++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lib_init(0);
	out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (out_fd < 0)
		fuzz_fail("/dev/null");
	return 0;
}

static uint64_t fuzz_port(struct fuzz_in *in, uint8_t op)
{
	uint8_t p = fuzz_u8(in);

	if (!(op & 4))
		return 0x3f0 + p;
	switch (p & 3) {
	case 0:
		return 0x3b0 + (p >> 2);
	case 1:
		return I8042_DATA_PORT + ((p >> 2) & 7);
	case 2:
		return DEBUG_EXIT_PORT + ((p >> 2) & 7);
	default:
		return p; /* anything in the first 256 ports */
	}
}

FUZZ_CHECKER static void uart_check(struct uart *u, const struct fuzz_irq *irq)
{
	bool pending = !(u->iir & 1);

	if (u->rx_count > UART_FIFO_SIZE || u->rx_head >= UART_FIFO_SIZE)
		fuzz_fail("uart FIFO state count %u head %u", u->rx_count, u->rx_head);
	if (!!(u->lsr & 0x01) != (u->rx_count > 0))
		fuzz_fail("uart LSR.DR %d with %u bytes in the FIFO", u->lsr & 1, u->rx_count);
	if (irq->level != (pending && (u->mcr & 0x08)))
		fuzz_fail("uart irq line %d, IIR 0x%x, MCR 0x%x", irq->level, u->iir, u->mcr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	struct fuzz_irq irq = { .line.set_level = fuzz_irq_set };
	struct power *power;
	struct uart *u;
	struct vm vm;

	fuzz_input_begin();
	fuzz_vm_init(&vm, NULL);
	if (uart_create(COM1_PORT, out_fd, &irq.line, &u) || vm_register_pio(&vm, &u->pio))
		fuzz_fail("uart_create");
	if (power_create(&vm, true, &power))
		fuzz_fail("power_create");
	while (!fuzz_in_done(&in)) {
		uint8_t op = fuzz_u8(&in), buf[256];
		unsigned len = 1u << ((op >> 5) & 3);
		uint64_t v = 0, port;

		switch (op & 3) {
		case 0:
			port = fuzz_port(&in, op);
			fuzz_vm_pio(&vm, port, &v, len, false);
			break;
		case 1:
			port = fuzz_port(&in, op);
			fuzz_in_bytes(&in, &v, len);
			fuzz_vm_pio(&vm, port, &v, len, true);
			break;
		case 2: {
			unsigned n = fuzz_u8(&in);
			size_t took;

			fuzz_in_bytes(&in, buf, n);
			if (op & 4) {
				/* the console reader's input, with backpressure */
				if (uart_input(u, buf, MIN(n, (unsigned)UART_INPUT_MAX)) !=
				    !u->wait_len)
					fuzz_fail("uart_input's answer with %u bytes waiting",
						  u->wait_len);
				break;
			}
			took = uart_receive(u, buf, n);
			if (took > n || took > UART_FIFO_SIZE)
				fuzz_fail("uart took %zu of %u bytes", took, n);
			break;
		}
		default:
			if (uart_can_receive(u) != (u->rx_count < UART_FIFO_SIZE))
				fuzz_fail("uart_can_receive with %u bytes queued", u->rx_count);
			if (op & 4) {
				/* the reader clears the room eventfd before it reads on */
				if (read(uart_input_room_fd(u), &v, sizeof(v)) < 0 &&
				    errno != EAGAIN)
					fuzz_fail("room eventfd: %s", strerror(errno));
			}
			break;
		}
		if (u->wait_len > UART_INPUT_MAX)
			fuzz_fail("uart holds %u bytes of input, more than %d", u->wait_len,
				  UART_INPUT_MAX);
		uart_check(u, &irq);
	}
	power_destroy(power);
	vm_unregister_pio(&vm, &u->pio);
	uart_destroy(u);
	fuzz_vm_exit(&vm);
	fuzz_input_end();
	return 0;
}
