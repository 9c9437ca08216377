package dev.twophase.backend.gpu;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cuda.CudaException;
import dev.twophase.backend.cuda.Emulation;
import dev.twophase.backend.cuda.GpuBackend;
import dev.twophase.backend.ffm.FfmBackend;
import dev.twophase.backend.jcuda.JCudaBackend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.SymbolLookup;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What only the emulated backends have: the emulated driver covers every driver function JCuda's
 * natives import (so that no call JCuda makes can kill the JVM with an unresolved symbol), the
 * device memory is configurable, and out-of-memory inside an op (a reduction's scratch) is a clear
 * exception after which the backend keeps working.
 */
class EmulatedBackendsTest {

    private static GpuBackend<?> open(String name) {
        GpuTestSupport.assumeSelected(name);
        try {
            return name.equals("ffm-emu") ? FfmBackend.open(true) : JCudaBackend.open(true);
        } catch (BackendUnavailableException e) {
            GpuTestSupport.unavailable(name, e.getMessage());
            return null;
        }
    }

    /** Opens with {@value Emulation#MEMORY_PROPERTY} = value, then gives the device its previous capacity back. */
    private static void withMemory(String name, String value, java.util.function.Consumer<GpuBackend<?>> body) {
        long previous;
        try (GpuBackend<?> b = open(name)) {
            previous = b.memoryInfo()[1];
        }
        try {
            System.setProperty(Emulation.MEMORY_PROPERTY, value);
            try (GpuBackend<?> b = open(name)) {
                body.accept(b);
            }
        } finally {
            System.setProperty(Emulation.MEMORY_PROPERTY, Long.toString(previous));
            open(name).close();
            System.clearProperty(Emulation.MEMORY_PROPERTY);
        }
    }

    @ParameterizedTest @ValueSource(strings = {"ffm-emu", "jcuda-emu"})
    void deviceMemoryIsConfigurableAndOutOfMemoryNamesSizeAndFreeMemory(String name) {
        withMemory(name, "64M", b -> {
            assertEquals(64L << 20, b.memoryInfo()[1], "total device memory");
            try (Buffer kept = b.allocate(10_000_000)) { // 40 MB of 64 MiB
                long free = b.memoryInfo()[0];
                CudaException e = assertThrows(CudaException.class, () -> b.allocate(10_000_000));
                assertTrue(e.isOutOfMemory(), e.getMessage());
                assertTrue(e.getMessage().contains("allocate(10000000 floats = 40000000 bytes; device memory: " + free + " of "
                        + (64L << 20) + " bytes free)"), e.getMessage());
                b.fill(kept, 1f);
            }
            try (Buffer again = b.allocate(10_000_000)) { // freed: fits again
                assertEquals(10_000_000, again.length());
            }
        });
    }

    /** A reduction whose scratch does not fit fails with the call's name; once memory is free the same op works. */
    @ParameterizedTest @ValueSource(strings = {"ffm-emu", "jcuda-emu"})
    void outOfMemoryInsideAnOpLeavesTheBackendUsable(String name) {
        withMemory(name, "8M", b -> {
            Buffer x = b.allocate(1000);
            b.fill(x, 2f);
            long rest = (b.memoryInfo()[0] - 256) / Float.BYTES;
            CudaException e;
            try (Buffer ignored = b.allocate(rest)) { // all the memory there is
                e = assertThrows(CudaException.class, () -> b.multiDot(x, new Buffer[] {x}, new double[1]));
                assertTrue(e.isOutOfMemory(), e.getMessage());
                assertTrue(e.getMessage().contains(name.equals("ffm-emu") ? "tp_multi_dot" : "reduction scratch"), e.getMessage());
            }
            double[] out = new double[1];
            b.multiDot(x, new Buffer[] {x}, out);
            assertEquals(4000.0, out[0]);
            x.close();
        });
    }

    @Test void aBadMemoryPropertyNamesTheValue() {
        GpuTestSupport.assumeSelected("ffm-emu");
        try {
            System.setProperty(Emulation.MEMORY_PROPERTY, "lots");
            BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> FfmBackend.open(true));
            assertTrue(e.getMessage().contains(Emulation.MEMORY_PROPERTY + "=lots") && e.getMessage().contains("512M"), e.getMessage());
        } finally {
            System.clearProperty(Emulation.MEMORY_PROPERTY);
        }
    }

    @Test void emulatedDriverExportsEveryDriverFunctionJCudaImports() throws Exception {
        GpuTestSupport.assumeSelected("jcuda-emu");
        List<String> imports = undefinedSymbols("/lib/libJCudaDriver-12.6.0-linux-x86_64.so", "cu");
        assertTrue(imports.size() > 250, "parsed only " + imports.size() + " driver imports of JCuda's natives");
        SymbolLookup driver = Emulation.loadDriver();
        List<String> missing = new ArrayList<>();
        for (String s : imports) if (driver.find(s).isEmpty()) missing.add(s);
        if (!missing.isEmpty()) fail("the emulated libcuda.so.1 lacks " + missing + " (regenerate cuda/emu/driver_unsupported.inc)");
        assertTrue(driver.find(Emulation.MARKER_SYMBOL).isPresent());
    }

    @Test void theEmulatedBackendsSayWhatTheyAre() {
        for (String name : GpuTestSupport.EMULATED_BACKENDS) {
            try (Backend b = open(name)) {
                assertEquals(name, b.name());
                assertTrue(b.description().startsWith(name + ": " + Emulation.SUMMARY + ": " + Emulation.DEVICE_NAME), b.description());
            }
        }
    }

    /** The undefined dynamic symbols starting with prefix of an ELF64 little-endian shared library on the class path. */
    static List<String> undefinedSymbols(String resource, String prefix) throws IOException {
        byte[] elf;
        try (InputStream in = EmulatedBackendsTest.class.getResourceAsStream(resource)) {
            Assumptions.assumeTrue(in != null, resource + " is not on the class path");
            elf = in.readAllBytes();
        }
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        assertTrue(elf[0] == 0x7f && elf[1] == 'E' && elf[4] == 2 && elf[5] == 1, resource + ": not ELF64 little-endian");
        long shoff = b.getLong(0x28);
        int shentsize = Short.toUnsignedInt(b.getShort(0x3a)), shnum = Short.toUnsignedInt(b.getShort(0x3c));
        List<String> out = new ArrayList<>();
        for (int i = 0; i < shnum; i++) {
            int sh = (int) (shoff + (long) i * shentsize);
            if (b.getInt(sh + 4) != 11) continue; // SHT_DYNSYM
            long off = b.getLong(sh + 0x18), size = b.getLong(sh + 0x20), entsize = b.getLong(sh + 0x38);
            int strSection = (int) (shoff + (long) b.getInt(sh + 0x28) * shentsize);
            long strOff = b.getLong(strSection + 0x18);
            for (long s = off; s + entsize <= off + size; s += entsize) {
                int nameOff = b.getInt((int) s);
                int shndx = Short.toUnsignedInt(b.getShort((int) s + 6));
                if (shndx != 0 || nameOff == 0) continue; // defined, or the null symbol
                int start = (int) (strOff + nameOff), end = start;
                while (elf[end] != 0) end++;
                String name = new String(elf, start, end - start, StandardCharsets.US_ASCII);
                if (name.startsWith(prefix)) out.add(name);
            }
        }
        return out;
    }
}
