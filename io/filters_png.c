/* filters_png.c: writes the filter picture with libpng (see filters_png.h). */
#include "io/filters_png.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/common.h"

#define ZOOM 4

int filters_png_write(const char *path, const float *w, int Ho, int Wo, int M, int r, int C)
{
    int rows = CN_MIN(M, 16), cols = CN_MIN(CN_MIN(Ho, Wo), 8);
    int cell = r * ZOOM + 2;
    int H = rows * cell, W = cols * cell;
    unsigned char *img = calloc((size_t)H * W * 3, 1);
    if (!img)
        return cn_set_error("out of memory for %s", path);
    memset(img, 40, (size_t)H * W * 3);
    size_t per_loc = (size_t)M * r * r * C;
    for (int col = 0; col < cols; col++) {
        int i = cols > 1 ? (int)((long)col * (Ho - 1) / (cols - 1)) : Ho / 2;
        int j = cols > 1 ? (int)((long)col * (Wo - 1) / (cols - 1)) : Wo / 2;
        for (int m = 0; m < rows; m++) {
            const float *f = w + ((size_t)i * Wo + (size_t)j) * per_loc + (size_t)m * r * r * C;
            float big = 1e-12f;
            for (int e = 0; e < r * r * C; e++)
                big = fmaxf(big, fabsf(f[e]));
            for (int dy = 0; dy < r * ZOOM; dy++)
                for (int dx = 0; dx < r * ZOOM; dx++) {
                    const float *px = f + ((size_t)(dy / ZOOM) * r + (size_t)(dx / ZOOM)) * C;
                    unsigned char *o = img + (((size_t)m * cell + 1 + dy) * W + (size_t)col * cell + 1 + dx) * 3;
                    for (int ch = 0; ch < 3; ch++) {
                        float v = C == 3 ? px[ch] : px[0];
                        o[ch] = (unsigned char)lrintf(127.5f + 127.5f * v / big);
                    }
                }
        }
    }
    FILE *fp = fopen(path, "wb");
    png_structp png = fp ? png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL) : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!fp || !png || !info) {
        if (png)
            png_destroy_write_struct(&png, info ? &info : NULL);
        if (fp)
            fclose(fp);
        free(img);
        return cn_set_error("cannot write %s", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(fp);
        free(img);
        unlink(path); /* no half picture */
        return cn_set_error("libpng failed writing %s", path);
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < H; y++)
        png_write_row(png, img + (size_t)y * W * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(img);
    if (fclose(fp)) { /* the buffered bytes did not reach the file (a full disk): no half picture */
        int e = errno;
        unlink(path);
        return cn_set_error("writing %s failed (%s); removed", path, strerror(e));
    }
    return 0;
}
