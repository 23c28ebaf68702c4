/* test_tile_rng.c: tile arithmetic, the counter-based generator, and the synthetic images made from it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "src/rng.h"
#include "src/rng_isa.h"
#include "src/synth.h"
#include "src/tile.h"
#include "src/vmath.h"
#include "tests/testutil.h"

#include <sleef.h>

/* A normal number by its definition: Box-Muller on words 0 and 1 of the counter's Philox block, with
 * SLEEF's deterministic scalar log and cos (src/vmath.h); rng_normal and rng_normal_span compute it
 * several counters and several lanes at a time and must give these bits. */
static double normal_def(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t w[4];
    philox4x32(seed, stream, index, w);
    double u1 = ((double)w[0] + 0.5) * (1.0 / 4294967296.0), u2 = ((double)w[1] + 0.5) * (1.0 / 4294967296.0);
    return sqrt(-2.0 * Sleef_cinz_logd1_u10purec(u1)) * Sleef_cinz_cosd1_u10purec(6.283185307179586 * u2);
}

/* The synthetic image by its definition, one value at a time (src/synth.c draws the noise and the
 * pattern in runs; the values must not change: every synthetic run, test and benchmark depends on
 * them). */
static void synth_oracle(uint64_t seed, uint64_t sample, int classes, int H, int W, int C, cn_rect r, float *out)
{
    uint32_t w[4];
    philox4x32(seed, CN_STREAM_SYNTHETIC, sample, w);
    const double pi = 3.141592653589793;
    int k = (int)(w[2] % (uint32_t)classes);
    double phase = 2 * pi * (w[0] / 4294967296.0), phase2 = 2 * pi * (w[1] / 4294967296.0);
    double theta = pi * k / classes, period = 4.0 + (k % 3) * 2.0;
    double c1 = Sleef_cinz_cosd1_u10purec(theta), s1 = Sleef_cinz_sind1_u10purec(theta);
    double c2 = Sleef_cinz_cosd1_u10purec(theta + pi / 3), s2 = Sleef_cinz_sind1_u10purec(theta + pi / 3);
    size_t e = 0;
    for (int y = r.y0; y < r.y1; y++)
        for (int x = r.x0; x < r.x1; x++) {
            double u = (x - 0.5 * W) * c1 + (y - 0.5 * H) * s1, v = (x - 0.5 * W) * c2 + (y - 0.5 * H) * s2;
            double base = Sleef_cinz_sind1_u10purec(2 * pi * u / period + phase) +
                          0.5 * Sleef_cinz_sind1_u10purec(2 * pi * v / (1.5 * period) + phase2);
            for (int c = 0; c < C; c++) {
                uint64_t g = ((sample * (uint64_t)H + (uint64_t)y) * (uint64_t)W + (uint64_t)x) * (uint64_t)C + (uint64_t)c;
                out[e++] = (float)((1.0 - 0.2 * c) * base + 0.7 * normal_def(seed, CN_STREAM_SYNTHETIC + 0x10000, g));
            }
        }
}

/* vm_span at every width this CPU runs: the bits of SLEEF's scalar function for every length (tails
 * shorter than a vector), in place too, and within 2 ulp of glibc's (the right function called). */
static void check_vmath(void)
{
    static const char *names[] = {"purec", "sse2", "avx", "avx512"};
    static const vm_fn fns[] = {VM_LOG, VM_COS, VM_SIN};
    static double x[1000], ref[1000], got[1000];
    int bad = 0, far = 0, ran = 0;
    char which[64] = "";
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < 1000; i++) /* log: (0, 1] and some above; cos, sin: -60 to 60 */
            x[i] = fns[f] == VM_LOG ? (i < 900 ? ((double)i * 4294967.0 + 0.5) / 4294967296.0 : 1.0 + 37.25 * (i - 900))
                                    : -60.0 + 0.12 * i + 1e-3 * (i % 7);
        for (int i = 0; i < 1000; i++) {
            ref[i] = fns[f] == VM_LOG   ? Sleef_cinz_logd1_u10purec(x[i])
                     : fns[f] == VM_COS ? Sleef_cinz_cosd1_u10purec(x[i])
                                        : Sleef_cinz_sind1_u10purec(x[i]);
            double libm = fns[f] == VM_LOG ? log(x[i]) : fns[f] == VM_COS ? cos(x[i]) : sin(x[i]);
            far += fabs(ref[i] - libm) > 4.5e-16 * fabs(libm) + 1e-300;
        }
        for (int k = 0; k < 4; k++) {
            for (int n = 0; n <= 1000; n = n < 19 ? n + 1 : n + 981) { /* 0 .. 19, 1000 */
                memset(got, 0xff, sizeof got);
                if (vm_span_width(names[k], fns[f], x, got, n) != 0)
                    break;
                bad += memcmp(got, ref, (size_t)n * sizeof *got) != 0;
                bad += n < 1000 && got[n] == got[n]; /* past n: untouched (NaN) */
            }
            if (vm_span_width(names[k], fns[f], x, got, 0) == 0) {
                memcpy(got, x, sizeof got);
                vm_span_width(names[k], fns[f], got, got, 1000); /* in place */
                bad += memcmp(got, ref, sizeof got) != 0;
                if (f == 0) {
                    ran++;
                    strcat(which, which[0] ? " " : "");
                    strcat(which, names[k]);
                }
            }
        }
        vm_span(fns[f], x, got, 1000);
        bad += memcmp(got, ref, sizeof got) != 0;
    }
    if (bad || far || ran < 1)
        tu_fail("vmath_widths", "%d spans differ from the scalar function, %d values more than 2 ulp from glibc "
                "(widths run: %s)", bad, far, which);
    else
        printf("ok vmath_widths (%s; vm_span uses %s)\n", which, vm_width());
}

int main(void)
{
    /* Tiles cover [0, n) exactly once, remainder to the first tiles, owner agrees with range. */
    int bad = 0;
    for (int n = 1; n <= 40; n++)
        for (int p = 1; p <= n; p++) {
            int next = 0;
            for (int k = 0; k < p; k++) {
                int s, c;
                tile_range(n, p, k, &s, &c);
                if (s != next || c != n / p + (k < n % p)) bad++;
                for (int i = s; i < s + c; i++)
                    if (tile_owner(n, p, i) != k) bad++;
                next = s + c;
            }
            if (next != n) bad++;
        }
    tu_check("tile_range_covers_uneven", bad == 0, "tiles do not partition the range");
    int s, c;
    tile_range(10, 3, 0, &s, &c);
    tu_check("tile_range_10_3", s == 0 && c == 4, "first tile of 10 over 3 must be [0,4)");
    tile_range(10, 3, 2, &s, &c);
    tu_check("tile_range_10_3_last", s == 7 && c == 3, "last tile of 10 over 3 must be [7,10)");
    cn_rect r = tile_rect(7, 5, 2, 3, 1, 2);
    tu_check("tile_rect", r.y0 == 4 && r.y1 == 7 && r.x0 == 4 && r.x1 == 5, "tile (1,2) of 7x5 on 2x3");

    /* Philox4x32-10 known-answer vectors (Random123's kat_vectors). */
    uint32_t w[4];
    philox4x32(0, 0, 0, w);
    tu_check("philox_kat_zero", w[0] == 0x6627e8d5u && w[1] == 0xe169c58du && w[2] == 0xbc57ac4cu &&
                                    w[3] == 0x9b00dbd8u, "Philox4x32-10(0,0) mismatch");
    philox4x32(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, w);
    tu_check("philox_kat_pi", w[0] == 0xd16cfe09u && w[1] == 0x94fdccebu && w[2] == 0x5001e420u &&
                                  w[3] == 0x24126ea1u, "Philox4x32-10(pi) mismatch");
    /* Normal samples: mean ~0, variance ~1, and a pure function of (seed, stream, index). */
    double m = 0, v = 0;
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        double z = rng_normal(42, 7, (uint64_t)i);
        m += z;
        v += z * z;
    }
    m /= N;
    v = v / N - m * m;
    tu_check("rng_normal_moments", fabs(m) < 0.01 && fabs(v - 1) < 0.02, "normal moments off");
    tu_check("rng_pure", rng_normal(42, 7, 12345) == rng_normal(42, 7, 12345) &&
                             rng_normal(42, 7, 12345) != rng_normal(43, 7, 12345), "not a pure function");

    /* the Philox words behind rng_normal_span, at each width this CPU runs: philox4x32's, for every
     * length up to 40 and across the carry from the counter's low word into its high word */
    check_vmath();
    {
        const uint64_t from[3] = {0, 1000003, 0xFFFFFFFFull - 21};
        uint32_t a0[40], a1[40];
        int wrong = 0, widths = 0;
        for (int lanes = 8; lanes <= 16; lanes += 8) {
            if (philox_words_at(lanes, 1, 1, 0, 0, a0, a1) != 0)
                continue; /* not on this CPU */
            widths++;
            for (int i = 0; i < 3; i++)
                for (int n = 0; n <= 40; n++) {
                    const uint64_t sd = ((uint64_t)(9 + i) << 33) + 12345, st = 7 + ((uint64_t)i << 40);
                    memset(a0, 0xa5, sizeof a0);
                    memset(a1, 0xa5, sizeof a1);
                    philox_words_at(lanes, sd, st, from[i], n, a0, a1);
                    for (int j = 0; j < 40; j++) {
                        philox4x32(sd, st, from[i] + (uint64_t)j, w);
                        wrong += j < n ? a0[j] != w[0] || a1[j] != w[1] : a0[j] != 0xa5a5a5a5u || a1[j] != 0xa5a5a5a5u;
                    }
                }
        }
        if (wrong)
            tu_fail("philox_words", "%d words differ from philox4x32 (or were written past n)", wrong);
        else
            printf("ok philox_words (%s)\n", widths == 2 ? "8 and 16 lanes (AVX-512F)" : "8 lanes");
    }

    /* rng_normal and rng_normal_span: the definition's bits for every counter, at every length and
     * across the carry from the counter's low word into its high word */
    bad = 0;
    double span[40];
    const uint64_t starts[3] = {0, 1000003, 0xFFFFFFFFull - 17};
    for (int i = 0; i < 3; i++)
        for (int n = 0; n <= 40; n++) {
            rng_normal_span(42 + (uint64_t)i, 7 + 0x100000000ull * (uint64_t)i, starts[i], n, span);
            for (int j = 0; j < n; j++) {
                uint64_t sd = 42 + (uint64_t)i, st = 7 + 0x100000000ull * (uint64_t)i, ix = starts[i] + (uint64_t)j;
                double one = normal_def(sd, st, ix), single = rng_normal(sd, st, ix);
                bad += memcmp(&one, &span[j], sizeof one) != 0;
                bad += memcmp(&one, &single, sizeof one) != 0;
            }
        }
    if (bad)
        tu_fail("rng_normal_span", "%d values differ from the definition", bad);
    else
        tu_ok("rng_normal_span");

    /* synth_fill: the definition's values, bit for bit, on whole images and rectangles, from 1 to 12
     * channels, rows shorter than a run of 512 values and longer, a run ending inside a pixel (200 x 3),
     * rows of more than one run of 256 pixels (300, 520) */
    static const int shapes[][3] = {{23, 200, 3}, {17, 9, 1}, {5, 70, 8}, {9, 11, 9}, {4, 6, 12}, {3, 300, 2},
                                    {2, 520, 3}};
    static float a[23 * 200 * 3], b[23 * 200 * 3];
    bad = 0;
    for (int i = 0; i < 7; i++) {
        int H = shapes[i][0], W = shapes[i][1], C = shapes[i][2];
        const cn_rect rects[3] = {{0, H, 0, W}, {H / 3, H - 1, W / 5, W - 2}, {1, 2, W - 1, W}};
        for (int k = 0; k < 3; k++)
            for (uint64_t smp = 0; smp < 2; smp++) {
                size_t n = (size_t)rect_rows(rects[k]) * (size_t)rect_cols(rects[k]) * (size_t)C;
                synth_fill(11 + smp, smp * 1000003 + 5, 7, H, W, C, rects[k], a);
                synth_oracle(11 + smp, smp * 1000003 + 5, 7, H, W, C, rects[k], b);
                bad += memcmp(a, b, n * sizeof *a) != 0;
            }
    }
    if (bad)
        tu_fail("synth_fill_definition", "%d of 42 rectangles differ from the definition", bad);
    else
        tu_ok("synth_fill_definition");
    return tu_exit();
}
