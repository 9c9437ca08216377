package dev.twophase.cli;

import dev.twophase.backend.cuda.NativeResources;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The main job ({@code compare}: Adam, and Adam then CG) on the CUDA kernels through both bindings
 * on the emulator, against the CPU backend, epoch by epoch (a short run: 16 epochs, CG from epoch
 * 9). Tolerances, relative to the CPU's loss:
 * <ul>
 * <li>Adam epochs: 1e-6. Every op is bitwise the CPU's (Adam, activations, losses' gradients) or a
 * double sum in another order, except GEMM, whose float sums run in another order (the tiled
 * kernel's FMAs in k order against OpenBLAS): some float outputs differ by an ulp (6e-8), which
 * the mean loss averages down. Measured: at most 1.1e-8 over 16 epochs.</li>
 * <li>CG epochs: 1e-3, the line search's relative tolerance: two correct implementations whose
 * losses differ in the 8th digit may stop the search anywhere within it, and the next point, and
 * everything after, follows from that step. Measured: at most 4.3e-5.</li>
 * </ul>
 */
class EmulatedCompareTest {
    private static final double ADAM_TOLERANCE = 1e-6;
    private static final double CG_TOLERANCE = 1e-3;

    /** run name and epoch -> (phase, train loss, validation loss) from history.csv. */
    private static Map<String, String[]> history(Path dir) throws IOException {
        List<String> lines = Files.readAllLines(dir.resolve("history.csv"));
        List<String> header = List.of(lines.get(0).split(","));
        int run = header.indexOf("run"), epoch = header.indexOf("epoch"), phase = header.indexOf("phase");
        int train = header.indexOf("trainLoss"), val = header.indexOf("valLoss");
        Map<String, String[]> out = new LinkedHashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",");
            out.put(f[run] + " epoch " + f[epoch], new String[] {f[phase], f[train], f[val]});
        }
        return out;
    }

    private static Map<String, String[]> compare(String backend, Path dir) throws IOException {
        CliTest.Result r = CliTest.run("compare", "--backend", backend, "--epochs", "16", "--switch", "epoch:8", "--quiet",
                "--out", dir.toString());
        assertEquals(0, r.code(), backend + ": " + r.err());
        return history(dir);
    }

    @Test
    void theMainJobOnBothEmulatedBindingsFollowsTheCpuBackend(@TempDir Path dir) throws IOException {
        Assumptions.assumeTrue(NativeResources.has(NativeResources.EMU_LIBRARY) && NativeResources.has(NativeResources.EMU_DRIVER),
                "the twophase-cuda jar carries no CUDA emulation (built without CMake)");
        Map<String, String[]> cpu = compare("cpu", dir.resolve("cpu"));
        assertEquals(32, cpu.size(), "two runs of 16 epochs");
        for (String backend : new String[] {"ffm-emu", "jcuda-emu"}) {
            Map<String, String[]> emu = compare(backend, dir.resolve(backend));
            assertEquals(cpu.keySet(), emu.keySet(), backend + ": runs and epochs");
            int cgEpochs = 0;
            for (Map.Entry<String, String[]> e : cpu.entrySet()) {
                String[] want = e.getValue(), got = emu.get(e.getKey());
                assertEquals(want[0], got[0], backend + " " + e.getKey() + ": phase");
                boolean cg = want[0].equals("cg");
                cgEpochs += cg ? 1 : 0;
                double tol = cg ? CG_TOLERANCE : ADAM_TOLERANCE;
                for (int i = 1; i <= 2; i++) {
                    double w = Double.parseDouble(want[i]), g = Double.parseDouble(got[i]);
                    if (!(Math.abs(g - w) <= tol * Math.abs(w))) {
                        fail(backend + " " + e.getKey() + (i == 1 ? " train" : " validation") + " loss " + g + ", cpu " + w
                                + ": relative difference " + Math.abs(g - w) / Math.abs(w) + " > " + tol);
                    }
                }
            }
            assertEquals(8, cgEpochs, backend + ": CG epochs");
            String report = Files.readString(dir.resolve(backend).resolve("report.json"));
            assertTrue(report.contains("\"backend\" : \"" + backend + "\"") || report.contains("\"backend\":\"" + backend + "\""),
                    backend + ": the report names the backend");
        }
    }
}
