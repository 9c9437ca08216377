package dev.twophase.backend.jcuda;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.ConvShape;
import dev.twophase.backend.cuda.CudaAbi;
import dev.twophase.backend.cuda.CudaDriver;
import dev.twophase.backend.cuda.CudaException;
import dev.twophase.backend.cuda.CudaGeometry;
import dev.twophase.backend.cuda.Emulation;
import dev.twophase.backend.cuda.GpuBackend;
import dev.twophase.backend.cuda.GpuBuffer;
import dev.twophase.backend.cuda.Kernel;
import dev.twophase.backend.cuda.NativeResources;
import dev.twophase.backend.cuda.OneLine;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

/**
 * The JCuda backend: the CUDA driver API through JCuda, the kernels of {@code twophase.fatbin}
 * (loaded from the jar with {@code cuModuleLoadData}) launched with {@code cuLaunchKernel} and the
 * geometry of {@link CudaGeometry}, device memory from {@code cuMemAlloc}, GEMM through cuBLAS
 * (JCublas2) when {@code libcublas.so.12} loads and through the fatbin's tiled kernel otherwise.
 *
 * <p>Opened {@code emulated} ({@code jcuda-emu}), the same code runs on twophase's emulated
 * {@code libcuda.so.1} ({@link Emulation}), loaded before JCuda's natives so that they bind to it:
 * {@code cuModuleLoadData} ignores the image, {@code cuModuleGetFunction} finds the kernels by
 * name, {@code cuLaunchKernel} runs them on the CPU; GEMM always through the tiled kernel.
 *
 * <p>All work goes to the legacy default stream of the device's primary context (shared with
 * cuBLAS and with the FFM backend's CUDA runtime), so it runs in call order. Elementwise ops
 * return as soon as the kernel is queued; reductions, downloads and {@link #synchronize()} wait.
 * A kernel that fails asynchronously is reported by the next call that waits ({@link
 * CudaException#isKernelFault()}). Transfers: uploads and downloads are counted by {@link
 * GpuBackend}, what reductions return by {@code fetch}, the tables this class uploads by
 * {@code sendTable}; no other method copies between host and device (a test checks it). Every
 * driver and cuBLAS status goes through {@link #check}, which throws {@link CudaException} naming
 * the call. The context is made current on whichever thread calls (one thread at a time).
 */
public final class JCudaBackend extends GpuBackend<JCudaBackend.JBuffer> {

    /** Device memory: a CUdeviceptr (a root allocation, or the root's pointer with a byte offset). */
    public static final class JBuffer extends GpuBuffer {
        final CUdeviceptr ptr;

        JBuffer(JCudaBackend owner, long length, CUdeviceptr ptr) {
            super(owner, length);
            this.ptr = ptr;
        }

        JBuffer(JBuffer root, long offset, long length) {
            super(root, offset, length);
            this.ptr = offset == 0 ? root.ptr : root.ptr.withByteOffset(offset * Float.BYTES);
        }
    }

    private static final CUdeviceptr NULL = new CUdeviceptr();
    private static final int BLOCK = CudaGeometry.BLOCK;

    /** The image the emulated driver is given (it ignores it): the jar need not carry a fatbin. */
    private static final byte[] EMULATED_IMAGE = "twophase emulated module\0".getBytes(StandardCharsets.US_ASCII);

    private final CUdevice device;
    private final CUcontext context;
    private final CUmodule module;
    private final Map<Kernel, CUfunction> functions = new EnumMap<>(Kernel.class);
    private final cublasHandle cublas;
    private final String name;
    private final String description;
    private final Scratch reduce = new Scratch("reduction scratch");
    private final Scratch normTable = new Scratch("norm chunk table");
    private final Scratch adamTable = new Scratch("Adam segment table");
    private long[] cachedOffsets;
    private int cachedChunks;
    private Thread boundThread;

    private JCudaBackend(CUdevice device, CUcontext context, CUmodule module, cublasHandle cublas, String name, String description) {
        super(JBuffer.class);
        this.device = device;
        this.context = context;
        this.module = module;
        this.cublas = cublas;
        this.name = name;
        this.description = description;
        this.boundThread = Thread.currentThread();
    }

    /**
     * Opens device 0: loads JCuda (needs libcuda.so.1), initializes the driver, retains the primary
     * context, loads the fatbin and its kernels, and tries cuBLAS.
     *
     * @throws BackendUnavailableException when any of that cannot work here; LinkageErrors from JCuda's
     *         native loader propagate to {@link JCudaProvider}, which turns them into a reason
     */
    public static JCudaBackend open() throws BackendUnavailableException {
        return open(false);
    }

    /**
     * Opens device 0 of the NVIDIA driver ({@code jcuda}), or with {@code emulated} of twophase's
     * emulated driver ({@code jcuda-emu}; no driver or GPU needed). JCuda's natives bind to the
     * first {@code libcuda.so.1} of the JVM, so the two cannot both be used in one JVM: the one
     * opened second is unavailable, with that reason.
     *
     * @throws BackendUnavailableException when it cannot run here
     */
    public static JCudaBackend open(boolean emulated) throws BackendUnavailableException {
        byte[] image;
        if (emulated) {
            Emulation.configureMemory(Emulation.loadDriver()); // before JCuda's natives, which then bind to it
            image = EMULATED_IMAGE;
        } else {
            String why = CudaDriver.unavailableReason(); // before JCuda's natives: a failed load disables JCuda in the JVM
            if (why != null) throw new BackendUnavailableException(why);
            image = NativeResources.read(NativeResources.FATBIN);
        }
        JCudaDriver.setExceptionsEnabled(false); // loads the JNI library: UnsatisfiedLinkError without a driver
        int rc = JCudaDriver.cuInit(0);
        if (rc != CUresult.CUDA_SUCCESS) throw new BackendUnavailableException("cuInit: " + errorName(rc));
        int[] count = {0};
        rc = JCudaDriver.cuDeviceGetCount(count);
        if (rc != CUresult.CUDA_SUCCESS || count[0] == 0) {
            throw new BackendUnavailableException("no CUDA device" + (rc != 0 ? ": " + errorName(rc) : ""));
        }
        CUdevice device = new CUdevice();
        check("cuDeviceGet(0)", JCudaDriver.cuDeviceGet(device, 0));
        boolean emulator = deviceName(device).equals(Emulation.DEVICE_NAME);
        if (emulated && !emulator) {
            throw new BackendUnavailableException("JCuda's natives are bound to the NVIDIA driver loaded earlier in this JVM "
                    + "(a GPU backend ran first): jcuda-emu needs a JVM where it is opened first");
        }
        if (!emulated && emulator) {
            throw new BackendUnavailableException("JCuda's natives are bound to twophase's emulated driver (jcuda-emu was opened "
                    + "first in this JVM)");
        }
        String name = emulated ? "jcuda-emu" : "jcuda";
        CUcontext context = new CUcontext();
        check("cuDevicePrimaryCtxRetain", JCudaDriver.cuDevicePrimaryCtxRetain(context, device));
        CUmodule module = null;
        try {
            check("cuCtxSetCurrent", cuCtxSetCurrent(context));
            module = new CUmodule();
            rc = JCudaDriver.cuModuleLoadData(module, image);
            if (rc != CUresult.CUDA_SUCCESS) {
                throw new BackendUnavailableException("cuModuleLoadData(twophase.fatbin, sm_80/sm_90 + compute_90 PTX): " + errorName(rc)
                        + " (a GPU or driver the fatbin has no code for)");
            }
            Map<Kernel, CUfunction> functions = new EnumMap<>(Kernel.class);
            for (Kernel k : Kernel.values()) {
                CUfunction f = new CUfunction();
                check("cuModuleGetFunction(" + k.symbol() + ")", JCudaDriver.cuModuleGetFunction(f, module, k.symbol()));
                functions.put(k, f);
            }
            String device0 = describe(name, device);
            String gemm;
            cublasHandle handle = null;
            if (emulated) {
                gemm = "twophase tiled kernel"; // cuBLAS would need the NVIDIA driver
            } else {
                try {
                    cublasHandle h = new cublasHandle();
                    int st = JCublas2.cublasCreate(h);
                    if (st == 0) {
                        int[] version = {0};
                        JCublas2.cublasGetVersion(h, version);
                        handle = h;
                        gemm = "cuBLAS " + version[0] + " via JCublas2";
                    } else {
                        gemm = "twophase tiled kernel (cublasCreate: " + CudaAbi.cublasStatusName(st) + ")";
                    }
                } catch (LinkageError e) {
                    gemm = "twophase tiled kernel (cuBLAS unavailable: " + OneLine.describe(e) + ")";
                }
            }
            JCudaBackend b = new JCudaBackend(device, context, module, handle, name, device0 + ", GEMM: " + gemm);
            b.functions.putAll(functions);
            return b;
        } catch (BackendUnavailableException | RuntimeException e) {
            if (module != null) JCudaDriver.cuModuleUnload(module);
            JCudaDriver.cuDevicePrimaryCtxRelease(device);
            throw e;
        }
    }

    private static String deviceName(CUdevice device) {
        byte[] name = new byte[256];
        check("cuDeviceGetName", JCudaDriver.cuDeviceGetName(name, name.length, device));
        int len = 0;
        while (len < name.length && name[len] != 0) len++;
        return new String(name, 0, len, StandardCharsets.UTF_8);
    }

    private static String describe(String backend, CUdevice device) {
        String name = deviceName(device);
        int[] major = {0}, minor = {0}, sms = {0}, driver = {0};
        JCudaDriver.cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
        JCudaDriver.cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
        JCudaDriver.cuDeviceGetAttribute(sms, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
        JCudaDriver.cuDriverGetVersion(driver);
        long[] total = {0};
        JCudaDriver.cuDeviceTotalMem(total, device);
        if (name.equals(Emulation.DEVICE_NAME)) {
            return String.format("%s: %s: %s through JCuda (emulated libcuda.so.1, sm_%d%d limits), %.1f GiB device memory",
                    backend, Emulation.SUMMARY, name, major[0], minor[0], total[0] / (double) (1L << 30));
        }
        return String.format("%s: %s (device 0, sm_%d%d, %d SMs, %.1f GiB), CUDA driver %d.%d", backend, name, major[0], minor[0],
                sms[0], total[0] / (double) (1L << 30), driver[0] / 1000, driver[0] % 1000 / 10);
    }

    @Override public String name() { return name; }

    @Override public String description() { return description; }

    @Override protected java.lang.foreign.SymbolLookup emulatorLibrary() {
        if (!name.endsWith("-emu")) return null;
        try {
            return Emulation.loadDriver(); // loaded when this backend opened: only its symbols are looked up
        } catch (dev.twophase.backend.BackendUnavailableException e) {
            throw new IllegalStateException("the emulated driver this backend runs on: " + e.getMessage(), e);
        }
    }

    /** Whether GEMM goes through cuBLAS (else the tiled fallback kernel). */
    @Override public boolean usesCublas() { return cublas != null; }

    /** Free and total device memory in bytes. */
    @Override public long[] memoryInfo() {
        checkOpen("memoryInfo");
        bind();
        long[] free = {0}, total = {0};
        check("cuMemGetInfo", JCudaDriver.cuMemGetInfo(free, total));
        return new long[] {free[0], total[0]};
    }

    // ---------------------------------------------------------------- status codes: the one place

    /** Throws {@link CudaException} naming {@code call} when {@code rc} is not CUDA_SUCCESS. */
    static void check(String call, int rc) {
        if (rc != CUresult.CUDA_SUCCESS) throw new CudaException(call, rc, errorName(rc));
    }

    private static void checkCublas(String call, int status) {
        if (status != 0) throw new CudaException(call, status, CudaAbi.cublasStatusName(status));
    }

    static String errorName(int rc) {
        String name = CUresult.stringFor(rc);
        String[] text = {null};
        try {
            if (JCudaDriver.cuGetErrorString(rc, text) == CUresult.CUDA_SUCCESS && text[0] != null) return name + ": " + text[0];
        } catch (RuntimeException | LinkageError ignored) {
            // the name alone
        }
        return name;
    }

    /** Makes the primary context current when the calling thread changed. */
    private void bind() {
        Thread t = Thread.currentThread();
        if (t != boundThread) {
            check("cuCtxSetCurrent", cuCtxSetCurrent(context));
            boundThread = t;
        }
    }

    // ---------------------------------------------------------------- launches

    /** Launches {@code k} on a (gridX, gridY) grid of BLOCK-thread blocks after checking the arguments against its parameter list. */
    private void launch2d(Kernel k, int gridX, int gridY, Object... args) {
        List<Kernel.Arg> params = k.params();
        if (args.length != params.size()) {
            throw new IllegalStateException(k.symbol() + ": " + args.length + " arguments for " + params.size() + " parameters");
        }
        NativePointerObject[] p = new NativePointerObject[args.length];
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            p[i] = switch (params.get(i).type()) {
                case PTR -> Pointer.to((CUdeviceptr) a);
                case I32 -> Pointer.to(new int[] {(Integer) a});
                case I64 -> Pointer.to(new long[] {(Long) a});
                case F32 -> Pointer.to(new float[] {(Float) a});
            };
        }
        int rc = cuLaunchKernel(functions.get(k), gridX, gridY, 1, BLOCK, 1, 1, 0, null, Pointer.to(p), null);
        if (rc != CUresult.CUDA_SUCCESS) check("cuLaunchKernel(" + k.symbol() + ", grid " + gridX + "x" + gridY + ")", rc);
    }

    /** Launches {@code k} on a one-dimensional grid. */
    private void launch(Kernel k, int grid, Object... args) {
        launch2d(k, grid, 1, args);
    }

    private static CUdeviceptr ptr(JBuffer b) {
        return b == null ? NULL : b.ptr;
    }

    /** A device buffer that only grows (contents lost on growth); sub-buffers at 256-byte offsets. */
    private final class Scratch {
        private final String what;
        private CUdeviceptr ptr;
        private long bytes;

        Scratch(String what) { this.what = what; }

        CUdeviceptr reserve(long need) {
            if (ptr != null && bytes >= need) return ptr;
            long grown = Math.max(4096, bytes);
            while (grown < need) grown *= 2;
            free();
            CUdeviceptr p = new CUdeviceptr();
            check("cuMemAlloc(" + grown + " bytes, " + what + ")", cuMemAlloc(p, grown));
            ptr = p;
            bytes = grown;
            return p;
        }

        CUdeviceptr at(long byteOffset) { return byteOffset == 0 ? ptr : ptr.withByteOffset(byteOffset); }

        void free() {
            if (ptr == null) return;
            CUdeviceptr p = ptr;
            ptr = null;
            bytes = 0;
            check("cuMemFree(" + what + ")", cuMemFree(p));
        }
    }

    private static long align256(long bytes) { return (bytes + 255) & ~255L; }

    /** Copies {@code count} doubles from device memory to a new array (waits for queued work; counted as a transfer). */
    private double[] fetchDoubles(CUdeviceptr src, int count) {
        double[] out = new double[count];
        fetch(count + " doubles", Pointer.to(out), src, (long) count * Double.BYTES);
        return out;
    }

    /** Copies {@code bytes} from device memory to host memory (a result for the host: waits for queued work; counted as a transfer). */
    private void fetch(String what, Pointer dst, CUdeviceptr src, long bytes) {
        check("cuMemcpyDtoH(" + what + ")", cuMemcpyDtoH(dst, src, bytes));
        countDeviceToHost(bytes);
    }

    /** Copies {@code bytes} from a host array to device memory (a table for a kernel; counted as a transfer). */
    private void sendTable(String what, CUdeviceptr dst, Pointer src, long bytes) {
        check("cuMemcpyHtoD(" + what + ")", cuMemcpyHtoD(dst, src, bytes));
        countHostToDevice(bytes);
    }

    // ---------------------------------------------------------------- memory

    @Override protected JBuffer deviceEmpty() { return new JBuffer(this, 0, new CUdeviceptr()); }

    @Override protected JBuffer deviceAllocate(long length) {
        bind();
        long bytes = length * Float.BYTES;
        CUdeviceptr p = new CUdeviceptr();
        check("cuMemAlloc(" + bytes + " bytes)", cuMemAlloc(p, bytes));
        int rc = cuMemsetD32(p, 0, length);
        if (rc != CUresult.CUDA_SUCCESS) {
            cuMemFree(p);
            check("cuMemsetD32(" + length + " floats)", rc);
        }
        return new JBuffer(this, length, p);
    }

    @Override protected JBuffer deviceSlice(JBuffer root, long offset, long length) { return new JBuffer(root, offset, length); }

    @Override protected void deviceFree(JBuffer root) {
        bind();
        check("cuMemFree(" + root.length() * Float.BYTES + " bytes)", cuMemFree(root.ptr));
    }

    @Override protected void deviceClose() {
        bind();
        RuntimeException first = null;
        for (Runnable r : new Runnable[] {reduce::free, normTable::free, adamTable::free,
                () -> { if (cublas != null) checkCublas("cublasDestroy", JCublas2.cublasDestroy(cublas)); },
                () -> check("cuModuleUnload", JCudaDriver.cuModuleUnload(module)),
                () -> check("cuDevicePrimaryCtxRelease", JCudaDriver.cuDevicePrimaryCtxRelease(device))}) {
            try {
                r.run();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }

    @Override protected void deviceUpload(float[] src, int srcOffset, JBuffer dst, long n) {
        bind();
        check("cuMemcpyHtoD(" + n + " floats)", cuMemcpyHtoD(dst.ptr, Pointer.to(src).withByteOffset((long) srcOffset * Float.BYTES), n * Float.BYTES));
    }

    @Override protected void deviceDownload(JBuffer src, float[] dst, int dstOffset, long n) {
        bind();
        check("cuMemcpyDtoH(" + n + " floats)", cuMemcpyDtoH(Pointer.to(dst).withByteOffset((long) dstOffset * Float.BYTES), src.ptr, n * Float.BYTES));
    }

    @Override protected void deviceCopy(JBuffer src, JBuffer dst, long n) {
        bind();
        check("cuMemcpyDtoD(" + n + " floats)", cuMemcpyDtoD(dst.ptr, src.ptr, n * Float.BYTES));
    }

    @Override protected void deviceFill(JBuffer dst, float value, long n) {
        bind();
        check("cuMemsetD32(" + n + " floats)", cuMemsetD32(dst.ptr, Float.floatToRawIntBits(value), n));
    }

    @Override protected void deviceSynchronize() {
        bind();
        check("cuCtxSynchronize", cuCtxSynchronize());
    }

    // ---------------------------------------------------------------- optimizer vector ops

    /** One segment without AMSGrad: the scalars as kernel arguments; otherwise the table [offsets | scalars] in one copy, then the segmented kernel. */
    @Override protected void deviceAdam(AdamUpdate u, JBuffer p, JBuffer g, JBuffer m, JBuffer v, JBuffer vMax, long n) {
        bind();
        int grid = CudaGeometry.elementwiseGrid(n);
        if (u.segments() == 1 && vMax == null) {
            AdamScalars s = u.scalars(0);
            launch(Kernel.ADAM, grid, p.ptr, g.ptr, m.ptr, v.ptr, n,
                    s.beta1(), s.oneMinusBeta1(), s.beta2(), s.oneMinusBeta2(), s.stepSize(), s.biasCorrection2Sqrt(), s.eps(),
                    s.l2WeightDecay(), s.decayFactor(), s.gradScale(), NULL);
            return;
        }
        int segments = u.segments();
        long offsetBytes = align256((long) Long.BYTES * (segments + 1));
        float[] scalars = CudaAbi.adamScalarTable(u);
        ByteBuffer table = ByteBuffer.allocate(Math.toIntExact(offsetBytes + (long) Float.BYTES * scalars.length)).order(ByteOrder.nativeOrder());
        table.asLongBuffer().put(u.offsets());
        table.position((int) offsetBytes);
        table.asFloatBuffer().put(scalars);
        adamTable.reserve(table.capacity());
        sendTable("Adam segment table, " + segments + " segments", adamTable.at(0), Pointer.to(table.array()), table.capacity());
        launch(Kernel.ADAM_SEGMENTS, grid, p.ptr, g.ptr, m.ptr, v.ptr, ptr(vMax), n, adamTable.at(0), adamTable.at(offsetBytes), segments, NULL);
    }

    @Override protected void deviceMultiDot(JBuffer x, JBuffer[] ys, long n, double[] out, int outOffset) {
        bind();
        int k = ys.length;
        int grid = CudaGeometry.elementwiseGrid(n);
        long partialBytes = align256((long) Double.BYTES * k * grid);
        reduce.reserve(partialBytes + (long) Double.BYTES * CudaGeometry.MAX_DOTS);
        CUdeviceptr partials = reduce.at(0), dots = reduce.at(partialBytes);
        CUdeviceptr[] y = new CUdeviceptr[CudaGeometry.MAX_DOTS];
        for (int j = 0; j < y.length; j++) y[j] = j < k ? ys[j].ptr : NULL;
        launch(Kernel.MULTI_DOT_PARTIALS, grid, x.ptr, y[0], y[1], y[2], y[3], k, n, partials);
        launch(Kernel.REDUCE_PARTIALS, k, partials, k, grid, dots);
        System.arraycopy(fetchDoubles(dots, k), 0, out, outOffset, k);
    }

    @Override protected void deviceCgDirection(JBuffer d, JBuffer g, JBuffer gPrev, long n, float beta) {
        bind();
        launch(Kernel.CG_DIRECTION, CudaGeometry.elementwiseGrid(n), d.ptr, g.ptr, gPrev.ptr, n, beta);
    }

    @Override protected void deviceTrialPoint(JBuffer x, JBuffer x0, JBuffer d, long n, float alpha) {
        bind();
        launch(Kernel.TRIAL_POINT, CudaGeometry.elementwiseGrid(n), x.ptr, x0.ptr, d.ptr, n, alpha);
    }

    @Override protected void deviceAxpy(float a, JBuffer x, JBuffer y, long n) {
        bind();
        launch(Kernel.AXPY, CudaGeometry.elementwiseGrid(n), a, x.ptr, y.ptr, n);
    }

    /** Protocol of tp_segmented_norms: [upload the table when the offsets changed] -> zero the flag ->
     *  chunk pass -> cleanup pass -> one copy of the sums, the flag and the maxima. */
    @Override protected boolean deviceSegmentedNorms(JBuffer g, long[] offsets, double[] sumsq, float[] maxAbs) {
        bind();
        int tensors = offsets.length - 1;
        int chunks;
        long llBytes;
        if (cachedOffsets != null && Arrays.equals(cachedOffsets, offsets) && normTable.ptr != null) {
            chunks = cachedChunks;
            llBytes = align256((long) Long.BYTES * chunks);
        } else {
            cachedOffsets = null;
            CudaGeometry.NormChunkTable table = CudaGeometry.normChunkTable(offsets);
            chunks = table.chunks();
            llBytes = align256((long) Long.BYTES * chunks);
            normTable.reserve(2 * llBytes + (long) Integer.BYTES * (tensors + 1));
            if (chunks > 0) {
                sendTable("norm chunk starts", normTable.at(0), Pointer.to(table.chunkStart()), (long) Long.BYTES * chunks);
                sendTable("norm chunk ends", normTable.at(llBytes), Pointer.to(table.chunkEnd()), (long) Long.BYTES * chunks);
            }
            sendTable("norm tensor chunks", normTable.at(2 * llBytes), Pointer.to(table.tensorFirstChunk()), (long) Integer.BYTES * (tensors + 1));
            cachedOffsets = offsets.clone();
            cachedChunks = chunks;
        }
        // reduction scratch: [chunk sums | chunk maxima | sums (tensors + 1 doubles), flag (one double slot), maxima (tensors + 1 uints)]
        long chunkBytes = align256((long) Double.BYTES * chunks), chunkMaxBytes = align256((long) Integer.BYTES * chunks);
        long resultBytes = (long) Double.BYTES * (tensors + 2) + (long) Integer.BYTES * (tensors + 1);
        reduce.reserve(chunkBytes + chunkMaxBytes + resultBytes);
        CUdeviceptr chunkSums = reduce.at(0), chunkMax = reduce.at(chunkBytes), out = reduce.at(chunkBytes + chunkMaxBytes);
        CUdeviceptr flag = reduce.at(chunkBytes + chunkMaxBytes + (long) Double.BYTES * (tensors + 1));
        CUdeviceptr maxima = reduce.at(chunkBytes + chunkMaxBytes + (long) Double.BYTES * (tensors + 2));
        check("cuMemsetD32(norm flag)", cuMemsetD32(flag, 0, 2));
        if (chunks > 0) launch(Kernel.NORM_CHUNKS, chunks, g.ptr, normTable.at(0), normTable.at(llBytes), chunkSums, chunkMax, flag);
        launch(Kernel.NORM_CLEANUP, 1, chunkSums, chunkMax, normTable.at(2 * llBytes), tensors, out, maxima);
        byte[] host = new byte[Math.toIntExact(resultBytes)];
        fetch("norms, " + resultBytes + " bytes", Pointer.to(host), out, resultBytes);
        ByteBuffer b = ByteBuffer.wrap(host).order(ByteOrder.nativeOrder());
        b.asDoubleBuffer().get(sumsq, 0, tensors + 1);
        boolean nonFinite = b.getLong(Double.BYTES * (tensors + 1)) != 0; // the int flag in the low half, high half zeroed
        b.position(Double.BYTES * (tensors + 2));
        b.asFloatBuffer().get(maxAbs, 0, tensors + 1); // the bits of |g| are the float's
        return nonFinite;
    }

    // ---------------------------------------------------------------- model ops

    @Override protected void deviceGemm(boolean transA, boolean transB, int m, int n, int k, float alpha, JBuffer a, int lda,
                                        JBuffer b, int ldb, float beta, JBuffer c, int ldc) {
        bind();
        if (cublas != null) {
            // row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands
            checkCublas("cublasSgemm(" + m + "x" + n + "x" + k + ")", JCublas2.cublasSgemm(cublas,
                    transB ? CudaAbi.CUBLAS_OP_T : CudaAbi.CUBLAS_OP_N, transA ? CudaAbi.CUBLAS_OP_T : CudaAbi.CUBLAS_OP_N,
                    n, m, k, Pointer.to(new float[] {alpha}), b.ptr, ldb, a.ptr, lda, Pointer.to(new float[] {beta}), c.ptr, ldc));
        } else {
            launch2d(Kernel.SGEMM, CudaGeometry.gemmGridX(n), CudaGeometry.gemmGridY(m), transA ? 1 : 0, transB ? 1 : 0, m, n, k,
                    alpha, a.ptr, lda, b.ptr, ldb, beta, c.ptr, ldc);
        }
    }

    @Override protected void deviceAddBias(JBuffer y, JBuffer bias, long rows, int cols) {
        bind();
        launch(Kernel.ADD_BIAS, CudaGeometry.elementwiseGrid(rows * cols), y.ptr, bias.ptr, rows, cols);
    }

    @Override protected void deviceBiasGradient(JBuffer dy, JBuffer dBias, long rows, int cols) {
        bind();
        int chunks = CudaGeometry.biasChunks(rows);
        CUdeviceptr partials = NULL;
        if (chunks > 0) {
            partials = reduce.reserve((long) Double.BYTES * chunks * cols);
            launch2d(Kernel.BIAS_GRAD_PARTIALS, CudaGeometry.biasColumnBlocks(cols), chunks, dy.ptr, rows, cols,
                    CudaGeometry.biasRowsPerChunk(rows), partials);
        }
        launch(Kernel.BIAS_GRAD_FINISH, CudaGeometry.biasFinishGrid(cols), partials, chunks, cols, dBias.ptr);
    }

    @Override protected void deviceActivation(int act, JBuffer x, JBuffer y, long n) {
        bind();
        launch(Kernel.ACTIVATION, CudaGeometry.elementwiseGrid(n), act, x.ptr, y.ptr, n);
    }

    @Override protected void deviceActivationBackward(int act, JBuffer x, JBuffer y, JBuffer dy, JBuffer dx, long n) {
        bind();
        launch(Kernel.ACTIVATION_BACKWARD, CudaGeometry.elementwiseGrid(n), act, x.ptr, y.ptr, dy.ptr, dx.ptr, n);
    }

    @Override protected double deviceSquaredError(JBuffer out, JBuffer target, float gradScale, JBuffer dOut, long n) {
        bind();
        int grid = CudaGeometry.elementwiseGrid(n);
        long partialBytes = align256((long) Double.BYTES * grid);
        reduce.reserve(partialBytes + Double.BYTES);
        CUdeviceptr partials = reduce.at(0), result = reduce.at(partialBytes);
        launch(Kernel.SQUARED_ERROR_PARTIALS, grid, out.ptr, target.ptr, n, 2f * gradScale, ptr(dOut), partials);
        launch(Kernel.REDUCE_PARTIALS, 1, partials, 1, grid, result);
        return fetchDoubles(result, 1)[0];
    }

    @Override protected double deviceSoftmaxCrossEntropy(JBuffer logits, JBuffer target, long rows, int cols, float gradScale,
                                                         JBuffer dOut) {
        bind();
        long rowBytes = align256((long) Double.BYTES * rows);
        reduce.reserve(rowBytes + Double.BYTES);
        CUdeviceptr rowLoss = reduce.at(0), result = reduce.at(rowBytes);
        launch(Kernel.SOFTMAX_XENT_ROWS, CudaGeometry.rowGrid(rows), logits.ptr, target.ptr, rows, cols, gradScale, ptr(dOut), rowLoss);
        launch(Kernel.REDUCE_PARTIALS, 1, rowLoss, 1, (int) rows, result);
        return fetchDoubles(result, 1)[0];
    }

    // ---------------------------------------------------------------- conv ops

    /** Launches one of the conv kernels that take (buffers..., shape, out_h, out_w), one thread per element it writes. */
    private void launchConv(Kernel k, long elements, ConvShape s, CUdeviceptr... buffers) {
        Object[] args = new Object[buffers.length + 9];
        System.arraycopy(buffers, 0, args, 0, buffers.length);
        int i = buffers.length;
        for (int v : new int[] {s.batch(), s.height(), s.width(), s.channels(), s.kernel(), s.stride(), s.pad(), s.outHeight(), s.outWidth()}) {
            args[i++] = v;
        }
        launch(k, CudaGeometry.elementwiseGrid(elements), args);
    }

    @Override protected void deviceIm2col(ConvShape s, JBuffer x, JBuffer cols) {
        bind();
        launchConv(Kernel.IM2COL, cols.length(), s, x.ptr, cols.ptr);
    }

    @Override protected void deviceCol2im(ConvShape s, JBuffer cols, JBuffer dx) {
        bind();
        launchConv(Kernel.COL2IM, dx.length(), s, cols.ptr, dx.ptr);
    }

    @Override protected void deviceMaxPool(ConvShape s, JBuffer x, JBuffer y) {
        bind();
        launchConv(Kernel.MAX_POOL, y.length(), s, x.ptr, y.ptr);
    }

    @Override protected void deviceMaxPoolBackward(ConvShape s, JBuffer x, JBuffer y, JBuffer dy, JBuffer dx) {
        bind();
        launchConv(Kernel.MAX_POOL_BACKWARD, dx.length(), s, x.ptr, y.ptr, dy.ptr, dx.ptr);
    }

    @Override protected void deviceBatchedTranspose(int batch, int rows, int cols, JBuffer x, JBuffer y) {
        bind();
        launch(Kernel.BATCHED_TRANSPOSE, CudaGeometry.transposeGrid(batch, rows, cols), x.ptr, y.ptr, batch, rows, cols);
    }

    // ---------------------------------------------------------------- attention, layer norm, token mean

    @Override protected void deviceBatchedMatmul(BatchedMatmul g, JBuffer a, JBuffer b, JBuffer c) {
        bind();
        launch(Kernel.BATCHED_MATMUL, CudaGeometry.batchedMatmulGrid((long) g.outer() * g.inner(), g.m(), g.n()),
                g.transA() ? 1 : 0, g.transB() ? 1 : 0, g.m(), g.n(), g.k(), g.alpha(), a.ptr, g.lda(), g.strideAOuter(),
                g.strideAInner(), b.ptr, g.ldb(), g.strideBOuter(), g.strideBInner(), c.ptr, g.ldc(), g.strideCOuter(),
                g.strideCInner(), (long) g.outer(), g.inner());
    }

    @Override protected void deviceCublasSgemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                                             JBuffer a, long aOffset, int lda, long strideA, JBuffer b, long bOffset,
                                                             int ldb, long strideB, JBuffer c, long cOffset, int ldc, long strideC,
                                                             int batchCount) {
        bind();
        checkCublas("cublasSgemmStridedBatched(" + m + "x" + n + "x" + k + ", " + batchCount + " matrices)",
                JCublas2.cublasSgemmStridedBatched(cublas, transA ? CudaAbi.CUBLAS_OP_T : CudaAbi.CUBLAS_OP_N,
                        transB ? CudaAbi.CUBLAS_OP_T : CudaAbi.CUBLAS_OP_N, m, n, k, Pointer.to(new float[] {alpha}),
                        a.ptr.withByteOffset(aOffset * Float.BYTES), lda, strideA, b.ptr.withByteOffset(bOffset * Float.BYTES), ldb,
                        strideB, Pointer.to(new float[] {0f}), c.ptr.withByteOffset(cOffset * Float.BYTES), ldc, strideC, batchCount));
    }

    @Override protected void deviceAttentionSoftmax(JBuffer probs, long rows, int cols) {
        bind();
        launch(Kernel.ATTENTION_SOFTMAX_ROWS, CudaGeometry.rowGrid(rows), probs.ptr, rows, cols);
    }

    @Override protected void deviceAttentionSoftmaxBackward(JBuffer probs, JBuffer grad, long rows, int cols, float scale) {
        bind();
        launch(Kernel.ATTENTION_SOFTMAX_BACKWARD_ROWS, CudaGeometry.rowGrid(rows), probs.ptr, grad.ptr, rows, cols, scale);
    }

    @Override protected void deviceLayerNorm(JBuffer x, JBuffer gamma, JBuffer beta, JBuffer y, long rows, int dim, float eps) {
        bind();
        launch(Kernel.LAYER_NORM_ROWS, CudaGeometry.rowGrid(rows), x.ptr, gamma.ptr, beta.ptr, y.ptr, rows, dim, eps);
    }

    /** Protocol of tp_layer_norm_backward: rows (dx, row statistics) -> gamma/beta partials per row chunk -> the bias
     *  gradient's finish pass on each half (also for rows = 0, which adds 0). */
    @Override protected void deviceLayerNormBackward(JBuffer x, JBuffer gamma, JBuffer dy, JBuffer dx, JBuffer dGamma, JBuffer dBeta,
                                                     long rows, int dim, float eps) {
        bind();
        int chunks = CudaGeometry.biasChunks(rows);
        CUdeviceptr gammaPartials = NULL, betaPartials = NULL;
        if (chunks > 0) {
            long statsBytes = align256(2L * Double.BYTES * rows), halfBytes = (long) Double.BYTES * chunks * dim;
            reduce.reserve(statsBytes + 2 * halfBytes);
            CUdeviceptr stats = reduce.at(0);
            gammaPartials = reduce.at(statsBytes);
            betaPartials = reduce.at(statsBytes + halfBytes);
            launch(Kernel.LAYER_NORM_BACKWARD_ROWS, CudaGeometry.rowGrid(rows), x.ptr, gamma.ptr, dy.ptr, dx.ptr, stats, rows, dim, eps);
            launch2d(Kernel.LAYER_NORM_PARAM_PARTIALS, CudaGeometry.biasColumnBlocks(dim), CudaGeometry.layerNormChunkBlocks(chunks),
                    x.ptr, dy.ptr, stats, rows, dim, CudaGeometry.biasRowsPerChunk(rows), chunks, gammaPartials);
        }
        launch(Kernel.BIAS_GRAD_FINISH, CudaGeometry.biasFinishGrid(dim), gammaPartials, chunks, dim, dGamma.ptr);
        launch(Kernel.BIAS_GRAD_FINISH, CudaGeometry.biasFinishGrid(dim), betaPartials, chunks, dim, dBeta.ptr);
    }

    @Override protected void deviceTokenMean(JBuffer x, JBuffer y, long batch, int tokens, int dim) {
        bind();
        launch(Kernel.TOKEN_MEAN, CudaGeometry.elementwiseGrid(batch * dim), x.ptr, y.ptr, batch, tokens, dim);
    }

    @Override protected void deviceTokenMeanBackward(JBuffer dy, JBuffer dx, long batch, int tokens, int dim) {
        bind();
        launch(Kernel.TOKEN_MEAN_BACKWARD, CudaGeometry.elementwiseGrid(batch * tokens * dim), dy.ptr, dx.ptr, batch, tokens, dim);
    }

    // ---------------------------------------------------------------- training data

    @Override protected void deviceGatherRows(JBuffer src, long srcRows, int cols, JBuffer indices, long rows, JBuffer dst) {
        bind();
        launch(Kernel.GATHER_ROWS, CudaGeometry.elementwiseGrid(rows * cols), src.ptr, srcRows, cols, indices.ptr, rows, dst.ptr);
    }

    @Override protected void deviceOneHot(JBuffer labels, long rows, int classes, JBuffer dst) {
        bind();
        launch(Kernel.ONE_HOT, CudaGeometry.elementwiseGrid(rows * classes), labels.ptr, rows, classes, dst.ptr);
    }

    @Override protected double deviceCountCorrect(JBuffer outputs, JBuffer labels, long rows, int cols) {
        bind();
        int grid = CudaGeometry.elementwiseGrid(rows);
        long partialBytes = align256((long) Double.BYTES * grid);
        reduce.reserve(partialBytes + Double.BYTES);
        CUdeviceptr partials = reduce.at(0), result = reduce.at(partialBytes);
        launch(Kernel.COUNT_CORRECT_PARTIALS, grid, outputs.ptr, labels.ptr, rows, cols, partials);
        launch(Kernel.REDUCE_PARTIALS, 1, partials, 1, grid, result);
        return fetchDoubles(result, 1)[0];
    }
}
