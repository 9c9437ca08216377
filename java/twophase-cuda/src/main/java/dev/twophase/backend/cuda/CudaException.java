package dev.twophase.backend.cuda;

/**
 * A CUDA (or cuBLAS) call failed: names the call, the error code and its name, e.g.
 * {@code cuMemAlloc(4000000000 bytes) failed: error 2 (CUDA_ERROR_OUT_OF_MEMORY: out of memory)}.
 * Device out-of-memory is {@link #isOutOfMemory()}.
 */
public final class CudaException extends RuntimeException {
    private final String call;
    private final int code;
    private final String error;

    public CudaException(String call, int code, String error) {
        super(call + " failed: error " + code + " (" + error + ")");
        this.call = call;
        this.code = code;
        this.error = error;
    }

    /** The call that failed, with its key arguments. */
    public String call() { return call; }

    /** The cudaError_t / CUresult / cublasStatus_t code. */
    public int code() { return code; }

    /** The error's name and description. */
    public String error() { return error; }

    /** Device memory ran out (cudaErrorMemoryAllocation and CUDA_ERROR_OUT_OF_MEMORY are both 2). */
    public boolean isOutOfMemory() { return code == CudaAbi.ERR_OUT_OF_MEMORY && !call.startsWith("cublas"); }
}
