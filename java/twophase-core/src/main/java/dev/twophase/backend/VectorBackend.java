package dev.twophase.backend;

import java.util.Objects;

/**
 * Memory and the vector operations of the optimizers: what {@link dev.twophase.optim.Adam},
 * {@link dev.twophase.optim.ConjugateGradient} and {@link dev.twophase.optim.TwoPhase} need,
 * and all that a trainer with memory of its own (another library's arrays, a
 * {@code MemorySegment}) has to implement to use them. {@link Backend} adds the model ops.
 *
 * <p>Buffers passed to an op must belong to this backend and be open; lengths are checked. Every
 * error names the operation, the argument and, for lengths, both lengths (for example
 * {@code upload: dst belongs to another backend (ffm), expected cpu}). Once the backend is
 * closed every method but {@link #name}, {@link #description} and {@link #close} throws
 * {@link IllegalStateException}.
 *
 * <p>Reductions accumulate in double in an order that does not depend on the number of threads
 * or blocks, so every backend returns the same bits run after run.
 */
public interface VectorBackend extends AutoCloseable {

    /** Short name: {@code cpu}, {@code jcuda}, {@code ffm}. */
    String name();

    /** One line on what this backend runs on (device name, threads, GEMM library). */
    String description();

    // ---- memory ----

    /** A zero-filled buffer of {@code length} floats. */
    Buffer allocate(long length);

    /** Copies all of {@code src} into {@code dst}; their lengths must be equal. */
    default void upload(float[] src, Buffer dst) {
        upload(src, 0, dst);
    }

    /**
     * Copies {@code src[srcOffset..]}, the rest of the array, into {@code dst}: exactly
     * {@code dst.length()} floats must remain from {@code srcOffset} (fewer throws
     * {@link IndexOutOfBoundsException}, more {@link IllegalArgumentException}).
     */
    default void upload(float[] src, int srcOffset, Buffer dst) {
        Objects.requireNonNull(dst, "upload: dst");
        upload(src, srcOffset, BufferChecks.rest("upload", "src", src, srcOffset, "dst", dst), dst);
    }

    /**
     * Copies {@code src[srcOffset, srcOffset + length)} into {@code dst}; {@code length} must equal
     * {@code dst.length()} and the range must lie inside {@code src}.
     */
    void upload(float[] src, int srcOffset, int length, Buffer dst);

    /** Copies all of {@code src} into {@code dst}; their lengths must be equal. */
    default void download(Buffer src, float[] dst) {
        download(src, dst, 0);
    }

    /**
     * Copies all of {@code src} into {@code dst[dstOffset..]}, the rest of the array: exactly
     * {@code src.length()} floats must remain from {@code dstOffset} (fewer throws
     * {@link IndexOutOfBoundsException}, more {@link IllegalArgumentException}).
     */
    default void download(Buffer src, float[] dst, int dstOffset) {
        Objects.requireNonNull(src, "download: src");
        download(src, dst, dstOffset, BufferChecks.rest("download", "dst", dst, dstOffset, "src", src));
    }

    /**
     * Copies all of {@code src} into {@code dst[dstOffset, dstOffset + length)}; {@code length}
     * must equal {@code src.length()} and the range must lie inside {@code dst}.
     */
    void download(Buffer src, float[] dst, int dstOffset, int length);

    /** Copies {@code src} into {@code dst} (equal lengths; overlapping slices behave like {@code System.arraycopy}). */
    void copy(Buffer src, Buffer dst);

    void fill(Buffer dst, float value);

    /** Waits until all queued work is done (a no-op on the CPU). */
    default void synchronize() { }

    /**
     * Bytes copied between host memory and this backend's memory since it opened (uploads,
     * downloads, and what the ops send or return behind the scenes: index tables, the scalars of
     * reductions); {@link Transfers#NONE} for a backend whose memory is host memory.
     */
    default Transfers transfers() { return Transfers.NONE; }

    // ---- optimizer vector ops ----

    /**
     * The fused Adam/AdamW step with the same scalars for every element and no AMSGrad: the
     * one-segment case of {@link #adamStep(AdamUpdate, Buffer, Buffer, Buffer, Buffer, Buffer)}.
     */
    default void adamStep(AdamScalars s, Buffer param, Buffer grad, Buffer expAvg, Buffer expAvgSq) {
        Objects.requireNonNull(param, "adamStep: param");
        adamStep(AdamUpdate.uniform(s, param.length()), param, grad, expAvg, expAvgSq, null);
    }

    /**
     * The fused Adam/AdamW step over the whole flat buffer, in one pass: each segment of
     * {@code update} with its own scalars (per-tensor weight decay), the formula in
     * {@link AdamScalars}. {@code maxExpAvgSq} is null for Adam, and AMSGrad's running maximum of
     * the second moment otherwise. The CPU and GPU backends run every variant; a backend of one's
     * own that cannot throws {@link UnsupportedOperationException} naming itself and the variant.
     */
    void adamStep(AdamUpdate update, Buffer param, Buffer grad, Buffer expAvg, Buffer expAvgSq, Buffer maxExpAvgSq);

    /** {@code out[j] = x . ys[j]} for every j, in one pass over x, accumulated in double. */
    void multiDot(Buffer x, Buffer[] ys, double[] out);

    /** {@code d = -g + beta * d} and {@code gPrev = g}, in one pass. */
    void cgDirection(Buffer d, Buffer g, Buffer gPrev, double beta);

    /** {@code x = x0 + alpha * d}. */
    void trialPoint(Buffer x, Buffer x0, Buffer d, double alpha);

    /** {@code y += a * x}. */
    void axpy(float a, Buffer x, Buffer y);

    /** Per-tensor and total sums of squares over the segments {@code offsets[i]..offsets[i+1]}, with a non-finite flag. */
    GradientNorms segmentedNorms(Buffer g, long[] offsets);

    /**
     * The max-norm {@code max |x_i|}, reduced where x lives (CG's stopping test; no copy of x to the
     * host): 0 for an empty buffer, NaN when x holds a NaN, +Infinity when it holds an infinity and
     * no NaN (NaN propagates, as in {@link Math#max}). Exact, so every backend returns the same value.
     */
    double maxAbs(Buffer x);

    /** Releases the backend's resources; idempotent. Buffers it allocated become unusable. */
    @Override void close();
}
