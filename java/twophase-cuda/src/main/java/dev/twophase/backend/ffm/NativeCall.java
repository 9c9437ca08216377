package dev.twophase.backend.ffm;

import dev.twophase.backend.cuda.CudaException;

import java.util.function.IntFunction;

/**
 * A downcall that returns a status code. {@link #check} is the one place where the FFM backend
 * invokes native functions and checks what they return: 0 is success, anything else becomes a
 * {@link CudaException} naming the call and the error ({@code tp_error_string} for the tp_* ABI,
 * the cublasStatus name for cuBLAS).
 */
@FunctionalInterface
interface NativeCall {
    int invoke() throws Throwable;

    /** Invokes {@code call}; throws {@link CudaException} when it returns non-zero. */
    static void check(String what, IntFunction<String> errorName, NativeCall call) {
        int rc;
        try {
            rc = call.invoke();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(what + ": " + t, t);
        }
        if (rc != 0) throw new CudaException(what, rc, errorName.apply(rc));
    }
}
