#include "config.h"
#include "figures/colormap.h"

#include <math.h>

int mlsae_colormap_rgb(double v, double vmin, double vmax, double rgb[3])
{
    if (isnan(v)) return 0;
    double t = vmax > vmin ? (v - vmin) / (vmax - vmin) : 0.0;
    int i = t >= 1.0 ? 255 : t <= 0.0 ? 0 : (int)(t * 256.0);
    if (i > 255) i = 255;
    for (int c = 0; c < 3; c++) rgb[c] = mlsae_magma_r[i][c] / 255.0;
    return 1;
}
