/*
 * pvkernel: the workload's sizes, in one place so they can be tuned.
 *
 * Both builds (native and pv) print the same counts and checksums for the
 * same values here; change them together with the expectations in
 * src/machine/pvkernel.test.ts.
 */
#ifndef PVKERNEL_CONFIG_H
#define PVKERNEL_CONFIG_H

/* Phase 1: system calls the user task makes (half getpid, half add). */
#define SYSCALLS 20000
/* Phase 2: user pages mapped and unmapped per round, and rounds. */
#define PT_PAGES 256
#define PT_ROUNDS 20
/* Phase 3: interrupt disable/enable pairs. */
#define IRQ_PAIRS 100000
/* Phase 4: timer interrupts taken while idling, and their period. */
#define TIMER_TICKS 20
#define TIMER_PERIOD_US 1000
/* Phase 5: user pages mapped on demand by the page-fault handler. */
#define FAULT_PAGES 512

/* The virt board's timebase (its device tree's /cpus/timebase-frequency;
 * QEMU and tsvisor both use 10 MHz). */
#define TIMEBASE_HZ 10000000UL
/* Give up on the timer phase (and fail) after this long: never hang. */
#define TIMER_DEADLINE_MS 5000

#endif
