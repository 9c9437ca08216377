package dev.twophase.nn;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.ConvShape;
import dev.twophase.tensor.ParameterLayout;
import dev.twophase.tensor.TensorView;

import java.util.SplittableRandom;

/**
 * 2-D convolution on channels-last images as im2col + GEMM: the patches of a batch form a
 * (pixels x k*k*Cin) matrix, times the (Cout x k*k*Cin) weight transposed gives the channels-last
 * output directly. Also the patch embedding of the vision transformers (kernel = stride = patch).
 * Initialized like PyTorch's Conv2d: uniform in +-1/sqrt(k*k*Cin).
 */
public final class Conv2d implements Layer {
    private final ConvShape shape; // batch 1; scaled per call
    private final int outChannels;
    private TensorView weight, bias;

    public Conv2d(int height, int width, int inChannels, int outChannels, int kernel, int stride, int pad) {
        this.shape = new ConvShape(1, height, width, inChannels, kernel, stride, pad);
        if (outChannels < 1) throw new IllegalArgumentException("conv output channels " + outChannels + " must be positive");
        this.outChannels = outChannels;
    }

    public int outHeight() { return shape.outHeight(); }

    public int outWidth() { return shape.outWidth(); }

    @Override public int inputSize() { return (int) shape.inputSize(); }

    @Override public int outputSize() { return shape.outHeight() * shape.outWidth() * outChannels; }

    @Override public void declareParameters(ParameterLayout.Builder layout, String prefix) {
        layout.add(prefix + "weight", outChannels, shape.kernel(), shape.kernel(), shape.channels()).add(prefix + "bias", outChannels);
    }

    @Override public void bind(ParameterLayout layout, String prefix) {
        weight = layout.view(prefix + "weight");
        bias = layout.view(prefix + "bias");
    }

    @Override public void initialize(float[] params, SplittableRandom rng) {
        double bound = 1 / Math.sqrt(shape.patchColumns());
        Views.uniform(params, weight, bound, rng);
        Views.uniform(params, bias, bound, rng);
    }

    /** The patch matrix of the batch. */
    @Override public long workspaceSize(int batch) { return shape.withBatch(batch).patchRows() * shape.patchColumns(); }

    @Override public void forward(Backend be, Buffer params, Buffer in, Buffer out, Buffer ws, int batch) {
        ConvShape s = shape.withBatch(batch);
        int rows = (int) s.patchRows(), cols = s.patchColumns();
        Buffer patches = ws.slice(0, (long) rows * cols);
        be.im2col(s, in, patches);
        be.gemm(false, true, rows, outChannels, cols, 1f, patches, cols, Views.slice(params, weight), cols, 0f, out, outChannels);
        be.addBias(out, Views.slice(params, bias));
    }

    @Override public void backward(Backend be, Buffer params, Buffer grads, Buffer in, Buffer out, Buffer dOut, Buffer dIn, Buffer ws, int batch) {
        ConvShape s = shape.withBatch(batch);
        int rows = (int) s.patchRows(), cols = s.patchColumns();
        Buffer patches = ws.slice(0, (long) rows * cols);
        be.gemm(true, false, outChannels, cols, rows, 1f, dOut, outChannels, patches, cols, 1f, Views.slice(grads, weight), cols);
        be.accumulateBiasGradient(dOut, Views.slice(grads, bias));
        if (dIn != null) {
            // The patches are no longer needed: their space takes the patch gradients.
            be.gemm(false, false, rows, cols, outChannels, 1f, dOut, outChannels, Views.slice(params, weight), cols, 0f, patches, cols);
            be.col2im(s, patches, dIn);
        }
    }

    @Override public String describe() {
        return "conv" + shape.kernel() + "x" + shape.kernel() + (shape.stride() > 1 ? "/" + shape.stride() : "") + " " + shape.channels() + "->" + outChannels;
    }
}
