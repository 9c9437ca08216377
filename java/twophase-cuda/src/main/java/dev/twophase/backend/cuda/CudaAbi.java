package dev.twophase.backend.cuda;

import dev.twophase.backend.Activation;
import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;

/** Constants of the C ABI in {@code cuda/twophase.h} that both GPU backends use. */
public final class CudaAbi {
    private CudaAbi() { }

    /** TP_ABI_VERSION the Java bindings are written for (tp_abi_version must return it). */
    public static final int ABI_VERSION = 3;

    /** TP_ERR_INVALID_VALUE, the same number as cudaErrorInvalidValue. */
    public static final int ERR_INVALID_VALUE = 1;

    /** cudaErrorMemoryAllocation / CUDA_ERROR_OUT_OF_MEMORY (the same number in both APIs). */
    public static final int ERR_OUT_OF_MEMORY = 2;

    /** cudaErrorInsufficientDriver / CUDA_ERROR_NO_DEVICE. */
    public static final int ERR_INSUFFICIENT_DRIVER = 35;
    public static final int ERR_NO_DEVICE = 100;

    /** TP_ADAM_SCALARS: floats per row of the Adam segment table. */
    public static final int ADAM_SCALARS = 10;

    /**
     * The scalars of {@code u} as tp_adam_step's table: {@link #ADAM_SCALARS} floats per segment,
     * in the order of {@link AdamScalars}'s components (beta1, oneMinusBeta1, beta2, oneMinusBeta2,
     * stepSize, biasCorrection2Sqrt, eps, l2WeightDecay, decayFactor, gradScale).
     */
    public static float[] adamScalarTable(AdamUpdate u) {
        float[] t = new float[u.segments() * ADAM_SCALARS];
        for (int k = 0; k < u.segments(); k++) {
            AdamScalars s = u.scalars(k);
            int r = k * ADAM_SCALARS;
            t[r] = s.beta1();
            t[r + 1] = s.oneMinusBeta1();
            t[r + 2] = s.beta2();
            t[r + 3] = s.oneMinusBeta2();
            t[r + 4] = s.stepSize();
            t[r + 5] = s.biasCorrection2Sqrt();
            t[r + 6] = s.eps();
            t[r + 7] = s.l2WeightDecay();
            t[r + 8] = s.decayFactor();
            t[r + 9] = s.gradScale();
        }
        return t;
    }

    public static final int ACT_IDENTITY = 0;
    public static final int ACT_RELU = 1;
    public static final int ACT_TANH = 2;
    public static final int ACT_SIGMOID = 3;
    public static final int ACT_GELU = 4;

    /** The TP_ACT_* code of an activation. */
    public static int activationCode(Activation f) {
        return switch (f) {
            case IDENTITY -> ACT_IDENTITY;
            case RELU -> ACT_RELU;
            case TANH -> ACT_TANH;
            case SIGMOID -> ACT_SIGMOID;
            case GELU -> ACT_GELU;
        };
    }

    /** cuBLAS operation codes (cublasOperation_t). */
    public static final int CUBLAS_OP_N = 0;
    public static final int CUBLAS_OP_T = 1;

    /** The name of a cublasStatus_t code. */
    public static String cublasStatusName(int status) {
        return switch (status) {
            case 0 -> "CUBLAS_STATUS_SUCCESS";
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "cublasStatus " + status;
        };
    }
}
