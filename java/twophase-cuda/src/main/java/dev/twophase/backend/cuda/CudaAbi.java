package dev.twophase.backend.cuda;

import dev.twophase.backend.Activation;

/** Constants of the C ABI in {@code cuda/twophase.h} that both GPU backends use. */
public final class CudaAbi {
    private CudaAbi() { }

    /** TP_ABI_VERSION the Java bindings are written for (tp_abi_version must return it). */
    public static final int ABI_VERSION = 2;

    /** TP_ERR_INVALID_VALUE, the same number as cudaErrorInvalidValue. */
    public static final int ERR_INVALID_VALUE = 1;

    /** cudaErrorMemoryAllocation / CUDA_ERROR_OUT_OF_MEMORY (the same number in both APIs). */
    public static final int ERR_OUT_OF_MEMORY = 2;

    /** cudaErrorInsufficientDriver / CUDA_ERROR_NO_DEVICE. */
    public static final int ERR_INSUFFICIENT_DRIVER = 35;
    public static final int ERR_NO_DEVICE = 100;

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
