/* SPDX-License-Identifier: MIT */
/* Unit tests for the scenario checks that run before anything starts
 * (scenario_check_file): each mistake is refused with the JSON path of the
 * problem, the guest kind decides which steps a file may hold, device names
 * resolve the way the host names devices (type, type2, ...), and files
 * without a mistake pass. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario/scenario.h"

/* Writes `json` to a temporary file and checks it; returns the result and
 * copies the message. */
static int check_json(const char *json, char *err, size_t errlen)
{
	char path[] = "/tmp/vmbusd-test-scenario.XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	int rc;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(json, f);
	fclose(f);
	err[0] = '\0';
	rc = scenario_check_file(path, err, errlen);
	unlink(path);
	return rc;
}

static void refused(const char *json, const char *want_prefix)
{
	char err[512];

	ck_assert_msg(check_json(json, err, sizeof(err)) != 0, "accepted: %s", json);
	ck_assert_msg(strncmp(err, want_prefix, strlen(want_prefix)) == 0,
		      "for %s\n  got:  %s\n  want: %s...", json, err, want_prefix);
}

static void accepted(const char *json)
{
	char err[512];

	ck_assert_msg(check_json(json, err, sizeof(err)) == 0, "refused %s: %s", json, err);
}

#define SYN "\"guest\":{\"kind\":\"synthetic\"},"

START_TEST(guest_kinds)
{
	refused("{\"guest\":{\"kind\":\"vm\"},\"steps\":[{\"step\":\"alive\"}]}", "guest.kind: ");
	refused("{" SYN "\"steps\":[{\"step\":\"bound\"},{\"step\":\"guest\",\"run\":\"true\"}]}",
		"steps[1].step: \"guest\" needs a real Linux guest");
	refused("{" SYN "\"steps\":[{\"step\":\"dmesg\",\"match\":\"x\"}]}",
		"steps[0].step: \"dmesg\" needs a real Linux guest");
	refused("{" SYN "\"steps\":[{\"step\":\"console\",\"match\":\"x\"}]}",
		"steps[0].step: \"console\" needs a real Linux guest");
	refused("{\"steps\":[{\"step\":\"hostile\",\"send\":\"message\",\"hex\":\"00\"}]}",
		"steps[0].step: \"hostile\" needs the synthetic guest");
	refused("{\"guest\":{\"kind\":\"synthetic\",\"cmdline\":\"x\"},\"steps\":[{\"step\":\"alive\"}]}",
		"guest.cmdline");
	refused("{\"guest\":{\"max_version\":\"4.0\"},\"steps\":[{\"step\":\"alive\"}]}",
		"guest.max_version");
	refused("{\"guest\":{\"kind\":\"synthetic\",\"max_version\":\"four\"},\"steps\":[{\"step\":\"alive\"}]}",
		"guest.max_version: ");
	accepted("{\"guest\":{\"kind\":\"synthetic\",\"max_version\":\"3.0\",\"vcpus\":1,\"memory_mib\":16},"
		 "\"steps\":[{\"step\":\"alive\"}]}");
	accepted("{\"guest\":{\"kind\":\"real\",\"vcpus\":1},\"steps\":[{\"step\":\"dmesg\",\"match\":\"a|b\"}]}");
}
END_TEST

START_TEST(step_values)
{
	refused("{" SYN "\"devices\":[{\"type\":\"kvp\"}],\"steps\":[{\"step\":\"channel\",\"device\":\"kvp\","
		"\"state\":\"half-open\"}]}", "steps[0].state: \"half-open\" is not");
	refused("{" SYN "\"devices\":[{\"type\":\"kvp\"}],\"steps\":[{\"step\":\"channel\",\"device\":\"kvp\","
		"\"channel\":-1,\"state\":\"open\"}]}", "steps[0].channel: ");
	refused("{" SYN "\"steps\":[{\"step\":\"rescind\"}]}", "steps[0].device: is required");
	refused("{" SYN "\"devices\":[{\"type\":\"kvp\"}],\"steps\":[{\"step\":\"driver\",\"device\":\"kvp\","
		"\"action\":\"remove\"}]}", "steps[0].action: \"remove\" is not unbind or bind");
	refused("{" SYN "\"steps\":[{\"step\":\"delay\",\"ms\":-5}]}", "steps[0].ms: ");
	refused("{" SYN "\"steps\":[{\"step\":\"alive\",\"within_s\":0}]}", "steps[0].within_s: ");
	refused("{\"steps\":[{\"step\":\"dmesg\",\"match\":\"((\"}]}",
		"steps[0].match: not a regular expression");
	refused("{\"steps\":[{\"step\":\"status\",\"key\":\"a\",\"op\":\"~\",\"value\":1}]}",
		"steps[0].op: \"~\" is not one of");
	refused("{\"steps\":[{\"step\":\"version\"}]}", "steps[0].expect: is required");
	refused("{\"steps\":[{\"step\":\"guest\",\"run\":3}]}", "steps[0].run: must be a shell command");
	refused("{\"devices\":[{\"type\":\"storvsp\",\"name\":\"scsi\"}],\"steps\":[{\"step\":\"hot_remove\","
		"\"device\":\"scsi\",\"lun\":64}]}", "steps[0].lun: ");
	refused("{\"devices\":[{\"type\":\"netvsp\",\"name\":\"n\",\"backend\":{\"kind\":\"null\"}}],"
		"\"steps\":[{\"step\":\"link\",\"device\":\"n\",\"up\":\"yes\"}]}", "steps[0].up: ");
	refused("{\"steps\":[{\"step\":\"alive\",\"expext\":1}]}", "steps[0].expext: unknown key");
}
END_TEST

START_TEST(hostile_values)
{
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"telegram\"}]}", "steps[0].send: ");
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"message\"}]}",
		"steps[0].hex: is required");
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"message\",\"hex\":\"abc\"}]}",
		"steps[0].hex: must be hex digit pairs");
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"hypercall\"}]}",
		"steps[0].control: is required");
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"hypercall\",\"control\":\"xyz\"}]}",
		"steps[0].control: must be the control word in hex");
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"packet\",\"hex\":\"00\"}]}",
		"steps[0].channel: is required");
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"ring_header\",\"channel\":\"kvp\"}]}",
		"steps[0].set: is required");
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"ring_header\",\"channel\":\"kvp\","
		"\"set\":[\"write_index = 1\"]}]}", "steps[0].set[0]: must be a non-empty string without blanks");
	refused("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"hypercall\",\"control\":\"5d\","
		"\"fast\":[1]}]}", "steps[0].fast: ");
	accepted("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"hypercall\",\"control\":\"1005d\","
		 "\"fast\":[153,0],\"expect_status\":\"INVALID_CONNECTION_ID\",\"counter\":\"hv.hc_unknown_conn\"}]}");
	accepted("{" SYN "\"steps\":[{\"step\":\"hostile\",\"send\":\"packet\",\"channel\":\"scsi\",\"frame\":true,"
		 "\"offset8\":9,\"hex\":\"0011\",\"serving\":false}]}");
}
END_TEST

/* The io step: a driver it knows, one command line, fragments, a status,
 * and no checked output for a background command. */
START_TEST(io_values)
{
	refused("{\"steps\":[{\"step\":\"io\",\"driver\":\"netvsc\"}]}",
		"steps[0].step: \"io\" needs the synthetic guest");
	refused("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"nvme\"}]}",
		"steps[0].driver: must be \"storvsc\" or \"netvsc\"");
	refused("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"storvsc\"}]}", "steps[0].run: ");
	refused("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"storvsc\",\"run\":\"tur\\ntur\"}]}",
		"steps[0].run: ");
	refused("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"netvsc\",\"expect\":[]}]}",
		"steps[0].expect: ");
	refused("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"netvsc\",\"absent\":[1]}]}",
		"steps[0].absent: ");
	refused("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"netvsc\",\"expect_rc\":-1}]}",
		"steps[0].expect_rc: ");
	refused("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"netvsc\",\"wait_ms\":0}]}",
		"steps[0].wait_ms: ");
	refused("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"netvsc\",\"background\":true,"
		"\"absent\":\"x\"}]}", "steps[0].background: ");
	accepted("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"netvsc\"}]}");
	accepted("{" SYN "\"steps\":[{\"step\":\"io\",\"driver\":\"storvsc\",\"run\":\"write 0 0 8 0xa5\","
		 "\"expect\":[\"a\",\"b\"],\"absent\":\"c\",\"expect_rc\":1,\"wait_ms\":300}]}");
}
END_TEST

/* Device names as the host gives them: "name", else the type, then type2... */
START_TEST(device_names)
{
	refused("{\"devices\":[{\"type\":\"kvp\"}],\"steps\":[{\"step\":\"rescind\",\"device\":\"heartbeat\"}]}",
		"steps[0].device: no device \"heartbeat\"");
	accepted("{\"steps\":[{\"step\":\"rescind\",\"device\":\"heartbeat\"}]}"); /* the default ICs */
	accepted("{\"devices\":[{\"type\":\"kvp\"},{\"type\":\"kvp\",\"instance\":"
		 "\"11111111-2222-3333-4444-555555555555\"}],"
		 "\"steps\":[{\"step\":\"rescind\",\"device\":\"kvp2\"}]}");
	refused("{\"devices\":[{\"type\":\"kvp\",\"name\":\"pool\"}],\"steps\":[{\"step\":\"rescind\","
		"\"device\":\"kvp\"}]}", "steps[0].device: no device \"kvp\"");
	refused("{\"devices\":[{\"type\":\"kvp\"}],\"steps\":[{\"step\":\"control\",\"device\":\"kvp3\","
		"\"action\":\"get\"}]}", "steps[0].device: ");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scenario_check");
	TCase *tc = tcase_create("scenario_check");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, guest_kinds);
	tcase_add_test(tc, step_values);
	tcase_add_test(tc, hostile_values);
	tcase_add_test(tc, io_values);
	tcase_add_test(tc, device_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
