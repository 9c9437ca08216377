package dev.twophase.backend;

/**
 * Memory and the operations twophase needs, on one kind of hardware. The optimizers use the
 * vector ops (fused Adam, multi-dot, CG updates, segmented norms); the models use GEMM and the
 * elementwise layer ops. Buffers passed to an op must belong to this backend; lengths are checked
 * and a mismatch names the operation and both lengths.
 *
 * <p>Reductions accumulate in double in an order that does not depend on the number of threads
 * or blocks, so every backend returns the same bits run after run.
 */
public interface Backend extends AutoCloseable {

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

    // ---- model ops (row-major) ----

    /**
     * {@code C = alpha * op(A) * op(B) + beta * C} for row-major matrices, op(A) m x k, op(B) k x n,
     * C m x n, leading dimensions as in CBLAS row-major.
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buffer a, int lda,
              Buffer b, int ldb, float beta, Buffer c, int ldc);

    /** {@code y[r][c] += bias[c]} for a rows x bias.length() matrix y. */
    void addBias(Buffer y, Buffer bias);

    /** {@code dBias[c] += sum_r dy[r][c]} for a rows x dBias.length() matrix dy. */
    void accumulateBiasGradient(Buffer dy, Buffer dBias);

    /** {@code y = f(x)} elementwise. */
    void activation(Activation f, Buffer x, Buffer y);

    /** {@code dx = dy * f'(x)} elementwise, where {@code y = f(x)}; dx may alias dy. */
    void activationBackward(Activation f, Buffer x, Buffer y, Buffer dy, Buffer dx);

    /**
     * Returns {@code sum (out - target)^2}; when {@code dOut} is not null writes
     * {@code dOut = gradScale * 2 * (out - target)}.
     */
    double squaredError(Buffer out, Buffer target, float gradScale, Buffer dOut);

    /**
     * For a rows x cols matrix of logits and one-hot (or probability) targets, returns
     * {@code -sum_r sum_c target * log softmax(logits)_r,c}; when {@code dOut} is not null writes
     * {@code dOut = gradScale * (softmax(logits) - target)}.
     */
    double softmaxCrossEntropy(Buffer logits, Buffer target, int cols, float gradScale, Buffer dOut);

    @Override void close();
}
