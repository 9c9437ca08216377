package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.tensor.ParameterLayout;

import java.util.List;

/**
 * Runs a {@link Network} on one backend: owns the activation and gradient workspace for batches
 * of up to {@code maxBatch} rows, reused for every call.
 */
public final class NetworkRunner implements AutoCloseable {
    private final Network net;
    private final Backend be;
    private final int maxBatch;
    private final Buffer[] acts;   // acts[0] = input copy slot unused; acts[i+1] = output of layer i
    private final Buffer[] grads;  // gradient with respect to acts[i]
    private final Buffer[] workspaces; // per layer, null when a layer needs none
    private final boolean[] needsInputGradient; // false while no earlier layer has parameters

    public NetworkRunner(Network net, Backend be, int maxBatch) {
        if (maxBatch <= 0) throw new IllegalArgumentException("maxBatch = " + maxBatch + "; expected at least 1");
        this.net = net;
        this.be = be;
        this.maxBatch = maxBatch;
        List<Layer> layers = net.layers();
        acts = new Buffer[layers.size() + 1];
        grads = new Buffer[layers.size() + 1];
        workspaces = new Buffer[layers.size()];
        needsInputGradient = new boolean[layers.size()];
        long paramsBefore = 0;
        for (int i = 0; i < layers.size(); i++) {
            needsInputGradient[i] = paramsBefore > 0;
            paramsBefore += parameterCount(layers.get(i));
        }
        for (int i = 0; i < layers.size(); i++) {
            long ws = layers.get(i).workspaceSize(maxBatch);
            if (ws > 0) workspaces[i] = be.allocate(ws);
            acts[i + 1] = be.allocate((long) maxBatch * layers.get(i).outputSize());
            grads[i + 1] = be.allocate((long) maxBatch * layers.get(i).outputSize());
        }
    }

    public Network network() { return net; }

    public Backend backend() { return be; }

    public int maxBatch() { return maxBatch; }

    /** Forward pass of {@code batch} rows of {@code input}; returns the output (valid until the next call). */
    public Buffer forward(Buffer params, Buffer input, int batch) {
        checkBatch(batch);
        List<Layer> layers = net.layers();
        Buffer x = input;
        for (int i = 0; i < layers.size(); i++) {
            Buffer y = rows(acts[i + 1], batch, layers.get(i).outputSize());
            layers.get(i).forward(be, params, x, y, workspaces[i], batch);
            x = y;
        }
        return x;
    }

    /** The gradient buffer for the output of the last forward pass: the loss writes dL/dOut here. */
    public Buffer outputGradient(int batch) {
        return rows(grads[grads.length - 1], batch, net.outputSize());
    }

    /**
     * Backward pass after {@link #forward} on the same input, with dL/dOut already in
     * {@link #outputGradient}; accumulates into {@code paramGrads}.
     */
    public void backward(Buffer params, Buffer paramGrads, Buffer input, int batch) {
        List<Layer> layers = net.layers();
        for (int i = layers.size() - 1; i >= 0; i--) {
            Layer l = layers.get(i);
            Buffer x = i == 0 ? input : rows(acts[i], batch, l.inputSize());
            Buffer dx = needsInputGradient[i] ? rows(grads[i], batch, l.inputSize()) : null;
            l.backward(be, params, paramGrads, x, rows(acts[i + 1], batch, l.outputSize()), rows(grads[i + 1], batch, l.outputSize()), dx, workspaces[i], batch);
        }
    }

    private long parameterCount(Layer l) {
        ParameterLayout.Builder b = ParameterLayout.builder();
        l.declareParameters(b, "");
        return b.build().size();
    }

    private void checkBatch(int batch) {
        if (batch <= 0 || batch > maxBatch) throw new IllegalArgumentException("batch of " + batch + " rows; this runner holds 1.." + maxBatch);
    }

    private static Buffer rows(Buffer b, int batch, int width) { return b.slice(0, (long) batch * width); }

    @Override public void close() {
        for (Buffer b : acts) if (b != null) b.close();
        for (Buffer b : grads) if (b != null) b.close();
        for (Buffer b : workspaces) if (b != null) b.close();
    }
}
