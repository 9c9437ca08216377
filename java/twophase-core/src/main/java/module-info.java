/**
 * twophase's optimizers and the memory they run on: {@link dev.twophase.optim.Adam},
 * {@link dev.twophase.optim.ConjugateGradient} and {@link dev.twophase.optim.TwoPhase} over a flat
 * float buffer with named tensor views ({@link dev.twophase.tensor.ParameterLayout}), the backend
 * API ({@link dev.twophase.backend.Backend}) and the CPU backend. GPU backends come from
 * {@code dev.twophase.cuda} through {@link dev.twophase.backend.BackendProvider}.
 *
 * <p>The CPU backend calls OpenBLAS through {@code java.lang.foreign} when the module
 * {@code org.bytedeco.openblas} (and its natives) is present, else a plain Java GEMM; run with
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
