package dev.twophase.nn;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.tensor.ParameterLayout;

import java.util.SplittableRandom;

/**
 * A pre-norm transformer encoder block over sequences of {@code tokens} x {@code dim}, with the
 * reductions of Bermeitinger et al. (2024) that the paper's ViT variants use:
 * <pre>
 *   a  = LN1(x)
 *   q  = a Wq + bq;   k = sharedKeyQuery ? q : a Wk + bk;   v = valueOutput ? a Wv + bv : a
 *   x1 = x + (valueOutput ? Attention(q, k, v) Wo + bo : Attention(q, k, v))
 *   y  = mlpHidden > 0 ? x1 + W2 GELU(W1 LN2(x1) + b1) + b2 : x1
 * </pre>
 * Attention is multi-head scaled dot-product attention (heads x dim/heads).
 */
public final class TransformerBlock implements Layer {
    private final int tokens, dim, heads, mlpHidden;
    private final boolean sharedKeyQuery, valueOutput;
    private final LayerNorm ln1, ln2;
    private final Dense wq, wk, wv, wo, fc1, fc2;

    public TransformerBlock(int tokens, int dim, int heads, int mlpHidden, boolean sharedKeyQuery, boolean valueOutput) {
        if (dim % heads != 0) throw new IllegalArgumentException("embedding " + dim + " is not divisible by " + heads + " heads");
        if (!valueOutput && heads != 1) throw new IllegalArgumentException("without W_v and W_o the attention has a single head; got " + heads);
        this.tokens = tokens;
        this.dim = dim;
        this.heads = heads;
        this.mlpHidden = mlpHidden;
        this.sharedKeyQuery = sharedKeyQuery;
        this.valueOutput = valueOutput;
        ln1 = new LayerNorm(tokens, dim);
        wq = new Dense(dim, dim);
        wk = sharedKeyQuery ? null : new Dense(dim, dim);
        wv = valueOutput ? new Dense(dim, dim) : null;
        wo = valueOutput ? new Dense(dim, dim) : null;
        ln2 = mlpHidden > 0 ? new LayerNorm(tokens, dim) : null;
        fc1 = mlpHidden > 0 ? new Dense(dim, mlpHidden) : null;
        fc2 = mlpHidden > 0 ? new Dense(mlpHidden, dim) : null;
    }

    @Override public int inputSize() { return tokens * dim; }

    @Override public int outputSize() { return tokens * dim; }

    private Layer[] parts() { return new Layer[]{ln1, wq, wk, wv, wo, ln2, fc1, fc2}; }

    private static final String[] NAMES = {"ln1.", "q.", "k.", "v.", "o.", "ln2.", "fc1.", "fc2."};

    @Override public void declareParameters(ParameterLayout.Builder layout, String prefix) {
        Layer[] p = parts();
        for (int i = 0; i < p.length; i++) if (p[i] != null) p[i].declareParameters(layout, prefix + NAMES[i]);
    }

    @Override public void bind(ParameterLayout layout, String prefix) {
        Layer[] p = parts();
        for (int i = 0; i < p.length; i++) if (p[i] != null) p[i].bind(layout, prefix + NAMES[i]);
    }

    @Override public void initialize(float[] params, SplittableRandom rng) {
        for (Layer l : parts()) if (l != null) l.initialize(params, rng);
    }

    /**
     * The regions of the workspace for one batch: saved activations first, then backward scratch.
     * With ws = null the buffers are null and only {@code size} counts (what workspaceSize asks).
     */
    private final class Regions {
        final long size;
        final Buffer a, q, k, v, probs, att, proj, x1, b, h, g, dA, dQ, dK, dV, dAtt, dX1, dB, dTmp, dG, dH;

        Regions(Buffer ws, int batch) {
            long r = (long) batch * tokens * dim, m = (long) batch * tokens * Math.max(mlpHidden, 1);
            Views.Carver c = new Views.Carver(ws);
            a = c.take(r); q = c.take(r); k = c.take(r); v = c.take(r);
            probs = c.take((long) batch * heads * tokens * tokens);
            att = c.take(r); proj = c.take(r); x1 = c.take(r); b = c.take(r); h = c.take(m); g = c.take(m);
            dA = c.take(r); dQ = c.take(r); dK = c.take(r); dV = c.take(r); dAtt = c.take(r); dX1 = c.take(r); dB = c.take(r); dTmp = c.take(r);
            dG = c.take(m); dH = c.take(m);
            size = c.used();
        }
    }

    @Override public long workspaceSize(int batch) { return new Regions(null, batch).size; }

    @Override public void forward(Backend be, Buffer params, Buffer x, Buffer y, Buffer ws, int batch) {
        Regions w = new Regions(ws, batch);
        int rows = batch * tokens;
        ln1.forward(be, params, x, w.a, null, batch);
        wq.forward(be, params, w.a, w.q, null, rows);
        Buffer k = sharedKeyQuery ? w.q : w.k;
        if (!sharedKeyQuery) wk.forward(be, params, w.a, w.k, null, rows);
        Buffer v = valueOutput ? w.v : w.a;
        if (valueOutput) wv.forward(be, params, w.a, w.v, null, rows);
        be.attention(batch, tokens, heads, dim / heads, w.q, k, v, w.probs, w.att);
        Buffer attended = w.att;
        if (valueOutput) {
            wo.forward(be, params, w.att, w.proj, null, rows);
            attended = w.proj;
        }
        Buffer x1 = mlpHidden > 0 ? w.x1 : y;
        be.copy(x, x1);
        be.axpy(1f, attended, x1);
        if (mlpHidden > 0) {
            ln2.forward(be, params, x1, w.b, null, batch);
            fc1.forward(be, params, w.b, w.h, null, rows);
            be.activation(Activation.GELU, w.h, w.g);
            fc2.forward(be, params, w.g, w.proj, null, rows);
            be.copy(x1, y);
            be.axpy(1f, w.proj, y);
        }
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer x, Buffer y, Buffer dy, Buffer dx, Buffer ws, int batch) {
        Regions w = new Regions(ws, batch);
        int rows = batch * tokens;
        Buffer dx1 = dy;
        if (mlpHidden > 0) {
            fc2.backward(be, params, grads, w.g, null, dy, w.dG, null, rows);
            be.activationBackward(Activation.GELU, w.h, w.g, w.dG, w.dH);
            fc1.backward(be, params, grads, w.b, null, w.dH, w.dB, null, rows);
            ln2.backward(be, params, grads, w.x1, null, w.dB, w.dX1, null, batch);
            be.axpy(1f, dy, w.dX1);
            dx1 = w.dX1;
        }
        Buffer dAttended = dx1;
        if (valueOutput) {
            wo.backward(be, params, grads, w.att, null, dx1, w.dAtt, null, rows);
            dAttended = w.dAtt;
        }
        Buffer k = sharedKeyQuery ? w.q : w.k, v = valueOutput ? w.v : w.a;
        be.attentionBackward(batch, tokens, heads, dim / heads, w.q, k, v, w.probs, dAttended, w.dQ, w.dK, w.dV);
        if (sharedKeyQuery) be.axpy(1f, w.dK, w.dQ); // one matrix plays both roles
        wq.backward(be, params, grads, w.a, null, w.dQ, w.dA, null, rows);
        if (!sharedKeyQuery) {
            wk.backward(be, params, grads, w.a, null, w.dK, w.dTmp, null, rows);
            be.axpy(1f, w.dTmp, w.dA);
        }
        if (valueOutput) {
            wv.backward(be, params, grads, w.a, null, w.dV, w.dTmp, null, rows);
            be.axpy(1f, w.dTmp, w.dA);
        } else {
            be.axpy(1f, w.dV, w.dA);
        }
        Buffer dIn = dx != null ? dx : w.dTmp;
        ln1.backward(be, params, grads, x, null, w.dA, dIn, null, batch);
        be.axpy(1f, dx1, dIn);
    }

    @Override public String describe() {
        return "encoder(" + heads + " heads" + (sharedKeyQuery ? ", Wk=Wq" : "") + (valueOutput ? "" : ", no Wv/Wo")
                + (mlpHidden > 0 ? ", mlp " + mlpHidden : ", no mlp") + ")";
    }
}
