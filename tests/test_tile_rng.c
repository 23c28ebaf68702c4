/* test_tile_rng.c: tile arithmetic and the counter-based generator. */
#include "src/rng.h"
#include "src/tile.h"
#include "tests/testutil.h"

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
    return tu_exit();
}
