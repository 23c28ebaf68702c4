/* tile.c: uneven tiles, remainder to the first tiles. */
#include "src/tile.h"

void tile_range(int n, int p, int k, int *start, int *count)
{
    int base = n / p, rem = n % p;
    *count = base + (k < rem ? 1 : 0);
    *start = k * base + (k < rem ? k : rem);
}

int tile_owner(int n, int p, int i)
{
    int base = n / p, rem = n % p;
    int big = rem * (base + 1); /* indices covered by the first rem (larger) tiles */
    if (i < big)
        return i / (base + 1);
    return rem + (i - big) / base;
}

cn_rect tile_rect(int H, int W, int Py, int Px, int py, int px)
{
    int y0, ny, x0, nx;
    tile_range(H, Py, py, &y0, &ny);
    tile_range(W, Px, px, &x0, &nx);
    return (cn_rect){y0, y0 + ny, x0, x0 + nx};
}

cn_rect rect_intersect(cn_rect a, cn_rect b)
{
    cn_rect r = {a.y0 > b.y0 ? a.y0 : b.y0, a.y1 < b.y1 ? a.y1 : b.y1,
                 a.x0 > b.x0 ? a.x0 : b.x0, a.x1 < b.x1 ? a.x1 : b.x1};
    if (r.y1 < r.y0)
        r.y1 = r.y0;
    if (r.x1 < r.x0)
        r.x1 = r.x0;
    return r;
}
