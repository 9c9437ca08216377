package dev.twophase.backend;

import java.util.function.IntConsumer;

/**
 * Plain loops for the layer operations of the convolutional and attention models and for the
 * training-data ops (gather by index, one-hot, correct predictions), on float arrays with offsets. The CPU backend runs them in place on its arrays (in parallel over the
 * outer index, each output written by one task, so results do not depend on threads); the
 * {@link Backend} default methods run them on host copies for backends without a kernel.
 */
public final class HostKernels {
    private HostKernels() { }

    /** Runs {@code body} for every index in [0, count); implementations may run them in parallel. */
    public interface Loop { void forEach(int count, IntConsumer body); }

    public static final Loop SEQUENTIAL = (count, body) -> { for (int i = 0; i < count; i++) body.accept(i); };

    // ---- training data: row numbers and labels as float values ----

    /** Rows per task of the data loops. */
    private static final int DATA_ROWS = 1024;

    /** The row number {@code v} holds, or -1 when it is not an integer in [0, limit). */
    public static int whole(float v, int limit) {
        return v >= 0 && (double) v < limit && Math.floor(v) == v ? (int) v : -1;
    }

    /** dst[r] = src[idx[r]] for rows of {@code cols}; an index that is not a row of src throws. */
    public static void gatherRows(Loop loop, int rows, int cols, int srcRows, float[] src, int so, float[] idx, int io, float[] dst, int dOff) {
        for (int r = 0; r < rows; r++) {
            if (whole(idx[io + r], srcRows) < 0) {
                throw new IllegalArgumentException("gatherRows: indices[" + r + "] = " + idx[io + r] + " is not a row of src (0 to " + (srcRows - 1) + ")");
            }
        }
        loop.forEach(rows, r -> System.arraycopy(src, so + (int) idx[io + r] * cols, dst, dOff + r * cols, cols));
    }

    /** dst[r][c] = c == labels[r] ? 1 : 0; a label that is not a class throws. */
    public static void oneHot(Loop loop, int rows, int classes, float[] labels, int lo, float[] dst, int dOff) {
        for (int r = 0; r < rows; r++) label(labels[lo + r], classes, r, "oneHot");
        loop.forEach(rows, r -> {
            java.util.Arrays.fill(dst, dOff + r * classes, dOff + (r + 1) * classes, 0f);
            dst[dOff + r * classes + (int) labels[lo + r]] = 1f;
        });
    }

    /** The rows whose first maximum is their label; a label that is not a column throws. */
    public static long countCorrect(Loop loop, int rows, int cols, float[] out, int oo, float[] labels, int lo) {
        for (int r = 0; r < rows; r++) label(labels[lo + r], cols, r, "countCorrect");
        int tasks = (rows + DATA_ROWS - 1) / DATA_ROWS;
        long[] counts = new long[tasks];
        loop.forEach(tasks, t -> {
            long correct = 0;
            for (int r = t * DATA_ROWS, end = Math.min(rows, r + DATA_ROWS); r < end; r++) {
                int row = oo + r * cols, best = 0;
                for (int c = 1; c < cols; c++) if (out[row + c] > out[row + best]) best = c;
                if (best == (int) labels[lo + r]) correct++;
            }
            counts[t] = correct;
        });
        long sum = 0;
        for (long c : counts) sum += c;
        return sum;
    }

    private static void label(float v, int classes, int row, String op) {
        if (whole(v, classes) < 0) {
            throw new IllegalArgumentException(op + ": labels[" + row + "] = " + v + " is not a class (0 to " + (classes - 1) + ")");
        }
    }

    /** cols[(b, oy, ox)][(ky, kx, c)] = x[b][oy*s - p + ky][ox*s - p + kx][c], zero outside. */
    public static void im2col(Loop loop, ConvShape s, float[] x, int xo, float[] cols, int co) {
        int oh = s.outHeight(), ow = s.outWidth(), k = s.kernel(), c = s.channels(), pc = s.patchColumns();
        if (c == 1) {
            im2colSingleChannel(loop, s, x, xo, cols, co);
            return;
        }
        loop.forEach(s.batch() * oh, row -> {
            int b = row / oh, oy = row % oh;
            for (int ox = 0; ox < ow; ox++) {
                int dst = co + ((b * oh + oy) * ow + ox) * pc, ix0 = ox * s.stride() - s.pad();
                // The kx cells of one kernel row are adjacent in a channels-last image: copy the part inside as one run.
                int kxFrom = Math.max(0, -ix0), kxTo = Math.min(k, s.width() - ix0);
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * s.stride() - s.pad() + ky, d = dst + ky * k * c;
                    if (iy < 0 || iy >= s.height() || kxFrom >= kxTo) {
                        java.util.Arrays.fill(cols, d, d + k * c, 0f);
                        continue;
                    }
                    if (kxFrom > 0) java.util.Arrays.fill(cols, d, d + kxFrom * c, 0f);
                    int src = xo + ((b * s.height() + iy) * s.width() + ix0 + kxFrom) * c, run = (kxTo - kxFrom) * c;
                    System.arraycopy(x, src, cols, d + kxFrom * c, run);
                    if (kxTo < k) java.util.Arrays.fill(cols, d + kxTo * c, d + k * c, 0f);
                }
            }
        });
    }

    /**
     * {@link #im2col} for one channel (MNIST-like inputs), where the runs it copies are a few
     * floats long: element by element, since calls to arraycopy and fill cost more than the copy
     * (1.5 against 2.5 ms for 64 images of 28x28 with 3x3 kernels).
     */
    private static void im2colSingleChannel(Loop loop, ConvShape s, float[] x, int xo, float[] cols, int co) {
        int oh = s.outHeight(), ow = s.outWidth(), k = s.kernel(), pc = s.patchColumns(), h = s.height(), w = s.width();
        loop.forEach(s.batch() * oh, row -> {
            int b = row / oh, oy = row % oh;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * s.stride() - s.pad() + ky, line = xo + (b * h + iy) * w;
                boolean inside = iy >= 0 && iy < h;
                for (int ox = 0; ox < ow; ox++) {
                    int d = co + ((b * oh + oy) * ow + ox) * pc + ky * k, ix0 = ox * s.stride() - s.pad();
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ix0 + kx;
                        cols[d + kx] = inside && ix >= 0 && ix < w ? x[line + ix] : 0f;
                    }
                }
            }
        });
    }

    /** The adjoint of im2col: dx = sum over the patches that read each pixel (dx overwritten). */
    public static void col2im(Loop loop, ConvShape s, float[] cols, int co, float[] dx, int dxo) {
        int oh = s.outHeight(), ow = s.outWidth(), k = s.kernel(), c = s.channels(), pc = s.patchColumns();
        // One task per image: the patches of an image only touch that image.
        loop.forEach(s.batch(), b -> {
            int img = dxo + b * s.height() * s.width() * c;
            java.util.Arrays.fill(dx, img, img + s.height() * s.width() * c, 0f);
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    int src = co + ((b * oh + oy) * ow + ox) * pc;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * s.stride() - s.pad() + ky;
                        if (iy < 0 || iy >= s.height()) continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * s.stride() - s.pad() + kx;
                            if (ix < 0 || ix >= s.width()) continue;
                            int d = img + (iy * s.width() + ix) * c, sc = src + (ky * k + kx) * c;
                            for (int ch = 0; ch < c; ch++) dx[d + ch] += cols[sc + ch];
                        }
                    }
                }
            }
        });
    }

    /** Max over each window (padded cells are skipped). Channels are innermost, so the inner loop is contiguous. */
    public static void maxPool(Loop loop, ConvShape s, float[] x, int xo, float[] y, int yo) {
        int oh = s.outHeight(), ow = s.outWidth(), c = s.channels();
        loop.forEach(s.batch() * oh, row -> {
            int b = row / oh, oy = row % oh;
            for (int ox = 0; ox < ow; ox++) {
                int out = yo + ((b * oh + oy) * ow + ox) * c;
                java.util.Arrays.fill(y, out, out + c, Float.NEGATIVE_INFINITY);
                for (int ky = 0; ky < s.kernel(); ky++) {
                    int iy = oy * s.stride() - s.pad() + ky;
                    if (iy < 0 || iy >= s.height()) continue;
                    for (int kx = 0; kx < s.kernel(); kx++) {
                        int ix = ox * s.stride() - s.pad() + kx;
                        if (ix < 0 || ix >= s.width()) continue;
                        int in = xo + ((b * s.height() + iy) * s.width() + ix) * c;
                        for (int ch = 0; ch < c; ch++) y[out + ch] = Math.max(y[out + ch], x[in + ch]);
                    }
                }
            }
        });
    }

    /** Routes each window's gradient to its first maximal input, in window order (dx overwritten). */
    public static void maxPoolBackward(Loop loop, ConvShape s, float[] x, int xo, float[] y, int yo, float[] dy, int dyo, float[] dx, int dxo) {
        int oh = s.outHeight(), ow = s.outWidth(), c = s.channels(), k = s.kernel();
        loop.forEach(s.batch(), b -> {
            int img = dxo + b * s.height() * s.width() * c;
            java.util.Arrays.fill(dx, img, img + s.height() * s.width() * c, 0f);
            // Per channel, the offset in the image of the window's first maximal cell (-1: none).
            int[] first = new int[c];
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    int out = ((b * oh + oy) * ow + ox) * c;
                    java.util.Arrays.fill(first, -1);
                    // Window cells in reverse order with a branch-free select: the last match kept is the first in order.
                    for (int cell = k * k - 1; cell >= 0; cell--) {
                        int iy = oy * s.stride() - s.pad() + cell / k, ix = ox * s.stride() - s.pad() + cell % k;
                        if (iy < 0 || iy >= s.height() || ix < 0 || ix >= s.width()) continue;
                        int pixel = (iy * s.width() + ix) * c, in = xo + b * s.height() * s.width() * c + pixel, o = yo + out;
                        for (int ch = 0; ch < c; ch++) first[ch] = x[in + ch] == y[o + ch] ? pixel : first[ch];
                    }
                    for (int ch = 0; ch < c; ch++) {
                        if (first[ch] >= 0) dx[img + first[ch] + ch] += dy[dyo + out + ch];
                    }
                }
            }
        });
    }

    /** y[b] = x[b]^T for {@code batch} row-major rows x cols matrices. */
    public static void batchedTranspose(Loop loop, int batch, int rows, int cols, float[] x, int xo, float[] y, int yo) {
        loop.forEach(batch, b -> {
            int base = b * rows * cols;
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) y[yo + base + c * rows + r] = x[xo + base + r * cols + c];
            }
        });
    }

    /** Per row of {@code dim}: y = (x - mean) / sqrt(var + eps) * gamma + beta (biased variance, in double). */
    public static void layerNorm(Loop loop, int rows, int dim, float eps, float[] x, int xo, float[] gamma, int go, float[] beta, int bo, float[] y, int yo) {
        loop.forEach(rows, r -> {
            int base = r * dim;
            double mean = rowMean(x, xo + base, dim);
            float rstd = (float) (1 / Math.sqrt(rowSquaredDeviations(x, xo + base, dim, mean) / dim + eps)), mu = (float) mean;
            for (int i = 0; i < dim; i++) y[yo + base + i] = (x[xo + base + i] - mu) * rstd * gamma[go + i] + beta[bo + i];
        });
    }

    /**
     * Layer norm backward, recomputing the row statistics from x: dx overwritten,
     * dGamma and dBeta accumulated (summed over rows in row order, in double).
     */
    public static void layerNormBackward(Loop loop, int rows, int dim, float eps, float[] x, int xo, float[] gamma, int go, float[] dy, int dyo,
                                         float[] dx, int dxo, float[] dGamma, int dgo, float[] dBeta, int dbo) {
        double[] means = new double[rows], rstds = new double[rows];
        loop.forEach(rows, r -> {
            int base = r * dim;
            double mean = rowMean(x, xo + base, dim);
            double rstd = 1 / Math.sqrt(rowSquaredDeviations(x, xo + base, dim, mean) / dim + eps), sumG = 0, sumGX = 0;
            means[r] = mean;
            rstds[r] = rstd;
            for (int i = 0; i < dim; i++) {
                double xhat = (x[xo + base + i] - mean) * rstd, g = (double) dy[dyo + base + i] * gamma[go + i];
                sumG += g;
                sumGX += g * xhat;
            }
            for (int i = 0; i < dim; i++) {
                double xhat = (x[xo + base + i] - mean) * rstd, g = (double) dy[dyo + base + i] * gamma[go + i];
                dx[dxo + base + i] = (float) (rstd * (g - sumG / dim - xhat * sumGX / dim));
            }
        });
        // Row by row, so that memory is read in order; each column still sums its rows in row order.
        double[] sg = new double[dim], sb = new double[dim];
        for (int r = 0; r < rows; r++) {
            int base = r * dim;
            for (int i = 0; i < dim; i++) {
                sg[i] += dy[dyo + base + i] * ((x[xo + base + i] - means[r]) * rstds[r]);
                sb[i] += dy[dyo + base + i];
            }
        }
        for (int i = 0; i < dim; i++) {
            dGamma[dgo + i] += (float) sg[i];
            dBeta[dbo + i] += (float) sb[i];
        }
    }

    private static double rowMean(float[] x, int from, int dim) {
        double sum = 0;
        for (int i = 0; i < dim; i++) sum += x[from + i];
        return sum / dim;
    }

    private static double rowSquaredDeviations(float[] x, int from, int dim, double mean) {
        double sum = 0;
        for (int i = 0; i < dim; i++) { double d = x[from + i] - mean; sum += d * d; }
        return sum;
    }

    /**
     * Multi-head scaled dot-product attention for {@code batch} sequences of {@code tokens}:
     * q, k, v, out are (batch*tokens) x (heads*headDim); probs (batch, heads, tokens, tokens)
     * receives the softmax of q k^T / sqrt(headDim) for the backward pass.
     */
    public static void attention(Loop loop, int batch, int tokens, int heads, int headDim, float[] q, int qo, float[] k, int ko,
                                 float[] v, int vo, float[] probs, int po, float[] out, int oo) {
        int d = heads * headDim;
        float scale = (float) (1 / Math.sqrt(headDim));
        loop.forEach(batch * heads, bh -> {
            int b = bh / heads, h = bh % heads, seq = b * tokens * d + h * headDim, p = po + bh * tokens * tokens;
            for (int i = 0; i < tokens; i++) {
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < tokens; j++) {
                    float s = 0;
                    for (int e = 0; e < headDim; e++) s += q[qo + seq + i * d + e] * k[ko + seq + j * d + e];
                    s *= scale;
                    probs[p + i * tokens + j] = s;
                    max = Math.max(max, s);
                }
                double z = 0;
                for (int j = 0; j < tokens; j++) {
                    float ex = (float) Math.exp(probs[p + i * tokens + j] - max);
                    probs[p + i * tokens + j] = ex;
                    z += ex;
                }
                float inv = (float) (1 / z);
                for (int j = 0; j < tokens; j++) probs[p + i * tokens + j] *= inv;
                for (int e = 0; e < headDim; e++) {
                    float acc = 0;
                    for (int j = 0; j < tokens; j++) acc += probs[p + i * tokens + j] * v[vo + seq + j * d + e];
                    out[oo + seq + i * d + e] = acc;
                }
            }
        });
    }

    /** Backward of {@link #attention}: dq, dk, dv overwritten. */
    public static void attentionBackward(Loop loop, int batch, int tokens, int heads, int headDim, float[] q, int qo, float[] k, int ko,
                                         float[] v, int vo, float[] probs, int po, float[] dOut, int doo,
                                         float[] dq, int dqo, float[] dk, int dko, float[] dv, int dvo) {
        int d = heads * headDim;
        float scale = (float) (1 / Math.sqrt(headDim));
        loop.forEach(batch * heads, bh -> {
            int b = bh / heads, h = bh % heads, seq = b * tokens * d + h * headDim, p = po + bh * tokens * tokens;
            float[] dp = new float[tokens];
            for (int i = 0; i < tokens; i++) {
                for (int e = 0; e < headDim; e++) { dq[dqo + seq + i * d + e] = 0f; dk[dko + seq + i * d + e] = 0f; dv[dvo + seq + i * d + e] = 0f; }
            }
            for (int i = 0; i < tokens; i++) {
                // dP = dOut v^T, dS = P * (dP - sum_j P dP), then dq = dS k * scale, dk += dS^T q * scale, dv += P^T dOut.
                float dot = 0;
                for (int j = 0; j < tokens; j++) {
                    float s = 0;
                    for (int e = 0; e < headDim; e++) s += dOut[doo + seq + i * d + e] * v[vo + seq + j * d + e];
                    dp[j] = s;
                    dot += s * probs[p + i * tokens + j];
                }
                for (int j = 0; j < tokens; j++) {
                    float pij = probs[p + i * tokens + j], ds = pij * (dp[j] - dot) * scale;
                    for (int e = 0; e < headDim; e++) {
                        dq[dqo + seq + i * d + e] += ds * k[ko + seq + j * d + e];
                        dk[dko + seq + j * d + e] += ds * q[qo + seq + i * d + e];
                        dv[dvo + seq + j * d + e] += pij * dOut[doo + seq + i * d + e];
                    }
                }
            }
        });
    }

    /** y[b] = mean over the tokens of x[b] (x: batch x tokens x dim, y: batch x dim). */
    public static void tokenMean(Loop loop, int batch, int tokens, int dim, float[] x, int xo, float[] y, int yo) {
        loop.forEach(batch, b -> {
            for (int i = 0; i < dim; i++) {
                double s = 0;
                for (int t = 0; t < tokens; t++) s += x[xo + (b * tokens + t) * dim + i];
                y[yo + b * dim + i] = (float) (s / tokens);
            }
        });
    }

    /** Backward of {@link #tokenMean}: dx[b][t] = dy[b] / tokens (dx overwritten). */
    public static void tokenMeanBackward(Loop loop, int batch, int tokens, int dim, float[] dy, int dyo, float[] dx, int dxo) {
        float inv = 1f / tokens;
        loop.forEach(batch, b -> {
            for (int t = 0; t < tokens; t++) {
                for (int i = 0; i < dim; i++) dx[dxo + (b * tokens + t) * dim + i] = dy[dyo + b * dim + i] * inv;
            }
        });
    }
}
