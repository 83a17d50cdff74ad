/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART (8250 family) as on COM1: FIFOs, THRE and receive-data interrupts, the
 * divisor latch, loopback. Output goes to an fd; input arrives through uart_receive().
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
};

int uart_create(uint16_t port, int out_fd, struct irq_line *irq, struct uart **out);
void uart_destroy(struct uart *uart);
/* Queues bytes from the host side; returns how many fit in the receive FIFO. */
size_t uart_receive(struct uart *uart, const uint8_t *buf, size_t len);
/* True when the receive FIFO has room (the console reader waits otherwise). */
bool uart_can_receive(struct uart *uart);

#endif
