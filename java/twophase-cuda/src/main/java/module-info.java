/**
 * The GPU backends of twophase, found by {@link dev.twophase.backend.Backends} as services:
 * {@code jcuda} (JCuda's driver API, the kernels from the fatbin in this jar) and {@code ffm}
 * ({@code java.lang.foreign} calls into libtwophase_cuda.so from this jar), which need an NVIDIA
 * driver; and the same two on twophase's CUDA emulator, {@code jcuda-emu} and {@code ffm-emu}
 * (the kernels on the CPU, for testing; see {@link dev.twophase.backend.cuda.Emulation}). Run with
 * {@code --enable-native-access=dev.twophase.cuda}.
 */
module dev.twophase.cuda {
    requires transitive dev.twophase.core;
    requires jcuda;
    requires jcublas;

    exports dev.twophase.backend.cuda;
    exports dev.twophase.backend.ffm;
    exports dev.twophase.backend.jcuda;

    provides dev.twophase.backend.BackendProvider
            with dev.twophase.backend.jcuda.JCudaProvider, dev.twophase.backend.ffm.FfmProvider,
                 dev.twophase.backend.jcuda.JCudaEmuProvider, dev.twophase.backend.ffm.FfmEmuProvider;
}
