package dev.twophase.examples;

import dev.twophase.tensor.ParameterLayout;

import java.util.Random;

/**
 * A network as a user might bring it: one hidden tanh layer, a linear output, the mean squared
 * error, and all its weights in one {@code float[]} that this class reads and differentiates by
 * itself. twophase never sees the layers: only the weights and gradient arrays, and the
 * {@link ParameterLayout} that names the tensors in them.
 */
public final class Mlp {
    private final int in, hidden, out;
    private final ParameterLayout layout;
    private final int w1, b1, w2, b2;

    public Mlp(int in, int hidden, int out) {
        this.in = in;
        this.hidden = hidden;
        this.out = out;
        this.layout = ParameterLayout.builder().add("w1", hidden, in).add("b1", hidden).add("w2", out, hidden).add("b2", out).build();
        this.w1 = (int) layout.view("w1").offset();
        this.b1 = (int) layout.view("b1").offset();
        this.w2 = (int) layout.view("w2").offset();
        this.b2 = (int) layout.view("b2").offset();
    }

    public ParameterLayout layout() { return layout; }

    public int parameterCount() { return (int) layout.size(); }

    /** Weights drawn uniformly in +-1/sqrt(fan-in), biases zero. */
    public float[] initialWeights(long seed) {
        Random r = new Random(seed);
        float[] w = new float[parameterCount()];
        for (int i = 0; i < hidden * in; i++) w[w1 + i] = (float) ((2 * r.nextDouble() - 1) / Math.sqrt(in));
        for (int i = 0; i < out * hidden; i++) w[w2 + i] = (float) ((2 * r.nextDouble() - 1) / Math.sqrt(hidden));
        return w;
    }

    /**
     * The mean squared error over rows {@code [from, to)} of {@code x, y} at weights {@code w}
     * (mean over rows and outputs); when {@code grad} is not null it is overwritten with the
     * gradient of that mean.
     */
    public double loss(float[] w, float[][] x, float[][] y, int from, int to, float[] grad) {
        if (grad != null) java.util.Arrays.fill(grad, 0f);
        double sum = 0;
        float scale = 2f / ((to - from) * out);
        float[] h = new float[hidden], dh = new float[hidden];
        for (int s = from; s < to; s++) {
            for (int k = 0; k < hidden; k++) {
                float a = w[b1 + k];
                for (int j = 0; j < in; j++) a += w[w1 + k * in + j] * x[s][j];
                h[k] = (float) Math.tanh(a);
            }
            java.util.Arrays.fill(dh, 0f);
            for (int o = 0; o < out; o++) {
                float a = w[b2 + o];
                for (int k = 0; k < hidden; k++) a += w[w2 + o * hidden + k] * h[k];
                float err = a - y[s][o];
                sum += (double) err * err;
                if (grad == null) continue;
                float d = scale * err;
                grad[b2 + o] += d;
                for (int k = 0; k < hidden; k++) {
                    grad[w2 + o * hidden + k] += d * h[k];
                    dh[k] += d * w[w2 + o * hidden + k];
                }
            }
            if (grad == null) continue;
            for (int k = 0; k < hidden; k++) {
                float da = dh[k] * (1 - h[k] * h[k]);
                grad[b1 + k] += da;
                for (int j = 0; j < in; j++) grad[w1 + k * in + j] += da * x[s][j];
            }
        }
        return sum / ((double) (to - from) * out);
    }
}
