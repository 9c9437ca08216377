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
        Views.uniform(params, weight, bound, rng);
        Views.uniform(params, bias, bound, rng);
    }

    @Override public void forward(Backend be, Buffer params, Buffer x, Buffer y, Buffer ws, int batch) {
        be.gemm(false, true, batch, out, in, 1f, x, in, Views.slice(params, weight), in, 0f, y, out);
        be.addBias(y, Views.slice(params, bias));
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer x, Buffer y, Buffer dy, Buffer dx, Buffer ws, int batch) {
        be.gemm(true, false, out, in, batch, 1f, dy, out, x, in, 1f, Views.slice(grads, weight), in);
        be.accumulateBiasGradient(dy, Views.slice(grads, bias));
        if (dx != null) be.gemm(false, false, batch, in, out, 1f, dy, out, Views.slice(params, weight), in, 0f, dx, in);
    }

    @Override public String describe() { return "dense " + in + "->" + out; }
}
