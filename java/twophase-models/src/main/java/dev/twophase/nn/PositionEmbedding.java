package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.tensor.ParameterLayout;
import dev.twophase.tensor.TensorView;

import java.util.SplittableRandom;

/** Adds a learned embedding to every token position (tokens x dim), initialized N(0, 0.02^2) as in ViT. */
public final class PositionEmbedding implements Layer {
    private final int tokens, dim;
    private TensorView table;

    public PositionEmbedding(int tokens, int dim) {
        this.tokens = tokens;
        this.dim = dim;
    }

    @Override public int inputSize() { return tokens * dim; }

    @Override public int outputSize() { return tokens * dim; }

    @Override public void declareParameters(ParameterLayout.Builder layout, String prefix) { layout.add(prefix + "position", tokens, dim); }

    @Override public void bind(ParameterLayout layout, String prefix) { table = layout.view(prefix + "position"); }

    @Override public void initialize(float[] params, SplittableRandom rng) {
        for (long i = 0; i < table.size(); i++) params[(int) (table.offset() + i)] = (float) (0.02 * gaussian(rng));
    }

    private static double gaussian(SplittableRandom rng) {
        double u = rng.nextDouble(), v = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
    }

    @Override public void forward(Backend be, Buffer params, Buffer in, Buffer out, Buffer ws, int batch) {
        be.copy(in, out);
        be.addBias(out, Views.slice(params, table)); // each sample is one row of tokens*dim
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer in, Buffer out, Buffer dOut, Buffer dIn, Buffer ws, int batch) {
        be.accumulateBiasGradient(dOut, Views.slice(grads, table));
        if (dIn != null) be.copy(dOut, dIn);
    }

    @Override public String describe() { return "position-embedding " + tokens + "x" + dim; }
}
