// SPDX-License-Identifier: MIT
#include "term.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios term_saved;
static volatile sig_atomic_t term_is_raw;

void term_restore(void)
{
	if (term_is_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &term_saved);
		term_is_raw = 0;
	}
}

static void term_fatal_signal(int sig)
{
	term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

int term_raw_enable(void)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGQUIT};
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &term_saved) < 0)
		return 0;
	raw = term_saved;
	cfmakeraw(&raw);
	/* keep output processing so that ptvm's own log lines still start at column 0 */
	raw.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
		return 0;
	term_is_raw = 1;
	atexit(term_restore);
	for (unsigned i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = term_fatal_signal;
		sigaction(fatal[i], &sa, NULL);
	}
	return 0;
}
