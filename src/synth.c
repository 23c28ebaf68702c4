/* synth.c: synthetic images (see synth.h). */
#include "src/synth.h"

#include <math.h>
#include <stddef.h>

#include "src/rng.h"

int synth_label(uint64_t seed, uint64_t sample, int classes)
{
    uint32_t w[4];
    philox4x32(seed, CN_STREAM_SYNTHETIC, sample, w);
    return (int)(w[2] % (uint32_t)classes);
}

void synth_fill(uint64_t seed, uint64_t sample, int classes, int H, int W, int C, cn_rect r, float *out)
{
    int k = synth_label(seed, sample, classes);
    uint32_t w[4];
    philox4x32(seed, CN_STREAM_SYNTHETIC, sample, w);
    const double pi = 3.141592653589793;
    double phase = 2 * pi * (w[0] / 4294967296.0), phase2 = 2 * pi * (w[1] / 4294967296.0);
    double theta = pi * k / classes, period = 4.0 + (k % 3) * 2.0;
    double c1 = cos(theta), s1 = sin(theta), c2 = cos(theta + pi / 3), s2 = sin(theta + pi / 3);
    uint64_t stream = CN_STREAM_SYNTHETIC + 0x10000;
    int cols = rect_cols(r);
    /* the noise of value (y, x, c) is normal number g = ((sample H + y) W + x) C + c: consecutive along a
     * row of the rectangle, so it is drawn NOISE values at a time, whatever C */
    enum { NOISE = 512 };
    double noise[NOISE];
    const size_t row = (size_t)cols * (size_t)C;
    for (int y = r.y0; y < r.y1; y++) {
        const uint64_t g_row = ((sample * (uint64_t)H + (uint64_t)y) * (uint64_t)W + (uint64_t)r.x0) * (uint64_t)C;
        float *o = out + (size_t)(y - r.y0) * row;
        int x = r.x0, c = 0;
        double base = 0;
        for (size_t e0 = 0; e0 < row; e0 += NOISE) {
            const int n = row - e0 < NOISE ? (int)(row - e0) : NOISE;
            rng_normal_span(seed, stream, g_row + e0, n, noise);
            for (int i = 0; i < n; i++) { /* value e0 + i is (x, c) */
                if (c == 0) {
                    double u = (x - 0.5 * W) * c1 + (y - 0.5 * H) * s1, v = (x - 0.5 * W) * c2 + (y - 0.5 * H) * s2;
                    base = sin(2 * pi * u / period + phase) + 0.5 * sin(2 * pi * v / (1.5 * period) + phase2);
                }
                o[e0 + (size_t)i] = (float)((1.0 - 0.2 * c) * base + 0.7 * noise[i]);
                if (++c == C)
                    c = 0, x++;
            }
        }
    }
}
