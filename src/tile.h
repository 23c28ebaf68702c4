/* tile.h: the one place that says which rows (or columns) of a map a grid coordinate owns.
 *
 * A length n split into p parts: part k owns [start, start + count). Tiles are uneven when p does
 * not divide n; the remainder goes to the first tiles (the first n % p parts get one more).
 * Rows use this with (H, Py, py), columns with (W, Px, px). */
#ifndef CN_TILE_H
#define CN_TILE_H

typedef struct {
    int y0, y1; /* rows [y0, y1) */
    int x0, x1; /* columns [x0, x1) */
} cn_rect;      /* half-open rectangle in global map coordinates */

/* Start and count of part k of n split into p parts (0 <= k < p, p >= 1). */
void tile_range(int n, int p, int k, int *start, int *count);
/* The part that owns index i of n split into p parts. */
int tile_owner(int n, int p, int i);
/* The tile of an H x W map owned by grid coordinate (py, px) of a Py x Px grid. */
cn_rect tile_rect(int H, int W, int Py, int Px, int py, int px);

static inline int rect_rows(cn_rect r) { return r.y1 > r.y0 ? r.y1 - r.y0 : 0; }
static inline int rect_cols(cn_rect r) { return r.x1 > r.x0 ? r.x1 - r.x0 : 0; }
static inline int rect_empty(cn_rect r) { return r.y1 <= r.y0 || r.x1 <= r.x0; }
cn_rect rect_intersect(cn_rect a, cn_rect b);

#endif
