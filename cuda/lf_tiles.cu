/* lf_tiles.cu: which tile scheme each local-filter call runs (docs/CUDA.md "Tile schemes").
 *
 * The mode: the last lf_cuda_set_tiles, else the environment variable COTSNET_CUDA_LF_TILES (t32, t16,
 * t4 or auto, read once), else LF_TILES_DEFAULT (t16). In mode t32, t16 or t4 every call runs that
 * scheme. In mode auto a call
 * runs the scheme recorded by lf_cuda_set_tiles_for for its pass and the shape of one location's
 * product (C, M, r, s), and the default where nothing is recorded; cuda/lf_tune.cu measures what to record.
 * The record is a small table behind a mutex: it is written before the first step and read at every
 * launch. */
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

std::atomic<int> tiles_set{-1}; /* lf_cuda_set_tiles, >= 0 once called */

int tiles_from_env()
{
    static const int v = [] {
        const char *e = getenv("COTSNET_CUDA_LF_TILES");
        if (!e || !*e)
            return (int)LF_TILES_DEFAULT;
        for (int t = 0; t < LF_TILES_COUNT; t++) /* the names lf_cuda_tiles_name gives */
            if (!strcmp(e, lf_cuda_tiles_name(t)))
                return t;
        return !strcmp(e, lf_cuda_tiles_name(LF_TILES_AUTO)) ? (int)LF_TILES_AUTO : -1;
    }();
    return v;
}

/* auto's record: one entry per shape of a location's product */
struct Entry {
    lf_dims d; /* its key: lf_cuda_tiles_same_shape */
    int tiles[LF_PASS_COUNT];
};
constexpr int MAX_SHAPES = 32;
std::mutex table_mu;
Entry table[MAX_SHAPES];
int table_n;

} // namespace

extern "C" int lf_cuda_tiles_same_shape(const lf_dims *a, const lf_dims *b)
{
    return a->C == b->C && a->M == b->M && a->r == b->r && a->s == b->s;
}

extern "C" int lf_cuda_set_tiles(int scheme)
{
    if (scheme < 0 || scheme > LF_TILES_AUTO)
        return cn_set_error("lf_cuda_set_tiles: unknown tile scheme %d (t32 = %d, t16 = %d, t4 = %d, auto = %d)",
                            scheme, (int)LF_TILES_T32, (int)LF_TILES_T16, (int)LF_TILES_T4, (int)LF_TILES_AUTO);
    tiles_set.store(scheme);
    return CN_OK;
}

extern "C" int lf_cuda_tiles(void)
{
    const int t = tiles_set.load();
    if (t >= 0)
        return t;
    const int e = tiles_from_env();
    if (e < 0)
        cn_set_error("COTSNET_CUDA_LF_TILES=%s: the local filter's tile scheme is t32, t16, t4 or auto",
                     getenv("COTSNET_CUDA_LF_TILES"));
    return e;
}

extern "C" const char *lf_cuda_tiles_name(int scheme)
{
    static const char *const names[LF_TILES_COUNT] = {"t32", "t16", "t4"}; /* by LF_TILES_T32, _T16, _T4 */
    static_assert(LF_TILES_T32 == 0 && LF_TILES_T16 == 1 && LF_TILES_T4 == 2 && LF_TILES_COUNT == 3, "names");
    return scheme >= 0 && scheme < LF_TILES_COUNT ? names[scheme] : scheme == LF_TILES_AUTO ? "auto" : "?";
}

extern "C" int lf_cuda_set_tiles_for(const lf_dims *d, const int tiles[LF_PASS_COUNT])
{
    if (!d || !tiles)
        return cn_set_error("lf_cuda_set_tiles_for: NULL argument");
    for (int p = 0; p < LF_PASS_COUNT; p++)
        if (tiles[p] < 0 || tiles[p] >= LF_TILES_COUNT)
            return cn_set_error("lf_cuda_set_tiles_for: pass %d: unknown tile scheme %d", p, tiles[p]);
    std::lock_guard<std::mutex> lock(table_mu);
    int i = 0;
    while (i < table_n && !lf_cuda_tiles_same_shape(&table[i].d, d))
        i++;
    if (i == MAX_SHAPES)
        return cn_set_error("lf_cuda_set_tiles_for: more than %d shapes recorded", MAX_SHAPES);
    if (i == table_n)
        table_n++;
    table[i] = Entry{*d, {tiles[0], tiles[1], tiles[2]}};
    return CN_OK;
}

extern "C" int lf_cuda_tiles_for(const lf_dims *d, int pass)
{
    const int mode = lf_cuda_tiles();
    if (mode != LF_TILES_AUTO)
        return mode; /* a scheme, or -1 (a bad variable, said in cn_last_error) */
    if (!d)
        return LF_TILES_DEFAULT; /* the call itself refuses it */
    if (pass < 0 || pass >= LF_PASS_COUNT)
        return cn_set_error("lf_cuda_tiles_for: unknown pass %d", pass); /* -1 */
    std::lock_guard<std::mutex> lock(table_mu);
    for (int i = 0; i < table_n; i++)
        if (lf_cuda_tiles_same_shape(&table[i].d, d))
            return table[i].tiles[pass];
    return LF_TILES_DEFAULT;
}

extern "C" void lf_cuda_clear_tiles_for(void)
{
    std::lock_guard<std::mutex> lock(table_mu);
    table_n = 0;
}

extern "C" int lf_tiles_pick(const float ms[LF_TILES_COUNT])
{
    /* the fastest; a tie keeps the lower scheme (t32 first); a time that is not a positive finite number
     * (a pass that did not run) never wins against one that is */
    int best = LF_TILES_T32;
    for (int t = 0; t < LF_TILES_COUNT; t++)
        if (ms[t] > 0.0f && ms[t] < 1e30f && !(ms[best] > 0.0f && ms[best] <= ms[t]))
            best = t;
    return best;
}
