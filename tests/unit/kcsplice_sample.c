/*
 * unit-kcsplice_sample: a mirror's own settings and the mirrors' sampling
 * (tools/kcsplice/conf.h, sample.h, reload.h).
 *   --mirror ADDR,sample=PERCENT,pace=none|turns: each setting parsed
 *   strictly (unknown key, bad or out-of-range percent, duplicate, empty
 *   setting, missing value: a clear error naming it); the defaults from
 *   --mirror-sample and --mirror-pace whatever their place on the line,
 *   and from the file under the command line; pace=turns refused for udp;
 *   --sample-by; percentages to hundredths.  Sampling: 0 and 100 draw
 *   nothing; at random a worker's stream takes about its share and two
 *   workers' streams differ; by client one address is always in or always
 *   out, whatever its port, and about the share of many addresses are in;
 *   UNIX clients fall back to random.  A reload sees a mirror whose
 *   settings changed (given, or through a changed default) as changed,
 *   and says how.
 */
#include "kctest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "reload.h"
#include "sample.h"

#define MAXARGS	32

static char errbuf[512];

static int
vparse(struct ks_conf *c, const char *file, va_list ap)
{
	char *argv[MAXARGS + 1];
	const char *a;
	int argc = 0;

	argv[argc++] = (char *)"kcsplice";
	while ((a = va_arg(ap, const char *)) != NULL) {
		KC_CHECK(argc < MAXARGS);
		argv[argc++] = (char *)a;
	}
	argv[argc] = NULL;
	if (file != NULL)
		return ks_conf_file(c, argc, argv, "t.conf", file,
		    strlen(file), errbuf, sizeof(errbuf));
	return ks_conf_parse(c, argc, argv, errbuf, sizeof(errbuf));
}

static void ok(struct ks_conf *c, const char *file, ...)
    __attribute__((sentinel));
static void bad(const char *want, const char *file, ...)
    __attribute__((sentinel));

static void
ok(struct ks_conf *c, const char *file, ...)
{
	va_list ap;
	int r;

	va_start(ap, file);
	r = vparse(c, file, ap);
	va_end(ap);
	if (r != 0)
		kct_fail(__FILE__, __LINE__, "parse failed: %s", errbuf);
}

static void
bad(const char *want, const char *file, ...)
{
	struct ks_conf c;
	va_list ap;
	int r;

	va_start(ap, file);
	r = vparse(&c, file, ap);
	va_end(ap);
	if (r != 64)
		kct_fail(__FILE__, __LINE__, "parse gave %d, not 64 (want "
		    "\"%s\")", r, want);
	if (strstr(errbuf, want) == NULL || strchr(errbuf, '\n') != NULL)
		kct_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"",
		    errbuf, want);
}

#define OPS	"tcp:127.0.0.1:7000", "tcp:127.0.0.1:6379"

static void
test_percent(void)
{
	static const struct {
		const char	*s;
		uint32_t	 v;
	} good[] = {
		{ "0", 0 }, { "100", 10000 }, { "50", 5000 }, { "12.5", 1250 },
		{ "0.01", 1 }, { "0.01%", 1 }, { "99.99", 9999 },
		{ "100.00", 10000 }, { "007", 700 }, { "3%", 300 },
	};
	static const char *const nope[] = {
		"", "-1", "100.01", "101", "1.234", "1.", ".5", "5%%", "5 ",
		" 5", "abc", "1e2", "99999999999999999999", "50%x", "+5",
	};
	uint32_t v;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (ks_percent_parse(&v, good[i].s) != 0 || v != good[i].v)
			kct_fail(__FILE__, __LINE__, "\"%s\" gave %u, not %u",
			    good[i].s, v, good[i].v);
	}
	for (i = 0; i < sizeof(nope) / sizeof(nope[0]); i++) {
		v = 12345;
		if (ks_percent_parse(&v, nope[i]) == 0 || v != 12345)
			kct_fail(__FILE__, __LINE__, "\"%s\" parsed", nope[i]);
	}
	KC_CHECK(ks_percent_parse(NULL, "5") != 0);
	KC_CHECK(ks_percent_parse(&v, NULL) != 0);
}

static void
test_settings(void)
{
	struct ks_conf c;

	/* None given: everything, unpaced. */
	ok(&c, NULL, "-m", "tcp:127.0.0.1:6380", OPS, NULL);
	KC_CHECK_EQ(c.nmirrors, 1);
	KC_CHECK_EQ(c.mirror_set[0].sample, KS_SAMPLE_ALL);
	KC_CHECK(!c.mirror_set[0].pace_turns);
	KC_CHECK(!c.sample_by_client);
	KC_CHECK(strcmp(c.mirrors[0].text, "tcp:127.0.0.1:6380") == 0);

	/* Given: the address's text stays the address. */
	ok(&c, NULL, "-m", "tcp:127.0.0.1:6380,sample=10,pace=turns",
	    "--mirror=tcp:127.0.0.1:6381,pace=none", "--mirror",
	    "unix:/run/m.sock,sample=0.5", OPS, NULL);
	KC_CHECK_EQ(c.nmirrors, 3);
	KC_CHECK(strcmp(c.mirrors[0].text, "tcp:127.0.0.1:6380") == 0);
	KC_CHECK(strcmp(c.mirrors[2].text, "unix:/run/m.sock") == 0);
	KC_CHECK_EQ(c.mirror_set[0].sample, 1000);
	KC_CHECK(c.mirror_set[0].pace_turns);
	KC_CHECK_EQ(c.mirror_set[1].sample, KS_SAMPLE_ALL);
	KC_CHECK(!c.mirror_set[1].pace_turns);
	KC_CHECK_EQ(c.mirror_set[2].sample, 50);
	KC_CHECK(!c.mirror_set[2].pace_turns);

	/* The defaults, given after the mirrors, still apply to them; a
	 * mirror's own settings win. */
	ok(&c, NULL, "-m", "tcp:127.0.0.1:6380", "-m",
	    "tcp:127.0.0.1:6381,sample=100,pace=none", "--mirror-sample",
	    "25", "--mirror-pace", "turns", "--sample-by", "client", OPS,
	    NULL);
	KC_CHECK_EQ(c.mirror_sample, 2500);
	KC_CHECK(c.mirror_pace);
	KC_CHECK(c.sample_by_client);
	KC_CHECK_EQ(c.mirror_set[0].sample, 2500);
	KC_CHECK(c.mirror_set[0].pace_turns);
	KC_CHECK_EQ(c.mirror_set[1].sample, KS_SAMPLE_ALL);
	KC_CHECK(!c.mirror_set[1].pace_turns);
	ok(&c, NULL, "--sample-by", "client", "--sample-by=random", OPS,
	    NULL);
	KC_CHECK(!c.sample_by_client);

	/* The file's, with the command line's default on top. */
	ok(&c, "listen tcp:127.0.0.1:7000\nupstream tcp:127.0.0.1:6379\n"
	    "mirror tcp:127.0.0.1:6380,pace=turns\nmirror-sample 10\n"
	    "mirror = tcp:127.0.0.1:6381,sample=90\nsample-by client\n",
	    "--mirror-sample", "30", "-f", "t.conf", NULL);
	KC_CHECK_EQ(c.nmirrors, 2);
	KC_CHECK_EQ(c.mirror_set[0].sample, 3000);
	KC_CHECK(c.mirror_set[0].pace_turns);
	KC_CHECK_EQ(c.mirror_set[1].sample, 9000);
	KC_CHECK(c.sample_by_client);
	/* The command line's mirrors replace the file's, settings too. */
	ok(&c, "listen tcp:127.0.0.1:7000\nupstream tcp:127.0.0.1:6379\n"
	    "mirror tcp:127.0.0.1:6380,pace=turns,sample=1\n",
	    "-m", "tcp:127.0.0.1:6390", "-f", "t.conf", NULL);
	KC_CHECK_EQ(c.nmirrors, 1);
	KC_CHECK_EQ(c.mirror_set[0].sample, KS_SAMPLE_ALL);
	KC_CHECK(!c.mirror_set[0].pace_turns);
	KC_CHECK(!c.mirror_set[0].sample_given);

	/* UDP may sample, not pace. */
	ok(&c, NULL, "-m", "udp:127.0.0.1:53,sample=5", "udp:127.0.0.1:7000",
	    "udp:127.0.0.1:5353", NULL);
	KC_CHECK_EQ(c.mirror_set[0].sample, 500);
}

static void
test_bad(void)
{
	bad("unknown setting 'speed'", NULL, "-m",
	    "tcp:127.0.0.1:6380,speed=2", OPS, NULL);
	bad("sample given twice", NULL, "-m",
	    "tcp:127.0.0.1:6380,sample=1,sample=2", OPS, NULL);
	bad("pace given twice", NULL, "-m",
	    "tcp:127.0.0.1:6380,pace=turns,pace=none", OPS, NULL);
	bad("sample '101' is not a percentage", NULL, "-m",
	    "tcp:127.0.0.1:6380,sample=101", OPS, NULL);
	bad("sample '1.234' is not a percentage", NULL, "-m",
	    "tcp:127.0.0.1:6380,sample=1.234", OPS, NULL);
	bad("sample '-5' is not a percentage", NULL, "-m",
	    "tcp:127.0.0.1:6380,sample=-5", OPS, NULL);
	bad("pace 'always' is not none or turns", NULL, "-m",
	    "tcp:127.0.0.1:6380,pace=always", OPS, NULL);
	bad("bad setting ''", NULL, "-m", "tcp:127.0.0.1:6380,", OPS, NULL);
	bad("bad setting 'sample'", NULL, "-m", "tcp:127.0.0.1:6380,sample",
	    OPS, NULL);
	bad("bad setting 'sample='", NULL, "-m",
	    "tcp:127.0.0.1:6380,sample=", OPS, NULL);
	bad("bad setting '=5'", NULL, "-m", "tcp:127.0.0.1:6380,=5", OPS,
	    NULL);
	bad("bad setting ''", NULL, "-m", "tcp:127.0.0.1:6380,,pace=turns",
	    OPS, NULL);
	bad("bad address", NULL, "-m", "tcp:127.0.0.1,sample=5", OPS, NULL);
	bad("bad address", NULL, "-m", ",sample=5", OPS, NULL);
	bad("port 0 is allowed only for LISTEN", NULL, "-m",
	    "tcp:127.0.0.1:0,sample=5", OPS, NULL);
	bad("--mirror-sample: '100.5' is not a percentage", NULL,
	    "--mirror-sample", "100.5", OPS, NULL);
	bad("--mirror-pace: 'turn' is not none or turns", NULL,
	    "--mirror-pace", "turn", OPS, NULL);
	bad("--sample-by: 'clients' is not random or client", NULL,
	    "--sample-by", "clients", OPS, NULL);
	bad("pace=turns is for tcp and unix mirrors", NULL, "-m",
	    "udp:127.0.0.1:53,pace=turns", "udp:127.0.0.1:7000",
	    "udp:127.0.0.1:5353", NULL);
	bad("pace=turns is for tcp and unix mirrors", NULL, "-m",
	    "udp:127.0.0.1:53", "--mirror-pace", "turns",
	    "udp:127.0.0.1:7000", "udp:127.0.0.1:5353", NULL);
	bad("t.conf:3: --mirror 'tcp:127.0.0.1:6380,nope=1': unknown "
	    "setting 'nope'", "listen tcp:127.0.0.1:7000\n"
	    "upstream tcp:127.0.0.1:6379\nmirror tcp:127.0.0.1:6380,nope=1\n",
	    "-f", "t.conf", NULL);
	/* A long bad key is quoted, cut, on one line. */
	bad("unknown setting 'xxxxxxxx", NULL, "-m", "tcp:127.0.0.1:6380,"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "=1", OPS, NULL);
}

static void
v4(struct kc_sockaddr *a, const char *ip, unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->a.in.sin_family = AF_INET;
	a->a.in.sin_port = htons((uint16_t)port);
	KC_CHECK_EQ(inet_pton(AF_INET, ip, &a->a.in.sin_addr), 1);
	a->len = sizeof(a->a.in);
}

static void
test_sampling(void)
{
	struct ks_rng r, r2;
	struct kc_sockaddr a, b, u;
	unsigned i, n, same;
	char ip[32];
	bool first;

	ks_rng_init(&r, 0);
	/* All and none draw nothing. */
	for (i = 0; i < 1000; i++) {
		KC_CHECK(ks_sample_take(&r, KS_SAMPLE_ALL, false, NULL, "m"));
		KC_CHECK(!ks_sample_take(&r, 0, false, NULL, "m"));
	}
	KC_CHECK_EQ(r.next, 0);
	/*
	 * 20000 draws at 50%: the count is within 5 standard deviations
	 * (about 354) of 10000 but for a chance below 1e-6.
	 */
	for (i = n = 0; i < 20000; i++)
		n += ks_sample_take(&r, 5000, false, NULL, "m");
	KC_CHECK(n > 10000 - 354 * 5 && n < 10000 + 354 * 5);
	for (i = n = 0; i < 20000; i++)
		n += ks_sample_take(&r, 1000, false, NULL, "m");
	/* 10%: 2000, sigma about 42. */
	KC_CHECK(n > 2000 - 42 * 5 && n < 2000 + 42 * 5);
	/* Two workers' streams are not the same stream. */
	ks_rng_init(&r, 1);
	ks_rng_init(&r2, 2);
	for (i = same = 0; i < 256; i++)
		same += ks_sample_take(&r, 5000, false, NULL, "m") ==
		    ks_sample_take(&r2, 5000, false, NULL, "m");
	KC_CHECK(same < 256);

	/* By client: the address decides, not the port or the draw. */
	ks_rng_init(&r, 3);
	v4(&a, "127.0.0.2", 1000);
	first = ks_sample_take(&r, 5000, true, &a, "tcp:127.0.0.1:6380");
	for (i = 0; i < 200; i++) {
		v4(&b, "127.0.0.2", 1000 + i);
		KC_CHECK_EQ(ks_sample_take(&r, 5000, true, &b,
		    "tcp:127.0.0.1:6380"), first);
	}
	KC_CHECK_EQ(r.next, 0);
	/* Of 4096 addresses, about half are in (sigma 32). */
	for (i = n = 0; i < 4096; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.1", i / 256, i % 256);
		v4(&b, ip, 80);
		n += ks_sample_take(&r, 5000, true, &b, "tcp:127.0.0.1:6380");
	}
	KC_CHECK(n > 2048 - 32 * 5 && n < 2048 + 32 * 5);
	/* UNIX clients: at random, from the worker's stream. */
	memset(&u, 0, sizeof(u));
	u.a.sa.sa_family = AF_UNIX;
	u.len = sizeof(sa_family_t);
	for (i = n = 0; i < 2000; i++)
		n += ks_sample_take(&r, 5000, true, &u, "m");
	KC_CHECK_EQ(r.next, 2000);
	KC_CHECK(n > 0 && n < 2000);
}

static void
conf_text(struct ks_conf *c, const char *text)
{
	ok(c, text, "-f", "t.conf", NULL);
}

#define HEAD	"listen tcp:127.0.0.1:7000\nupstream tcp:127.0.0.1:6379\n"

static void
test_reload(void)
{
	struct ks_conf *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct ks_reload *r = malloc(sizeof(*r));

	KC_CHECK(a != NULL && b != NULL && r != NULL);
	conf_text(a, HEAD "mirror tcp:127.0.0.1:6380\n");
	conf_text(b, HEAD "mirror tcp:127.0.0.1:6380\n");
	KC_CHECK(ks_same_mirrors(a, b));
	/* The same settings, given or by default, are the same. */
	conf_text(b, HEAD "mirror tcp:127.0.0.1:6380,sample=100,pace=none\n");
	KC_CHECK(ks_same_mirrors(a, b));
	conf_text(b, HEAD "mirror tcp:127.0.0.1:6380,sample=50\n");
	KC_CHECK(!ks_same_mirrors(a, b));
	ks_reload_diff(a, b, r);
	if (strstr(r->changed, "mirrors tcp:127.0.0.1:6380 -> "
	    "tcp:127.0.0.1:6380,sample=50.00") == NULL)
		kct_fail(__FILE__, __LINE__, "changed: %s", r->changed);
	conf_text(b, HEAD "mirror tcp:127.0.0.1:6380\nmirror-pace turns\n");
	KC_CHECK(!ks_same_mirrors(a, b));
	ks_reload_diff(a, b, r);
	if (strstr(r->changed, "-> tcp:127.0.0.1:6380,pace=turns") == NULL)
		kct_fail(__FILE__, __LINE__, "changed: %s", r->changed);
	conf_text(b, HEAD "mirror tcp:127.0.0.1:6380\nsample-by client\n");
	KC_CHECK(ks_same_mirrors(a, b));
	ks_reload_diff(a, b, r);
	if (strstr(r->changed, "sample-by random -> client") == NULL)
		kct_fail(__FILE__, __LINE__, "changed: %s", r->changed);
	/* A UDP listener keeps its mirrors and their settings. */
	conf_text(a, "listen udp:127.0.0.1:7000\nupstream udp:127.0.0.1:1\n"
	    "mirror udp:127.0.0.1:2,sample=10\n");
	conf_text(b, "listen udp:127.0.0.1:7000\nupstream udp:127.0.0.1:1\n"
	    "mirror udp:127.0.0.1:2,sample=20\n");
	ks_reload_diff(a, b, r);
	KC_CHECK_EQ(b->mirror_set[0].sample, 1000);
	if (strstr(r->restart, "mirrors udp:127.0.0.1:2,sample=10.00 -> "
	    "udp:127.0.0.1:2,sample=20.00") == NULL)
		kct_fail(__FILE__, __LINE__, "restart: %s", r->restart);
	free(a);
	free(b);
	free(r);
}

int
main(void)
{
	kct_begin("unit-kcsplice_sample", 60);
	test_percent();
	test_settings();
	test_bad();
	test_sampling();
	test_reload();
	return kct_done();
}
