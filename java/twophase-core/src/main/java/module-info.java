/**
 * twophase's optimizers and the memory they run on: {@link dev.twophase.optim.Adam},
 * {@link dev.twophase.optim.ConjugateGradient} and {@link dev.twophase.optim.TwoPhase} over a flat
 * float buffer with named tensor views ({@link dev.twophase.tensor.ParameterLayout}), the backend
 * API ({@link dev.twophase.backend.Backend}) and the CPU backend. GPU backends come from
 * {@code dev.twophase.cuda} through {@link dev.twophase.backend.BackendProvider}.
 *
 * <p>The CPU backend calls OpenBLAS through {@code java.lang.foreign} when it is present, else a
 * plain Java GEMM. On the module path OpenBLAS is an optional dependency that must be resolved
 * explicitly: add {@code org.bytedeco.openblas} and {@code org.bytedeco.javacpp} with their
 * natives and run with {@code --add-modules org.bytedeco.openblas.linux.x86_64} (your platform's)
 * and {@code --enable-native-access=dev.twophase.core,org.bytedeco.javacpp}; without OpenBLAS,
 * {@code --enable-native-access=dev.twophase.core}.
 */
module dev.twophase.core {
    requires static org.bytedeco.javacpp;

    exports dev.twophase.tensor;
    exports dev.twophase.backend;
    exports dev.twophase.backend.cpu;
    exports dev.twophase.optim;

    uses dev.twophase.backend.BackendProvider;
}
