/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART (8250 family) as on COM1: FIFOs, THRE and receive-data interrupts, the
 * divisor latch, loopback. Output goes to an fd; input arrives through uart_input() (the
 * console reader, with backpressure) or uart_receive().
 */
#ifndef PTVM_DEVICES_UART_H
#define PTVM_DEVICES_UART_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/irq.h"
#include "vmm/bus.h"

#define UART_FIFO_SIZE 64
/* The most uart_input takes at once: what may wait behind a full receive FIFO. */
#define UART_INPUT_MAX 64

struct uart {
	struct bus_dev pio;
	struct irq_line *irq;
	int out_fd; /* -1: output discarded */
	pthread_mutex_t lock;

	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	bool thr_ipending; /* THRE interrupt latched until IIR is read or THR written */
	bool irq_level;
	uint8_t rx[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;
	/* host input waiting for room in rx, and the eventfd that says it all went in */
	uint8_t wait[UART_INPUT_MAX];
	unsigned wait_len;
	int room_fd;
};

int uart_create(uint16_t port, int out_fd, struct irq_line *irq, struct uart **out);
void uart_destroy(struct uart *uart);
/* Queues bytes from the host side; returns how many fit in the receive FIFO. */
size_t uart_receive(struct uart *uart, const uint8_t *buf, size_t len);
/*
 * Host input with backpressure, for the console reader: takes all of buf (len at most
 * UART_INPUT_MAX); what the receive FIFO cannot hold yet waits in the UART and moves in as the
 * guest reads. Returns false while bytes wait: the reader then stops reading its source until
 * uart_input_room_fd() (an eventfd; read it to clear it) becomes readable. Never blocks, never
 * drops what it was given.
 */
bool uart_input(struct uart *uart, const uint8_t *buf, size_t len);
int uart_input_room_fd(struct uart *uart);
/* True when the receive FIFO has room (the console reader waits otherwise). */
bool uart_can_receive(struct uart *uart);

#endif
