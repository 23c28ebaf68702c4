/* synth.c: synthetic images (see synth.h). */
#include "src/synth.h"

#include <stddef.h>

#include "src/rng.h"
#include "src/vmath.h"

/* The sample's class, from word 2 of its Philox block (words 0 and 1 are its phases). */
static int label_of(const uint32_t w[4], int classes) { return (int)(w[2] % (uint32_t)classes); }

int synth_label(uint64_t seed, uint64_t sample, int classes)
{
    uint32_t w[4];
    philox4x32(seed, CN_STREAM_SYNTHETIC, sample, w);
    return label_of(w, classes);
}

void synth_fill(uint64_t seed, uint64_t sample, int classes, int H, int W, int C, cn_rect r, float *out)
{
    uint32_t w[4];
    philox4x32(seed, CN_STREAM_SYNTHETIC, sample, w);
    const int k = label_of(w, classes);
    const double pi = 3.141592653589793;
    double phase = 2 * pi * (w[0] / 4294967296.0), phase2 = 2 * pi * (w[1] / 4294967296.0);
    double theta = pi * k / classes, period = 4.0 + (k % 3) * 2.0;
    const double ang[2] = {theta, theta + pi / 3};
    double cosa[2], sina[2];
    vm_span(VM_COS, ang, cosa, 2);
    vm_span(VM_SIN, ang, sina, 2);
    const double c1 = cosa[0], s1 = sina[0], c2 = cosa[1], s2 = sina[1];
    uint64_t stream = CN_STREAM_SYNTHETIC + 0x10000;
    /* the noise of value (y, x, c) is normal number g = ((sample H + y) W + x) C + c: consecutive along a
     * row of the rectangle. A row goes PIX pixels at a time: their pattern (base: two sines each, one
     * vm_span call per sine), then their values, the noise drawn NOISE values at a time, whatever C */
    enum { PIX = 256, NOISE = 512 };
    double sa[PIX], sb[PIX], noise[NOISE];
    const size_t row = (size_t)rect_cols(r) * (size_t)C;
    for (int y = r.y0; y < r.y1; y++) {
        const uint64_t g_row = ((sample * (uint64_t)H + (uint64_t)y) * (uint64_t)W + (uint64_t)r.x0) * (uint64_t)C;
        float *o = out + (size_t)(y - r.y0) * row;
        for (int x0 = r.x0; x0 < r.x1; x0 += PIX) {
            const int np = r.x1 - x0 < PIX ? r.x1 - x0 : PIX;
            for (int p = 0; p < np; p++) {
                const int x = x0 + p;
                double u = (x - 0.5 * W) * c1 + (y - 0.5 * H) * s1, v = (x - 0.5 * W) * c2 + (y - 0.5 * H) * s2;
                sa[p] = 2 * pi * u / period + phase;
                sb[p] = 2 * pi * v / (1.5 * period) + phase2;
            }
            vm_span(VM_SIN, sa, sa, np);
            vm_span(VM_SIN, sb, sb, np);
            const size_t v0 = (size_t)(x0 - r.x0) * (size_t)C, nv = (size_t)np * (size_t)C;
            int p = 0, c = 0;
            for (size_t e0 = 0; e0 < nv; e0 += NOISE) {
                const int n = nv - e0 < NOISE ? (int)(nv - e0) : NOISE;
                rng_normal_span(seed, stream, g_row + v0 + e0, n, noise);
                for (int i = 0; i < n; i++) { /* value v0 + e0 + i is (x0 + p, c) */
                    const double base = sa[p] + 0.5 * sb[p];
                    o[v0 + e0 + (size_t)i] = (float)((1.0 - 0.2 * c) * base + 0.7 * noise[i]);
                    if (++c == C)
                        c = 0, p++;
                }
            }
        }
    }
}
