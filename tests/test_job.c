/* test_job.c: the job file: defaults, overrides, and one clear error line for each kind of bad input. */
#include <unistd.h>

#include "src/job.h"
#include "tests/testutil.h"

static char dir[] = "/tmp/cotsnet-job-XXXXXX";

static const char *GOOD =
    "; a comment\n"
    "[run]\nseed = 5\n\n"
    "[data]\ntrain = synthetic\nheight = 20\nwidth = 18\nchannels = 2\n"
    "[grid]\nrows = 2\ncols = 3\n"
    "[stage1]\nfield = 5\nmaps = 6\npool = 3\nlcn = 3\n"
    "[stage2]\nfield = 4\nstride = 2\nmaps = 5\ndecoder = separate\n";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Load path as a job with overrides; return rc and the captured stderr in err. */
static int load_path(const char *path, const char *const *sets, int nsets, char *err, size_t errlen, cn_job *job)
{
    char epath[128];
    snprintf(epath, sizeof epath, "%s/stderr", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *e = freopen(epath, "w", stderr);
    int rc = job_load(job, path, sets, nsets, 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    (void)e;
    FILE *r = fopen(epath, "r");
    size_t n = fread(err, 1, errlen - 1, r);
    err[n] = 0;
    fclose(r);
    return rc;
}

/* Load text as a job with overrides. */
static int load(const char *text, const char *const *sets, int nsets, char *err, size_t errlen, cn_job *job)
{
    char path[128];
    snprintf(path, sizeof path, "%s/job.ini", dir);
    write_file(path, text);
    return load_path(path, sets, nsets, err, errlen, job);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A bad job must fail with exactly one line that contains every expected fragment. */
static void expect_error(const char *name, const char *text, const char *const *sets, int nsets, const char *frag1,
                         const char *frag2)
{
    cn_job job;
    char err[2048];
    int rc = load(text, sets, nsets, err, sizeof err, &job);
    if (rc == 0)
        tu_fail(name, "accepted a bad job");
    else if (count_lines(err) != 1)
        tu_fail(name, "expected one error line, got %d: %s", count_lines(err), err);
    else if (!strstr(err, frag1) || (frag2 && !strstr(err, frag2)))
        tu_fail(name, "error line lacks '%s'/'%s': %s", frag1, frag2 ? frag2 : "", err);
    else
        tu_ok(name);
}

static char *with(const char *base, const char *find, const char *repl)
{
    static char buf[4096];
    const char *p = strstr(base, find);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - base), base, repl, p + strlen(find));
    return buf;
}

int main(void)
{
    if (!mkdtemp(dir)) {
        tu_fail("mkdtemp", "cannot make a temporary directory");
        return 1;
    }
    cn_job job;
    char err[2048];
    int rc = load(GOOD, NULL, 0, err, sizeof err, &job);
    tu_check("job_good_loads", rc == 0 && err[0] == 0, err);
    if (rc == 0) {
        tu_check("job_values", job.seed == 5 && job.nstages == 2 && job.rows == 2 && job.cols == 3 &&
                                   job.stage[0].field == 5 && job.stage[1].stride == 2 && job.stage[0].tied == 1 &&
                                   job.stage[1].tied == 0 && job.height == 20,
                 "parsed values differ from the file");
        tu_check("job_defaults", job.batch == 32 && job.replicas == 1 && job.stage[1].pool == 1 &&
                                     job.optimizer == OPT_SGD && job.ckpt_keep == 3 &&
                                     !strcmp(job.ckpt_dir, "runs/cotsnet/ckpt"),
                 "defaults not applied");
        tu_check("job_text_kept", job.text && strstr(job.text, "[stage2]") != NULL, "job text not kept");
        job_free(&job);
    }
    const char *sets[] = {"stage2.maps=9", "optimizer.type=adagrad", "grid.replicas=4"};
    rc = load(GOOD, sets, 3, err, sizeof err, &job);
    tu_check("job_set_overrides", rc == 0 && job.stage[1].maps == 9 && job.optimizer == OPT_ADAGRAD &&
                                      job.replicas == 4 && strstr(job.text, "stage2.maps=9"),
             "--set did not override");
    if (rc == 0)
        job_free(&job);

    expect_error("job_unknown_key", with(GOOD, "maps = 6", "mapz = 6"), NULL, 0, "job.ini:15:", "mapz: unknown key");
    expect_error("job_unknown_section", with(GOOD, "[grid]", "[gird]"), NULL, 0, "job.ini:11:", "[gird] rows: unknown section");
    expect_error("job_wrong_type", with(GOOD, "field = 5", "field = five"), NULL, 0, "job.ini:14:", "[stage1] field: expected an integer");
    expect_error("job_out_of_range", with(GOOD, "rows = 2", "rows = 0"), NULL, 0, "job.ini:11:", "rows: 0 is out of range");
    expect_error("job_float_type", with(GOOD, "seed = 5", "seed = 5\n[optimizer]\nlr = fast\n[run]"), NULL, 0, ":5:", "lr: expected a number");
    expect_error("job_bad_enum", with(GOOD, "decoder = separate", "decoder = untied"), NULL, 0, "job.ini:22:", "expected one of separate|tied");
    expect_error("job_missing_required", with(GOOD, "height = 20\n", ""), NULL, 0, "[data] height: missing", NULL);
    expect_error("job_missing_stage_key", with(GOOD, "maps = 5\n", ""), NULL, 0, "[stage2] maps: missing", NULL);
    expect_error("job_duplicate", with(GOOD, "seed = 5", "seed = 5\nseed = 6"), NULL, 0, "job.ini:4:", "given twice");
    expect_error("job_stage_gap", with(GOOD, "[stage2]", "[stage3]"), NULL, 0, "stage2", "without gaps");
    expect_error("job_stage_too_many", with(GOOD, "[stage2]", "[stage9]"), NULL, 0, "[stage9]", "unknown section");
    expect_error("job_field_too_big", with(GOOD, "field = 5", "field = 25"), NULL, 0, "[stage1] field", "larger than");
    expect_error("job_even_lcn", with(GOOD, "lcn = 3", "lcn = 4"), NULL, 0, "[stage1] lcn", "odd");
    expect_error("job_not_ini", with(GOOD, "[grid]", "grid rows"), NULL, 0, "job.ini:10:", "not a valid INI line");
    const char *bad1[] = {"stage1.field=x"};
    expect_error("job_set_bad_value", GOOD, bad1, 1, "--set stage1.field", "expected an integer");
    const char *bad2[] = {"nodot=3"};
    expect_error("job_set_malformed", GOOD, bad2, 1, "--set nodot=3", "section.key=value");
    const char *bad3[] = {"grid.colour=3"};
    expect_error("job_set_unknown", GOOD, bad3, 1, "--set grid.colour", "unknown key");
    /* a line longer than inih's 200-byte buffer reached it in pieces: a 250-character path was refused as
     * "not a valid INI line" one line too far, a long comment holding '=' became an unknown key */
    char longer[4096], path[300];
    memset(path, 'p', 250);
    path[250] = 0;
    snprintf(longer, sizeof longer, "%s[checkpoint]\ndir = /tmp/%s\n", GOOD, path);
    expect_error("job_long_line", longer, NULL, 0, "job.ini:24:", "the line is longer than 198 characters");
    expect_error("job_stage_sign", with(GOOD, "[stage2]", "[stage+2]"), NULL, 0, "job.ini:19:", "[stage+2] field: unknown section");
    /* whole-file errors name the file, not an override that was never given */
    expect_error("job_empty_file", "; nothing\n", NULL, 0, "job.ini: [stage1]: the job has no [stage1] section", NULL);
    expect_error("job_too_many_parameters",
                 with(GOOD, "height = 20\nwidth = 18\nchannels = 2",
                      "height = 65536\nwidth = 65536\nchannels = 4096"),
                 NULL, 0, "[stage1] maps: the network would hold", "more than cotsnet can index");
    rc = load_path(dir, NULL, 0, err, sizeof err, &job);
    tu_check("job_directory", rc != 0 && count_lines(err) == 1 && strstr(err, "cannot read the job file: Is a directory"),
             err);
    /* seeds are decimal (or 0x hex), never octal: "08" was refused, "010" read as 8 */
    rc = load(with(GOOD, "seed = 5", "seed = 010"), NULL, 0, err, sizeof err, &job);
    tu_check("job_seed_decimal", rc == 0 && job.seed == 10, err[0] ? err : "seed = 010 is not 10");
    if (rc == 0)
        job_free(&job);
    rc = job_load(&job, "/nonexistent/job.ini", NULL, 0, 1);
    tu_check("job_missing_file", rc != 0, "a missing file was accepted");

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        tu_fail("cleanup", "rm failed");
    return tu_exit();
}
