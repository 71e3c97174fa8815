/* SPDX-License-Identifier: MIT */
/*
 * iobench: a tiny O_DIRECT block benchmark for the test guest, built
 * statically into the initramfs (busybox dd cannot do random reads without
 * a process per I/O).  Queue depth 1, one thread: it measures per-request
 * cost, which is what differs between storvsc and virtio-blk here.
 *
 *   iobench DEVICE read|write|randread BLOCK_BYTES COUNT
 *
 * Prints one line:
 *   iobench <mode> bs=<n> ops=<n> secs=<s> MBps=<x> IOPS=<y>
 * Writes write a repeating pattern; the device's data is overwritten.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t dev_bytes, blocks, x = 88172645463325252ull;
	size_t bs;
	long count;
	void *buf;
	double t0, secs;
	int fd, mode;

	if (argc != 5) {
		fprintf(stderr, "usage: iobench DEVICE read|write|randread BLOCK_BYTES COUNT\n");
		return 2;
	}
	mode = !strcmp(argv[2], "read") ? 0 : !strcmp(argv[2], "write") ? 1 :
	       !strcmp(argv[2], "randread") ? 2 : -1;
	bs = strtoul(argv[3], NULL, 0);
	count = strtol(argv[4], NULL, 0);
	if (mode < 0 || bs == 0 || bs % 512 || count <= 0) {
		fprintf(stderr, "iobench: bad arguments\n");
		return 2;
	}
	fd = open(argv[1], (mode == 1 ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &dev_bytes) != 0) {
		perror(argv[1]);
		return 1;
	}
	blocks = dev_bytes / bs;
	if (blocks == 0 || posix_memalign(&buf, 4096, bs)) {
		fprintf(stderr, "iobench: device too small or no memory\n");
		return 1;
	}
	memset(buf, 0x5A, bs);
	t0 = now();
	for (long i = 0; i < count; i++) {
		uint64_t blk = (uint64_t)i % blocks;
		ssize_t n;

		if (mode == 2) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17; /* xorshift64 */
			blk = x % blocks;
		}
		n = mode == 1 ? pwrite(fd, buf, bs, (off_t)(blk * bs))
			      : pread(fd, buf, bs, (off_t)(blk * bs));
		if (n != (ssize_t)bs) {
			perror("iobench: I/O");
			return 1;
		}
	}
	if (mode == 1)
		fdatasync(fd);
	secs = now() - t0;
	printf("iobench %s bs=%zu ops=%ld secs=%.3f MBps=%.1f IOPS=%.0f\n", argv[2], bs, count, secs,
	       (double)bs * (double)count / secs / 1e6, (double)count / secs);
	return 0;
}
