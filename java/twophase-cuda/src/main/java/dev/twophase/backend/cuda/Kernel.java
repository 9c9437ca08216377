package dev.twophase.backend.cuda;

import java.util.List;

/**
 * Every {@code extern "C"} kernel of twophase.fatbin with its parameter list, as declared in
 * {@code cuda/kernels.cuh} (a test compares the two). The JCuda backend looks the kernels up by
 * {@link #symbol()} and checks each launch's arguments against {@link #params()}; grids are in
 * {@link CudaGeometry}, block = {@link CudaGeometry#BLOCK} for all of them.
 */
public enum Kernel {
    ADAM("tp_adam_kernel", "p", Param.PTR, "g", Param.PTR, "m", Param.PTR, "v", Param.PTR, "n", Param.I64,
            "beta1", Param.F32, "one_minus_beta1", Param.F32, "beta2", Param.F32, "one_minus_beta2", Param.F32,
            "step_size", Param.F32, "bc2_sqrt", Param.F32, "eps", Param.F32, "l2_wd", Param.F32,
            "decay_factor", Param.F32, "grad_scale", Param.F32, "skip", Param.PTR),
    ADAM_SEGMENTS("tp_adam_segments_kernel", "p", Param.PTR, "g", Param.PTR, "m", Param.PTR, "v", Param.PTR, "vmax", Param.PTR,
            "n", Param.I64, "seg_offsets", Param.PTR, "seg_scalars", Param.PTR, "nseg", Param.I32, "skip", Param.PTR),
    MULTI_DOT_PARTIALS("tp_multi_dot_partials", "x", Param.PTR, "y0", Param.PTR, "y1", Param.PTR, "y2", Param.PTR,
            "y3", Param.PTR, "k", Param.I32, "n", Param.I64, "partials", Param.PTR),
    REDUCE_PARTIALS("tp_reduce_partials", "partials", Param.PTR, "k", Param.I32, "nparts", Param.I32, "out", Param.PTR),
    CG_DIRECTION("tp_cg_direction_kernel", "d", Param.PTR, "g", Param.PTR, "g_prev", Param.PTR, "n", Param.I64,
            "beta", Param.F32),
    TRIAL_POINT("tp_trial_point_kernel", "x", Param.PTR, "x0", Param.PTR, "d", Param.PTR, "n", Param.I64,
            "alpha", Param.F32),
    AXPY("tp_axpy_kernel", "a", Param.F32, "x", Param.PTR, "y", Param.PTR, "n", Param.I64),
    NORM_CHUNKS("tp_norm_chunks", "g", Param.PTR, "chunk_start", Param.PTR, "chunk_end", Param.PTR,
            "chunk_sumsq", Param.PTR, "chunk_maxabs", Param.PTR, "nonfinite", Param.PTR),
    NORM_CLEANUP("tp_norm_cleanup", "chunk_sumsq", Param.PTR, "chunk_maxabs", Param.PTR, "tensor_first_chunk", Param.PTR,
            "ntensors", Param.I32, "out", Param.PTR, "maxabs_out", Param.PTR),
    ADD_BIAS("tp_add_bias_kernel", "y", Param.PTR, "bias", Param.PTR, "rows", Param.I64, "cols", Param.I32),
    BIAS_GRAD_PARTIALS("tp_bias_grad_partials", "dy", Param.PTR, "rows", Param.I64, "cols", Param.I32,
            "rows_per_chunk", Param.I64, "partials", Param.PTR),
    BIAS_GRAD_FINISH("tp_bias_grad_finish", "partials", Param.PTR, "nchunks", Param.I32, "cols", Param.I32,
            "dbias", Param.PTR),
    ACTIVATION("tp_activation_kernel", "act", Param.I32, "x", Param.PTR, "y", Param.PTR, "n", Param.I64),
    ACTIVATION_BACKWARD("tp_activation_backward_kernel", "act", Param.I32, "x", Param.PTR, "y", Param.PTR,
            "dy", Param.PTR, "dx", Param.PTR, "n", Param.I64),
    SQUARED_ERROR_PARTIALS("tp_squared_error_partials", "out", Param.PTR, "target", Param.PTR, "n", Param.I64,
            "two_scale", Param.F32, "dout", Param.PTR, "partials", Param.PTR),
    SOFTMAX_XENT_ROWS("tp_softmax_xent_rows", "logits", Param.PTR, "target", Param.PTR, "rows", Param.I64,
            "cols", Param.I32, "grad_scale", Param.F32, "dout", Param.PTR, "row_loss", Param.PTR),
    SGEMM("tp_sgemm_kernel", "trans_a", Param.I32, "trans_b", Param.I32, "m", Param.I32, "n", Param.I32,
            "k", Param.I32, "alpha", Param.F32, "a", Param.PTR, "lda", Param.I32, "b", Param.PTR, "ldb", Param.I32,
            "beta", Param.F32, "c", Param.PTR, "ldc", Param.I32),
    IM2COL("tp_im2col_kernel", "x", Param.PTR, "cols", Param.PTR, "batch", Param.I32, "height", Param.I32, "width", Param.I32,
            "channels", Param.I32, "kernel", Param.I32, "stride", Param.I32, "pad", Param.I32, "out_h", Param.I32, "out_w", Param.I32),
    COL2IM("tp_col2im_kernel", "cols", Param.PTR, "dx", Param.PTR, "batch", Param.I32, "height", Param.I32, "width", Param.I32,
            "channels", Param.I32, "kernel", Param.I32, "stride", Param.I32, "pad", Param.I32, "out_h", Param.I32, "out_w", Param.I32),
    MAX_POOL("tp_max_pool_kernel", "x", Param.PTR, "y", Param.PTR, "batch", Param.I32, "height", Param.I32, "width", Param.I32,
            "channels", Param.I32, "kernel", Param.I32, "stride", Param.I32, "pad", Param.I32, "out_h", Param.I32, "out_w", Param.I32),
    MAX_POOL_BACKWARD("tp_max_pool_backward_kernel", "x", Param.PTR, "y", Param.PTR, "dy", Param.PTR, "dx", Param.PTR,
            "batch", Param.I32, "height", Param.I32, "width", Param.I32, "channels", Param.I32, "kernel", Param.I32,
            "stride", Param.I32, "pad", Param.I32, "out_h", Param.I32, "out_w", Param.I32),
    BATCHED_TRANSPOSE("tp_batched_transpose_kernel", "x", Param.PTR, "y", Param.PTR, "batch", Param.I32, "rows", Param.I32,
            "cols", Param.I32),
    BATCHED_MATMUL("tp_batched_matmul_kernel", "trans_a", Param.I32, "trans_b", Param.I32, "m", Param.I32, "n", Param.I32,
            "k", Param.I32, "alpha", Param.F32, "a", Param.PTR, "lda", Param.I32, "sa_outer", Param.I64, "sa_inner", Param.I64,
            "b", Param.PTR, "ldb", Param.I32, "sb_outer", Param.I64, "sb_inner", Param.I64, "c", Param.PTR, "ldc", Param.I32,
            "sc_outer", Param.I64, "sc_inner", Param.I64, "outer", Param.I64, "inner", Param.I32),
    ATTENTION_SOFTMAX_ROWS("tp_attention_softmax_rows", "probs", Param.PTR, "rows", Param.I64, "cols", Param.I32),
    ATTENTION_SOFTMAX_BACKWARD_ROWS("tp_attention_softmax_backward_rows", "probs", Param.PTR, "grad", Param.PTR,
            "rows", Param.I64, "cols", Param.I32, "scale", Param.F32),
    LAYER_NORM_ROWS("tp_layer_norm_rows", "x", Param.PTR, "gamma", Param.PTR, "beta", Param.PTR, "y", Param.PTR,
            "rows", Param.I64, "dim", Param.I32, "eps", Param.F32),
    LAYER_NORM_BACKWARD_ROWS("tp_layer_norm_backward_rows", "x", Param.PTR, "gamma", Param.PTR, "dy", Param.PTR,
            "dx", Param.PTR, "row_stats", Param.PTR, "rows", Param.I64, "dim", Param.I32, "eps", Param.F32),
    LAYER_NORM_PARAM_PARTIALS("tp_layer_norm_param_partials", "x", Param.PTR, "dy", Param.PTR, "row_stats", Param.PTR,
            "rows", Param.I64, "dim", Param.I32, "rows_per_chunk", Param.I64, "nchunks", Param.I32, "partials", Param.PTR),
    TOKEN_MEAN("tp_token_mean_kernel", "x", Param.PTR, "y", Param.PTR, "batch", Param.I64, "tokens", Param.I32,
            "dim", Param.I32),
    TOKEN_MEAN_BACKWARD("tp_token_mean_backward_kernel", "dy", Param.PTR, "dx", Param.PTR, "batch", Param.I64,
            "tokens", Param.I32, "dim", Param.I32),
    GATHER_ROWS("tp_gather_rows_kernel", "src", Param.PTR, "src_rows", Param.I64, "cols", Param.I32, "idx", Param.PTR,
            "rows", Param.I64, "dst", Param.PTR),
    ONE_HOT("tp_one_hot_kernel", "labels", Param.PTR, "rows", Param.I64, "classes", Param.I32, "dst", Param.PTR),
    COUNT_CORRECT_PARTIALS("tp_count_correct_partials", "out", Param.PTR, "labels", Param.PTR, "rows", Param.I64,
            "cols", Param.I32, "partials", Param.PTR);

    /** C parameter types: device pointer, int, long long, float. */
    public enum Param {
        PTR, I32, I64, F32;

        /** The C spelling as in kernels.cuh (pointers match any pointer type). */
        public boolean matchesC(String cType) {
            String t = cType.replace("const", "").replace(" ", "");
            return switch (this) {
                case PTR -> t.endsWith("*");
                case I32 -> t.equals("int");
                case I64 -> t.equals("longlong");
                case F32 -> t.equals("float");
            };
        }
    }

    /** One named parameter. */
    public record Arg(String name, Param type) { }

    private final String symbol;
    private final List<Arg> params;

    Kernel(String symbol, Object... namesAndTypes) {
        this.symbol = symbol;
        Arg[] args = new Arg[namesAndTypes.length / 2];
        for (int i = 0; i < args.length; i++) args[i] = new Arg((String) namesAndTypes[2 * i], (Param) namesAndTypes[2 * i + 1]);
        this.params = List.of(args);
    }

    /** The kernel's name in the fatbin. */
    public String symbol() { return symbol; }

    public List<Arg> params() { return params; }
}
