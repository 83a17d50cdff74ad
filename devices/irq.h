/* SPDX-License-Identifier: MIT */
/* An interrupt line a device drives: level-triggered from the device's point of view. */
#ifndef PTVM_DEVICES_IRQ_H
#define PTVM_DEVICES_IRQ_H

#include <stdbool.h>

struct irq_line {
	void (*set_level)(struct irq_line *line, bool level);
};

static inline void irq_line_set(struct irq_line *line, bool level)
{
	if (line && line->set_level)
		line->set_level(line, level);
}

#endif
