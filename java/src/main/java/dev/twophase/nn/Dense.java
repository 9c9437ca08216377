package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.tensor.ParameterLayout;
import dev.twophase.tensor.TensorView;

import java.util.SplittableRandom;

/**
 * Fully connected layer {@code y = x W^T + b}, W stored out x in (PyTorch's nn.Linear layout).
 * Initialized like nn.Linear: W and b uniform in +-1/sqrt(in).
 */
public final class Dense implements Layer {
    private final int in, out;
    private TensorView weight, bias;

    public Dense(int in, int out) {
        if (in <= 0 || out <= 0) throw new IllegalArgumentException("dense layer " + in + "->" + out + ": sizes must be positive");
        this.in = in;
        this.out = out;
    }

    @Override public int inputSize() { return in; }

    @Override public int outputSize() { return out; }

    @Override public void declareParameters(ParameterLayout.Builder layout, String prefix) {
        layout.add(prefix + "weight", out, in).add(prefix + "bias", out);
    }

    @Override public void bind(ParameterLayout layout, String prefix) {
        weight = layout.view(prefix + "weight");
        bias = layout.view(prefix + "bias");
    }

    @Override public void initialize(float[] params, SplittableRandom rng) {
        double bound = 1 / Math.sqrt(in);
        for (long i = 0; i < weight.size(); i++) params[(int) (weight.offset() + i)] = (float) rng.nextDouble(-bound, bound);
        for (long i = 0; i < bias.size(); i++) params[(int) (bias.offset() + i)] = (float) rng.nextDouble(-bound, bound);
    }

    @Override public void forward(Backend be, Buffer params, Buffer x, Buffer y, int batch) {
        be.gemm(false, true, batch, out, in, 1f, x, in, slice(params, weight), in, 0f, y, out);
        be.addBias(y, slice(params, bias));
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer x, Buffer y, Buffer dy, Buffer dx, int batch) {
        be.gemm(true, false, out, in, batch, 1f, dy, out, x, in, 1f, slice(grads, weight), in);
        be.accumulateBiasGradient(dy, slice(grads, bias));
        if (dx != null) be.gemm(false, false, batch, in, out, 1f, dy, out, slice(params, weight), in, 0f, dx, in);
    }

    @Override public String describe() { return "dense " + in + "->" + out; }

    private static Buffer slice(Buffer flat, TensorView v) { return flat.slice(v.offset(), v.size()); }
}
