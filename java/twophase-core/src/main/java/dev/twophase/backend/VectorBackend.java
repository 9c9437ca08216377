package dev.twophase.backend;

/**
 * Memory and the vector operations of the optimizers: what {@link dev.twophase.optim.Adam},
 * {@link dev.twophase.optim.ConjugateGradient} and {@link dev.twophase.optim.TwoPhase} need,
 * and all that a trainer with memory of its own (another library's arrays, a
 * {@code MemorySegment}) has to implement to use them. {@link Backend} adds the model ops.
 * Buffers passed to an op must belong to this backend; lengths are checked and a mismatch names
 * the operation and both lengths.
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

    /** Copies {@code dst.length()} floats from {@code src[srcOffset..]} into {@code dst}. */
    void upload(float[] src, int srcOffset, Buffer dst);

    /** Copies all of {@code src} into {@code dst[dstOffset..]}. */
    void download(Buffer src, float[] dst, int dstOffset);

    void copy(Buffer src, Buffer dst);

    void fill(Buffer dst, float value);

    /** Waits until all queued work is done (a no-op on the CPU). */
    default void synchronize() { }

    // ---- optimizer vector ops ----

    /** The fused Adam/AdamW step over the whole flat buffer (formula: {@link AdamScalars}). */
    void adamStep(AdamScalars s, Buffer param, Buffer grad, Buffer expAvg, Buffer expAvgSq);

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

    @Override void close();
}
