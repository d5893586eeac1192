/*
 * hostile: the sandbox suite's attacker, compiled statically at test time
 * and run inside the sandbox. Each subcommand tries one thing and prints what
 * happened on one line; the suite judges the line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void *idle_thread(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

static int say(const char *what, long rc)
{
	printf("%s=%s\n", what, rc < 0 ? strerror(errno) : "ok");
	return 0;
}

static int tcp_connect(const char *ip, int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	int rc = connect(s, (struct sockaddr *)&a, sizeof a);
	close(s);
	return rc;
}

static int abstract_addr(struct sockaddr_un *u, const char *name)
{
	memset(u, 0, sizeof *u);
	u->sun_family = AF_UNIX;
	size_t n = strlen(name);
	memcpy(u->sun_path + 1, name, n);
	return (int)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *cmd = argc > 1 ? argv[1] : "";
	if (!strcmp(cmd, "threads")) {          /* thread bomb */
		int n = 0;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 65536);
		for (; n < 100000; n++) {
			pthread_t t;
			if (pthread_create(&t, &at, idle_thread, NULL))
				break;
		}
		printf("threads=%d\n", n);
		return 0;
	}
	if (!strcmp(cmd, "memory")) {           /* memory bomb: touch 1 GiB */
		size_t chunk = 16u << 20, total = 0;
		for (int i = 0; i < 64; i++) {
			char *p = malloc(chunk);
			if (!p)
				break;
			memset(p, 1, chunk);
			total += chunk;
		}
		printf("allocated=%zu\n", total);
		return 0;
	}
	if (!strcmp(cmd, "files")) {            /* inode exhaustion */
		long n = 0;
		char name[64];
		for (; n < 3000000; n++) {
			snprintf(name, sizeof name, "%s/f%ld", argc > 2 ? argv[2] : "/tmp", n);
			int fd = open(name, O_CREAT | O_WRONLY, 0644);
			if (fd < 0)
				break;
			close(fd);
		}
		printf("files=%ld %s\n", n, strerror(errno));
		return 0;
	}
	if (!strcmp(cmd, "killall")) {          /* kill(-1) reaches only the job */
		signal(SIGTERM, SIG_IGN);
		return say("kill", kill(-1, SIGKILL));
	}
	if (!strcmp(cmd, "ptrace")) {           /* attach to a pid (e.g. the host's) */
		pid_t pid = argc > 2 ? atoi(argv[2]) : 1;
		say("attach", ptrace(PTRACE_ATTACH, pid, 0, 0));
		pid_t c = fork();
		if (c == 0) {
			pause();
			_exit(0);
		}
		say("attach_child", ptrace(PTRACE_ATTACH, c, 0, 0));
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		return 0;
	}
	if (!strcmp(cmd, "ids")) {
		printf("uid=%d euid=%d gid=%d egid=%d\n", getuid(), geteuid(), getgid(), getegid());
		say("setuid0", setuid(0));
		return 0;
	}
	if (!strcmp(cmd, "syscalls")) {         /* the deny-list */
		say("unshare_user", unshare(CLONE_NEWUSER));
		say("unshare_net", unshare(CLONE_NEWNET));
		say("vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
		say("packet", socket(17 /* AF_PACKET */, SOCK_RAW, 0));
		say("io_uring", syscall(425, 8, calloc(1, 256)));
		say("bpf", syscall(SYS_bpf, 0, NULL, 0));
		say("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
		say("add_key", syscall(SYS_add_key, "user", "x", "y", 1, -3));
		say("perf", syscall(SYS_perf_event_open, calloc(1, 256), 0, -1, -1, 0));
		say("userfaultfd", syscall(SYS_userfaultfd, 0));
		say("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
		say("x32_getpid", syscall(0x40000000 | 39));
		say("clone_newns", syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
		say("clone3", syscall(435, calloc(1, 88), 88));
		long pid = fork();
		if (pid == 0)
			_exit(0);
		waitpid((pid_t)pid, NULL, 0);
		say("fork", pid);
		say("unix", socket(AF_UNIX, SOCK_STREAM, 0));
		say("inet6", socket(AF_INET6, SOCK_DGRAM, 0));
		return 0;
	}
	if (!strcmp(cmd, "gate")) {             /* guess the seccomp gate's key (clone3's sixth argument) */
		unsigned tries = 0, opened = 0;
		uint64_t keys[2004] = { 0, ~0ull, 1, 1ull << 63 };
		int r = open("/dev/urandom", O_RDONLY);
		if (r < 0 || read(r, keys + 4, sizeof keys - 4 * sizeof keys[0]) != (ssize_t)(sizeof keys - 4 * sizeof keys[0]))
			return say("urandom", -1);
		close(r);
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			uint64_t ca[11] = { 0 };
			ca[4] = SIGCHLD;                 /* exit_signal */
			long pid = syscall(435, ca, sizeof ca, 0, 0, 0, keys[i]);
			tries++;
			if (pid == 0)
				_exit(0);
			if (!(pid < 0 && errno == ENOSYS)) {
				opened++;
				if (pid > 0)
					waitpid((pid_t)pid, NULL, 0);
			}
		}
		printf("gate tries=%u opened=%u\n", tries, opened);
		return 0;
	}
	if (!strcmp(cmd, "int80")) {            /* the i386 ABI: killed outright */
		long r;
		__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
		printf("int80 survived %ld\n", r);
		return 0;
	}
	if (!strcmp(cmd, "connect")) {          /* connect IP PORT */
		return say("connect", tcp_connect(argv[2], atoi(argv[3])));
	}
	if (!strcmp(cmd, "serve")) {            /* hold channels open: NAME PORT SHMKEY SECONDS */
		struct sockaddr_un u;
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		int len = abstract_addr(&u, argv[2]);
		say("abstract_listen", bind(s, (struct sockaddr *)&u, (socklen_t)len) == 0 ? listen(s, 4) : -1);
		int t = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3])) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		say("tcp_listen", bind(t, (struct sockaddr *)&a, sizeof a) == 0 ? listen(t, 4) : -1);
		int id = shmget(atoi(argv[4]), 4096, IPC_CREAT | 0666);
		say("shm_create", id);
		sleep((unsigned)atoi(argv[5]));
		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
		return 0;
	}
	if (!strcmp(cmd, "reach")) {            /* try the channels of "serve": NAME PORT SHMKEY */
		struct sockaddr_un u;
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		int len = abstract_addr(&u, argv[2]);
		say("abstract_connect", connect(s, (struct sockaddr *)&u, (socklen_t)len));
		say("tcp_connect", tcp_connect("127.0.0.1", atoi(argv[3])));
		say("shm_get", shmget(atoi(argv[4]), 0, 0));
		return 0;
	}
	if (!strcmp(cmd, "daemon")) {           /* double fork + setsid, try to outlive the job */
		pid_t p = fork();
		if (p == 0) {
			setsid();
			if (fork() == 0) {
				signal(SIGHUP, SIG_IGN);
				for (int i = 0; i < 3; i++)
					close(i);
				sleep(1000);
				_exit(0);
			}
			_exit(0);
		}
		waitpid(p, NULL, 0);
		printf("daemonized\n");
		return 0;
	}
	fprintf(stderr, "hostile: unknown command %s\n", cmd);
	return 2;
}
