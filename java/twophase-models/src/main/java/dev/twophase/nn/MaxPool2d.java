package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.ConvShape;

/** Max pooling over size x size windows with stride = size, channels-last. */
public final class MaxPool2d implements Layer {
    private final ConvShape shape;

    public MaxPool2d(int height, int width, int channels, int size) {
        this.shape = new ConvShape(1, height, width, channels, size, size, 0);
    }

    public int outHeight() { return shape.outHeight(); }

    public int outWidth() { return shape.outWidth(); }

    @Override public int inputSize() { return (int) shape.inputSize(); }

    @Override public int outputSize() { return shape.outHeight() * shape.outWidth() * shape.channels(); }

    @Override public void forward(Backend be, Buffer params, Buffer in, Buffer out, Buffer ws, int batch) {
        be.maxPool(shape.withBatch(batch), in, out);
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer in, Buffer out, Buffer dOut, Buffer dIn, Buffer ws, int batch) {
        if (dIn != null) be.maxPoolBackward(shape.withBatch(batch), in, out, dOut, dIn);
    }

    @Override public String describe() { return "maxpool" + shape.kernel(); }
}
