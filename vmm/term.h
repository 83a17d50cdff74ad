/* SPDX-License-Identifier: MIT */
/* The host terminal behind --serial stdio: raw mode, restored on every exit path. */
#ifndef PTVM_TERM_H
#define PTVM_TERM_H

#include <stdbool.h>

/* Puts stdin in raw mode if it is a terminal; registers the restore with atexit and for
 * fatal signals. Returns 0 (also when stdin is no terminal). */
int term_raw_enable(void);
/* Restores the saved mode; safe to call more than once and from a signal handler. */
void term_restore(void);

#endif
