/* LD_PRELOAD shim: SG_IO on the file named by $SHIM_DEV goes to a devemu drive over $SHIM_SOCK. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <scsi/sg.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int (*real_ioctl)(int, unsigned long, ...);
static int sock = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int is_fake(int fd)
{
	char p[64], t[PATH_MAX];
	const char *d = getenv("SHIM_DEV");
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, t, sizeof t - 1);
	if (n < 0 || !d)
		return 0;
	t[n] = 0;
	return strcmp(t, d) == 0;
}

static int io(void *b, size_t n, int wr)
{
	char *c = b;
	while (n) {
		ssize_t r = wr ? write(sock, c, n) : read(sock, c, n);
		if (r <= 0)
			return -1;
		c += r;
		n -= r;
	}
	return 0;
}

static int sgio(sg_io_hdr_t *h)
{
	uint32_t head[3] = {h->cmd_len, (uint32_t)(int32_t)h->dxfer_direction, h->dxfer_len};
	uint32_t st, slen, dlen;
	unsigned char sense[256];
	if (sock < 0) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		strncpy(a.sun_path, getenv("SHIM_SOCK"), sizeof a.sun_path - 1);
		sock = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(sock, (struct sockaddr *)&a, sizeof a) < 0) {
			close(sock);
			sock = -1;
			errno = ENODEV;
			return -1;
		}
	}
	if (io(head, sizeof head, 1) || io(h->cmdp, h->cmd_len, 1))
		goto lost;
	if (h->dxfer_direction == SG_DXFER_TO_DEV && h->dxfer_len && io(h->dxferp, h->dxfer_len, 1))
		goto lost;
	if (io(&st, 4, 0) || io(&slen, 4, 0) || slen > sizeof sense || io(sense, slen, 0) || io(&dlen, 4, 0))
		goto lost;
	if (dlen > h->dxfer_len)
		goto lost;
	if (dlen && io(h->dxferp, dlen, 0))
		goto lost;
	h->status = st;
	h->masked_status = (st >> 1) & 0x7f;
	h->msg_status = 0;
	h->host_status = 0;
	h->sb_len_wr = slen < h->mx_sb_len ? slen : h->mx_sb_len;
	if (h->sb_len_wr)
		memcpy(h->sbp, sense, h->sb_len_wr);
	h->driver_status = slen ? 0x08 : 0;
	h->resid = h->dxfer_direction == SG_DXFER_FROM_DEV ? (int)(h->dxfer_len - dlen) : 0;
	h->info = st ? SG_INFO_CHECK : 0;
	h->duration = 1;
	return 0;
lost:
	close(sock);
	sock = -1;
	errno = ENODEV;
	return -1;
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!real_ioctl)
		real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	if (!is_fake(fd))
		return real_ioctl(fd, req, arg);
	switch (req) {
	case SG_GET_RESERVED_SIZE:
		*(int *)arg = 1 << 20;
		return 0;
	case SG_SET_RESERVED_SIZE:
		return 0;
	case SG_GET_VERSION_NUM:
		*(int *)arg = 30536;
		return 0;
	case SG_GET_SCSI_ID:
		memset(arg, 0, sizeof(struct sg_scsi_id));
		((struct sg_scsi_id *)arg)->scsi_type = 1;
		return 0;
	case SG_IO: {
		pthread_mutex_lock(&lock);
		int r = sgio(arg);
		pthread_mutex_unlock(&lock);
		return r;
	}
	default:
		errno = EINVAL;
		return -1;
	}
}
