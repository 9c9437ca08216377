package dev.twophase.backend;

/**
 * The geometry of a 2-D convolution or pooling window over a batch of channels-last (NHWC)
 * images: {@code batch} images of {@code height x width x channels}, square windows of
 * {@code kernel}, {@code stride}, and zero padding {@code pad} on every side.
 */
public record ConvShape(int batch, int height, int width, int channels, int kernel, int stride, int pad) {

    public ConvShape {
        if (batch < 1 || height < 1 || width < 1 || channels < 1 || kernel < 1 || stride < 1 || pad < 0) {
            throw new IllegalArgumentException("conv shape " + this + ": sizes must be positive, padding non-negative");
        }
        if (height + 2 * pad < kernel || width + 2 * pad < kernel) {
            throw new IllegalArgumentException("conv shape " + this + ": window larger than the padded image");
        }
    }

    public int outHeight() { return (height + 2 * pad - kernel) / stride + 1; }

    public int outWidth() { return (width + 2 * pad - kernel) / stride + 1; }

    /** Floats in the input batch. */
    public long inputSize() { return (long) batch * height * width * channels; }

    /** Rows of the im2col matrix: one per output pixel. */
    public long patchRows() { return (long) batch * outHeight() * outWidth(); }

    /** Columns of the im2col matrix: kernel x kernel x channels, in that order. */
    public int patchColumns() { return kernel * kernel * channels; }

    public ConvShape withBatch(int b) { return new ConvShape(b, height, width, channels, kernel, stride, pad); }
}
