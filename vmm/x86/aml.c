// SPDX-License-Identifier: MIT
/*
 * AML encoders (ACPI 6.x, chapter 20 "ACPI Machine Language Specification" and section 6.4
 * "Resource Data Types"). See aml.h for the begin/end and sticky-error conventions.
 */
#include <errno.h>
#include <string.h>

#include "aml.h"
#include "vmm/log.h"

#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR '\\'
#define AML_PARENT_PREFIX_CHAR '^'
#define AML_LOCAL0_OP 0x60
#define AML_ARG0_OP 0x68
#define AML_RETURN_OP 0xa4
#define AML_ONES_OP 0xff

/* Resource descriptor tags: small items carry their length in the tag byte. */
#define AML_RES_IRQ_NOFLAGS 0x22 /* IRQ, 2 bytes of mask */
#define AML_RES_IO 0x47
#define AML_RES_END_TAG 0x79
#define AML_RES_DWORD_ADDR 0x87
#define AML_RES_WORD_ADDR 0x88
#define AML_RES_EXT_IRQ 0x89
#define AML_RES_QWORD_ADDR 0x8a

/* Address space descriptors: resource type and general flags. */
#define AML_ADDR_MEMORY 0
#define AML_ADDR_IO 1
#define AML_ADDR_BUS 2
#define AML_ADDR_CONSUMER (1 << 0)
#define AML_ADDR_MIN_FIXED (1 << 2)
#define AML_ADDR_MAX_FIXED (1 << 3)
#define AML_IO_ENTIRE_RANGE 3
#define AML_MEM_READ_WRITE (1 << 0)
#define AML_MEM_TYPE_CACHEABLE (1 << 1)

#define AML_PKGLENGTH_MAX 0x0fffffffU

static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

void aml_init(struct aml *a, uint8_t *buf, size_t size)
{
	a->buf = buf;
	a->size = size;
	a->len = 0;
	a->err = 0;
}

int aml_error(const struct aml *a)
{
	return a->err;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->err || n == 0)
		return;
	if (n > a->size - a->len) {
		aml_fail(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

/* A mark from a *_begin must not lie beyond what was emitted (ends out of order). */
static bool aml_mark_ok(struct aml *a, size_t mark)
{
	if (a->err)
		return false;
	if (mark > a->len) {
		pr_err("AML: mark %zu beyond the %zu bytes emitted (unbalanced begin/end)", mark,
		       a->len);
		aml_fail(a, -EINVAL);
		return false;
	}
	return true;
}

/* Inserts @n bytes at @pos, moving what follows up: how PkgLengths go in front of bodies. */
static void aml_insert(struct aml *a, size_t pos, const uint8_t *p, size_t n)
{
	if (!aml_mark_ok(a, pos))
		return;
	if (n > a->size - a->len) {
		aml_fail(a, -ENOSPC);
		return;
	}
	memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
	memcpy(a->buf + pos, p, n);
	a->len += n;
}

size_t aml_pkglength_encode(uint32_t value, uint8_t out[4])
{
	size_t n;

	if (value <= 0x3f) {
		out[0] = (uint8_t)value;
		return 1;
	}
	if (value <= 0xfff)
		n = 2;
	else if (value <= 0xfffff)
		n = 3;
	else if (value <= AML_PKGLENGTH_MAX)
		n = 4;
	else
		return 0;
	/* Lead byte: count of following bytes in bits 7:6, the low nibble in bits 3:0. */
	out[0] = (uint8_t)(((n - 1) << 6) | (value & 0xf));
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return n;
}

/* Encodes the PkgLength for a body of @body bytes (what follows it); 0 if too long. */
static size_t aml_pkglength_for_body(size_t body, uint8_t out[4])
{
	/* The value counts its own bytes, so the size that fits may need one more byte. */
	for (size_t n = 1; n <= 4; n++) {
		if (body > AML_PKGLENGTH_MAX - n)
			return 0;
		if (aml_pkglength_encode((uint32_t)(body + n), out) == n)
			return n;
	}
	return 0;
}

static size_t aml_integer_encode(uint64_t v, uint8_t out[9])
{
	unsigned bytes;

	if (v == 0) {
		out[0] = AML_ZERO_OP;
		return 1;
	}
	if (v == 1) {
		out[0] = AML_ONE_OP;
		return 1;
	}
	if (v == UINT64_MAX) {
		/* Ones is all 64 bits only in tables of revision 2 and above; ptvm's DSDT is. */
		out[0] = AML_ONES_OP;
		return 1;
	}
	if (v <= 0xff) {
		out[0] = AML_BYTE_PREFIX;
		bytes = 1;
	} else if (v <= 0xffff) {
		out[0] = AML_WORD_PREFIX;
		bytes = 2;
	} else if (v <= 0xffffffff) {
		out[0] = AML_DWORD_PREFIX;
		bytes = 4;
	} else {
		out[0] = AML_QWORD_PREFIX;
		bytes = 8;
	}
	aml_put_le(out + 1, v, bytes);
	return 1 + bytes;
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t enc[9];

	aml_bytes(a, enc, aml_integer_encode(v, enc));
}

static bool aml_name_char_ok(char c, bool lead)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!lead && c >= '0' && c <= '9');
}

void aml_name(struct aml *a, const char *name)
{
	const char *p = name, *seg;
	uint8_t enc[2 + 255 * 4 + 255];
	size_t n = 0, nsegs = 0, segs_at;

	if (a->err)
		return;
	if (*p == AML_ROOT_CHAR)
		enc[n++] = *p++;
	else
		while (*p == AML_PARENT_PREFIX_CHAR && n < 255)
			enc[n++] = *p++;
	segs_at = n;
	/* Leave room for a Dual/MultiNamePrefix and the segment count; fixed up below. */
	n += 2;
	while (*p) {
		size_t l = 0;

		seg = p;
		while (seg[l] && seg[l] != '.')
			l++;
		if (l == 0 || l > 4 || nsegs == 255)
			goto bad_name;
		for (size_t i = 0; i < 4; i++) {
			if (i < l && !aml_name_char_ok(seg[i], i == 0))
				goto bad_name;
			enc[n++] = i < l ? (uint8_t)seg[i] : '_';
		}
		nsegs++;
		p = seg + l;
		if (*p == '.' && !*++p)
			goto bad_name; /* trailing dot */
	}
	if (nsegs == 0) {
		enc[segs_at] = 0; /* NullName */
		n = segs_at + 1;
	} else if (nsegs == 1) {
		memmove(enc + segs_at, enc + segs_at + 2, 4);
		n -= 2;
	} else if (nsegs == 2) {
		enc[segs_at] = AML_DUAL_NAME_PREFIX;
		memmove(enc + segs_at + 1, enc + segs_at + 2, 8);
		n -= 1;
	} else {
		enc[segs_at] = AML_MULTI_NAME_PREFIX;
		enc[segs_at + 1] = (uint8_t)nsegs;
	}
	aml_bytes(a, enc, n);
	return;

bad_name:
	pr_err("AML name \"%s\": not a NameString (segments of 1-4 chars A-Z 0-9 _, not digit-led)",
	       name);
	aml_fail(a, -EINVAL);
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			pr_err("AML string \"%s\": not ASCII", s);
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static int aml_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	if (strlen(id) != 7)
		goto bad_id;
	/* Three letters of 5 bits each ('A' = 1), then four hex digits, stored big-endian. */
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			goto bad_id;
		v = (v << 5) | (uint32_t)(id[i] - 0x40);
	}
	for (int i = 3; i < 7; i++) {
		int d = aml_hex_digit(id[i]);

		if (d < 0)
			goto bad_id;
		v = (v << 4) | (uint32_t)d;
	}
	aml_byte(a, AML_DWORD_PREFIX);
	aml_byte(a, (uint8_t)(v >> 24));
	aml_byte(a, (uint8_t)(v >> 16));
	aml_byte(a, (uint8_t)(v >> 8));
	aml_byte(a, (uint8_t)v);
	return;

bad_id:
	pr_err("AML EISAID \"%s\": not three capital letters and four hex digits", id);
	aml_fail(a, -EINVAL);
}

/* ArgN and LocalN are one opcode each, numbered from a base. */
static void aml_numbered_op(struct aml *a, uint8_t base, const char *what, unsigned n, unsigned max)
{
	if (n > max) {
		pr_err("AML %s%u: only %s0-%s%u exist", what, n, what, what, max);
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, (uint8_t)(base + n));
}

void aml_arg(struct aml *a, unsigned n)
{
	aml_numbered_op(a, AML_ARG0_OP, "Arg", n, 6);
}

void aml_local(struct aml *a, unsigned n)
{
	aml_numbered_op(a, AML_LOCAL0_OP, "Local", n, 7);
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN_OP);
}

void aml_name_decl(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_name(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name_decl(a, name);
	aml_integer(a, v);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name_decl(a, name);
	aml_eisaid(a, id);
}

void aml_name_string(struct aml *a, const char *name, const char *s)
{
	aml_name_decl(a, name);
	aml_string(a, s);
}

size_t aml_scope_begin(struct aml *a, const char *name)
{
	size_t mark;

	aml_byte(a, AML_SCOPE_OP);
	mark = a->len;
	aml_name(a, name);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *name)
{
	size_t mark;

	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	mark = a->len;
	aml_name(a, name);
	return mark;
}

size_t aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
	size_t mark;

	aml_byte(a, AML_METHOD_OP);
	mark = a->len;
	aml_name(a, name);
	if (nargs > 7) {
		pr_err("AML method %s: %u arguments, at most 7", name, nargs);
		aml_fail(a, -EINVAL);
	}
	/* MethodFlags: ArgCount in bits 2:0, SerializeFlag in bit 3, SyncLevel 0. */
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 1 << 3 : 0)));
	return mark;
}

size_t aml_package_begin(struct aml *a, unsigned nelems)
{
	size_t mark;

	aml_byte(a, AML_PACKAGE_OP);
	mark = a->len;
	if (nelems > 255) {
		pr_err("AML package of %u elements: a Package holds at most 255", nelems);
		aml_fail(a, -EINVAL);
	}
	aml_byte(a, (uint8_t)nelems);
	return mark;
}

/* Puts @prefix (n bytes) and the PkgLength covering it and the body at @mark. */
static void aml_pkg_end_prefixed(struct aml *a, size_t mark, const uint8_t *prefix, size_t n)
{
	uint8_t enc[4 + 9];
	size_t pl;

	if (!aml_mark_ok(a, mark))
		return;
	pl = aml_pkglength_for_body(a->len - mark + n, enc);
	if (!pl) {
		pr_err("AML package of %zu bytes: longer than a PkgLength can encode",
		       a->len - mark + n);
		aml_fail(a, -E2BIG);
		return;
	}
	if (n)
		memcpy(enc + pl, prefix, n);
	aml_insert(a, mark, enc, pl + n);
}

void aml_pkg_end(struct aml *a, size_t mark)
{
	aml_pkg_end_prefixed(a, mark, NULL, 0);
}

size_t aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	return a->len;
}

void aml_buffer_end(struct aml *a, size_t mark)
{
	uint8_t size[9];

	if (!aml_mark_ok(a, mark))
		return;
	aml_pkg_end_prefixed(a, mark, size, aml_integer_encode(a->len - mark, size));
}

void aml_buffer(struct aml *a, const void *p, size_t n)
{
	size_t mark = aml_buffer_begin(a);

	aml_bytes(a, p, n);
	aml_buffer_end(a, mark);
}

size_t aml_resource_template_begin(struct aml *a)
{
	return aml_buffer_begin(a);
}

void aml_resource_template_end(struct aml *a, size_t mark)
{
	uint8_t sum = AML_RES_END_TAG;

	if (!aml_mark_ok(a, mark))
		return;
	for (size_t i = mark; i < a->len; i++)
		sum += a->buf[i];
	aml_byte(a, AML_RES_END_TAG);
	aml_byte(a, (uint8_t)-sum);
	aml_buffer_end(a, mark);
}

/*
 * Word/DWord/QWord Address Space Descriptor: tag, length, type, general flags, type-specific
 * flags, then granularity, min, max, translation offset and length, each @width bytes.
 */
static void aml_address_space(struct aml *a, uint8_t tag, unsigned width, uint8_t type,
			      uint8_t gflags, uint8_t tflags, uint64_t min, uint64_t max)
{
	uint8_t d[3 + 3 + 5 * 8];
	size_t len = 3 + 5 * width;

	if (min > max) {
		pr_err("AML address space descriptor: min 0x%llx above max 0x%llx",
		       (unsigned long long)min, (unsigned long long)max);
		aml_fail(a, -EINVAL);
		return;
	}
	d[0] = tag;
	aml_put_le(d + 1, len, 2);
	d[3] = type;
	d[4] = gflags | AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED;
	d[5] = tflags;
	aml_put_le(d + 6, 0, width);			     /* granularity */
	aml_put_le(d + 6 + width, min, width);		     /* _MIN */
	aml_put_le(d + 6 + 2 * width, max, width);	     /* _MAX */
	aml_put_le(d + 6 + 3 * width, 0, width);	     /* _TRA */
	aml_put_le(d + 6 + 4 * width, max - min + 1, width); /* _LEN */
	aml_bytes(a, d, 3 + len);
}

void aml_word_bus_number(struct aml *a, uint16_t min, uint16_t max)
{
	aml_address_space(a, AML_RES_WORD_ADDR, 2, AML_ADDR_BUS, 0, 0, min, max);
}

void aml_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	aml_address_space(a, AML_RES_WORD_ADDR, 2, AML_ADDR_IO, 0, AML_IO_ENTIRE_RANGE, min, max);
}

void aml_dword_io(struct aml *a, uint32_t min, uint32_t max)
{
	aml_address_space(a, AML_RES_DWORD_ADDR, 4, AML_ADDR_IO, 0, AML_IO_ENTIRE_RANGE, min, max);
}

static uint8_t aml_mem_gflags(unsigned flags)
{
	return flags & AML_MEM_CONSUMER ? AML_ADDR_CONSUMER : 0;
}

static uint8_t aml_mem_tflags(unsigned flags)
{
	return AML_MEM_READ_WRITE | (flags & AML_MEM_CACHEABLE ? AML_MEM_TYPE_CACHEABLE : 0);
}

void aml_dword_memory(struct aml *a, unsigned flags, uint32_t min, uint32_t max)
{
	aml_address_space(a, AML_RES_DWORD_ADDR, 4, AML_ADDR_MEMORY, aml_mem_gflags(flags),
			  aml_mem_tflags(flags), min, max);
}

void aml_qword_memory(struct aml *a, unsigned flags, uint64_t min, uint64_t max)
{
	aml_address_space(a, AML_RES_QWORD_ADDR, 8, AML_ADDR_MEMORY, aml_mem_gflags(flags),
			  aml_mem_tflags(flags), min, max);
}

void aml_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	uint8_t d[8] = {AML_RES_IO, 1 /* Decode16 */};

	aml_put_le(d + 2, min, 2);
	aml_put_le(d + 4, max, 2);
	d[6] = align;
	d[7] = len;
	aml_bytes(a, d, sizeof(d));
}

void aml_irq_noflags(struct aml *a, unsigned irq)
{
	uint8_t d[3] = {AML_RES_IRQ_NOFLAGS};

	if (irq > 15) {
		pr_err("AML IRQNoFlags {%u}: ISA IRQs are 0-15", irq);
		aml_fail(a, -EINVAL);
		return;
	}
	aml_put_le(d + 1, 1u << irq, 2);
	aml_bytes(a, d, sizeof(d));
}

void aml_interrupt(struct aml *a, unsigned flags, uint32_t gsi)
{
	uint8_t d[9] = {AML_RES_EXT_IRQ, 6, 0};

	/* Bit 0: ResourceConsumer, the only kind a device's _CRS lists. */
	d[3] = (uint8_t)(1 | (flags & (AML_IRQ_EDGE | AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED)));
	d[4] = 1; /* one interrupt in the table */
	aml_put_le(d + 5, gsi, 4);
	aml_bytes(a, d, sizeof(d));
}
