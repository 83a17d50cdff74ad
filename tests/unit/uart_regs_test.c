// SPDX-License-Identifier: MIT
/*
 * devices/uart.c, the 16550A on COM1, driven through its bus_dev ops as a vCPU would:
 * transmit to an fd, line status, the receive FIFO, IIR priorities and the THRE acknowledge
 * by IIR read, the interrupt line (IER and OUT2), the divisor latch, loopback.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/uart.h"
#include "vmm/vcpu.h"
#include "vmm/util.h"

enum {
	RBR = 0,
	THR = 0,
	DLL = 0,
	IER = 1,
	DLM = 1,
	IIR = 2,
	FCR = 2,
	LCR = 3,
	MCR = 4,
	LSR = 5,
	MSR = 6,
	SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct fake_irq {
	struct irq_line line;
	bool level;
	unsigned raises, lowers;
};

static void fake_set_level(struct irq_line *line, bool level)
{
	struct fake_irq *f = container_of(line, struct fake_irq, line);

	/* the UART drives the line on changes only */
	assert_true(level != f->level);
	f->level = level;
	if (level)
		f->raises++;
	else
		f->lowers++;
}

struct ctx {
	struct uart *u;
	struct fake_irq irq;
	int pipe[2]; /* [0] the host side that reads what the guest sent */
};

static struct ctx ctx;

static uint8_t rd(unsigned off)
{
	uint8_t v = 0xaa;

	ctx.u->pio.ops->read(&ctx.u->pio, off, &v, 1);
	return v;
}

static void wr(unsigned off, uint8_t v)
{
	ctx.u->pio.ops->write(&ctx.u->pio, off, &v, 1);
}

/* What the host side of the pipe got so far (non-blocking). */
static size_t drain(char *buf, size_t size)
{
	ssize_t n = read(ctx.pipe[0], buf, size - 1);

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		n = 0;
	}
	buf[n] = '\0';
	return (size_t)n;
}

static int setup(void **state)
{
	memset(&ctx, 0, sizeof(ctx));
	ctx.irq.line.set_level = fake_set_level;
	assert_int_equal(pipe2(ctx.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(uart_create(0x3f8, ctx.pipe[1], &ctx.irq.line, &ctx.u), 0);
	assert_int_equal(ctx.u->pio.base, 0x3f8);
	assert_int_equal(ctx.u->pio.len, 8);
	return 0;
}

static int teardown(void **state)
{
	uart_destroy(ctx.u);
	close(ctx.pipe[0]);
	close(ctx.pipe[1]);
	return 0;
}

static void test_thr_to_fd(void **state)
{
	char buf[64];

	assert_int_equal(rd(LSR), LSR_THRE | LSR_TEMT);
	for (const char *p = "hello\n"; *p; p++) {
		assert_true(rd(LSR) & LSR_THRE);
		wr(THR, (uint8_t)*p);
	}
	assert_int_equal(drain(buf, sizeof(buf)), 6);
	assert_string_equal(buf, "hello\n");
	/* transmission is instantaneous: empty again */
	assert_int_equal(rd(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	/* binary bytes pass unchanged */
	wr(THR, 0x00);
	wr(THR, 0xff);
	assert_int_equal(drain(buf, sizeof(buf)), 2);
	assert_int_equal((uint8_t)buf[0], 0x00);
	assert_int_equal((uint8_t)buf[1], 0xff);
	/* no interrupt without IER/OUT2 */
	assert_int_equal(ctx.irq.raises, 0);
}

static void test_output_discarded_without_fd(void **state)
{
	struct uart *u;
	uint8_t v = 'x';

	assert_int_equal(uart_create(0x2f8, -1, NULL, &u), 0);
	u->pio.ops->write(&u->pio, THR, &v, 1);
	v = 0;
	u->pio.ops->read(&u->pio, LSR, &v, 1);
	assert_int_equal(v & LSR_THRE, LSR_THRE);
	/* no irq line: interrupts go nowhere, without a crash */
	v = IER_THRI;
	u->pio.ops->write(&u->pio, IER, &v, 1);
	v = MCR_OUT2;
	u->pio.ops->write(&u->pio, MCR, &v, 1);
	uart_destroy(u);
	uart_destroy(NULL);
}

static void test_lsr_dr_and_wide_reads(void **state)
{
	uint32_t wide = 0xffffffff;

	assert_int_equal(rd(LSR) & LSR_DR, 0);
	/* reading an empty RBR is harmless */
	rd(RBR);
	assert_int_equal(rd(LSR) & LSR_DR, 0);
	assert_int_equal(uart_receive(ctx.u, (const uint8_t *)"a", 1), 1);
	assert_int_equal(rd(LSR) & LSR_DR, LSR_DR);
	/* a 4-byte read gets the register in the low byte, zeros above */
	ctx.u->pio.ops->read(&ctx.u->pio, LSR, &wide, 4);
	assert_int_equal(wide, LSR_DR | LSR_THRE | LSR_TEMT);
	assert_int_equal(rd(RBR), 'a');
	assert_int_equal(rd(LSR) & LSR_DR, 0);
	/* LSR and MSR are read-only */
	wr(LSR, 0);
	wr(MSR, 0);
	assert_int_equal(rd(LSR), LSR_THRE | LSR_TEMT);
	assert_int_equal(rd(MSR) & (MSR_DCD | MSR_DSR | MSR_CTS), MSR_DCD | MSR_DSR | MSR_CTS);
	/* scratch */
	wr(SCR, 0x5a);
	assert_int_equal(rd(SCR), 0x5a);
}

static void test_rx_fifo_order_and_overflow(void **state)
{
	uint8_t in[100];

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i + 1);
	assert_true(uart_can_receive(ctx.u));
	/* 64 fit, the rest is left with the caller */
	assert_int_equal(uart_receive(ctx.u, in, sizeof(in)), UART_FIFO_SIZE);
	assert_false(uart_can_receive(ctx.u));
	assert_int_equal(uart_receive(ctx.u, in, 1), 0);
	for (unsigned i = 0; i < UART_FIFO_SIZE; i++) {
		assert_true(rd(LSR) & LSR_DR);
		assert_int_equal(rd(RBR), i + 1);
	}
	assert_int_equal(rd(LSR) & LSR_DR, 0);
	assert_true(uart_can_receive(ctx.u));

	/* order holds across the ring's wrap-around */
	assert_int_equal(uart_receive(ctx.u, in, 40), 40);
	for (unsigned i = 0; i < 30; i++)
		assert_int_equal(rd(RBR), i + 1);
	assert_int_equal(uart_receive(ctx.u, in + 40, 60), 54);
	for (unsigned i = 30; i < 94; i++)
		assert_int_equal(rd(RBR), i + 1);
	assert_int_equal(rd(LSR) & LSR_DR, 0);

	/* FCR "clear receiver" empties it */
	assert_int_equal(uart_receive(ctx.u, in, 10), 10);
	wr(FCR, 0x03);
	assert_int_equal(rd(LSR) & LSR_DR, 0);
	assert_int_equal(uart_receive(ctx.u, in + 50, 1), 1);
	assert_int_equal(rd(RBR), 51);
}

static void test_iir_priorities_and_thre_ack(void **state)
{
	assert_int_equal(rd(IIR), IIR_NONE);
	/* enabling THRI with THR empty raises THRE at once */
	wr(IER, IER_RDI | IER_THRI);
	assert_int_equal(rd(IER), IER_RDI | IER_THRI);
	/* received data outranks THRE */
	assert_int_equal(uart_receive(ctx.u, (const uint8_t *)"xy", 2), 2);
	assert_int_equal(rd(IIR) & 0x0f, IIR_RDI);
	/* reading IIR while it shows RDI does not acknowledge the pending THRE */
	assert_int_equal(rd(IIR) & 0x0f, IIR_RDI);
	assert_int_equal(rd(RBR), 'x');
	assert_int_equal(rd(IIR) & 0x0f, IIR_RDI);
	assert_int_equal(rd(RBR), 'y');
	/* FIFO empty: THRE shows, and reading IIR acknowledges it */
	assert_int_equal(rd(IIR) & 0x0f, IIR_THRI);
	assert_int_equal(rd(IIR) & 0x0f, IIR_NONE);
	/* a transmitted byte raises it again; writing THR is the other acknowledge */
	wr(THR, '.');
	assert_int_equal(rd(IIR) & 0x0f, IIR_THRI);
	assert_int_equal(rd(IIR) & 0x0f, IIR_NONE);
	/* re-enabling THRI with THR empty raises it again (Linux's THRE test does this) */
	wr(IER, IER_RDI);
	assert_int_equal(rd(IIR) & 0x0f, IIR_NONE);
	wr(IER, IER_RDI | IER_THRI);
	assert_int_equal(rd(IIR) & 0x0f, IIR_THRI);
	/* FIFO-enabled bits in IIR follow FCR */
	wr(FCR, 0x01);
	assert_int_equal(rd(IIR) & 0xc0, 0xc0);
	wr(FCR, 0x00);
	assert_int_equal(rd(IIR) & 0xc0, 0x00);
	/* IER's upper bits are not implemented */
	wr(IER, 0xff);
	assert_int_equal(rd(IER), 0x0f);
}

static void test_irq_line_follows_ier_and_out2(void **state)
{
	/* pending THRE, but OUT2 clear: the line stays low */
	wr(IER, IER_THRI);
	assert_false(ctx.irq.level);
	assert_int_equal(ctx.irq.raises, 0);
	/* OUT2 gates it onto the PIC */
	wr(MCR, MCR_OUT2 | MCR_DTR | MCR_RTS);
	assert_true(ctx.irq.level);
	/* acknowledged by the IIR read: low */
	assert_int_equal(rd(IIR) & 0x0f, IIR_THRI);
	assert_false(ctx.irq.level);
	/* received data with RDI off: nothing */
	assert_int_equal(uart_receive(ctx.u, (const uint8_t *)"z", 1), 1);
	assert_false(ctx.irq.level);
	/* RDI on: high until the FIFO drains */
	wr(IER, IER_RDI);
	assert_true(ctx.irq.level);
	assert_int_equal(rd(RBR), 'z');
	assert_false(ctx.irq.level);
	/* pending data, then OUT2 dropped and raised again */
	assert_int_equal(uart_receive(ctx.u, (const uint8_t *)"w", 1), 1);
	assert_true(ctx.irq.level);
	wr(MCR, MCR_DTR | MCR_RTS);
	assert_false(ctx.irq.level);
	wr(MCR, MCR_OUT2);
	assert_true(ctx.irq.level);
	/* IER cleared: low with data still pending */
	wr(IER, 0);
	assert_false(ctx.irq.level);
	assert_int_equal(rd(IIR) & 0x0f, IIR_NONE);
	assert_int_equal(ctx.irq.raises, 4);
	assert_int_equal(ctx.irq.lowers, 4);
}

static void test_divisor_latch(void **state)
{
	char buf[8];

	wr(IER, IER_RDI);
	wr(LCR, 0x80 | 0x03);
	/* the default divisor (9600 baud) is readable */
	assert_int_equal(rd(DLL), 12);
	assert_int_equal(rd(DLM), 0);
	wr(DLL, 0x01);
	wr(DLM, 0x02);
	assert_int_equal(rd(DLL), 0x01);
	assert_int_equal(rd(DLM), 0x02);
	/* with DLAB set neither transmits nor touches IER */
	assert_int_equal(drain(buf, sizeof(buf)), 0);
	assert_int_equal(uart_receive(ctx.u, (const uint8_t *)"q", 1), 1);
	assert_int_equal(rd(RBR), 0x01); /* DLL, not the received byte */
	assert_int_equal(rd(LCR), 0x83);
	/* DLAB clear: offsets 0 and 1 are RBR/THR and IER again */
	wr(LCR, 0x03);
	assert_int_equal(rd(IER), IER_RDI);
	assert_int_equal(rd(RBR), 'q');
	wr(THR, '!');
	assert_int_equal(drain(buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], '!');
	/* the latch kept its value */
	wr(LCR, 0x83);
	assert_int_equal(rd(DLL), 0x01);
	assert_int_equal(rd(DLM), 0x02);
	wr(LCR, 0x03);
}

static void test_loopback(void **state)
{
	char buf[8];

	wr(MCR, MCR_LOOP);
	assert_int_equal(rd(MCR), MCR_LOOP);
	wr(THR, 'L');
	wr(THR, 'B');
	/* nothing leaves the UART; it comes back as received data, in order */
	assert_int_equal(drain(buf, sizeof(buf)), 0);
	assert_true(rd(LSR) & LSR_DR);
	assert_int_equal(rd(RBR), 'L');
	assert_int_equal(rd(RBR), 'B');
	assert_int_equal(rd(LSR) & LSR_DR, 0);

	/* the modem outputs come back on the modem status inputs:
	 * DTR -> DSR, RTS -> CTS, OUT1 -> RI, OUT2 -> DCD */
	wr(MCR, MCR_LOOP | MCR_DTR);
	assert_int_equal(rd(MSR) & 0xf0, MSR_DSR);
	wr(MCR, MCR_LOOP | MCR_RTS);
	assert_int_equal(rd(MSR) & 0xf0, MSR_CTS);
	wr(MCR, MCR_LOOP | MCR_OUT1);
	assert_int_equal(rd(MSR) & 0xf0, MSR_RI);
	wr(MCR, MCR_LOOP | MCR_OUT2);
	assert_int_equal(rd(MSR) & 0xf0, MSR_DCD);
	/* Linux's 8250 autoconfig loopback check: MCR = LOOP | 0x0a must read MSR 0x90 */
	wr(MCR, MCR_LOOP | 0x0a);
	assert_int_equal(rd(MSR) & 0xf0, 0x90);

	/* loop off: output goes to the fd again */
	wr(MCR, MCR_OUT2);
	assert_int_equal(rd(MSR) & 0xb0, MSR_DCD | MSR_DSR | MSR_CTS);
	wr(THR, 'o');
	assert_int_equal(drain(buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'o');
}

/* Whether the room eventfd was signalled (and clears it). */
static bool room_signalled(void)
{
	uint64_t v = 0;

	return read(uart_input_room_fd(ctx.u), &v, sizeof(v)) == sizeof(v) && v;
}

/*
 * Host input with backpressure: what the FIFO cannot take waits in the UART (the reader stops
 * reading its source), moves in as the guest reads, in order, and the room eventfd says when
 * the reader may go on. Nothing is dropped, and nobody sleeps.
 */
static void test_input_backpressure(void **state)
{
	uint8_t in[UART_INPUT_MAX];

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	assert_true(uart_input_room_fd(ctx.u) >= 0);
	/* 40 and then 24 fill the FIFO exactly: nothing waits */
	assert_true(uart_input(ctx.u, in, 40));
	assert_true(uart_input(ctx.u, in + 40, 24));
	assert_false(room_signalled());
	/* the FIFO is full: all of these wait, and the reader must stop */
	assert_false(uart_input(ctx.u, in, sizeof(in)));
	assert_false(room_signalled());
	/* the guest reads: what waited moves in behind; once all of it is in, room */
	for (unsigned i = 0; i < 64; i++) {
		assert_int_equal(rd(RBR), i);
		if (i < 63)
			assert_false(room_signalled());
	}
	assert_true(room_signalled());
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(rd(RBR), i);
	assert_int_equal(rd(LSR) & LSR_DR, 0);
	assert_false(room_signalled());
	assert_true(uart_input(ctx.u, in + 7, 1));
	assert_int_equal(rd(RBR), 7);
}

/* The guest clearing the receive FIFO also makes room for what waits. */
static void test_input_backpressure_fifo_clear(void **state)
{
	uint8_t in[UART_INPUT_MAX];

	memset(in, 'a', sizeof(in));
	assert_true(uart_input(ctx.u, in, sizeof(in)));
	memset(in, 'b', sizeof(in));
	assert_false(uart_input(ctx.u, in, 10));
	wr(FCR, 0x03);
	assert_true(room_signalled());
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(rd(RBR), 'b');
	assert_int_equal(rd(LSR) & LSR_DR, 0);
}

static void *thr_writer(void *arg)
{
	wr(THR, 'x');
	return NULL;
}

static void *input_writer(void *arg)
{
	uart_input(ctx.u, (const uint8_t *)"in", 2);
	return NULL;
}

static void kick_handler(int sig)
{
}

/* Whether thread t ends within ms milliseconds (joined if so). */
static bool joined_within(pthread_t t, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

/*
 * Output to a stdout whose reader stalls (a full blocking pipe): the vCPU writing THR waits,
 * but the main thread's input still goes into the FIFO (the vCPU does not hold the UART's lock
 * while it waits), and ptvm's exit kick (a signal without SA_RESTART, as vcpu.c installs it)
 * gets the vCPU out: the byte is given up. Before, the write was retried on EINTR under the
 * lock: the input blocked and the vCPU could never be joined.
 */
static void test_output_blocked_does_not_hold_lock_or_exit(void **state)
{
	struct sigaction sa = { .sa_handler = kick_handler }, old;
	static char fill[4096];
	pthread_t vcpu, input;
	bool input_done, vcpu_done = false;
	int p[2];

	uart_destroy(ctx.u);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) > 0);
	assert_int_equal(write(p[1], fill, sizeof(fill)), sizeof(fill)); /* full */
	assert_int_equal(uart_create(0x3f8, p[1], &ctx.irq.line, &ctx.u), 0);
	assert_int_equal(sigaction(VCPU_KICK_SIGNAL, &sa, &old), 0);

	assert_int_equal(pthread_create(&vcpu, NULL, thr_writer, NULL), 0);
	usleep(50000); /* let it block in write() */
	assert_int_equal(pthread_create(&input, NULL, input_writer, NULL), 0);
	input_done = joined_within(input, 2000);
	for (unsigned i = 0; i < 200 && !vcpu_done; i++) {
		pthread_kill(vcpu, VCPU_KICK_SIGNAL);
		vcpu_done = joined_within(vcpu, 10);
	}
	if (!input_done || !vcpu_done) {
		bool input_ok = input_done, vcpu_ok = vcpu_done;

		/* unblock whatever still waits before failing */
		while (!(input_done && vcpu_done) && read(p[0], fill, sizeof(fill)) > 0) {
			input_done = input_done || joined_within(input, 10);
			vcpu_done = vcpu_done || joined_within(vcpu, 10);
		}
		fail_msg("while the output was full: the input %s, the kicked vCPU %s",
			 input_ok ? "went in" : "blocked", vcpu_ok ? "got out" : "stayed stuck");
	}
	assert_int_equal(sigaction(VCPU_KICK_SIGNAL, &old, NULL), 0);
	/* the input is in the FIFO, THR is empty again */
	assert_true(rd(LSR) & LSR_DR);
	assert_int_equal(rd(RBR), 'i');
	assert_true(rd(LSR) & LSR_THRE);
	uart_destroy(ctx.u);
	close(p[0]);
	close(p[1]);
	/* teardown's */
	assert_int_equal(uart_create(0x3f8, ctx.pipe[1], &ctx.irq.line, &ctx.u), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_thr_to_fd),
		T(test_output_discarded_without_fd),
		T(test_lsr_dr_and_wide_reads),
		T(test_rx_fifo_order_and_overflow),
		T(test_iir_priorities_and_thre_ack),
		T(test_irq_line_follows_ier_and_out2),
		T(test_divisor_latch),
		T(test_loopback),
		T(test_input_backpressure),
		T(test_input_backpressure_fifo_clear),
		T(test_output_blocked_does_not_hold_lock_or_exit),
	};
#undef T

	return cmocka_run_group_tests_name("uart_regs", tests, NULL, NULL);
}
