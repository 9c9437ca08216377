package dev.twophase.nn;

import dev.twophase.tensor.ParameterLayout;
import dev.twophase.tensor.TensorView;

/** Plain double-precision definitions of the layers, written directly from their formulas. */
final class ReferenceLayers {
    private ReferenceLayers() { }

    static double at(double[] p, ParameterLayout l, String name, int i) {
        TensorView v = l.view(name);
        return p[(int) v.offset() + i];
    }

    /** Direct convolution, channels-last input and output, weights (cout, k, k, cin). */
    static double[] conv(double[] p, ParameterLayout l, String pre, double[] x, int batch, int h, int w, int cin, int cout, int k, int stride, int pad) {
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        double[] y = new double[batch * oh * ow * cout];
        for (int b = 0; b < batch; b++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) for (int o = 0; o < cout; o++) {
            double s = at(p, l, pre + "bias", o);
            for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) {
                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                for (int c = 0; c < cin; c++) s += at(p, l, pre + "weight", ((o * k + ky) * k + kx) * cin + c) * x[((b * h + iy) * w + ix) * cin + c];
            }
            y[((b * oh + oy) * ow + ox) * cout + o] = s;
        }
        return y;
    }

    static double[] maxPool(double[] x, int batch, int h, int w, int c, int size) {
        int oh = h / size, ow = w / size;
        double[] y = new double[batch * oh * ow * c];
        for (int b = 0; b < batch; b++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) for (int ch = 0; ch < c; ch++) {
            double m = Double.NEGATIVE_INFINITY;
            for (int ky = 0; ky < size; ky++) for (int kx = 0; kx < size; kx++) m = Math.max(m, x[((b * h + oy * size + ky) * w + ox * size + kx) * c + ch]);
            y[((b * oh + oy) * ow + ox) * c + ch] = m;
        }
        return y;
    }

    static double[] channelsLast(double[] x, int batch, int c, int pixels) {
        double[] y = new double[x.length];
        for (int b = 0; b < batch; b++) for (int ch = 0; ch < c; ch++) for (int q = 0; q < pixels; q++) y[(b * pixels + q) * c + ch] = x[(b * c + ch) * pixels + q];
        return y;
    }

    static double[] layerNorm(double[] p, ParameterLayout l, String pre, double[] x, int rows, int dim) {
        double[] y = new double[rows * dim];
        for (int r = 0; r < rows; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < dim; i++) mean += x[r * dim + i] / dim;
            for (int i = 0; i < dim; i++) var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean) / dim;
            for (int i = 0; i < dim; i++) {
                y[r * dim + i] = (x[r * dim + i] - mean) / Math.sqrt(var + LayerNorm.EPS) * at(p, l, pre + "gamma", i) + at(p, l, pre + "beta", i);
            }
        }
        return y;
    }

    static double[] addPosition(double[] p, ParameterLayout l, String pre, double[] x, int batch, int n) {
        double[] y = x.clone();
        for (int b = 0; b < batch; b++) for (int i = 0; i < n; i++) y[b * n + i] += at(p, l, pre + "position", i);
        return y;
    }

    static double[] tokenMean(double[] x, int batch, int tokens, int dim) {
        double[] y = new double[batch * dim];
        for (int b = 0; b < batch; b++) for (int t = 0; t < tokens; t++) for (int i = 0; i < dim; i++) y[b * dim + i] += x[(b * tokens + t) * dim + i] / tokens;
        return y;
    }

    /** y = x W^T + b for rows of {@code in} values, W (out x in). */
    static double[] linear(double[] p, ParameterLayout l, String pre, double[] x, int rows, int in, int out) {
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) for (int o = 0; o < out; o++) {
            double s = at(p, l, pre + "bias", o);
            for (int i = 0; i < in; i++) s += at(p, l, pre + "weight", o * in + i) * x[r * in + i];
            y[r * out + o] = s;
        }
        return y;
    }

    static double[] attention(double[] q, double[] k, double[] v, int batch, int tokens, int heads, int dim) {
        int hd = dim / heads;
        double[] out = new double[batch * tokens * dim];
        for (int b = 0; b < batch; b++) for (int h = 0; h < heads; h++) for (int i = 0; i < tokens; i++) {
            double[] s = new double[tokens];
            double max = Double.NEGATIVE_INFINITY, z = 0;
            for (int j = 0; j < tokens; j++) {
                for (int e = 0; e < hd; e++) s[j] += q[(b * tokens + i) * dim + h * hd + e] * k[(b * tokens + j) * dim + h * hd + e];
                s[j] /= Math.sqrt(hd);
                max = Math.max(max, s[j]);
            }
            for (int j = 0; j < tokens; j++) z += Math.exp(s[j] - max);
            for (int j = 0; j < tokens; j++) {
                double pj = Math.exp(s[j] - max) / z;
                for (int e = 0; e < hd; e++) out[(b * tokens + i) * dim + h * hd + e] += pj * v[(b * tokens + j) * dim + h * hd + e];
            }
        }
        return out;
    }

    static double gelu(double x) { return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))); }

    static double[] block(double[] p, ParameterLayout l, String pre, double[] x, int batch, int tokens, int dim, int heads, int mlp,
                          boolean sharedKq, boolean valueOutput) {
        int rows = batch * tokens;
        double[] a = layerNorm(p, l, pre + "ln1.", x, rows, dim);
        double[] q = linear(p, l, pre + "q.", a, rows, dim, dim);
        double[] k = sharedKq ? q : linear(p, l, pre + "k.", a, rows, dim, dim);
        double[] v = valueOutput ? linear(p, l, pre + "v.", a, rows, dim, dim) : a;
        double[] att = attention(q, k, v, batch, tokens, heads, dim);
        double[] o = valueOutput ? linear(p, l, pre + "o.", att, rows, dim, dim) : att;
        double[] x1 = new double[x.length];
        for (int i = 0; i < x.length; i++) x1[i] = x[i] + o[i];
        if (mlp == 0) return x1;
        double[] hidden = linear(p, l, pre + "fc1.", layerNorm(p, l, pre + "ln2.", x1, rows, dim), rows, dim, mlp);
        for (int i = 0; i < hidden.length; i++) hidden[i] = gelu(hidden[i]);
        double[] m = linear(p, l, pre + "fc2.", hidden, rows, mlp, dim);
        for (int i = 0; i < x1.length; i++) x1[i] += m[i];
        return x1;
    }
}
