/* SPDX-License-Identifier: MIT */
/*
 * The plugin-protocol server against a raw client on a real Unix socket:
 * the valid protocol (malformed input is test_attach_hostile's).
 * Server and client share this process (and thread): the client pumps the
 * event loop while it waits, so every test is deterministic, and every fd
 * the server leaks would show up in /proc/self/fd.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attach/attach.h"
#include "core/log.h"
#include "core/util.h"
#include "vmbusd/proto/hv.h"

#include "attach_fixture.h"

/* One MSR request and its reply. */
static struct attach_msr_reply cl_msr(int fd, uint32_t type, uint32_t vcpu, uint32_t msr,
				      uint64_t value, uint32_t seq)
{
	struct attach_msr_req req = { vcpu, msr, value };
	struct attach_msr_reply rep;

	cl_send(fd, type, 0, seq, &req, sizeof(req), NULL, 0);
	cl_recv(fd, type, seq, &rep, sizeof(rep), NULL, NULL);
	return rep;
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(attach_replies_cpuid_and_maps_ram)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	uint64_t magic = 0x1122334455667788ull, *ram;
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 2, 2, 0, 2893437000ull },
				.regions = { { 0, RAM_SIZE, 0 }, { 0x100000000ull, 0x2000, 0x3000 } } };
	struct attach_clock_req creq = { .guest_tsc = 0x123456789ull, .host_ns = 987654321ull };
	struct attach_status_reply srep;
	int rams[2] = { make_ram(RAM_SIZE), make_ram(0x5000) };
	struct attach_hypercall_req hreq = { .vcpu = 0, .control = HC_PEEK };
	struct attach_hypercall_reply hrep;

	ck_assert(!attach_server_attached(srv));
	cl_send(c, ATTACH_MSG_ATTACH, 0, 42, &m, sizeof(m.req) + 2 * sizeof(m.regions[0]), rams, 2);
	n = 0;
	cl_recv(c, ATTACH_MSG_ATTACH, 42, &ok, sizeof(ok), fds, &n);
	ck_assert_int_eq(ok.rep.status, 0);
	ck_assert_uint_eq(ok.rep.version, ATTACH_PROTOCOL_VERSION);
	ck_assert_uint_eq(ok.rep.n_cpuid, 2);
	ck_assert_uint_eq(ok.rep.irq_area_size, 4096);
	ck_assert_uint_eq(ok.cpuid[0].function, HV_CPUID_VENDOR_AND_MAX);
	ck_assert_uint_eq(ok.cpuid[0].ebx, HV_CPUID_SIGNATURE_EBX);
	ck_assert_uint_eq(ok.cpuid[1].eax, 2);
	ck_assert_int_eq(n, 4);
	ck_assert(attach_server_attached(srv));
	ck_assert_uint_eq(attach_server_generation(srv), 1);
	ck_assert_uint_eq(be.attach_calls, 1);
	ck_assert_uint_eq(be.n_vcpus, 2);
	ck_assert_uint_eq(be.tsc_hz, 2893437000ull); /* v2: the guest TSC rate */
	/* CLOCK reaches the backend as it was sent. */
	cl_send(c, ATTACH_MSG_CLOCK, 0, 43, &creq, sizeof(creq), NULL, 0);
	cl_recv(c, ATTACH_MSG_CLOCK, 43, &srep, sizeof(srep), NULL, NULL);
	ck_assert_int_eq(srep.status, 0);
	ck_assert_uint_eq(be.clock_calls, 1);
	ck_assert_uint_eq(be.clock_tsc, 0x123456789ull);
	ck_assert_uint_eq(be.clock_ns, 987654321ull);

	/* The server sees the frontend's RAM: both regions, fd_offset honoured. */
	ram = mmap(NULL, 0x5000, PROT_READ | PROT_WRITE, MAP_SHARED, rams[1], 0);
	ck_assert_ptr_ne(ram, MAP_FAILED);
	ram[0x3008 / 8] = magic;
	hreq.input = 0x100000008ull;
	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 43, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 43, &hrep, sizeof(hrep), NULL, NULL);
	ck_assert_uint_eq(hrep.result, magic);
	ck_assert_uint_eq(hrep.flags, 0);
	munmap(ram, 0x5000);
	close_fds(rams, 2);
	close_fds(fds, n);
	close(c);
	pump_ms(5);
	ck_assert_uint_eq(be.detach_calls, 1);
}
END_TEST

/* RAM that can shrink would let the frontend kill the daemon with SIGBUS
 * (its next access past the new end): refused at ATTACH with -EPERM unless
 * sealed, or sealable (then the daemon seals it itself, so a truncate
 * fails afterwards). */
START_TEST(ram_that_can_shrink_is_refused)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	struct attach_ok ok;
	int fds[8], n, c, ram;

	/* A memfd created without MFD_ALLOW_SEALING can never be sealed. */
	ram = memfd_create("unsealable", MFD_CLOEXEC);
	ck_assert_int_eq(ftruncate(ram, RAM_SIZE), 0);
	c = cl_connect();
	cl_send(c, ATTACH_MSG_ATTACH, 0, 7, &m, sizeof(m.req) + sizeof(m.regions[0]), &ram, 1);
	n = 0;
	cl_recv(c, ATTACH_MSG_ATTACH, 7, &ok, sizeof(ok.rep), fds, &n);
	ck_assert_int_eq(ok.rep.status, -EPERM);
	ck_assert(!attach_server_attached(srv));
	cl_expect_eof(c);
	close(ram);

	/* Sealable: accepted, and sealed from then on. */
	ram = make_ram(RAM_SIZE);
	c = cl_connect();
	cl_send(c, ATTACH_MSG_ATTACH, 0, 8, &m, sizeof(m.req) + sizeof(m.regions[0]), &ram, 1);
	n = 0;
	cl_recv(c, ATTACH_MSG_ATTACH, 8, &ok, sizeof(ok), fds, &n);
	ck_assert_int_eq(ok.rep.status, 0);
	ck_assert_int_ne(fcntl(ram, F_GET_SEALS) & F_SEAL_SHRINK, 0);
	ck_assert_int_lt(ftruncate(ram, 4096), 0);
	ck_assert_int_eq(errno, EPERM);
	close_fds(fds, n);
	close(ram);
	close(c);
	pump_ms(5);
}
END_TEST

START_TEST(irq_area_and_eventfds_work)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_hypercall_req hreq = { .vcpu = 0, .control = HC_RAISE, .input = 1,
					     .output = HV_CALLBACK_VECTOR };
	struct attach_hypercall_reply hrep;
	struct attach_irq_slot *area;
	uint64_t v, pending;

	cl_attach(c, 2, fds, &n, &ok);
	area = mmap(NULL, ok.rep.irq_area_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	ck_assert_ptr_ne(area, MAP_FAILED);
	/* Sealed: a frontend cannot pull the pages from under the daemon. */
	ck_assert_int_eq(ftruncate(fds[0], 0), -1);
	ck_assert_int_eq(errno, EPERM);

	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 2, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 2, &hrep, sizeof(hrep), NULL, NULL);
	/* vCPU 1's doorbell rang, vCPU 0's did not. */
	ck_assert_int_eq(read(fds[2], &v, sizeof(v)), (ssize_t)sizeof(v));
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(read(fds[1], &v, sizeof(v)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* The bitmap is the source of truth: vector 0xF3 = word 3, bit 51. */
	pending = __atomic_exchange_n(&area[1].pending[3], 0, __ATOMIC_ACQUIRE);
	ck_assert_uint_eq(pending, 1ull << (HV_CALLBACK_VECTOR % 64));
	ck_assert_uint_eq(area[0].pending[3] | area[1].pending[0], 0);

	/* Coalesced kicks lose nothing: two vectors, one counter. */
	attach_raise_irq(srv, 0, 0x30);
	attach_raise_irq(srv, 0, 0x31);
	attach_raise_irq(srv, 7, 0x30); /* out of range: ignored */
	ck_assert_int_eq(read(fds[1], &v, sizeof(v)), (ssize_t)sizeof(v));
	ck_assert_uint_eq(v, 2);
	ck_assert_uint_eq(area[0].pending[0], 3ull << 48);

	/* A reset forgets pending vectors of the old guest. */
	cl_send(c, ATTACH_MSG_RESET, 0, 3, NULL, 0, NULL, 0);
	{
		struct attach_status_reply st;

		cl_recv(c, ATTACH_MSG_RESET, 3, &st, sizeof(st), NULL, NULL);
		ck_assert_int_eq(st.status, 0);
	}
	ck_assert_uint_eq(area[0].pending[0], 0);

	/* The idle watch: every vCPU's slot names the words and the mask; a
	 * kick of the doorbell (the last fd) reaches the backend. */
	attach_set_idle_watch(srv, 0x5008, 0xffffffffull);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(__atomic_load_n(&area[i].idle_gpa, __ATOMIC_ACQUIRE), 0x5008);
		ck_assert_uint_eq(area[i].idle_mask, 0xffffffffull);
	}
	v = 1;
	ck_assert_int_eq(write(fds[3], &v, sizeof(v)), (ssize_t)sizeof(v));
	ck_assert_int_eq(write(fds[3], &v, sizeof(v)), (ssize_t)sizeof(v));
	pump_ms(5);
	ck_assert_uint_eq(be.idle_calls, 1); /* two kicks, one wake-up */
	attach_set_idle_watch(srv, 0, 0);
	ck_assert_uint_eq(area[1].idle_gpa, 0);
	munmap(area, ok.rep.irq_area_size);
	close_fds(fds, n);
	close(c);
	pump_ms(5);
	/* Without a frontend, raising and watching are no-ops. */
	attach_raise_irq(srv, 0, 0x30);
	attach_set_idle_watch(srv, 0x5008, 1);
}
END_TEST

START_TEST(msr_requests)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_msr_reply r;

	cl_attach(c, 2, fds, &n, &ok);
	r = cl_msr(c, ATTACH_MSG_MSR_READ, 1, HV_MSR_VP_INDEX, 0, 10);
	ck_assert_uint_eq(r.result, ATTACH_MSR_OK);
	ck_assert_uint_eq(r.value, (1ull << 32) | HV_MSR_VP_INDEX);
	r = cl_msr(c, ATTACH_MSG_MSR_READ, 0, MSR_REFUSED, 0, 11);
	ck_assert_uint_eq(r.result, ATTACH_MSR_GP);
	r = cl_msr(c, ATTACH_MSG_MSR_WRITE, 0, HV_MSR_HYPERCALL, 0x5001, 12);
	ck_assert_uint_eq(r.result, ATTACH_MSR_OK);
	ck_assert_uint_eq(r.action, ATTACH_ACTION_HYPERCALL_PAGE);
	ck_assert_uint_eq(r.value, 0x5000);
	r = cl_msr(c, ATTACH_MSG_MSR_WRITE, 0, MSR_REFUSED, 1, 13);
	ck_assert_uint_eq(r.result, ATTACH_MSR_GP);
	ck_assert_uint_eq(r.action, ATTACH_ACTION_NONE);
	close_fds(fds, n);
	close(c);
}
END_TEST

START_TEST(signal_eventfd_fast_path_and_reset)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect(), sfd[4], ns = 0;
	struct attach_hypercall_req hreq = { .vcpu = 0, .control = HVCALL_SIGNAL_EVENT | HV_HC_FAST,
					     .input = 0x42 };
	struct attach_hypercall_reply hrep;
	struct attach_status_reply st;
	uint64_t one = 1;

	cl_attach(c, 1, fds, &n, &ok);
	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 5, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 5, &hrep, sizeof(hrep), sfd, &ns);
	ck_assert_uint_eq(hrep.result, HV_STATUS_SUCCESS);
	ck_assert_uint_eq(hrep.flags, ATTACH_HC_SIGNAL_FD);
	ck_assert_uint_eq(hrep.conn_id, 0x42);
	ck_assert_int_eq(ns, 1);

	/* Kicks become backend->signal(conn_id); coalesced kicks may merge. */
	ck_assert_int_eq(write(sfd[0], &one, sizeof(one)), (ssize_t)sizeof(one));
	pump_ms(5);
	ck_assert_uint_eq(be.signal_calls, 1);
	ck_assert_uint_eq(be.last_signal, 0x42);

	/* A slow HvSignalEvent gets no fd. */
	hreq.control = HVCALL_SIGNAL_EVENT;
	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 6, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 6, &hrep, sizeof(hrep), NULL, NULL);
	ck_assert_uint_eq(hrep.flags, 0);

	/* After RESET the old eventfd serves nothing. */
	cl_send(c, ATTACH_MSG_RESET, 0, 7, NULL, 0, NULL, 0);
	cl_recv(c, ATTACH_MSG_RESET, 7, &st, sizeof(st), NULL, NULL);
	ck_assert_int_eq(st.status, 0);
	ck_assert_uint_eq(be.reset_calls, 1);
	ck_assert_int_eq(write(sfd[0], &one, sizeof(one)), (ssize_t)sizeof(one));
	pump_ms(5);
	ck_assert_uint_eq(be.signal_calls, 1);

	/* ... and a new fast call hands out a new one. */
	hreq.control = HVCALL_SIGNAL_EVENT | HV_HC_FAST;
	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 8, &hreq, sizeof(hreq), NULL, 0);
	cl_recv(c, ATTACH_MSG_HYPERCALL, 8, &hrep, sizeof(hrep), sfd, &ns);
	ck_assert_int_eq(ns, 2);
	ck_assert_int_eq(write(sfd[1], &one, sizeof(one)), (ssize_t)sizeof(one));
	pump_ms(5);
	ck_assert_uint_eq(be.signal_calls, 2);
	close_fds(sfd, ns);
	close_fds(fds, n);
	close(c);
}
END_TEST

START_TEST(detach_then_next_client)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_status_reply st;

	cl_attach(c, 1, fds, &n, &ok);
	cl_send(c, ATTACH_MSG_DETACH, 0, 9, NULL, 0, NULL, 0);
	cl_recv(c, ATTACH_MSG_DETACH, 9, &st, sizeof(st), NULL, NULL);
	ck_assert_int_eq(st.status, 0);
	cl_expect_eof(c);
	ck_assert_uint_eq(be.detach_calls, 1);
	ck_assert(!attach_server_attached(srv));
	close_fds(fds, n);
	next_client_attaches();
	ck_assert_uint_eq(attach_server_generation(srv), 2);
}
END_TEST

START_TEST(second_client_gets_ebusy)
{
	struct attach_ok ok, busy;
	int fds[8], n, a = cl_connect(), b, ram = make_ram(RAM_SIZE);
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int baseline;

	cl_attach(a, 1, fds, &n, &ok);
	baseline = count_fds();
	b = cl_connect();
	cl_send(b, ATTACH_MSG_ATTACH, 0, 77, &m, sizeof(m.req) + sizeof(m.regions[0]), &ram, 1);
	cl_recv(b, ATTACH_MSG_ATTACH, 77, &busy.rep, sizeof(busy.rep), NULL, NULL);
	ck_assert_int_eq(busy.rep.status, -EBUSY);
	cl_expect_eof(b);
	ck_assert_int_eq(count_fds(), baseline);
	ck_assert_uint_eq(be.attach_calls, 1);
	/* The first frontend is unaffected. */
	ck_assert_uint_eq(cl_msr(a, ATTACH_MSG_MSR_READ, 0, HV_MSR_VP_INDEX, 0, 2).result,
			  ATTACH_MSR_OK);
	ck_assert(attach_server_attached(srv));
	/* A silent second client is dropped after a second. */
	b = cl_connect();
	pump_ms(1300);
	cl_expect_eof(b);
	close(ram);
	close_fds(fds, n);
	close(a);
}
END_TEST

START_TEST(client_vanishing_mid_message)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_hdr hdr = { ATTACH_MSG_MSR_WRITE, 0, sizeof(struct attach_msr_req), 3 };
	uint8_t buf[sizeof(hdr) + 4] = { 0 };

	cl_attach(c, 1, fds, &n, &ok);
	memcpy(buf, &hdr, sizeof(hdr));
	cl_send_raw(c, buf, sizeof(buf), NULL, 0);
	pump_ms(5);
	ck_assert(attach_server_attached(srv));
	close(c);
	close_fds(fds, n);
	pump_ms(5);
	ck_assert(!attach_server_attached(srv));
	ck_assert_uint_eq(be.detach_calls, 1);
	/* Half a header before ATTACH, then gone. */
	c = cl_connect();
	cl_send_raw(c, buf, 7, NULL, 0);
	pump_ms(2);
	close(c);
	pump_ms(5);
	next_client_attaches();
}
END_TEST

START_TEST(client_not_reading_replies_is_detached)
{
	struct attach_ok ok;
	int fds[8], n, c = cl_connect();
	struct attach_hdr hdr = { ATTACH_MSG_MSR_READ, 0, sizeof(struct attach_msr_req), 0 };
	uint8_t buf[sizeof(hdr) + sizeof(struct attach_msr_req)] = { 0 };
	int stalls = 0;

	cl_attach(c, 1, fds, &n, &ok);
	memcpy(buf, &hdr, sizeof(hdr));
	/* Send requests, never read a reply, until the server stops reading. */
	for (int i = 0; i < 1000000 && stalls < 50; i++) {
		if (send(c, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			stalls++;
			pump();
		} else {
			stalls = 0;
			if (i % 16 == 0)
				pump();
		}
	}
	ck_assert(attach_server_attached(srv));
	pump_ms(1500);
	ck_assert(!attach_server_attached(srv));
	ck_assert_uint_eq(be.detach_calls, 1);
	close_fds(fds, n);
	close(c);
}
END_TEST

START_TEST(stale_socket_replaced_and_non_socket_refused)
{
	struct attach_server *again;
	char file[160];
	FILE *f;

	/* A second server on the same path replaces the socket file. */
	again = attach_server_new(base, sock_path, &be_ops, NULL);
	ck_assert_ptr_nonnull(again);
	attach_server_free(again);
	/* A regular file at the path is not ours to delete. */
	snprintf(file, sizeof(file), "%s/regular", sock_dir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_ptr_null(attach_server_new(base, file, &be_ops, NULL));
	ck_assert_int_eq(access(file, F_OK), 0);
	unlink(file);
}
END_TEST

static Suite *attach_suite(void)
{
	Suite *s = suite_create("attach");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, attach_replies_cpuid_and_maps_ram);
	tcase_add_test(tc, irq_area_and_eventfds_work);
	tcase_add_test(tc, msr_requests);
	tcase_add_test(tc, signal_eventfd_fast_path_and_reset);
	tcase_add_test(tc, detach_then_next_client);
	tcase_add_test(tc, second_client_gets_ebusy);
	tcase_add_test(tc, client_vanishing_mid_message);
	tcase_add_test(tc, client_not_reading_replies_is_detached);
	tcase_add_test(tc, stale_socket_replaced_and_non_socket_refused);
	tcase_add_test(tc, ram_that_can_shrink_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(attach_suite());
	int failed;

	log_set_level(LOG_ERROR); /* misbehaving clients log by design */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
