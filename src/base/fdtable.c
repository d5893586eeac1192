#include "fdtable.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

unsigned fdtable_reserve(unsigned n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n)
		n = (unsigned)rl.rlim_cur;
	if (n < 2)
		return 0;
	/* Any descriptor will do (no /dev/null in a FROM scratch container):
	 * a copy at n-1 makes the kernel size the table for n. */
	int fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0)
		return 0;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)n - 1);
	close(fd);
	if (high < 0)
		return 0;
	close(high);
	return n;
}
