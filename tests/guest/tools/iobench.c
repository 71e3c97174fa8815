/* SPDX-License-Identifier: MIT */
/*
 * iobench: a tiny O_DIRECT block load for the test guest, built
 * statically into the initramfs (busybox dd cannot do random reads without
 * a process per I/O).  scenarios/monitor.json drives its disk with it; the
 * benchmark uses fio (rootfs/usr/bin/fiobench).
 *
 *   iobench DEVICE read|write|randread|randwrite BLOCK_BYTES COUNT [QD [JOBS]]
 *
 * QD (default 1) requests in flight per job; JOBS (default 1) threads, each
 * with its own share of COUNT and, for sequential modes, its own slice of
 * the device.  QD 1 is plain pread/pwrite (the per-request cost); QD > 1
 * uses Linux native AIO (io_setup/io_submit/io_getevents as raw system
 * calls, so no libaio is needed), which on an O_DIRECT block device keeps
 * QD requests queued in the driver — what fio --ioengine=libaio --iodepth
 * does.
 *
 * Prints one line:
 *   iobench <mode> bs=<n> ops=<n> secs=<s> MBps=<x> IOPS=<y> qd=<n> jobs=<n>
 * Writes write a repeating pattern; the device's data is overwritten.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_QD 256
#define MAX_JOBS 64

struct job {
	int fd;
	int mode;            /* 0 read, 1 write, 2 randread, 3 randwrite */
	size_t bs;
	long count;          /* this job's share */
	uint64_t first, span; /* sequential: blocks [first, first + span) */
	uint64_t blocks;     /* random: the whole device */
	unsigned int qd;
	uint64_t x;          /* xorshift64 state */
	int err;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next_block(struct job *j, long i)
{
	if (j->mode >= 2) {
		j->x ^= j->x << 13; j->x ^= j->x >> 7; j->x ^= j->x << 17; /* xorshift64 */
		return j->x % j->blocks;
	}
	return j->first + (uint64_t)i % j->span;
}

static int run_sync(struct job *j, void *buf)
{
	int is_write = j->mode == 1 || j->mode == 3;

	for (long i = 0; i < j->count; i++) {
		off_t off = (off_t)(next_block(j, i) * j->bs);
		ssize_t n = is_write ? pwrite(j->fd, buf, j->bs, off) : pread(j->fd, buf, j->bs, off);

		if (n != (ssize_t)j->bs)
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static int run_aio(struct job *j, char *bufs)
{
	struct iocb cbs[MAX_QD], *ptrs[MAX_QD];
	bool busy[MAX_QD] = { false };
	struct io_event ev[MAX_QD];
	aio_context_t ctx = 0;
	long issued = 0, done = 0;
	unsigned int inflight = 0;
	int is_write = j->mode == 1 || j->mode == 3;
	int rc = 0;

	if (syscall(SYS_io_setup, j->qd, &ctx) < 0)
		return -errno;
	/* Slot k always uses buffer k; a completed slot is refilled. */
	for (unsigned int k = 0; k < j->qd; k++) {
		memset(&cbs[k], 0, sizeof(cbs[k]));
		cbs[k].aio_fildes = (uint32_t)j->fd;
		cbs[k].aio_lio_opcode = is_write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
		cbs[k].aio_buf = (uint64_t)(uintptr_t)(bufs + (size_t)k * j->bs);
		cbs[k].aio_nbytes = j->bs;
		cbs[k].aio_data = k;
	}
	while (done < j->count && rc == 0) {
		unsigned int n = 0;
		long got;

		/* Top up to qd: every free slot gets the next block. */
		for (unsigned int k = 0; k < j->qd && inflight + n < j->qd && issued + n < j->count; k++) {
			if (busy[k])
				continue;
			cbs[k].aio_offset = (int64_t)(next_block(j, issued + n) * j->bs);
			busy[k] = true;
			ptrs[n++] = &cbs[k];
		}
		if (n) {
			got = syscall(SYS_io_submit, ctx, (long)n, ptrs);
			if (got != (long)n) {
				rc = got < 0 ? -errno : -EIO;
				break;
			}
			inflight += n;
			issued += n;
		}
		got = syscall(SYS_io_getevents, ctx, 1L, (long)j->qd, ev, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		for (long e = 0; e < got; e++) {
			if (ev[e].res != (int64_t)j->bs)
				rc = ev[e].res < 0 ? (int)ev[e].res : -EIO;
			busy[ev[e].data % MAX_QD] = false;
		}
		inflight -= (unsigned int)got;
		done += got;
	}
	syscall(SYS_io_destroy, ctx);
	return rc;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	char *bufs;

	if (posix_memalign((void **)&bufs, 4096, j->bs * j->qd)) {
		j->err = -ENOMEM;
		return NULL;
	}
	memset(bufs, 0x5A, j->bs * j->qd);
	j->err = j->qd == 1 ? run_sync(j, bufs) : run_aio(j, bufs);
	free(bufs);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "read", "write", "randread", "randwrite" };
	static struct job jobs[MAX_JOBS];
	pthread_t tid[MAX_JOBS];
	uint64_t dev_bytes, blocks;
	unsigned long qd = 1, njobs = 1;
	size_t bs;
	long count;
	double t0, secs;
	int fd, mode = -1;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: iobench DEVICE read|write|randread|randwrite BLOCK_BYTES COUNT "
			"[QD [JOBS]]\n");
		return 2;
	}
	for (int m = 0; m < 4; m++)
		if (!strcmp(argv[2], modes[m]))
			mode = m;
	bs = strtoul(argv[3], NULL, 0);
	count = strtol(argv[4], NULL, 0);
	if (argc > 5)
		qd = strtoul(argv[5], NULL, 0);
	if (argc > 6)
		njobs = strtoul(argv[6], NULL, 0);
	if (mode < 0 || bs == 0 || bs % 512 || count <= 0 || qd < 1 || qd > MAX_QD ||
	    njobs < 1 || njobs > MAX_JOBS || (unsigned long)count < njobs) {
		fprintf(stderr, "iobench: bad arguments\n");
		return 2;
	}
	fd = open(argv[1], (mode == 1 || mode == 3 ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &dev_bytes) != 0) {
		perror(argv[1]);
		return 1;
	}
	blocks = dev_bytes / bs;
	if (blocks < njobs) {
		fprintf(stderr, "iobench: device too small\n");
		return 1;
	}
	for (unsigned long i = 0; i < njobs; i++) {
		jobs[i] = (struct job){
			.fd = fd, .mode = mode, .bs = bs, .qd = (unsigned int)qd, .blocks = blocks,
			.count = count / (long)njobs + ((unsigned long)count % njobs > i),
			.first = blocks / njobs * i, .span = blocks / njobs,
			.x = 88172645463325252ull + i * 0x9E3779B97F4A7C15ull,
		};
	}
	t0 = now();
	for (unsigned long i = 0; i < njobs; i++)
		if (pthread_create(&tid[i], NULL, job_main, &jobs[i])) {
			fprintf(stderr, "iobench: cannot start a job\n");
			return 1;
		}
	for (unsigned long i = 0; i < njobs; i++)
		pthread_join(tid[i], NULL);
	if (mode == 1 || mode == 3)
		fdatasync(fd);
	secs = now() - t0;
	for (unsigned long i = 0; i < njobs; i++)
		if (jobs[i].err) {
			fprintf(stderr, "iobench: I/O: %s\n", strerror(-jobs[i].err));
			return 1;
		}
	printf("iobench %s bs=%zu ops=%ld secs=%.3f MBps=%.1f IOPS=%.0f qd=%lu jobs=%lu\n", argv[2], bs,
	       count, secs, (double)bs * (double)count / secs / 1e6, (double)count / secs, qd, njobs);
	return 0;
}
