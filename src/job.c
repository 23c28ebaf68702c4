/* job.c: the job file's keys (one table), parsing with inih, and validation.
 *
 * inih calls a reader once per line, so the reader counts lines and the handler knows the line of
 * every key without inih's compile-time line option (Debian's libinih is built without it). */
#include "src/job.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common.h"

enum { T_INT, T_U64, T_FLOAT, T_STR, T_ENUM, T_BOOL };

typedef struct {
    const char *section; /* "stage" means every [stageK] */
    const char *key;
    int type;
    size_t off;          /* offset in cn_job, or in cn_stage_cfg for stage keys */
    size_t size;         /* string capacity */
    int required;
    const char *def;     /* default, parsed like a value */
    double lo, hi;       /* range for numbers */
    const char *choices; /* "a|b|c" for enums; value = index */
    const char *doc;
} key_def;

#define J(f) offsetof(cn_job, f)
#define S(f) offsetof(cn_stage_cfg, f)
#define SZ(f) sizeof(((cn_job *)0)->f)

static const key_def KEYS[] = {
    {"run", "name", T_STR, J(name), SZ(name), 0, "cotsnet", 0, 0, NULL, "name of the run, used in output"},
    {"run", "seed", T_U64, J(seed), 0, 0, "1", 0, 0, NULL, "seed of every random choice: initial parameters, sample order, synthetic data"},
    {"run", "backend", T_ENUM, J(backend), 0, 0, "cpu", 0, 0, "cpu|cuda", "where the layers run (cuda: one GPU per rank, docs/CUDA.md)"},
    {"run", "out_dir", T_STR, J(out_dir), SZ(out_dir), 0, "runs/cotsnet", 0, 0, NULL, "run directory: metrics.jsonl, filters.png, checkpoints"},
    {"run", "log_every", T_INT, J(log_every), 0, 0, "10", 1, 1e9, NULL, "steps between progress lines"},

    {"data", "train", T_STR, J(train), SZ(train), 1, NULL, 0, 0, NULL, "training shards (a glob), or 'synthetic'"},
    {"data", "test", T_STR, J(test), SZ(test), 0, "", 0, 0, NULL, "test shards (a glob), 'synthetic', or empty for no evaluation"},
    {"data", "height", T_INT, J(height), 0, 1, NULL, 1, 65536, NULL, "image rows H0 (shards are checked against it)"},
    {"data", "width", T_INT, J(width), 0, 1, NULL, 1, 65536, NULL, "image columns W0"},
    {"data", "channels", T_INT, J(channels), 0, 1, NULL, 1, 4096, NULL, "image channels C0"},
    {"data", "classes", T_INT, J(classes), 0, 0, "10", 2, 100000, NULL, "number of classes of the labels"},
    {"data", "batch", T_INT, J(batch), 0, 0, "32", 1, 1 << 20, NULL, "samples per step on each replica (global batch = replicas x batch)"},
    {"data", "synthetic_train", T_INT, J(synthetic_train), 0, 0, "4096", 1, 1 << 30, NULL, "training samples when train = synthetic"},
    {"data", "synthetic_test", T_INT, J(synthetic_test), 0, 0, "1024", 1, 1 << 30, NULL, "test samples when test = synthetic"},
    {"data", "prefetch", T_BOOL, J(prefetch), 0, 0, "yes", 0, 0, NULL, "read the next batches while the current one trains (shards; synthetic data on the GPU backend only)"},
    {"data", "threads", T_INT, J(data_threads), 0, 0, "0", 0, 1024, NULL, "threads that make synthetic batches ahead on the GPU backend (0: the CPUs this rank may use, shared with the other ranks of its node)"},

    {"grid", "rows", T_INT, J(rows), 0, 0, "1", 1, 4096, NULL, "Py: ranks over the rows of every map"},
    {"grid", "cols", T_INT, J(cols), 0, 0, "1", 1, 4096, NULL, "Px: ranks over the columns of every map"},
    {"grid", "replicas", T_INT, J(replicas), 0, 0, "1", 1, 1 << 20, NULL, "R: copies of the grid training on different samples"},
    {"grid", "halo", T_ENUM, J(halo), 0, 0, "mpi", 0, 0, "mpi|nccl|mpi-direct", "how halos move on GPUs: mpi (staged through host memory), nccl (GPU to GPU), or mpi-direct (MPI reads and writes GPU memory itself: a CUDA-aware MPI, checked at start); the CPU backend always uses MPI"},
    {"grid", "average_every", T_INT, J(average_every), 0, 0, "1", 1, 1e9, NULL, "replicas: 1 = average the gradients every step (one SGD on R x batch); k > 1 = each replica steps on its own gradient and the parameters are averaged every k steps (and before each checkpoint, evaluation and phase end): 1/k of the traffic"},
    {"grid", "allreduce", T_ENUM, J(allreduce), 0, 0, "mpi", 0, 0, "mpi|nccl", "how replicas average gradients on GPUs: mpi (through host memory) or nccl (GPU to GPU); the CPU backend always uses MPI"},
    {"grid", "overlap", T_BOOL, J(overlap), 0, 0, "yes", 0, 0, NULL, "compute the tile interior while the halo is in flight"},

    {"stage", "field", T_INT, S(field), 0, 1, NULL, 1, 1024, NULL, "r: receptive field r x r of the local filter"},
    {"stage", "stride", T_INT, S(stride), 0, 0, "1", 1, 1024, NULL, "s: stride of the local filter"},
    {"stage", "maps", T_INT, S(maps), 0, 1, NULL, 1, 1 << 16, NULL, "M: maps (filters per location)"},
    {"stage", "pool", T_INT, S(pool), 0, 0, "1", 1, 1024, NULL, "q: L2 pooling window q x q (1 = no pooling window, sqrt(eps + y^2))"},
    {"stage", "pool_stride", T_INT, S(pool_stride), 0, 0, "1", 1, 1024, NULL, "t: stride of the pooling"},
    {"stage", "pool_eps", T_FLOAT, S(pool_eps), 0, 0, "0.01", 1e-12, 1e6, NULL, "eps inside the pooling square root"},
    {"stage", "lcn", T_INT, S(lcn), 0, 0, "0", 0, 1023, NULL, "n: LCN window n x n (odd), 0 = no LCN"},
    {"stage", "lcn_sigma", T_FLOAT, S(lcn_sigma), 0, 0, "1.0", 1e-6, 1e6, NULL, "width of the LCN Gaussian"},
    {"stage", "lcn_eps", T_FLOAT, S(lcn_eps), 0, 0, "0.01", 1e-12, 1e6, NULL, "eps of the LCN divisor sqrt(eps + s2)"},
    {"stage", "lambda", T_FLOAT, S(lambda), 0, 0, "0.1", 0, 1e6, NULL, "sparsity weight of reconstruction ICA"},
    {"stage", "decoder", T_ENUM, S(tied), 0, 0, "tied", 0, 0, "separate|tied", "decoder: tied (filters transposed) or separate"},
    {"stage", "steps", T_INT, S(steps), 0, 0, "100", 0, 1e9, NULL, "greedy reconstruction-ICA steps for this stage"},
    {"stage", "init_scale", T_FLOAT, S(init_scale), 0, 0, "1", 1e-6, 1e3, NULL, "initial filters ~ N(0, (init_scale / sqrt(r*r*C))^2)"},
    {"stage", "lr", T_FLOAT, S(lr), 0, 0, "0", 0, 1e6, NULL, "learning rate of this stage (0 = [optimizer] lr)"},

    {"optimizer", "type", T_ENUM, J(optimizer), 0, 0, "sgd", 0, 0, "sgd|adagrad", "SGD with momentum, or AdaGrad"},
    {"optimizer", "lr", T_FLOAT, J(lr), 0, 0, "0.01", 0, 1e6, NULL, "base learning rate"},
    {"optimizer", "momentum", T_FLOAT, J(momentum), 0, 0, "0.9", 0, 0.999999, NULL, "SGD momentum mu"},
    {"optimizer", "weight_decay", T_FLOAT, J(weight_decay), 0, 0, "0", 0, 1e6, NULL, "weight decay wd (added to the gradient)"},
    {"optimizer", "fused", T_BOOL, J(fused), 0, 0, "no", 0, 0, NULL, "plain SGD applied inside the filters' backward pass, no gradient buffer (GPU: 4 bytes per filter weight); needs type = sgd, momentum = 0, and replicas = 1 or grid.average_every > 1"},
    {"optimizer", "adagrad_eps", T_FLOAT, J(adagrad_eps), 0, 0, "1e-8", 1e-20, 1, NULL, "AdaGrad eps"},
    {"optimizer", "schedule", T_ENUM, J(schedule), 0, 0, "constant", 0, 0, "constant|cosine|step", "learning-rate schedule within each phase"},
    {"optimizer", "warmup", T_INT, J(warmup), 0, 0, "0", 0, 1e9, NULL, "steps of linear warm-up at the start of each phase"},
    {"optimizer", "step_gamma", T_FLOAT, J(step_gamma), 0, 0, "0.1", 0, 1, NULL, "factor of the step schedule"},
    {"optimizer", "step_every", T_INT, J(step_every), 0, 0, "1000", 1, 1e9, NULL, "steps between factors of the step schedule"},

    {"train", "head_steps", T_INT, J(head_steps), 0, 0, "100", 0, 1e9, NULL, "steps of the softmax head on frozen features"},
    {"train", "head_lr", T_FLOAT, J(head_lr), 0, 0, "0.1", 0, 1e6, NULL, "learning rate of the head"},
    {"train", "finetune_steps", T_INT, J(finetune_steps), 0, 0, "0", 0, 1e9, NULL, "steps of supervised fine-tuning of everything"},
    {"train", "finetune_lr", T_FLOAT, J(finetune_lr), 0, 0, "0.01", 0, 1e6, NULL, "learning rate of fine-tuning"},
    {"train", "eval_every", T_INT, J(eval_every), 0, 0, "0", 0, 1e9, NULL, "evaluate on the test set every N head steps (0 = at the end only)"},
    {"train", "eval_batches", T_INT, J(eval_batches), 0, 0, "0", 0, 1e9, NULL, "batches per evaluation (0 = the whole test set)"},

    {"checkpoint", "dir", T_STR, J(ckpt_dir), SZ(ckpt_dir), 0, "", 0, 0, NULL, "checkpoint directory (empty = <out_dir>/ckpt)"},
    {"checkpoint", "every", T_INT, J(ckpt_every), 0, 0, "0", -1, 1e9, NULL, "steps between checkpoints (0 = at the end and on a signal only; -1 = never, for benchmarks)"},
    {"checkpoint", "keep", T_INT, J(ckpt_keep), 0, 0, "3", 1, 1000, NULL, "complete checkpoints kept"},
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

typedef struct {
    cn_job *job;
    const char *file;
    int line;
    int quiet;
    int failed;
    int err_line;  /* line of the first error (0: --set or whole-file checks) */
    int in_set;    /* applying the --set overrides (line 0 then means an override, not the whole file) */
    char err[640]; /* the first error line, printed at the end (syntax errors may come earlier) */
    int printed;
    unsigned char seen[NKEYS][CN_MAX_STAGES + 1]; /* line seen, per stage for stage keys */
    int stage_seen[CN_MAX_STAGES + 1];
} parse_ctx;

static void report(parse_ctx *c, const char *section, const char *key, const char *msg)
{
    if (c->failed++)
        return; /* one error line: the first */
    c->err_line = c->line;
    if (c->line > 0)
        snprintf(c->err, sizeof c->err, "cotsnet: error: %s:%d: [%s] %s: %s\n", c->file, c->line, section, key, msg);
    else if (c->in_set)
        snprintf(c->err, sizeof c->err, "cotsnet: error: --set %s.%s: %s\n", section, key, msg);
    else /* a check of the whole file */
        snprintf(c->err, sizeof c->err, "cotsnet: error: %s: [%s]%s%s: %s\n", c->file, section, strcmp(key, "*") ? " " : "",
                 strcmp(key, "*") ? key : "", msg);
}

/* An error about line c->line itself (not about a key). */
static void report_line(parse_ctx *c, const char *msg)
{
    if (c->failed++)
        return;
    c->err_line = c->line;
    snprintf(c->err, sizeof c->err, "cotsnet: error: %s:%d: %s\n", c->file, c->line, msg);
}

/* [stageK] -> K (1..CN_MAX_STAGES), 0 for other sections, -1 for a stage out of range. */
static int stage_index(const char *section)
{
    if (strncmp(section, "stage", 5) != 0 || !section[5])
        return 0;
    long k = 0;
    for (const char *p = section + 5; *p; p++) /* digits only: no sign, space or leading zero */
        if (*p < '0' || *p > '9' || (k = 10 * k + (*p - '0')) > CN_MAX_STAGES)
            return -1;
    if (section[5] == '0' || k < 1)
        return -1;
    return (int)k;
}

static int parse_value(const key_def *d, void *base, const char *v, char *why, size_t wlen)
{
    void *p = (char *)base + d->off;
    char *end;
    switch (d->type) {
    case T_INT: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno) {
            snprintf(why, wlen, "expected an integer, got \"%s\"", v);
            return -1;
        }
        if (x < (long)d->lo || x > (long)d->hi) {
            snprintf(why, wlen, "%ld is out of range [%.0f, %.0f]", x, d->lo, d->hi);
            return -1;
        }
        *(int *)p = (int)x;
        return 0;
    }
    case T_U64: {
        errno = 0;
        int hex = v[0] == '0' && (v[1] == 'x' || v[1] == 'X'); /* decimal, or 0x hex; never octal */
        unsigned long long x = strtoull(hex ? v + 2 : v, &end, hex ? 16 : 10);
        if (!*v || *end || errno || v[0] == '-' || v[0] == '+' || v[0] == ' ' || (hex && !v[2])) {
            snprintf(why, wlen, "expected a non-negative integer, got \"%s\"", v);
            return -1;
        }
        *(uint64_t *)p = (uint64_t)x;
        return 0;
    }
    case T_FLOAT: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x)) {
            snprintf(why, wlen, "expected a number, got \"%s\"", v);
            return -1;
        }
        if (x < d->lo || x > d->hi) {
            snprintf(why, wlen, "%g is out of range [%g, %g]", x, d->lo, d->hi);
            return -1;
        }
        *(double *)p = x;
        return 0;
    }
    case T_STR:
        if (strlen(v) >= d->size) {
            snprintf(why, wlen, "longer than %zu characters", d->size - 1);
            return -1;
        }
        strcpy((char *)p, v);
        return 0;
    case T_BOOL:
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on"))
            *(int *)p = 1;
        else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off"))
            *(int *)p = 0;
        else {
            snprintf(why, wlen, "expected yes or no, got \"%s\"", v);
            return -1;
        }
        return 0;
    case T_ENUM: {
        size_t n = strlen(v);
        int idx = 0;
        for (const char *c = d->choices; *c; idx++) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (len == n && n > 0 && !strncmp(c, v, n)) {
                *(int *)p = idx;
                return 0;
            }
            if (!bar)
                break;
            c = bar + 1;
        }
        snprintf(why, wlen, "expected one of %s, got \"%s\"", d->choices, v);
        return -1;
    }
    }
    return -1;
}

static void flush_error(parse_ctx *c)
{
    if (c->failed && !c->quiet && !c->printed && c->err[0])
        fputs(c->err, stderr);
    c->printed = 1;
}

static int set_key(parse_ctx *c, const char *section, const char *key, const char *value)
{
    int k = stage_index(section);
    if (k < 0) {
        report(c, section, key, "unknown section (stages are [stage1] to [stage8])");
        return 0;
    }
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        if (strcmp(d->key, key) || strcmp(d->section, k ? "stage" : section))
            continue;
        if (c->line > 0 && c->seen[i][k]) {
            report(c, section, key, "given twice");
            return 0;
        }
        char why[200];
        void *base = k ? (void *)&c->job->stage[k - 1] : (void *)c->job;
        if (parse_value(d, base, value, why, sizeof why)) {
            report(c, section, key, why);
            return 0;
        }
        c->seen[i][k] = 1;
        if (k)
            c->stage_seen[k] = 1;
        return 1;
    }
    int known_section = k > 0;
    for (int i = 0; i < NKEYS && !known_section; i++)
        known_section = !strcmp(KEYS[i].section, section);
    report(c, section, key, known_section ? "unknown key" : "unknown section");
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *c = user;
    set_key(c, section, name, value);
    return 1; /* keep going; the first error is the one reported */
}

typedef struct {
    FILE *f;
    parse_ctx *c;
    int read_errno; /* errno of a failed read (a directory: EISDIR) */
} line_reader;

/* inih's reader: one line per call. A line longer than inih's buffer (num - 1 bytes with its newline) would
 * reach inih in pieces, each taken for a line of its own: it is reported, and skipped whole. */
static char *read_line(char *str, int num, void *stream)
{
    line_reader *r = stream;
    errno = 0;
    char *s = fgets(str, num, r->f);
    if (!s) {
        if (ferror(r->f))
            r->read_errno = errno ? errno : EIO;
        return NULL;
    }
    r->c->line++;
    size_t n = strlen(s);
    if (n == (size_t)num - 1 && s[n - 1] != '\n' && !feof(r->f)) {
        int ch;
        while ((ch = fgetc(r->f)) != EOF && ch != '\n')
            ;
        char msg[96];
        snprintf(msg, sizeof msg, "the line is longer than %d characters (the INI reader's limit)", num - 2);
        report_line(r->c, msg);
        str[0] = '\0'; /* an empty line for inih */
    }
    return str;
}

static void apply_defaults(cn_job *job)
{
    char why[200];
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        if (!d->def)
            continue;
        if (!strcmp(d->section, "stage")) {
            for (int k = 0; k < CN_MAX_STAGES; k++)
                parse_value(d, &job->stage[k], d->def, why, sizeof why);
        } else {
            parse_value(d, job, d->def, why, sizeof why);
        }
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = 0;
    return buf;
}

/* Checks that need several keys: stages contiguous, required keys present, shapes that fit. */
static int validate(parse_ctx *c)
{
    cn_job *job = c->job;
    int n = 0;
    while (n < CN_MAX_STAGES && c->stage_seen[n + 1])
        n++;
    for (int k = n + 1; k <= CN_MAX_STAGES; k++)
        if (c->stage_seen[k]) {
            char sec[24], msg[96];
            snprintf(sec, sizeof sec, "stage%d", k);
            snprintf(msg, sizeof msg, "[stage%d] is missing: stages are numbered 1, 2, ... without gaps", n + 1);
            c->line = 0;
            report(c, sec, "*", msg);
            return -1;
        }
    if (n == 0) {
        c->line = 0;
        report(c, "stage1", "*", "the job has no [stage1] section");
        return -1;
    }
    job->nstages = n;
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        if (!d->required)
            continue;
        int stages = strcmp(d->section, "stage") ? 0 : n;
        for (int k = stages ? 1 : 0; k <= stages; k++)
            if (!c->seen[i][k]) {
                char sec[24];
                snprintf(sec, sizeof sec, "stage%d", k);
                c->line = 0;
                if (!c->quiet && !c->failed++)
                    fprintf(stderr, "cotsnet: error: %s: [%s] %s: missing (required)\n", c->file,
                            k ? sec : d->section, d->key);
                return -1;
            }
    }
    /* The fused update is plain SGD on the whole gradient of one replica (replicas that average parameters,
     * not gradients, each apply their own). */
    if (job->fused && (job->optimizer != OPT_SGD || job->momentum != 0 || (job->replicas > 1 && job->average_every == 1))) {
        if (!c->quiet && !c->failed++)
            fprintf(stderr, "cotsnet: error: %s: [optimizer] fused: %s\n", c->file,
                    job->optimizer != OPT_SGD ? "needs type = sgd (AdaGrad keeps a state per weight)"
                    : job->momentum != 0      ? "needs momentum = 0 (momentum keeps a state per weight)"
                                              : "needs replicas = 1 or grid.average_every > 1 (replicas that average gradients do so before the update)");
        return -1;
    }
    /* Shapes: every stage's map must be at least one pixel. */
    int H = job->height, W = job->width, C = job->channels;
    double params = 0; /* counted in double: a job's product of sizes can pass 2^64 */
    for (int k = 0; k < n; k++) {
        const cn_stage_cfg *s = &job->stage[k];
        char sec[24], msg[200];
        snprintf(sec, sizeof sec, "stage%d", k + 1);
        if (s->field > H || s->field > W) {
            snprintf(msg, sizeof msg, "field %d is larger than the stage's %dx%dx%d input", s->field, H, W, C);
            c->line = 0;
            if (!c->quiet && !c->failed++)
                fprintf(stderr, "cotsnet: error: %s: [%s] field: %s\n", c->file, sec, msg);
            return -1;
        }
        int Ho = (H - s->field) / s->stride + 1, Wo = (W - s->field) / s->stride + 1;
        if (s->pool > Ho || s->pool > Wo) {
            snprintf(msg, sizeof msg, "pool %d is larger than the %dx%d filter output", s->pool, Ho, Wo);
            if (!c->quiet && !c->failed++)
                fprintf(stderr, "cotsnet: error: %s: [%s] pool: %s\n", c->file, sec, msg);
            return -1;
        }
        if (s->lcn && s->lcn % 2 == 0) {
            if (!c->quiet && !c->failed++)
                fprintf(stderr, "cotsnet: error: %s: [%s] lcn: must be odd (or 0), got %d\n", c->file, sec, s->lcn);
            return -1;
        }
        H = (Ho - s->pool) / s->pool_stride + 1;
        W = (Wo - s->pool) / s->pool_stride + 1;
        params += (s->tied ? 1.0 : 2.0) * Ho * Wo * s->maps * s->field * s->field * C;
        params += k == n - 1 ? ((double)H * W * s->maps + 1) * job->classes : 0;
        if (params > 0x1p50) { /* sizes and offsets must stay exact in size_t products and in doubles */
            if (!c->quiet && !c->failed++)
                fprintf(stderr, "cotsnet: error: %s: [%s] maps: the network would hold %.3g parameters by this stage, "
                                "more than cotsnet can index (2^50 = %.3g)\n", c->file, sec, params, 0x1p50);
            return -1;
        }
        C = s->maps;
    }
    return 0;
}

int job_load(cn_job *job, const char *path, const char *const *overrides, int n_overrides, int quiet)
{
    memset(job, 0, sizeof *job);
    apply_defaults(job);
    snprintf(job->path, sizeof job->path, "%s", path);
    parse_ctx *c = calloc(1, sizeof *c);
    if (!c)
        cn_fatal("out of memory");
    c->job = job;
    c->file = path;
    c->quiet = quiet;

    FILE *f = fopen(path, "r");
    if (!f) {
        if (!quiet)
            fprintf(stderr, "cotsnet: error: %s: cannot open the job file: %s\n", path, strerror(errno));
        free(c);
        return -1;
    }
    line_reader lr = {f, c, 0};
    int rc = ini_parse_stream(read_line, &lr, handler, c);
    fclose(f);
    if (lr.read_errno) {
        if (!quiet)
            fprintf(stderr, "cotsnet: error: %s: cannot read the job file: %s\n", path, strerror(lr.read_errno));
        free(c);
        return -1;
    }
    if (rc > 0 && (!c->failed || rc < c->err_line)) {
        snprintf(c->err, sizeof c->err, "cotsnet: error: %s:%d: not a valid INI line (expected [section] or key = value)\n", path, rc);
        c->failed = 1;
    }
    if (c->failed)
        flush_error(c);
    /* --set overrides */
    c->in_set = 1;
    for (int i = 0; i < n_overrides && !c->failed; i++) {
        const char *o = overrides[i];
        const char *dot = strchr(o, '.'), *eq = strchr(o, '=');
        c->line = 0;
        if (!dot || !eq || dot > eq || dot == o || eq == dot + 1) {
            if (!quiet)
                fprintf(stderr, "cotsnet: error: --set %s: expected section.key=value\n", o);
            c->failed = 1;
            break;
        }
        char sec[64], key[64];
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - o), o);
        snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
        set_key(c, sec, key, eq + 1);
        if (c->failed)
            flush_error(c);
    }
    c->in_set = 0;
    rc = c->failed ? -1 : validate(c);
    if (rc)
        flush_error(c);
    if (rc == 0) {
        /* Keep the job's text and overrides: checkpoints store the job that produced them. */
        char *text = read_text(path);
        size_t len = (text ? strlen(text) : 0) + 64;
        for (int i = 0; i < n_overrides; i++)
            len += strlen(overrides[i]) + 16;
        job->text = malloc(len);
        if (!job->text)
            cn_fatal("out of memory");
        snprintf(job->text, len, "%s", text ? text : "");
        if (n_overrides)
            strcat(job->text, "\n; overridden on the command line (--set):\n");
        for (int i = 0; i < n_overrides; i++) {
            strcat(job->text, "; ");
            strcat(job->text, overrides[i]);
            strcat(job->text, "\n");
        }
        free(text);
        if (!job->ckpt_dir[0])
            snprintf(job->ckpt_dir, sizeof job->ckpt_dir, "%.*s/ckpt", CN_PATH_MAX - 8, job->out_dir);
    }
    free(c);
    return rc;
}

void job_free(cn_job *job)
{
    free(job->text);
    job->text = NULL;
}

void job_print_reference(void)
{
    const char *last = "";
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        if (strcmp(d->section, last)) {
            printf("\n[%s]%s\n", !strcmp(d->section, "stage") ? "stageK" : d->section,
                   !strcmp(d->section, "stage") ? "   (K = 1, 2, ... up to 8, no gaps)" : "");
            last = d->section;
        }
        char range[64] = "";
        if (d->type == T_INT)
            snprintf(range, sizeof range, "integer in [%.0f, %.0f]", d->lo, d->hi);
        else if (d->type == T_FLOAT)
            snprintf(range, sizeof range, "number in [%g, %g]", d->lo, d->hi);
        else if (d->type == T_ENUM)
            snprintf(range, sizeof range, "%s", d->choices);
        else if (d->type == T_BOOL)
            snprintf(range, sizeof range, "yes|no");
        else if (d->type == T_U64)
            snprintf(range, sizeof range, "integer >= 0");
        else
            snprintf(range, sizeof range, "text");
        printf("  %-15s %-28s %-10s %s\n", d->key, range,
               d->required ? "REQUIRED" : (d->def && d->def[0] ? d->def : "\"\""), d->doc);
    }
}

/* A value as a job file writes it: numbers in the shortest form that reads back the same, enums and booleans
 * by name. */
static void format_value(const key_def *d, const void *base, char *buf, size_t len)
{
    const void *p = (const char *)base + d->off;
    switch (d->type) {
    case T_INT: snprintf(buf, len, "%d", *(const int *)p); return;
    case T_U64: snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)p); return;
    case T_STR: snprintf(buf, len, "%s", (const char *)p); return;
    case T_BOOL: snprintf(buf, len, "%s", *(const int *)p ? "yes" : "no"); return;
    case T_FLOAT: {
        double x = *(const double *)p;
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(buf, len, "%.*g", digits, x);
            if (strtod(buf, NULL) == x)
                return;
        }
        return;
    }
    case T_ENUM: {
        const char *c = d->choices;
        for (int idx = *(const int *)p; idx > 0 && strchr(c, '|'); idx--)
            c = strchr(c, '|') + 1;
        snprintf(buf, len, "%.*s", (int)strcspn(c, "|"), c);
        return;
    }
    }
    buf[0] = '\0';
}

int job_get(const cn_job *job, const char *name, char *buf, size_t len)
{
    const char *dot = strchr(name, '.');
    buf[0] = '\0';
    if (!dot || dot == name || !dot[1])
        return cn_set_error("expected section.key, e.g. run.out_dir");
    char sec[64];
    snprintf(sec, sizeof sec, "%.*s", (int)CN_MIN((size_t)(dot - name), sizeof sec - 1), name);
    const char *key = dot + 1;
    int k = stage_index(sec);
    if (k < 0)
        return cn_set_error("unknown section (stages are [stage1] to [stage8])");
    if (k > job->nstages)
        return cn_set_error("the job has %d stage%s", job->nstages, job->nstages > 1 ? "s" : "");
    int known_section = k > 0;
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        if (strcmp(d->section, k ? "stage" : sec))
            continue;
        known_section = 1;
        if (!strcmp(d->key, key)) {
            format_value(d, k ? (const void *)&job->stage[k - 1] : (const void *)job, buf, len);
            return CN_OK;
        }
    }
    return cn_set_error("%s (cotsnet keys lists them)", known_section ? "unknown key" : "unknown section");
}

void job_describe(const cn_job *job, char *buf, int len)
{
    int n = snprintf(buf, (size_t)len, "job %s: %d stage%s on %dx%dx%d input, grid %d x %dx%d, batch %d, %s, %s",
                     job->path, job->nstages, job->nstages > 1 ? "s" : "", job->height, job->width,
                     job->channels, job->replicas, job->rows, job->cols, job->batch,
                     job->backend == BACKEND_CUDA ? "cuda" : "cpu",
                     job->optimizer == OPT_ADAGRAD ? "adagrad" : job->fused ? "fused sgd" : "sgd+momentum");
    for (int k = 0; k < job->nstages && n < len; k++) {
        const cn_stage_cfg *s = &job->stage[k];
        n += snprintf(buf + n, (size_t)(len - n), "\n  stage%d: field %d stride %d maps %d, pool %d/%d, lcn %d, lambda %g, %s decoder, %d steps",
                      k + 1, s->field, s->stride, s->maps, s->pool, s->pool_stride, s->lcn, s->lambda,
                      s->tied ? "tied" : "separate", s->steps);
    }
}
