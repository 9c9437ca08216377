package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.tensor.ParameterLayout;
import dev.twophase.tensor.TensorView;

import java.util.SplittableRandom;

/** Layer normalization of every token (rows of {@code dim}), gamma 1 and beta 0 at start, eps 1e-5. */
public final class LayerNorm implements Layer {
    static final float EPS = 1e-5f;
    private final int tokens, dim;
    private TensorView gamma, beta;

    public LayerNorm(int tokens, int dim) {
        this.tokens = tokens;
        this.dim = dim;
    }

    @Override public int inputSize() { return tokens * dim; }

    @Override public int outputSize() { return tokens * dim; }

    @Override public void declareParameters(ParameterLayout.Builder layout, String prefix) {
        layout.add(prefix + "gamma", dim).add(prefix + "beta", dim);
    }

    @Override public void bind(ParameterLayout layout, String prefix) {
        gamma = layout.view(prefix + "gamma");
        beta = layout.view(prefix + "beta");
    }

    @Override public void initialize(float[] params, SplittableRandom rng) {
        Views.fill(params, gamma, 1f);
        Views.fill(params, beta, 0f);
    }

    @Override public void forward(Backend be, Buffer params, Buffer in, Buffer out, Buffer ws, int batch) {
        be.layerNorm(batch * tokens, dim, EPS, in, Views.slice(params, gamma), Views.slice(params, beta), out);
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer in, Buffer out, Buffer dOut, Buffer dIn, Buffer ws, int batch) {
        // dx is always computed (it shares the pass with dGamma/dBeta); the runner passes null when no earlier layer has parameters.
        Buffer dx = dIn != null ? dIn : ws.slice(0, (long) batch * tokens * dim);
        be.layerNormBackward(batch * tokens, dim, EPS, in, Views.slice(params, gamma), dOut, dx, Views.slice(grads, gamma), Views.slice(grads, beta));
    }

    @Override public long workspaceSize(int batch) { return (long) batch * tokens * dim; }

    @Override public String describe() { return "layernorm " + dim; }
}
