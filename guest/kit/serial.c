/* SPDX-License-Identifier: MIT */
/* COM1 as a polled 16550 and a small printf on top of it. */
#include "kit.h"

#define COM1 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_DLL 0
#define UART_DLM 1
#define LSR_THRE 0x20

void serial_init(void)
{
	outb(COM1 + UART_IER, 0);    /* polled: no interrupts */
	outb(COM1 + UART_LCR, 0x80); /* DLAB */
	outb(COM1 + UART_DLL, 1);    /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, 0x03); /* 8N1 */
	outb(COM1 + UART_FCR, 0x07); /* FIFO on, cleared */
	outb(COM1 + UART_MCR, 0x03); /* DTR RTS */
}

void serial_putc(char c)
{
	/* bounded: a missing UART (reads 0xff or never ready) must not hang the test */
	for (int i = 0; i < 100000; i++)
		if (inb(COM1 + UART_LSR) & LSR_THRE)
			break;
	outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		serial_putc(s[i]);
}

struct out {
	char *buf; /* NULL: straight to the serial port */
	size_t size;
	size_t len;
};

static void out_char(struct out *o, char c)
{
	if (!o->buf)
		serial_putc(c);
	else if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_num(struct out *o, unsigned long long v, unsigned int base, bool upper, bool neg,
		    int width, char pad, bool left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	/* zero padding goes after the sign */
	if (neg && pad == '0') {
		out_char(o, '-');
		n--;
		width--;
	}
	if (!left) /* left-justified padding is added by format() */
		for (int i = n; i < width; i++)
			out_char(o, pad);
	while (n)
		out_char(o, tmp[--n]);
}

static int format(struct out *o, const char *fmt, va_list ap)
{
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			out_char(o, *p);
			continue;
		}
		p++;
		bool left = false;
		char pad = ' ';
		int width = 0, lng = 0, prec = -1; /* precision: only %s uses it */

		for (;; p++) {
			if (*p == '-')
				left = true;
			else if (*p == '0')
				pad = '0';
			else
				break;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (*p++ - '0');
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			}
			while (*p >= '0' && *p <= '9')
				prec = prec * 10 + (*p++ - '0');
		}
		while (*p == 'l' || *p == 'z') {
			lng++;
			p++;
		}
		if (left)
			pad = ' ';
		size_t start = o->len;
		unsigned long long u;
		long long s;

		switch (*p) {
		case 'd':
		case 'i':
			s = lng ? va_arg(ap, long long) : va_arg(ap, int);
			out_num(o, s < 0 ? -(unsigned long long)s : (unsigned long long)s, 10,
				false, s < 0, width, pad, left);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
			out_num(o, u, *p == 'u' ? 10 : 16, *p == 'X', false, width, pad, left);
			break;
		case 'p':
			out_char(o, '0');
			out_char(o, 'x');
			out_num(o, (uintptr_t)va_arg(ap, void *), 16, false, false, width, pad,
				left);
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			size_t n;

			if (!str)
				str = "(null)";
			for (n = 0; str[n] && (prec < 0 || n < (size_t)prec); n++)
				;
			if (!left)
				for (size_t i = n; i < (size_t)width; i++)
					out_char(o, ' ');
			for (size_t i = 0; i < n; i++)
				out_char(o, str[i]);
			break;
		}
		case 'c':
			out_char(o, (char)va_arg(ap, int));
			break;
		case '%':
			out_char(o, '%');
			break;
		case '\0':
			return (int)o->len;
		default:
			out_char(o, '%');
			out_char(o, *p);
			break;
		}
		if (left)
			while (o->len - start < (size_t)width)
				out_char(o, ' ');
	}
	return (int)o->len;
}

int vprintf(const char *fmt, va_list ap)
{
	struct out o = {0};

	return format(&o, fmt, ap);
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {.buf = buf, .size = size};
	int n = format(&o, fmt, ap);

	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
