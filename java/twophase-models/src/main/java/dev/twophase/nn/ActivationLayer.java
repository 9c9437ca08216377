package dev.twophase.nn;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;

/** An elementwise activation between layers. */
public final class ActivationLayer implements Layer {
    private final Activation f;
    private final int size;

    public ActivationLayer(Activation f, int size) {
        this.f = f;
        this.size = size;
    }

    @Override public int inputSize() { return size; }

    @Override public int outputSize() { return size; }

    @Override public void forward(Backend be, Buffer params, Buffer in, Buffer out, Buffer ws, int batch) { be.activation(f, in, out); }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer in, Buffer out, Buffer dOut, Buffer dIn, Buffer ws, int batch) {
        if (dIn != null) be.activationBackward(f, in, out, dOut, dIn);
    }

    public Activation function() { return f; }

    @Override public String describe() { return f.id(); }
}
