// SPDX-License-Identifier: MIT
#include "devices/uart.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

/* register offsets */
#define UART_RBR 0 /* in, DLAB=0 */
#define UART_THR 0 /* out, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* in */
#define UART_FCR 2 /* out */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02
#define UART_IER_RLSI 0x04
#define UART_IER_MSI 0x08
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_FIFO_ENABLED 0xc0
#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_LCR_DLAB 0x80
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_MSR_DCD 0x80
#define UART_MSR_DSR 0x20
#define UART_MSR_CTS 0x10

/* Recomputes IIR and drives the line; called with the lock held. */
static void uart_update_irq(struct uart *u)
{
	uint8_t iir = UART_IIR_NO_INT;
	bool level;

	if ((u->ier & UART_IER_RDI) && u->rx_count)
		iir = UART_IIR_RDI;
	else if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		iir = UART_IIR_THRI;
	u->iir = iir | ((u->fcr & UART_FCR_ENABLE_FIFO) ? UART_IIR_FIFO_ENABLED : 0);
	/* On a PC the 8250's interrupt only reaches the PIC when OUT2 is set. */
	level = !(iir & UART_IIR_NO_INT) && (u->mcr & UART_MCR_OUT2);
	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line_set(u->irq, level);
	}
}

static void uart_rx_push(struct uart *u, uint8_t c)
{
	if (u->rx_count == UART_FIFO_SIZE)
		return; /* overrun: drop, like the hardware */
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = c;
	u->rx_count++;
	u->lsr |= UART_LSR_DR;
}

/* Moves host input that waited into the FIFO; when all of it is in, the reader may go on. */
static void uart_input_refill(struct uart *u)
{
	uint64_t one = 1;
	unsigned n = 0;

	if (!u->wait_len)
		return;
	while (n < u->wait_len && u->rx_count < UART_FIFO_SIZE)
		uart_rx_push(u, u->wait[n++]);
	memmove(u->wait, u->wait + n, u->wait_len - n);
	u->wait_len -= n;
	if (!u->wait_len && write(u->room_fd, &one, sizeof(one)) < 0)
		pr_warn_ratelimited("uart: cannot signal room for input: %s", strerror(errno));
}

/* A write to THR, under the lock: true when the byte is to go to out_fd (uart_out). */
static bool uart_tx(struct uart *u, uint8_t c)
{
	bool out = false;

	if (u->mcr & UART_MCR_LOOP)
		uart_rx_push(u, c);
	else
		out = u->out_fd >= 0;
	/* transmission is instantaneous: THR is empty again at once */
	u->thr_ipending = true;
	u->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
	return out;
}

/*
 * The byte goes out after the lock is dropped: a stdout whose reader stalls blocks the vCPU
 * (back-pressure, as on a real line), but not the main thread's input into the FIFO. The one
 * signal a vCPU thread takes is ptvm's exit kick (vcpu_kick): a write it interrupts gives the
 * byte up, so that the vCPU can be joined.
 */
static void uart_out(struct uart *u, uint8_t c)
{
	if (write(u->out_fd, &c, 1) < 0 && errno == EINTR)
		pr_debug("uart: output byte dropped: the vCPU is stopping");
}

static void uart_read(struct bus_dev *dev, uint64_t off, void *data, unsigned len)
{
	struct uart *u = container_of(dev, struct uart, pio);
	uint8_t v = 0;

	pthread_mutex_lock(&u->lock);
	switch (off) {
	case UART_RBR:
		if (u->lcr & UART_LCR_DLAB) {
			v = u->dll;
		} else if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
			if (--u->rx_count == 0)
				u->lsr &= ~UART_LSR_DR;
		}
		break;
	case UART_IER:
		v = (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR:
		v = u->iir;
		/* reading IIR while it reports THRE acknowledges that interrupt */
		if ((v & 0x0f) == UART_IIR_THRI)
			u->thr_ipending = false;
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		v = u->lsr;
		break;
	case UART_MSR:
		if (u->mcr & UART_MCR_LOOP)
			/* loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			v = (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) |
				      ((u->mcr & 0x0c) << 4));
		else
			v = u->msr;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	uart_input_refill(u);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	memset(data, 0, len);
	*(uint8_t *)data = v;
}

static void uart_write(struct bus_dev *dev, uint64_t off, const void *data, unsigned len)
{
	struct uart *u = container_of(dev, struct uart, pio);
	uint8_t v = *(const uint8_t *)data;
	bool out = false;

	pthread_mutex_lock(&u->lock);
	switch (off) {
	case UART_THR:
		if (u->lcr & UART_LCR_DLAB)
			u->dll = v;
		else
			out = uart_tx(u, v);
		break;
	case UART_IER:
		if (u->lcr & UART_LCR_DLAB) {
			u->dlm = v;
		} else {
			/* enabling THRI with THR empty raises the interrupt at once */
			if (!(u->ier & UART_IER_THRI) && (v & UART_IER_THRI) &&
			    (u->lsr & UART_LSR_THRE))
				u->thr_ipending = true;
			u->ier = v & 0x0f;
		}
		break;
	case UART_FCR:
		if (v & UART_FCR_CLEAR_RCVR) {
			u->rx_count = 0;
			u->lsr &= ~UART_LSR_DR;
		}
		u->fcr = v & 0xc1;
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & 0x1f;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	default:
		break; /* LSR, MSR: read-only */
	}
	uart_input_refill(u);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (out)
		uart_out(u, v);
}

static const struct bus_dev_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

int uart_create(uint16_t port, int out_fd, struct irq_line *irq, struct uart **out)
{
	struct uart *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	u->pio = (struct bus_dev){ .base = port, .len = 8, .ops = &uart_ops, .name = "uart" };
	u->irq = irq;
	u->out_fd = out_fd;
	u->iir = UART_IIR_NO_INT;
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->msr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	u->dll = 12; /* 9600 baud */
	u->room_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->room_fd < 0) {
		int ret = -errno;

		pr_err("uart: cannot create an eventfd: %s", strerror(-ret));
		pthread_mutex_destroy(&u->lock);
		free(u);
		return ret;
	}
	*out = u;
	return 0;
}

void uart_destroy(struct uart *u)
{
	if (!u)
		return;
	close(u->room_fd);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	while (n < len && u->rx_count < UART_FIFO_SIZE)
		uart_rx_push(u, buf[n++]);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

bool uart_input(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	bool done;

	pthread_mutex_lock(&u->lock);
	/* behind what already waits, so the order holds */
	if (!u->wait_len)
		while (n < len && u->rx_count < UART_FIFO_SIZE)
			uart_rx_push(u, buf[n++]);
	len = MIN(len - n, (size_t)(UART_INPUT_MAX - u->wait_len));
	memcpy(u->wait + u->wait_len, buf + n, len);
	u->wait_len += (unsigned)len;
	done = !u->wait_len;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return done;
}

int uart_input_room_fd(struct uart *u)
{
	return u->room_fd;
}

bool uart_can_receive(struct uart *u)
{
	bool room;

	pthread_mutex_lock(&u->lock);
	room = u->rx_count < UART_FIFO_SIZE;
	pthread_mutex_unlock(&u->lock);
	return room;
}
