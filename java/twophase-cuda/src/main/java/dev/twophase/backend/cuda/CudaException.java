package dev.twophase.backend.cuda;

/**
 * A CUDA (or cuBLAS) call failed: names the call, the error code and its name, e.g.
 * {@code cuMemAlloc(4000000000 bytes) failed: error 2 (CUDA_ERROR_OUT_OF_MEMORY: out of memory)}.
 * Device out-of-memory is {@link #isOutOfMemory()}.
 *
 * <p>Kernels run asynchronously: a call that only queues work returns before it runs, so a kernel
 * that faults while running (an illegal address, say) is reported by the next call that waits for
 * the device (a download, a reduction that returns a value, {@code synchronize}, a free). For such
 * errors ({@link #isKernelFault()}) the message says so; with the environment variable
 * {@code CUDA_LAUNCH_BLOCKING=1} every launch waits, and the call that queued the kernel reports it.
 */
public final class CudaException extends RuntimeException {
    private final String call;
    private final int code;
    private final String error;

    public CudaException(String call, int code, String error) {
        super(call + " failed: error " + code + " (" + error + ")" + (isKernelFault(call, code)
                ? "; a kernel queued before this call faulted while running (set CUDA_LAUNCH_BLOCKING=1 to have the call that "
                + "queued it report it)" : ""));
        this.call = call;
        this.code = code;
        this.error = error;
    }

    /**
     * Whether the error is a fault of a running kernel (illegal or misaligned address, illegal
     * instruction, device assert, launch failure or timeout: 700, 702, 710, 714 to 719), which
     * the call reports for work queued before it; the code numbers are the same in the runtime
     * and the driver API.
     */
    public boolean isKernelFault() { return isKernelFault(call, code); }

    private static boolean isKernelFault(String call, int code) {
        return !call.startsWith("cublas") && (code == 700 || code == 702 || code == 710 || (code >= 714 && code <= 719));
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
