/* SPDX-License-Identifier: MIT */
/*
 * A small AML (ACPI Machine Language) builder: just what ptvm's DSDT needs.
 *
 * The builder writes straight into a caller-owned buffer and never allocates. Objects whose
 * encoding starts with a PkgLength (Scope, Device, Method, Package, Buffer) are built with a
 * begin/end pair: begin writes the opcode and returns a mark, the caller emits the contents,
 * end inserts the PkgLength (1-4 bytes, the smallest that fits) at the mark. Pairs must nest.
 *
 * Errors are sticky: the first one (-ENOSPC when the buffer is full, -EINVAL for a bad name
 * or argument, -E2BIG for a package too long to encode) is kept in a->err, every later call
 * is a no-op, and the caller checks aml_error() once at the end.
 */
#ifndef PTVM_AML_H
#define PTVM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t size; /* capacity of buf */
	size_t len;  /* bytes emitted so far */
	int err;     /* first error, 0 if none */
};

/* Little-endian store of the low @bytes bytes of @v (the ACPI tables use it too). */
static inline void aml_put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void aml_init(struct aml *a, uint8_t *buf, size_t size);
/* The first error met while building, or 0. */
int aml_error(const struct aml *a);

/*
 * Encodes a PkgLength whose value (the length of the package including the PkgLength bytes
 * themselves) is @value, in as few bytes as the value allows; returns 1-4, or 0 when the value
 * exceeds the 28 bits a PkgLength can hold.
 */
size_t aml_pkglength_encode(uint32_t value, uint8_t out[4]);

/* Raw bytes. */
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);

/* An Integer in its smallest encoding: Zero, One, Ones (all 64 bits set), Byte/Word/DWord/QWord. */
void aml_integer(struct aml *a, uint64_t v);
/* A NameString: "\\_SB.PCI0", "^FOO", "_S5_", "COM1"; segments shorter than 4 get '_' padding. */
void aml_name(struct aml *a, const char *name);
/* A String constant (ASCII, NUL terminated). */
void aml_string(struct aml *a, const char *s);
/* A compressed EISA ID ("PNP0A08") as the DWord the ASL EISAID() macro makes. */
void aml_eisaid(struct aml *a, const char *id);
/* ArgN (N 0-6) and LocalN (N 0-7) references. */
void aml_arg(struct aml *a, unsigned n);
void aml_local(struct aml *a, unsigned n);
/* Return (operand): the caller emits the operand next. */
void aml_return(struct aml *a);

/* Name (NAME, object): the caller emits the object next. */
void aml_name_decl(struct aml *a, const char *name);
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);
void aml_name_string(struct aml *a, const char *name, const char *s);

/* The PkgLength-prefixed objects. Each *_begin returns the mark its *_end takes. */
size_t aml_scope_begin(struct aml *a, const char *name);
size_t aml_device_begin(struct aml *a, const char *name);
size_t aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized);
/* Package with @nelems (at most 255) elements: the caller emits exactly that many objects. */
size_t aml_package_begin(struct aml *a, unsigned nelems);
/* Ends a Scope, Device, Method or Package. */
void aml_pkg_end(struct aml *a, size_t mark);
/* Buffer: BufferSize is computed from what was emitted between begin and end. */
size_t aml_buffer_begin(struct aml *a);
void aml_buffer_end(struct aml *a, size_t mark);
/* A whole Buffer from bytes. */
void aml_buffer(struct aml *a, const void *p, size_t n);

/*
 * ResourceTemplate (): a Buffer of resource descriptors; end appends the EndTag with the
 * checksum that makes the descriptors and the EndTag sum to zero.
 */
size_t aml_resource_template_begin(struct aml *a);
void aml_resource_template_end(struct aml *a, size_t mark);

/* Resource descriptors, inside a resource template. Address windows are fixed (MinFixed,
 * MaxFixed, PosDecode) and span [min, max]; min > max is -EINVAL. */
enum aml_mem_flags {
	AML_MEM_CACHEABLE = 1 << 0, /* else NonCacheable */
	AML_MEM_CONSUMER = 1 << 1,  /* ResourceConsumer, else ResourceProducer */
};
void aml_word_bus_number(struct aml *a, uint16_t min, uint16_t max);
void aml_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_dword_io(struct aml *a, uint32_t min, uint32_t max);
void aml_dword_memory(struct aml *a, unsigned flags, uint32_t min, uint32_t max);
void aml_qword_memory(struct aml *a, unsigned flags, uint64_t min, uint64_t max);
/* IO (Decode16, min, max, align, len) */
void aml_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags () {irq}: an ISA IRQ 0-15, edge triggered, active high. */
void aml_irq_noflags(struct aml *a, unsigned irq);
/* Interrupt (ResourceConsumer, ...) {gsi}: one extended interrupt. */
enum aml_irq_flags {
	AML_IRQ_EDGE = 1 << 1,	     /* else Level */
	AML_IRQ_ACTIVE_LOW = 1 << 2, /* else ActiveHigh */
	AML_IRQ_SHARED = 1 << 3,     /* else Exclusive */
};
void aml_interrupt(struct aml *a, unsigned flags, uint32_t gsi);

#endif
