/* bench_synth.c: the synthetic-image generator on one core (bench/README.md "Synthetic data").
 *
 *   bench_synth [--size HxWxC] [--images N]
 *
 * Times, side by side in one run: synth_fill of whole images (ms per image, ns per value); and per
 * value, the three functions it calls through src/vmath.h at every vector width this CPU runs and
 * glibc's own (log on (0, 1], cos on [0, 2 pi), sin on [-60, 60], 4096-value arrays), and each
 * width's speed relative to glibc's (glibc's time over the width's: above 1 is faster). Every width's
 * values are checked against SLEEF's scalar function (vmath's "purec" width) before timing ("!" and
 * exit status 1 if one differs). One thread; the best of 5 repetitions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/buildinfo.h"
#include "src/common.h"
#include "src/synth.h"
#include "src/vmath.h"

enum { N = 4096, REPS = 5 };

static double x_of(vm_fn f, int i)
{
    return f == VM_LOG ? ((double)i + 0.5) / N : f == VM_COS ? 6.283185307179586 * ((double)i + 0.5) / N
                                                             : -60.0 + 120.0 * ((double)i + 0.5) / N;
}

static double libm(vm_fn f, double v) { return f == VM_LOG ? log(v) : f == VM_COS ? cos(v) : sin(v); }

int main(int argc, char **argv)
{
    int H = 200, W = 200, C = 3, images = 40;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--size") && sscanf(argv[i + 1], "%dx%dx%d", &H, &W, &C) == 3 && H > 0 && W > 0 && C > 0)
            continue;
        if (!strcmp(argv[i], "--images") && (images = atoi(argv[i + 1])) > 0)
            continue;
        fprintf(stderr, "usage: bench_synth [--size HxWxC] [--images N]\n");
        return 2;
    }
    bench_print_build("bench_synth");
    size_t nv = (size_t)H * W * C;
    float *img = malloc(nv * sizeof *img);
    if (!img)
        return 1;
    double best = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = cn_now();
        for (int s = 0; s < images; s++)
            synth_fill(1, (uint64_t)s, 10, H, W, C, (cn_rect){0, H, 0, W}, img);
        double t = (cn_now() - t0) / images;
        best = t < best ? t : best;
    }
    printf("# synth_fill %dx%dx%d, vm_span width %s: %.3f ms per image, %.2f ns per value\n", H, W, C, vm_width(),
           best * 1e3, best / (double)nv * 1e9);
    free(img);

    static const char *widths[] = {"glibc", "purec", "sse2", "avx", "avx512"};
    static const char *fname[] = {"log", "cos", "sin"};
    static double x[N], y[N], ref[N];
    int bad = 0;
    printf("#%-6s %-7s %10s %10s\n", "fn", "width", "ns/value", "vs glibc");
    for (int f = VM_LOG; f <= VM_SIN; f++) {
        for (int i = 0; i < N; i++)
            x[i] = x_of((vm_fn)f, i);
        vm_span_width("purec", (vm_fn)f, x, ref, N); /* SLEEF's scalar function: every width's bits */
        double glibc = 0;
        for (int w = 0; w < 5; w++) {
            if (w > 0) {
                if (vm_span_width(widths[w], (vm_fn)f, x, y, N) != 0)
                    continue; /* not on this CPU */
                int diff = 0;
                for (int i = 0; i < N; i++)
                    diff += y[i] != ref[i];
                bad += diff != 0;
                if (diff)
                    printf("! %s %s: %d of %d values differ from the scalar function\n", fname[f], widths[w], diff, N);
            }
            double t = 1e30, sink = 0;
            for (int r = 0; r < REPS; r++) {
                double t0 = cn_now();
                for (int k = 0; k < 50; k++) {
                    if (w == 0)
                        for (int i = 0; i < N; i++)
                            y[i] = libm((vm_fn)f, x[i]);
                    else
                        vm_span_width(widths[w], (vm_fn)f, x, y, N);
                    sink += y[k];
                }
                double dt = (cn_now() - t0) / (50.0 * N);
                t = dt < t ? dt : t;
            }
            if (w == 0)
                glibc = t;
            /* (sink, printed as nothing, keeps the timed results live) */
            printf(" %-6s %-7s %10.2f %9.2fx%s\n", fname[f], widths[w], t * 1e9, glibc / t, sink == 12345.678 ? " " : "");
        }
    }
    return bad ? 1 : 0;
}
