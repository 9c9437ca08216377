package dev.twophase.backend.cpu;

/**
 * Plain Java row-major SGEMM: the fallback when OpenBLAS cannot load, and the reference the
 * OpenBLAS path is tested against. Rows of C are split across threads; each element is always
 * computed in the same order, so the result does not depend on the thread count.
 */
final class JavaGemm {
    private JavaGemm() { }

    static void sgemm(Parallel par, boolean transA, boolean transB, int m, int n, int k, float alpha,
                      CpuBuffer a, int lda, CpuBuffer b, int ldb, float beta, CpuBuffer c, int ldc) {
        float[] A = a.array, B = b.array, C = c.array;
        int ao = a.offset, bo = b.offset, co = c.offset;
        par.forEachIndex(m, i -> {
            int ci = co + i * ldc;
            for (int j = 0; j < n; j++) C[ci + j] = beta == 0f ? 0f : beta * C[ci + j];
            if (transB) {
                // C[i][j] += alpha * sum_p A(i,p) * B[j][p]: contiguous rows of B.
                for (int j = 0; j < n; j++) {
                    int bj = bo + j * ldb;
                    float s = 0f;
                    for (int p = 0; p < k; p++) s += elementA(A, ao, lda, transA, i, p) * B[bj + p];
                    C[ci + j] += alpha * s;
                }
            } else {
                // C[i][:] += alpha * A(i,p) * B[p][:]: streams rows of B.
                for (int p = 0; p < k; p++) {
                    float aip = alpha * elementA(A, ao, lda, transA, i, p);
                    int bp = bo + p * ldb;
                    for (int j = 0; j < n; j++) C[ci + j] += aip * B[bp + j];
                }
            }
        });
    }

    private static float elementA(float[] A, int ao, int lda, boolean transA, int i, int p) {
        return transA ? A[ao + p * lda + i] : A[ao + i * lda + p];
    }
}
