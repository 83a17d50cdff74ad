/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --device "vfio=$EDU0" */
/*
 * edu_msi: edu's factorial-done interrupt reaches the guest through both paths ptvm sets up
 * without a userspace hop: first MSI (the guest's MSI capability writes become a KVM MSI
 * route fed by the eventfd VFIO signals), then, MSI off, INTx (an irqfd on the slot's GSI with
 * a resample eventfd that unmasks the host line). INTx runs twice, to show that the line is
 * unmasked again after the guest's EOI and the device's ack.
 */
#include "edu.h"

const char test_name[] = "edu_msi";

#define MSI_VECTOR 40
#define INTX_VECTOR KIT_LEVEL_VECTOR
#define WAIT_US 2000000ull

static void factorial_irq(const struct edu *e, unsigned int vector, const char *how, unsigned n)
{
	uint32_t seen = irq_count(vector), st;

	/* the level handler leaves the line masked after each delivery: open it */
	if (vector == INTX_VECTOR)
		ioapic_route_level(e->irq_line, INTX_VECTOR);
	edu_factorial_irq(e, n);
	if (!irq_wait(vector, seen, WAIT_US))
		test_fail(20,
			  "%s: no interrupt on vector %u within %llu ms (edu status 0x%x, irq "
			  "status 0x%x)",
			  how, vector, WAIT_US / 1000, edu_read(e, EDU_REG_STATUS),
			  edu_read(e, EDU_REG_IRQ_STATUS));
	st = edu_read(e, EDU_REG_IRQ_STATUS);
	if (!(st & EDU_IRQ_FACT))
		test_fail(21, "%s: interrupt arrived but edu's irq status is 0x%x", how, st);
	if (edu_read(e, EDU_REG_FACTORIAL) != 120 && n == 5)
		test_fail(22, "%s: 5! read as %u", how, edu_read(e, EDU_REG_FACTORIAL));
	edu_irq_ack(e);
	if (vector == INTX_VECTOR) {
		/* the level handler masked the line; with the device acked it may open again (a
		 * delivery latched while masked lands now, and is masked again) */
		ioapic_route_level(e->irq_line, INTX_VECTOR);
		irq_wait(vector, irq_count(vector), 20000);
	}
	printf("edu_msi: %s: factorial interrupt on vector %u (%u so far)\n", how, vector,
	       irq_count(vector));
}

int test_main(void)
{
	struct edu e;

	if (edu_find(0, &e))
		test_fail(10, "no edu device on the bus (run with --device vfio=<edu BDF>)");
	lapic_enable();

	if (edu_msi_enable(&e, MSI_VECTOR))
		test_fail(11, "cannot enable MSI");
	factorial_irq(&e, MSI_VECTOR, "MSI", 5);
	factorial_irq(&e, MSI_VECTOR, "MSI again", 5);
	edu_msi_disable(&e);

	if (!e.irq_pin)
		test_fail(12, "edu has no INTx pin");
	kit_level_ioregsel = 0x10 + 2 * e.irq_line;
	factorial_irq(&e, INTX_VECTOR, "INTx", 5);
	factorial_irq(&e, INTX_VECTOR, "INTx again", 5);
	ioapic_mask(e.irq_line);
	/* at most two deliveries per INTx event (one, plus one latched while masked): more
	 * would mean the line is not deasserted through the resample path */
	if (irq_count(INTX_VECTOR) > 4)
		test_fail(14, "INTx: %u deliveries for 2 events: the line storms",
			  irq_count(INTX_VECTOR));
	if (irq_count(MSI_VECTOR) < 2 || irq_count(INTX_VECTOR) < 2)
		test_fail(13, "interrupts: %u on MSI, %u on INTx", irq_count(MSI_VECTOR),
			  irq_count(INTX_VECTOR));
	return 0;
}
