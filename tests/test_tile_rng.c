/* test_tile_rng.c: tile arithmetic, the counter-based generator, and the synthetic images made from it. */
#include <math.h>
#include <string.h>

#include "src/rng.h"
#include "src/synth.h"
#include "src/tile.h"
#include "tests/testutil.h"

/* The synthetic image by its definition, one normal number at a time (src/synth.c draws them in runs;
 * the values must not change: every synthetic run, test and benchmark depends on them). */
static void synth_oracle(uint64_t seed, uint64_t sample, int classes, int H, int W, int C, cn_rect r, float *out)
{
    uint32_t w[4];
    philox4x32(seed, CN_STREAM_SYNTHETIC, sample, w);
    const double pi = 3.141592653589793;
    int k = (int)(w[2] % (uint32_t)classes);
    double phase = 2 * pi * (w[0] / 4294967296.0), phase2 = 2 * pi * (w[1] / 4294967296.0);
    double theta = pi * k / classes, period = 4.0 + (k % 3) * 2.0;
    double c1 = cos(theta), s1 = sin(theta), c2 = cos(theta + pi / 3), s2 = sin(theta + pi / 3);
    size_t e = 0;
    for (int y = r.y0; y < r.y1; y++)
        for (int x = r.x0; x < r.x1; x++) {
            double u = (x - 0.5 * W) * c1 + (y - 0.5 * H) * s1, v = (x - 0.5 * W) * c2 + (y - 0.5 * H) * s2;
            double base = sin(2 * pi * u / period + phase) + 0.5 * sin(2 * pi * v / (1.5 * period) + phase2);
            for (int c = 0; c < C; c++) {
                uint64_t g = ((sample * (uint64_t)H + (uint64_t)y) * (uint64_t)W + (uint64_t)x) * (uint64_t)C + (uint64_t)c;
                out[e++] = (float)((1.0 - 0.2 * c) * base + 0.7 * rng_normal(seed, CN_STREAM_SYNTHETIC + 0x10000, g));
            }
        }
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

    /* rng_normal_span: rng_normal of every counter, bit for bit, at every length and across the carry
     * from the counter's low word into its high word */
    bad = 0;
    double span[40];
    const uint64_t starts[3] = {0, 1000003, 0xFFFFFFFFull - 17};
    for (int i = 0; i < 3; i++)
        for (int n = 0; n <= 40; n++) {
            rng_normal_span(42 + (uint64_t)i, 7 + 0x100000000ull * (uint64_t)i, starts[i], n, span);
            for (int j = 0; j < n; j++) {
                double one = rng_normal(42 + (uint64_t)i, 7 + 0x100000000ull * (uint64_t)i, starts[i] + (uint64_t)j);
                bad += memcmp(&one, &span[j], sizeof one) != 0;
            }
        }
    if (bad)
        tu_fail("rng_normal_span", "%d values differ from rng_normal", bad);
    else
        tu_ok("rng_normal_span");

    /* synth_fill: the definition's values, bit for bit, on whole images and rectangles, from 1 to 12
     * channels, rows shorter than a run of 512 values and longer, a run ending inside a pixel (200 x 3) */
    static const int shapes[][3] = {{23, 200, 3}, {17, 9, 1}, {5, 70, 8}, {9, 11, 9}, {4, 6, 12}};
    static float a[23 * 200 * 3], b[23 * 200 * 3];
    bad = 0;
    for (int i = 0; i < 5; i++) {
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
        tu_fail("synth_fill_definition", "%d of 30 rectangles differ from the definition", bad);
    else
        tu_ok("synth_fill_definition");
    return tu_exit();
}
