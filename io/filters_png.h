/* filters_png.h: a picture of learned local filters. Rows are maps (up to 16), columns are output
 * locations spread over the map (up to 8, along its diagonal); each cell is one r x r filter scaled
 * to its own largest magnitude (gray for 1 channel, colour for 3, the first channel otherwise). */
#ifndef CN_FILTERS_PNG_H
#define CN_FILTERS_PNG_H

/* w [Ho, Wo, M, r, r, C]; returns 0, or -1 with a message in cn_last_error(). */
int filters_png_write(const char *path, const float *w, int Ho, int Wo, int M, int r, int C);

#endif
