package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;

/** Mean over the tokens of each sample: the pooling before the transformers' classification head. */
public final class TokenMean implements Layer {
    private final int tokens, dim;

    public TokenMean(int tokens, int dim) {
        this.tokens = tokens;
        this.dim = dim;
    }

    @Override public int inputSize() { return tokens * dim; }

    @Override public int outputSize() { return dim; }

    @Override public void forward(Backend be, Buffer params, Buffer in, Buffer out, Buffer ws, int batch) {
        be.tokenMean(batch, tokens, dim, in, out);
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer in, Buffer out, Buffer dOut, Buffer dIn, Buffer ws, int batch) {
        if (dIn != null) be.tokenMeanBackward(batch, tokens, dim, dOut, dIn);
    }

    @Override public String describe() { return "token-mean"; }
}
