package dev.twophase.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HostKernelsTest {
    /**
     * Max-pool backward against a direct loop, on inputs drawn from three values so that most
     * windows hold ties (the first maximal cell in window order takes the gradient), with dx
     * filled with NaN first: every cell, including those outside all windows, must be written.
     */
    @ParameterizedTest
    @CsvSource({"7,5,3,2,2,0", "9,6,4,3,3,0", "7,7,2,3,2,1", "6,5,3,2,1,0"})
    void maxPoolBackwardRoutesEachWindowToItsFirstMaximum(int h, int w, int c, int k, int stride, int pad) {
        ConvShape s = new ConvShape(3, h, w, c, k, stride, pad);
        Random r = new Random(h * 131L + w * 17L + k);
        float[] x = new float[s.batch() * h * w * c];
        for (int i = 0; i < x.length; i++) x[i] = r.nextInt(3) - 1f;
        int outs = s.batch() * s.outHeight() * s.outWidth() * c;
        float[] y = new float[outs], dy = new float[outs];
        for (int i = 0; i < outs; i++) dy[i] = (float) r.nextGaussian();
        HostKernels.maxPool(HostKernels.SEQUENTIAL, s, x, 0, y, 0);
        float[] dx = new float[x.length];
        Arrays.fill(dx, Float.NaN);
        HostKernels.maxPoolBackward(HostKernels.SEQUENTIAL, s, x, 0, y, 0, dy, 0, dx, 0);
        assertArrayEquals(reference(s, x, dy), dx);
    }

    private static float[] reference(ConvShape s, float[] x, float[] dy) {
        int h = s.height(), w = s.width(), c = s.channels(), k = s.kernel();
        float[] dx = new float[x.length];
        for (int b = 0; b < s.batch(); b++) for (int oy = 0; oy < s.outHeight(); oy++) for (int ox = 0; ox < s.outWidth(); ox++) {
            for (int ch = 0; ch < c; ch++) {
                float max = Float.NEGATIVE_INFINITY;
                int arg = -1;
                for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) {
                    int iy = oy * s.stride() - s.pad() + ky, ix = ox * s.stride() - s.pad() + kx;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                    int at = ((b * h + iy) * w + ix) * c + ch;
                    if (x[at] > max) { max = x[at]; arg = at; }
                }
                dx[arg] += dy[((b * s.outHeight() + oy) * s.outWidth() + ox) * c + ch];
            }
        }
        return dx;
    }
}
