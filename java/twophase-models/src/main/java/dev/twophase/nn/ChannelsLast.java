package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;

/**
 * Reorders images from the data sets' channel-major layout (C x H x W, as CIFAR stores them) to
 * the channels-last layout (H x W x C) the convolution and patch layers work in.
 */
public final class ChannelsLast implements Layer {
    private final int channels, pixels;

    public ChannelsLast(int channels, int height, int width) {
        this.channels = channels;
        this.pixels = height * width;
    }

    @Override public int inputSize() { return channels * pixels; }

    @Override public int outputSize() { return channels * pixels; }

    @Override public void forward(Backend be, Buffer params, Buffer in, Buffer out, Buffer ws, int batch) {
        be.batchedTranspose(batch, channels, pixels, in, out);
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer in, Buffer out, Buffer dOut, Buffer dIn, Buffer ws, int batch) {
        if (dIn != null) be.batchedTranspose(batch, pixels, channels, dOut, dIn);
    }

    @Override public String describe() { return "channels-last"; }
}
