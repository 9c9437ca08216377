package dev.twophase.backend.gpu;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendProvider;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.Backends;
import dev.twophase.backend.cuda.CudaAbi;
import dev.twophase.backend.cuda.CudaDriver;
import dev.twophase.backend.cuda.CudaGeometry;
import dev.twophase.backend.cuda.CudaGeometry.NormChunkTable;
import dev.twophase.backend.cuda.Emulation;
import dev.twophase.backend.cuda.Kernel;
import dev.twophase.backend.cuda.NativeResources;
import dev.twophase.backend.cuda.OneLine;
import dev.twophase.backend.ffm.TpFunction;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA-to-Java contract, checked on any machine (no GPU needed): the Java launch geometry and
 * norm chunk table give the numbers native-tests/test_geometry.cpp checks for the C version; the
 * kernel table matches cuda/kernels.cuh and the FFM function table matches cuda/twophase.h; the
 * built library exports every bound function with the ABI version the bindings expect; and both
 * GPU providers fail cleanly, once, with a one-line reason when they cannot run.
 */
class CudaContractTest {
    private static final int C = CudaGeometry.NORM_CHUNK;

    // ---------------------------------------------------------------- geometry (test_geometry.cpp)

    @Test void elementwiseGridMatchesTheCVersion() {
        long perBlock = (long) CudaGeometry.BLOCK * 4;
        assertEquals(0, CudaGeometry.elementwiseGrid(0));
        assertEquals(0, CudaGeometry.elementwiseGrid(-5));
        assertEquals(1, CudaGeometry.elementwiseGrid(1));
        assertEquals(1, CudaGeometry.elementwiseGrid(perBlock));
        assertEquals(2, CudaGeometry.elementwiseGrid(perBlock + 1));
        assertEquals(1, CudaGeometry.elementwiseGrid(7));
        assertEquals(5, CudaGeometry.elementwiseGrid(4097));
        assertEquals(977, CudaGeometry.elementwiseGrid(1_000_003));
        assertEquals(CudaGeometry.MAX_GRID, CudaGeometry.elementwiseGrid(perBlock * CudaGeometry.MAX_GRID));
        assertEquals(CudaGeometry.MAX_GRID, CudaGeometry.elementwiseGrid(perBlock * CudaGeometry.MAX_GRID + 1));
        assertEquals(CudaGeometry.MAX_GRID, CudaGeometry.elementwiseGrid(1L << 40));
        assertEquals(CudaGeometry.MAX_GRID, CudaGeometry.elementwiseGrid(Long.MAX_VALUE));
        for (long n = 1; n < 3 * perBlock * CudaGeometry.MAX_GRID; n += 977) {
            long want = (n + perBlock - 1) / perBlock;
            assertEquals(Math.min(want, CudaGeometry.MAX_GRID), CudaGeometry.elementwiseGrid(n), "n = " + n);
        }
        assertEquals(256, CudaGeometry.BLOCK);
        assertEquals(1024, CudaGeometry.MAX_GRID);
        assertEquals(4, CudaGeometry.MAX_DOTS);
        assertEquals(32768, CudaGeometry.NORM_CHUNK);
    }

    @Test void normChunkTableMatchesTheCVersion() {
        long[] off = {0, 0, 3, 3, C + 3, 2L * C + 4, 2L * C + 4};
        NormChunkTable t = CudaGeometry.normChunkTable(off);
        assertEquals(4, t.chunks());
        assertArrayEquals(new int[] {0, 0, 1, 1, 2, 4, 4}, t.tensorFirstChunk());
        assertEquals(C + 3, t.chunkStart()[2]);
        assertEquals(2L * C + 3, t.chunkEnd()[2]);
        assertEquals(2L * C + 3, t.chunkStart()[3]);
        assertEquals(2L * C + 4, t.chunkEnd()[3]);
        assertConsistent(off, t);

        NormChunkTable none = CudaGeometry.normChunkTable(new long[] {0});
        assertEquals(0, none.chunks());
        assertArrayEquals(new int[] {0}, none.tensorFirstChunk());

        SplittableRandom rng = new SplittableRandom(11);
        long[] many = new long[3001];
        for (int i = 0; i < 3000; i++) many[i + 1] = many[i] + (i % 7 == 0 ? 0 : rng.nextLong(3L * C));
        assertConsistent(many, CudaGeometry.normChunkTable(many));

        long huge = (1L << 31) + 4099;
        long[] big = {0, 5, 5 + huge, 5 + huge + 7};
        NormChunkTable h = CudaGeometry.normChunkTable(big);
        assertEquals(1 + (huge + C - 1) / C + 1, h.chunks());
        assertEquals(5 + huge + 7, h.chunkEnd()[h.chunks() - 1]);
        assertConsistent(big, h);

        assertThrows(IllegalArgumentException.class, () -> CudaGeometry.normChunkTable(new long[] {1, 4}));
        assertThrows(IllegalArgumentException.class, () -> CudaGeometry.normChunkTable(new long[] {0, 4, 3}));
        assertThrows(IllegalArgumentException.class, () -> CudaGeometry.normChunkTable(null));
        assertThrows(IllegalArgumentException.class, () -> CudaGeometry.normChunkTable(new long[0]));
        assertThrows(IllegalArgumentException.class, () -> CudaGeometry.normChunkTable(new long[] {0, (long) C << 31}));
    }

    /** Every chunk lies in its tensor, is non-empty and at most NORM_CHUNK long; chunks tile each tensor in order. */
    private static void assertConsistent(long[] off, NormChunkTable t) {
        int nt = off.length - 1;
        assertEquals(nt + 1, t.tensorFirstChunk().length);
        assertEquals(0, t.tensorFirstChunk()[0]);
        assertEquals(t.chunks(), t.tensorFirstChunk()[nt]);
        for (int k = 0; k < nt; k++) {
            int c0 = t.tensorFirstChunk()[k], c1 = t.tensorFirstChunk()[k + 1];
            assertEquals(CudaGeometry.normChunkCount(off[k + 1] - off[k]), c1 - c0, "tensor " + k);
            long pos = off[k];
            for (int c = c0; c < c1; c++) {
                long s = t.chunkStart()[c], e = t.chunkEnd()[c];
                assertTrue(s == pos && e > s && e - s <= C && e <= off[k + 1], "chunk " + c);
                pos = e;
            }
            assertEquals(off[k + 1], pos, "tensor " + k + " not covered");
        }
    }

    @Test void modelGeometryMatchesTheCVersion() {
        assertEquals(0, CudaGeometry.rowGrid(0));
        assertEquals(0, CudaGeometry.rowGrid(-1));
        assertEquals(1, CudaGeometry.rowGrid(1));
        assertEquals(1, CudaGeometry.rowGrid(8));
        assertEquals(2, CudaGeometry.rowGrid(9));
        assertEquals(513, CudaGeometry.rowGrid(4097));
        assertEquals(CudaGeometry.MAX_ROW_GRID, CudaGeometry.rowGrid(1_000_003));

        assertEquals(0, CudaGeometry.biasChunks(0));
        assertEquals(256, CudaGeometry.biasRowsPerChunk(0));
        assertEquals(1, CudaGeometry.biasChunks(1));
        assertEquals(1, CudaGeometry.biasChunks(256));
        assertEquals(2, CudaGeometry.biasChunks(257));
        assertEquals(977, CudaGeometry.biasChunks(1_000_003));
        assertEquals(1024, CudaGeometry.biasRowsPerChunk(1_000_003));
        long span = (long) CudaGeometry.BIAS_CHUNK_ROWS * CudaGeometry.BIAS_MAX_CHUNKS;
        assertEquals(CudaGeometry.BIAS_MAX_CHUNKS, CudaGeometry.biasChunks(span));
        assertEquals(512, CudaGeometry.biasRowsPerChunk(span + 1));
        assertEquals(513, CudaGeometry.biasChunks(span + 1));
        for (long rows = 1; rows < 40 * span; rows += 7919) {
            long per = CudaGeometry.biasRowsPerChunk(rows);
            int chunks = CudaGeometry.biasChunks(rows);
            assertTrue(per % CudaGeometry.BIAS_ROW_LANES == 0 && chunks <= CudaGeometry.BIAS_MAX_CHUNKS
                    && (long) chunks * per >= rows && (long) (chunks - 1) * per < rows, "rows " + rows);
        }
        assertEquals(1, CudaGeometry.biasColumnBlocks(1));
        assertEquals(2, CudaGeometry.biasColumnBlocks(33));
        assertEquals(4, CudaGeometry.biasFinishGrid(1000));
        assertEquals(67108864, CudaGeometry.biasColumnBlocks(Integer.MAX_VALUE));
        assertEquals(8388608, CudaGeometry.biasFinishGrid(Integer.MAX_VALUE));

        assertEquals(0, CudaGeometry.gemmGridX(0));
        assertEquals(0, CudaGeometry.gemmGridY(0));
        assertEquals(1, CudaGeometry.gemmGridX(1));
        assertEquals(1, CudaGeometry.gemmGridX(64));
        assertEquals(2, CudaGeometry.gemmGridX(65));
        assertEquals(65, CudaGeometry.gemmGridY(4097));
        assertEquals(15626, CudaGeometry.gemmGridY(1_000_003));
        assertEquals(CudaGeometry.GEMM_MAX_GRID_Y, CudaGeometry.gemmGridY(Integer.MAX_VALUE));
        assertEquals(33554432, CudaGeometry.gemmGridX(Integer.MAX_VALUE));

        assertEquals(0, CudaGeometry.bmmTiles(0, 5));
        assertEquals(1, CudaGeometry.bmmTiles(16, 16));
        assertEquals(2, CudaGeometry.bmmTiles(17, 16));
        assertEquals(16, CudaGeometry.bmmTiles(49, 64));
        assertEquals(134217728L * 134217728L, CudaGeometry.bmmTiles(Integer.MAX_VALUE, Integer.MAX_VALUE));
        assertEquals(0, CudaGeometry.batchedMatmulGrid(0, 16, 16));
        assertEquals(0, CudaGeometry.batchedMatmulGrid(5, 0, 16));
        assertEquals(2048, CudaGeometry.batchedMatmulGrid(2048, 16, 16));
        assertEquals(CudaGeometry.BMM_MAX_GRID, CudaGeometry.batchedMatmulGrid(2048, 49, 49));
        assertEquals(21, CudaGeometry.batchedMatmulGrid(7, 37, 11));
        assertEquals(CudaGeometry.BMM_MAX_GRID, CudaGeometry.batchedMatmulGrid(Long.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE));
        assertEquals(CudaGeometry.BMM_MAX_GRID, CudaGeometry.batchedMatmulGrid(1, Integer.MAX_VALUE, Integer.MAX_VALUE));
        assertEquals(16384, CudaGeometry.BMM_MAX_GRID);
        assertEquals(0, CudaGeometry.layerNormChunkBlocks(0));
        assertEquals(1, CudaGeometry.layerNormChunkBlocks(1));
        assertEquals(1, CudaGeometry.layerNormChunkBlocks(CudaGeometry.LN_CHUNK_LANES));
        assertEquals(2, CudaGeometry.layerNormChunkBlocks(CudaGeometry.LN_CHUNK_LANES + 1));
        assertEquals(128, CudaGeometry.layerNormChunkBlocks(CudaGeometry.BIAS_MAX_CHUNKS));
    }

    @Test void transposeGridMatchesTheCVersion() {
        assertEquals(0, CudaGeometry.transposeGrid(0, 5, 5));
        assertEquals(0, CudaGeometry.transposeGrid(3, 0, 5));
        assertEquals(0, CudaGeometry.transposeGrid(3, 5, -1));
        assertEquals(1, CudaGeometry.transposeGrid(1, 1, 1));
        assertEquals(1, CudaGeometry.transposeGrid(1, 32, 32));
        assertEquals(2, CudaGeometry.transposeGrid(1, 33, 32));
        assertEquals(4, CudaGeometry.transposeGrid(1, 33, 33));
        assertEquals(4096, CudaGeometry.transposeGrid(512, 3, 1024));
        assertEquals(3200, CudaGeometry.transposeGrid(100, 3, 1024));
        assertEquals(CudaGeometry.MAX_TRANSPOSE_GRID, CudaGeometry.transposeGrid(4097, 2, 33));
        assertEquals(CudaGeometry.MAX_TRANSPOSE_GRID, CudaGeometry.transposeGrid(Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE));
        assertEquals(CudaGeometry.MAX_TRANSPOSE_GRID, CudaGeometry.transposeGrid(1, 1L << 40, 1));
        for (long b = 1; b < 300; b += 7) {
            for (long r = 1; r < 200; r += 13) {
                for (long c = 1; c < 200; c += 17) {
                    long want = b * ((r + 31) / 32) * ((c + 31) / 32);
                    assertEquals(Math.min(want, CudaGeometry.MAX_TRANSPOSE_GRID), CudaGeometry.transposeGrid(b, r, c), b + "x" + r + "x" + c);
                }
            }
        }
        assertEquals(32, CudaGeometry.TRANSPOSE_TILE);
    }

    @Test void adamScalarsCarryOneMinusBetaRoundedFromDouble() {
        AdamScalars s = AdamScalars.forStep(1, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1);
        assertEquals(0.001f, s.oneMinusBeta2());
        assertEquals(0.1f, s.oneMinusBeta1());
        float b2 = s.beta2();
        assertTrue(1f - b2 != s.oneMinusBeta2(), "the float 1 - 0.999f differs; the kernel must take the host value");
    }

    /** tp_adam_step's table: TP_ADAM_SCALARS floats per segment, in twophase.h's order (AdamScalars's components). */
    @Test void adamScalarTableMatchesTwophaseH() throws IOException {
        Matcher m = Pattern.compile("#define TP_ADAM_SCALARS (\\d+)").matcher(Files.readString(sourceFile("cuda/twophase.h")));
        assertTrue(m.find(), "TP_ADAM_SCALARS in twophase.h");
        assertEquals(Integer.parseInt(m.group(1)), CudaAbi.ADAM_SCALARS);
        AdamScalars a = new AdamScalars(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), b = new AdamScalars(11, 12, 13, 14, 15, 16, 17, 18, 19, 20);
        float[] t = CudaAbi.adamScalarTable(new dev.twophase.backend.AdamUpdate(new long[] {0, 3, 5}, new AdamScalars[] {a, b}));
        for (int i = 0; i < t.length; i++) assertEquals(i + 1, t[i], "table entry " + i);
    }

    // ---------------------------------------------------------------- tables vs headers

    @Test void kernelTableMatchesKernelsCuh() throws IOException {
        String text = Files.readString(sourceFile("cuda/kernels.cuh"));
        Matcher m = Pattern.compile("\\n(tp_[a-z0-9_]+)\\(([^)]*)\\);").matcher(text);
        Map<String, List<String[]>> declared = new LinkedHashMap<>();
        while (m.find()) declared.put(m.group(1), params(m.group(2)));
        List<String> names = new ArrayList<>();
        for (Kernel k : Kernel.values()) {
            names.add(k.symbol());
            List<String[]> c = declared.get(k.symbol());
            assertTrue(c != null, k.symbol() + " is not declared in kernels.cuh");
            assertEquals(c.size(), k.params().size(), k.symbol() + ": parameter count");
            for (int i = 0; i < c.size(); i++) {
                Kernel.Arg a = k.params().get(i);
                assertEquals(c.get(i)[1], a.name(), k.symbol() + " parameter " + i);
                assertTrue(a.type().matchesC(c.get(i)[0]), k.symbol() + "." + a.name() + ": C type " + c.get(i)[0] + " vs " + a.type());
            }
        }
        assertEquals(declared.keySet().stream().sorted().toList(), names.stream().sorted().toList(), "kernels.cuh vs Kernel");
    }

    @Test void ffmFunctionTableMatchesTwophaseH() throws IOException {
        String text = Files.readString(sourceFile("cuda/twophase.h"));
        Matcher m = Pattern.compile("\\n(int|const char \\*)\\s*(tp_[a-z0-9_]+)\\(([^)]*)\\);").matcher(text);
        Map<String, FunctionDescriptor> declared = new LinkedHashMap<>();
        while (m.find()) {
            List<MemoryLayout> args = new ArrayList<>();
            for (String[] p : params(m.group(3))) args.add(layoutOf(p[0]));
            MemoryLayout ret = layoutOf(m.group(1));
            declared.put(m.group(2), FunctionDescriptor.of(ret, args.toArray(MemoryLayout[]::new)));
        }
        assertTrue(declared.size() >= 25, "parsed only " + declared.keySet());
        for (TpFunction f : TpFunction.values()) {
            assertEquals(declared.get(f.symbol()), f.descriptor(), f.symbol() + ": twophase.h vs TpFunction");
        }
        assertEquals(declared.keySet().stream().sorted().toList(),
                Arrays.stream(TpFunction.values()).map(TpFunction::symbol).sorted().toList(), "twophase.h vs TpFunction");
        Matcher abi = Pattern.compile("#define TP_ABI_VERSION (\\d+)").matcher(text);
        assertTrue(abi.find());
        assertEquals(CudaAbi.ABI_VERSION, Integer.parseInt(abi.group(1)), "TP_ABI_VERSION");
        for (String[] act : new String[][] {{"IDENTITY", "0"}, {"RELU", "1"}, {"TANH", "2"}, {"SIGMOID", "3"}, {"GELU", "4"}}) {
            assertTrue(text.contains("#define TP_ACT_" + act[0] + " " + act[1]), "TP_ACT_" + act[0]);
            assertEquals(Integer.parseInt(act[1]), CudaAbi.activationCode(dev.twophase.backend.Activation.valueOf(act[0])));
        }
    }

    private static ValueLayout layoutOf(String cType) {
        String t = cType.trim();
        if (t.contains("*")) return ValueLayout.ADDRESS;
        return switch (t.replace("const ", "")) {
            case "int" -> ValueLayout.JAVA_INT;
            case "int64_t" -> ValueLayout.JAVA_LONG;
            case "float" -> ValueLayout.JAVA_FLOAT;
            default -> throw new AssertionError("unexpected C type " + t);
        };
    }

    /** "const float *x, long long n" -> [["const float *", "x"], ["long long", "n"]]; "void" -> []. */
    private static List<String[]> params(String list) {
        List<String[]> out = new ArrayList<>();
        String s = list.replaceAll("\\s+", " ").trim();
        if (s.isEmpty() || s.equals("void")) return out;
        for (String p : s.split(",")) {
            Matcher m = Pattern.compile("^(.*?)([A-Za-z_][A-Za-z0-9_]*)$").matcher(p.trim());
            assertTrue(m.matches(), "cannot parse parameter '" + p + "'");
            out.add(new String[] {m.group(1).trim(), m.group(2)});
        }
        return out;
    }

    /** A file of the source tree, found from the working directory upwards; skips when it is not there. */
    static Path sourceFile(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path p = dir.resolve(relative);
            if (Files.isRegularFile(p)) return p;
        }
        Assumptions.abort(relative + " not found above " + Path.of("").toAbsolutePath() + " (not run from the source tree)");
        return null;
    }

    // ---------------------------------------------------------------- built artifacts

    @ParameterizedTest @ValueSource(strings = {NativeResources.LIBRARY, NativeResources.EMU_LIBRARY})
    void libraryExportsEveryBoundFunctionWithTheExpectedAbi(String resource) throws Throwable {
        Path lib;
        try {
            lib = NativeResources.extract(resource, "twophase-contract", ".so");
        } catch (BackendUnavailableException e) {
            Assumptions.abort(e.getMessage());
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup lookup = SymbolLookup.libraryLookup(lib, arena);
            for (TpFunction f : TpFunction.values()) assertTrue(lookup.find(f.symbol()).isPresent(), f.symbol() + " not exported");
            MethodHandle abi = Linker.nativeLinker().downcallHandle(lookup.find("tp_abi_version").orElseThrow(),
                    TpFunction.ABI_VERSION.descriptor());
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            assertEquals(0, (int) abi.invokeExact(v));
            assertEquals(CudaAbi.ABI_VERSION, v.get(ValueLayout.JAVA_INT, 0), "tp_abi_version of the packaged " + resource);
        } finally {
            Files.deleteIfExists(lib);
        }
    }

    @Test void fatbinHoldsEveryKernel() {
        byte[] fatbin;
        try {
            fatbin = NativeResources.read(NativeResources.FATBIN);
        } catch (BackendUnavailableException e) {
            Assumptions.abort(e.getMessage());
            return;
        }
        String s = new String(fatbin, StandardCharsets.ISO_8859_1);
        for (Kernel k : Kernel.values()) {
            assertTrue(s.contains("\0" + k.symbol() + "\0"), k.symbol() + " has no cubin symbol in twophase.fatbin");
            assertTrue(s.contains(".entry " + k.symbol() + "("), k.symbol() + " has no PTX entry in twophase.fatbin");
        }
    }

    // ---------------------------------------------------------------- providers

    @Test void gpuProvidersFailCleanlyOnceOrOpen() throws Exception {
        for (String name : GpuTestSupport.DEVICE_BACKENDS) {
            BackendProvider p = GpuTestSupport.provider(name);
            assertTrue(p.accelerated() && !p.emulated(), name + " must be accelerated, not emulated");
            String first = null;
            try (Backend b = p.open(1)) {
                assertEquals(name, b.name());
                assertFalse(b.description().isBlank());
                continue; // a GPU is here: nothing more to check
            } catch (BackendUnavailableException e) {
                first = e.getMessage();
            }
            assertFalse(first.isBlank(), name + ": empty reason");
            assertFalse(first.contains("\n") || first.contains("\r"), name + ": reason is not one line: " + first);
            assertTrue(first.length() <= OneLine.MAX, name + ": reason too long: " + first);
            BackendUnavailableException again = assertThrows(BackendUnavailableException.class, () -> GpuTestSupport.provider(name).open(1));
            assertEquals(first, again.getMessage(), name + ": the second open must give the cached reason");
            // a failure found by trying carries what failed as its cause; the cached one is thrown before any native code runs
            assertNull(again.getCause(), name + ": the cached failure should not retry native loading");
        }
    }

    @Test void autoFallsBackToTheCpuWithAReasonPerGpuBackend() {
        Backends.Selection s = Backends.select("auto", 1);
        try {
            if (s.backend().name().equals("cpu")) {
                for (String name : GpuTestSupport.DEVICE_BACKENDS) {
                    assertTrue(s.reasons().stream().anyMatch(r -> r.startsWith(name + ": unavailable: ")), "no reason for " + name + ": " + s.reasons());
                }
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.select("ffm", 1));
                assertTrue(e.getMessage().contains("cannot run here"), e.getMessage());
            } else {
                assertTrue(GpuTestSupport.DEVICE_BACKENDS.contains(s.backend().name()), s.backend().name());
            }
            for (String name : GpuTestSupport.EMULATED_BACKENDS) {
                assertFalse(s.reasons().stream().anyMatch(r -> r.startsWith(name + ":")), "auto tried " + name + ": " + s.reasons());
            }
        } finally {
            s.backend().close();
        }
    }

    @Test void emulatedProvidersAreNeverAccelerated() {
        for (String name : GpuTestSupport.EMULATED_BACKENDS) {
            BackendProvider p = GpuTestSupport.provider(name);
            assertTrue(p.emulated() && !p.accelerated(), name + " must be emulated and not accelerated (auto never picks it)");
        }
        assertTrue(Backends.names().containsAll(GpuTestSupport.GPU_BACKENDS), Backends.names().toString());
    }

    /**
     * Without the NVIDIA driver the jcuda provider gives up before loading JCuda's natives (whose
     * failed load would disable JCuda for the whole JVM): jcuda-emu still opens afterwards.
     */
    @Test void aFailedJcudaLeavesJCudaUsableForTheEmulator() throws Exception {
        GpuTestSupport.assumeSelected("jcuda-emu");
        Assumptions.assumeTrue(CudaDriver.unavailableReason() != null, "the NVIDIA driver loads here");
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> GpuTestSupport.provider("jcuda").open(1));
        assertTrue(e.getMessage().startsWith("no NVIDIA driver") || e.getMessage().contains("emulated driver"), e.getMessage());
        try (Backend b = GpuTestSupport.provider("jcuda-emu").open(1)) {
            assertEquals("jcuda-emu", b.name());
            assertTrue(b.description().contains(Emulation.SUMMARY), b.description());
        }
    }
}
