package dev.twophase.backend.ffm;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Every function of the C ABI in {@code cuda/twophase.h} with its FFM descriptor: {@code int} is
 * JAVA_INT, {@code int64_t} JAVA_LONG, {@code float} JAVA_FLOAT, any pointer ADDRESS. A test parses
 * the header and compares it with this table, and checks that libtwophase_cuda.so exports each
 * symbol, so a change of the header cannot silently break the downcalls.
 */
public enum TpFunction {
    DEVICE_COUNT("tp_device_count", JAVA_INT, ADDRESS),
    DEVICE_NAME("tp_device_name", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT),
    ERROR_STRING("tp_error_string", ADDRESS, JAVA_INT),
    MALLOC("tp_malloc", JAVA_INT, ADDRESS, JAVA_LONG),
    FREE("tp_free", JAVA_INT, ADDRESS),
    MEMCPY_HTOD("tp_memcpy_htod", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG),
    MEMCPY_DTOH("tp_memcpy_dtoh", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG),
    MEMCPY_DTOD("tp_memcpy_dtod", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG),
    MEMSET("tp_memset", JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG),
    SYNCHRONIZE("tp_synchronize", JAVA_INT),
    ADAM_STEP("tp_adam_step", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT, ADDRESS),
    MULTI_DOT("tp_multi_dot", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS),
    CG_DIRECTION("tp_cg_direction", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_FLOAT),
    TRIAL_POINT("tp_trial_point", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_FLOAT),
    AXPY("tp_axpy", JAVA_INT, JAVA_FLOAT, ADDRESS, ADDRESS, JAVA_LONG),
    SEGMENTED_NORMS("tp_segmented_norms", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS),
    ADD_BIAS("tp_add_bias", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT),
    BIAS_GRAD("tp_bias_grad", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT),
    ACTIVATION("tp_activation", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG),
    ACTIVATION_BACKWARD("tp_activation_backward", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG),
    SQUARED_ERROR("tp_squared_error", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_FLOAT, ADDRESS, ADDRESS),
    SOFTMAX_CROSS_ENTROPY("tp_softmax_cross_entropy", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_FLOAT, ADDRESS, ADDRESS),
    SGEMM("tp_sgemm", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT,
            JAVA_FLOAT, ADDRESS, JAVA_INT),
    IM2COL("tp_im2col", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
    COL2IM("tp_col2im", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
    MAX_POOL("tp_max_pool", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
    MAX_POOL_BACKWARD("tp_max_pool_backward", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
    BATCHED_TRANSPOSE("tp_batched_transpose", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT),
    BATCHED_MATMUL("tp_batched_matmul", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT,
            ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG,
            JAVA_LONG, JAVA_INT),
    ATTENTION_SOFTMAX("tp_attention_softmax", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT),
    ATTENTION_SOFTMAX_BACKWARD("tp_attention_softmax_backward", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_FLOAT),
    LAYER_NORM("tp_layer_norm", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_FLOAT),
    LAYER_NORM_BACKWARD("tp_layer_norm_backward", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG,
            JAVA_INT, JAVA_FLOAT),
    TOKEN_MEAN("tp_token_mean", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT),
    TOKEN_MEAN_BACKWARD("tp_token_mean_backward", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT),
    GATHER_ROWS("tp_gather_rows", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS),
    ONE_HOT("tp_one_hot", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS),
    COUNT_CORRECT("tp_count_correct", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS),
    TRANSFER_BYTES("tp_transfer_bytes", JAVA_INT, ADDRESS, ADDRESS),
    ABI_VERSION("tp_abi_version", JAVA_INT, ADDRESS),
    RUNTIME_VERSION("tp_runtime_version", JAVA_INT, ADDRESS),
    DRIVER_VERSION("tp_driver_version", JAVA_INT, ADDRESS),
    MEM_GET_INFO("tp_mem_get_info", JAVA_INT, ADDRESS, ADDRESS),
    RELEASE_SCRATCH("tp_release_scratch", JAVA_INT);

    private final String symbol;
    private final FunctionDescriptor descriptor;

    TpFunction(String symbol, MemoryLayout result, ValueLayout... args) {
        this.symbol = symbol;
        this.descriptor = FunctionDescriptor.of(result, args);
    }

    /** The exported C name. */
    public String symbol() { return symbol; }

    public FunctionDescriptor descriptor() { return descriptor; }

    /** Host-to-device and device-to-host copies take Java heap arrays directly (critical downcalls). */
    boolean heapAccess() { return this == MEMCPY_HTOD || this == MEMCPY_DTOH; }
}
