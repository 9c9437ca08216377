package dev.twophase.backend;

/**
 * A {@link VectorBackend} that also runs the models: GEMM, the elementwise layer ops, the losses,
 * and the layer ops of the convolutional and attention models, on one kind of hardware (the CPU,
 * or a GPU through {@code dev.twophase.cuda}).
 */
public interface Backend extends VectorBackend {

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

    // ---- training data on the backend: mini-batches gathered by index, one-hot targets, accuracy ----
    // Row numbers and class labels are float values in buffers (the backends' one element type):
    // exact integers up to MAX_INDEX. The loops are HostKernels'; a GPU backend has kernels.

    /** Rows and labels a float holds exactly: 2^24 (a data set may have at most this many rows). */
    int MAX_INDEX = 1 << 24;

    /**
     * {@code dst[r] = src[indices[r]]} for rows of {@code cols} floats: {@code src} holds whole
     * rows, {@code dst} has {@code indices.length()} rows. An index that is not an integer row of
     * {@code src} is an error: the CPU backend throws {@link IllegalArgumentException} naming it;
     * a GPU backend, which would have to read the indices back to check them, writes a row of NaN
     * (the loss then says so).
     */
    default void gatherRows(Buffer src, int cols, Buffer indices, Buffer dst) {
        long srcRows = BufferChecks.checkGather(src, cols, indices, dst);
        HostArray hs = hostRead(src), hi = hostRead(indices), hd = hostWrite(dst);
        HostKernels.gatherRows(hostLoop(), (int) indices.length(), cols, (int) srcRows, hs.array(), hs.offset(), hi.array(), hi.offset(),
                hd.array(), hd.offset());
        hostWriteBack(hd, dst);
    }

    /**
     * One-hot targets: {@code dst[r][c] = c == labels[r] ? 1 : 0} for {@code labels.length()} rows
     * of {@code classes} columns. A label that is not an integer in [0, classes) is an error, as
     * in {@link #gatherRows} (a GPU backend writes a row of NaN).
     */
    default void oneHot(Buffer labels, int classes, Buffer dst) {
        BufferChecks.checkOneHot(labels, classes, dst);
        HostArray hl = hostRead(labels), hd = hostWrite(dst);
        HostKernels.oneHot(hostLoop(), (int) labels.length(), classes, hl.array(), hl.offset(), hd.array(), hd.offset());
        hostWriteBack(hd, dst);
    }

    /**
     * The number of rows of {@code outputs} ({@code labels.length()} rows of {@code cols}) whose
     * first maximum (the first column greater than every column before it; NaN never wins) is the
     * row's label: the correct predictions, for the accuracy. A label that is not an integer in
     * [0, cols) throws {@link IllegalArgumentException} on every backend.
     */
    default long countCorrect(Buffer outputs, int cols, Buffer labels) {
        BufferChecks.checkCountCorrect(outputs, cols, labels);
        HostArray ho = hostRead(outputs), hl = hostRead(labels);
        return HostKernels.countCorrect(hostLoop(), (int) labels.length(), cols, ho.array(), ho.offset(), hl.array(), hl.offset());
    }

    // ---- layer ops of the convolutional and attention models ----
    // Written once as host loops (HostKernels). A backend without its own kernels runs them on
    // host copies through hostRead/hostWriteBack; the CPU backend runs them in place, in parallel.

    /** A float array holding a buffer's contents from {@code offset}: the buffer itself or a host copy. */
    record HostArray(float[] array, int offset) { }

    /** The buffer's contents on the host (a copy unless the backend's memory is host memory). */
    default HostArray hostRead(Buffer b) {
        if (b.length() > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("buffer of " + b.length() + " floats is too large for a host copy");
        float[] a = new float[(int) b.length()];
        download(b, a, 0);
        return new HostArray(a, 0);
    }

    /** Host memory for a buffer an op only writes: no copy of the old contents (the CPU backend returns the buffer itself). */
    default HostArray hostWrite(Buffer b) {
        if (b.length() > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("buffer of " + b.length() + " floats is too large for a host copy");
        return new HostArray(new float[(int) b.length()], 0);
    }

    /** Makes host writes to {@code h} (obtained from {@link #hostRead} or {@link #hostWrite} of {@code b}) visible in {@code b}. */
    default void hostWriteBack(HostArray h, Buffer b) { upload(h.array(), h.offset(), b); }

    /** How host loops run on this backend. */
    default HostKernels.Loop hostLoop() { return HostKernels.SEQUENTIAL; }

    /** im2col for a channels-last batch: cols is {@code s.patchRows() x s.patchColumns()}. */
    default void im2col(ConvShape s, Buffer x, Buffer cols) {
        HostArray hx = hostRead(x), hc = hostWrite(cols);
        HostKernels.im2col(hostLoop(), s, hx.array(), hx.offset(), hc.array(), hc.offset());
        hostWriteBack(hc, cols);
    }

    /** The adjoint of im2col; dx is overwritten. */
    default void col2im(ConvShape s, Buffer cols, Buffer dx) {
        HostArray hc = hostRead(cols), hd = hostWrite(dx);
        HostKernels.col2im(hostLoop(), s, hc.array(), hc.offset(), hd.array(), hd.offset());
        hostWriteBack(hd, dx);
    }

    /** Max pooling of a channels-last batch. */
    default void maxPool(ConvShape s, Buffer x, Buffer y) {
        HostArray hx = hostRead(x), hy = hostWrite(y);
        HostKernels.maxPool(hostLoop(), s, hx.array(), hx.offset(), hy.array(), hy.offset());
        hostWriteBack(hy, y);
    }

    /** Max pooling backward: each window's gradient goes to its first maximum; dx is overwritten. */
    default void maxPoolBackward(ConvShape s, Buffer x, Buffer y, Buffer dy, Buffer dx) {
        HostArray hx = hostRead(x), hy = hostRead(y), hdy = hostRead(dy), hdx = hostWrite(dx);
        HostKernels.maxPoolBackward(hostLoop(), s, hx.array(), hx.offset(), hy.array(), hy.offset(), hdy.array(), hdy.offset(), hdx.array(), hdx.offset());
        hostWriteBack(hdx, dx);
    }

    /** {@code y[b] = x[b]^T} for {@code batch} row-major {@code rows x cols} matrices. */
    default void batchedTranspose(int batch, int rows, int cols, Buffer x, Buffer y) {
        HostArray hx = hostRead(x), hy = hostWrite(y);
        HostKernels.batchedTranspose(hostLoop(), batch, rows, cols, hx.array(), hx.offset(), hy.array(), hy.offset());
        hostWriteBack(hy, y);
    }

    /** Layer normalization of each row of {@code dim} values. */
    default void layerNorm(int rows, int dim, float eps, Buffer x, Buffer gamma, Buffer beta, Buffer y) {
        HostArray hx = hostRead(x), hg = hostRead(gamma), hb = hostRead(beta), hy = hostWrite(y);
        HostKernels.layerNorm(hostLoop(), rows, dim, eps, hx.array(), hx.offset(), hg.array(), hg.offset(), hb.array(), hb.offset(), hy.array(), hy.offset());
        hostWriteBack(hy, y);
    }

    /** Layer normalization backward: dx overwritten, dGamma and dBeta accumulated. */
    default void layerNormBackward(int rows, int dim, float eps, Buffer x, Buffer gamma, Buffer dy, Buffer dx, Buffer dGamma, Buffer dBeta) {
        HostArray hx = hostRead(x), hg = hostRead(gamma), hdy = hostRead(dy), hdx = hostWrite(dx), hdg = hostRead(dGamma), hdb = hostRead(dBeta);
        HostKernels.layerNormBackward(hostLoop(), rows, dim, eps, hx.array(), hx.offset(), hg.array(), hg.offset(), hdy.array(), hdy.offset(),
                hdx.array(), hdx.offset(), hdg.array(), hdg.offset(), hdb.array(), hdb.offset());
        hostWriteBack(hdx, dx);
        hostWriteBack(hdg, dGamma);
        hostWriteBack(hdb, dBeta);
    }

    /** Multi-head scaled dot-product attention; probs keeps the softmax for the backward pass. */
    default void attention(int batch, int tokens, int heads, int headDim, Buffer q, Buffer k, Buffer v, Buffer probs, Buffer out) {
        HostArray hq = hostRead(q), hk = hostRead(k), hv = hostRead(v), hp = hostWrite(probs), ho = hostWrite(out);
        HostKernels.attention(hostLoop(), batch, tokens, heads, headDim, hq.array(), hq.offset(), hk.array(), hk.offset(), hv.array(), hv.offset(),
                hp.array(), hp.offset(), ho.array(), ho.offset());
        hostWriteBack(hp, probs);
        hostWriteBack(ho, out);
    }

    /** Attention backward: dq, dk, dv overwritten. */
    default void attentionBackward(int batch, int tokens, int heads, int headDim, Buffer q, Buffer k, Buffer v, Buffer probs, Buffer dOut,
                                   Buffer dq, Buffer dk, Buffer dv) {
        HostArray hq = hostRead(q), hk = hostRead(k), hv = hostRead(v), hp = hostRead(probs), hdo = hostRead(dOut);
        HostArray hdq = hostWrite(dq), hdk = hostWrite(dk), hdv = hostWrite(dv);
        HostKernels.attentionBackward(hostLoop(), batch, tokens, heads, headDim, hq.array(), hq.offset(), hk.array(), hk.offset(), hv.array(), hv.offset(),
                hp.array(), hp.offset(), hdo.array(), hdo.offset(), hdq.array(), hdq.offset(), hdk.array(), hdk.offset(), hdv.array(), hdv.offset());
        hostWriteBack(hdq, dq);
        hostWriteBack(hdk, dk);
        hostWriteBack(hdv, dv);
    }

    /** Mean over the tokens of each sequence: x is batch x tokens x dim, y batch x dim. */
    default void tokenMean(int batch, int tokens, int dim, Buffer x, Buffer y) {
        HostArray hx = hostRead(x), hy = hostWrite(y);
        HostKernels.tokenMean(hostLoop(), batch, tokens, dim, hx.array(), hx.offset(), hy.array(), hy.offset());
        hostWriteBack(hy, y);
    }

    /** Backward of {@link #tokenMean}; dx overwritten. */
    default void tokenMeanBackward(int batch, int tokens, int dim, Buffer dy, Buffer dx) {
        HostArray hdy = hostRead(dy), hdx = hostWrite(dx);
        HostKernels.tokenMeanBackward(hostLoop(), batch, tokens, dim, hdy.array(), hdy.offset(), hdx.array(), hdx.offset());
        hostWriteBack(hdx, dx);
    }

}
