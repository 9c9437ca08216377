package dev.twophase.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.twophase.backend.cuda.NativeResources;
import dev.twophase.experiment.Checkpoint;
import dev.twophase.train.EpochRecord;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static dev.twophase.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Checkpoint and resume: a comparison killed with SIGKILL at random moments (while a checkpoint is
 * written, inside CG, while the figures are drawn) and resumed each time ends with the history and
 * report of an uninterrupted run; changed options, damaged checkpoints and other data are refused.
 */
class ResumeTest {
    @TempDir
    Path dir;

    static final ObjectMapper JSON = new ObjectMapper();

    /** Three runs (Adam, a switch at epoch 50, CG alone) of a small MLP, a checkpoint after every epoch. */
    static List<String> comparison(Path out) {
        return List.of("compare", "--epochs", "150", "--switch", "epoch:50", "--runs", "adam,two-phase,cg-only", "--hidden", "16",
                "--backend", "cpu", "--threads", "1", "--checkpoint-every", "1", "--out", out.toString());
    }

    /** The CLI in its own JVM, its output read line by line on a thread of its own. */
    static final class Cli {
        final Process process;
        final java.util.concurrent.LinkedBlockingQueue<String> lines = new java.util.concurrent.LinkedBlockingQueue<>();
        final StringBuffer all = new StringBuffer();

        Cli(List<String> args) throws IOException {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
            cmd.addAll(args);
            process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        all.append(line).append('\n');
                        lines.add(line);
                    }
                } catch (IOException ignored) {
                    // the process was killed
                }
            });
            reader.setDaemon(true);
            reader.start();
        }

        static Cli resume(Path out) throws IOException { return new Cli(List.of("resume", out.toString())); }

        /** Waits for a line that matches. */
        void await(Predicate<String> wanted, String what) throws InterruptedException {
            long end = System.nanoTime() + 120_000_000_000L;
            while (System.nanoTime() < end) {
                String line = lines.poll(50, TimeUnit.MILLISECONDS);
                if (line != null && wanted.test(line)) return;
                if (line == null && !process.isAlive() && lines.isEmpty()) break;
            }
            fail("no line with " + what + "; output:\n" + all);
        }

        /** SIGKILL; fails unless the process was still running (so the kill really cut it short). */
        void kill() throws InterruptedException {
            process.destroyForcibly();
            assertTrue(process.waitFor(60, TimeUnit.SECONDS));
            assertEquals(137, process.exitValue(), "killed by SIGKILL, not finished; output:\n" + all);
        }

        int waitFor() throws InterruptedException {
            assertTrue(process.waitFor(120, TimeUnit.SECONDS), "the process ends");
            return process.exitValue();
        }
    }

    /** The history without its seconds column, the one value that differs between runs. */
    static List<String> historyWithoutSeconds(Path out) throws IOException {
        List<String> lines = Files.readAllLines(out.resolve("history.csv"));
        int seconds = List.of(lines.get(0).split(",")).indexOf("seconds");
        assertTrue(seconds >= 0, "history.csv has a seconds column: " + lines.get(0));
        return lines.stream().map(l -> {
            List<String> cells = new ArrayList<>(List.of(l.split(",", -1)));
            cells.remove(seconds);
            return String.join(",", cells);
        }).toList();
    }

    /** report.json without the seconds of each record. */
    static JsonNode reportWithoutSeconds(Path out) throws IOException {
        JsonNode report = JSON.readTree(out.resolve("report.json").toFile());
        for (JsonNode run : report.get("runs")) {
            for (JsonNode e : (ArrayNode) run.get("epochs")) ((ObjectNode) e).remove("seconds");
            if (run.get("final") instanceof ObjectNode f) f.remove("seconds");
        }
        return report;
    }

    static void assertSameResults(Path expected, Path got) throws IOException {
        List<String> h = historyWithoutSeconds(expected);
        assertEquals(1 + 150 * 3, h.size(), "every epoch of the three runs");
        assertEquals(h, historyWithoutSeconds(got));
        assertEquals(reportWithoutSeconds(expected), reportWithoutSeconds(got));
        for (String png : List.of("gradnorm-vs-loss.png", "loss-vs-compute.png")) assertTrue(Files.size(got.resolve(png)) > 1000, png);
        assertEquals(List.of(), RobustnessTest.temporaries(got));
    }

    /** The run in progress in the folder's checkpoint, as "name phase epoch", or "none". */
    static String inProgress(Path out) throws IOException {
        Checkpoint c = Checkpoint.read(out.resolve(Checkpoint.FILE), Main.VERSION);
        if (c.current() == null) return "none";
        EpochRecord last = c.current().soFar().last();
        return c.current().soFar().name() + " " + last.phase() + " " + last.epoch();
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2})
    void killedAtRandomMomentsAndResumedItEndsAsIfNeverStopped(long seed) throws Exception {
        Random rnd = new Random(seed);
        Path reference = dir.resolve("reference"), out = dir.resolve("killed");
        List<String> quiet = new ArrayList<>(comparison(reference));
        quiet.add("--quiet");
        assertEquals(0, run(quiet.toArray(String[]::new)).code());

        // 1. at a random moment during the first run
        Cli p = new Cli(comparison(out));
        p.await(l -> l.contains("train loss"), "a progress line");
        Thread.sleep(rnd.nextInt(300));
        p.kill();

        // 2. while a checkpoint is being written: its temporary file is still there after the kill
        String caught = null;
        for (int attempt = 0; attempt < 10 && caught == null; attempt++) { // one or two attempts in practice
            p = Cli.resume(out);
            caught = awaitTemporary(out, p, ".checkpoint.bin.twophase-");
            p.kill();
            if (caught != null && !Files.exists(out.resolve(caught))) caught = null; // the write finished before the kill landed
        }
        assertNotNull(caught, "a kill during a checkpoint write");

        // 3. inside CG; the next resume removes the killed writer's temporary file
        p = Cli.resume(out);
        p.await(l -> l.contains("train loss") && l.contains(" cg "), "a CG epoch");
        assertFalse(Files.exists(out.resolve(caught)), "the killed write's temporary file is gone");
        CliTest.Result second = resume(out); // one folder, one writer
        assertEquals(ExitStatus.FAILURE, second.code(), second.err());
        assertTrue(second.err().contains("resume " + out + ": in use by another twophase run (pid " + p.process.pid()), second.err());
        Thread.sleep(rnd.nextInt(50)); // well inside the CG phase: two-phase has 100 CG epochs, cg-only 150
        p.kill();
        assertTrue(inProgress(out).matches("(two-phase|cg-only) cg \\d+"), "resumes inside CG: " + inProgress(out));

        // 4. Ctrl-C during CG alone: a clean stop that saves where it stopped
        p = Cli.resume(out);
        p.await(l -> l.contains("train loss") && l.contains("cg-only"), "an epoch of cg-only");
        Thread.sleep(rnd.nextInt(50));
        RobustnessTest.signal(p.process, RobustnessTest.ctrlC());
        assertEquals(ExitStatus.INTERRUPTED, p.waitFor(), p.all.toString());
        assertTrue(p.all.toString().contains("to continue: twophase resume " + out), p.all.toString());
        JsonNode cgOnly = JSON.readTree(out.resolve("report.json").toFile()).get("runs").get(2);
        assertEquals("interrupted", cgOnly.get("outcome").asText());
        assertEquals("cg-only cg " + cgOnly.get("epochs").size(), inProgress(out), "the checkpoint holds the last epoch of the stopped run");

        // 5. while the figures are drawn, after every run finished
        p = Cli.resume(out);
        p.await(l -> l.startsWith("drawing "), "the figures");
        p.kill();
        assertEquals("none", inProgress(out));

        // 6. to the end
        p = Cli.resume(out);
        assertEquals(0, p.waitFor(), p.all.toString());
        assertTrue(p.all.toString().contains("resume  from the checkpoint: adam finished (completed); two-phase finished (completed); cg-only finished"),
                p.all.toString());
        assertSameResults(reference, out);
    }

    /** Polls the folder until a temporary file with this prefix appears (its name), or the process ends (null). */
    static String awaitTemporary(Path out, Cli p, String prefix) throws IOException {
        while (p.process.isAlive()) {
            if (Files.isDirectory(out)) {
                try (DirectoryStream<Path> s = Files.newDirectoryStream(out, prefix + "*.tmp")) {
                    for (Path t : s) return t.getFileName().toString();
                }
            }
            Thread.onSpinWait();
        }
        return null;
    }

    // ---- what resume refuses, and what it accepts ----

    /** A finished comparison with its checkpoint: two epochs of Adam, in process. */
    Path finished(String name, String... extra) {
        Path out = dir.resolve(name);
        List<String> args = new ArrayList<>(List.of("compare", "--epochs", "2", "--runs", "adam", "--backend", "cpu", "--threads", "1",
                "--checkpoint-every", "1", "--quiet", "--out", out.toString()));
        args.addAll(List.of(extra));
        CliTest.Result r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return out;
    }

    static CliTest.Result resume(Path out, String... options) {
        List<String> args = new ArrayList<>(List.of("resume", out.toString()));
        args.addAll(List.of(options));
        return run(args.toArray(String[]::new));
    }

    /** For every option of compare: a value that differs from {@link #finished}'s, or null where the option may change on resume. */
    static final java.util.Map<String, String[]> CHANGES = java.util.Map.ofEntries(
            java.util.Map.entry("--dataset", new String[]{"fashion-mnist"}), java.util.Map.entry("--train-size", new String[]{"100"}),
            java.util.Map.entry("--val-size", new String[]{"100"}), java.util.Map.entry("--model", new String[]{"vit-nomlp"}),
            java.util.Map.entry("--hidden", new String[]{"32"}), java.util.Map.entry("--activation", new String[]{"relu"}),
            java.util.Map.entry("--output-activation", new String[]{"sigmoid"}), java.util.Map.entry("--loss", new String[]{"cross-entropy"}),
            java.util.Map.entry("--epochs", new String[]{"3"}), java.util.Map.entry("--batch-size", new String[]{"64"}),
            java.util.Map.entry("--lr", new String[]{"0.01"}), java.util.Map.entry("--switch", new String[]{"peak:0.9"}),
            java.util.Map.entry("--norm", new String[]{"full-batch"}), java.util.Map.entry("--cg", new String[]{"fr"}),
            java.util.Map.entry("--line-search", new String[]{"brent"}), java.util.Map.entry("--ls-tolerance", new String[]{"0.01"}),
            java.util.Map.entry("--c1", new String[]{"0.001"}), java.util.Map.entry("--c2", new String[]{"0.5"}),
            java.util.Map.entry("--no-probe", new String[]{}), java.util.Map.entry("--restart-every", new String[]{"5"}),
            java.util.Map.entry("--powell-restart", new String[]{"0.5"}), java.util.Map.entry("--reliable-guess-c2", new String[]{"0.4"}),
            java.util.Map.entry("--divergence-factor", new String[]{"100"}), java.util.Map.entry("--seed", new String[]{"7"}),
            java.util.Map.entry("--runs", new String[]{"adam,cg-only"}));

    /**
     * On an emulated GPU backend: killed in the two-phase run and resumed, the history equals an
     * uninterrupted run's apart from the seconds and the transfer counts (a resumed process uploads
     * its once-per-process tables again), and every epoch keeps the transfer counts it was recorded
     * with, also those read back from the checkpoint.
     */
    @Test
    void killedOnAnEmulatedGpuAndResumedItKeepsTheTransferCounts() throws Exception {
        Assumptions.assumeTrue(NativeResources.has(NativeResources.EMU_LIBRARY), "the twophase-cuda jar carries no CUDA emulation");
        java.util.function.Function<Path, List<String>> args = out -> List.of("compare", "--epochs", "40", "--switch", "epoch:20",
                "--hidden", "16", "--train-size", "300", "--val-size", "100", "--backend", "ffm-emu", "--threads", "1",
                "--checkpoint-every", "1", "--out", out.toString());
        Path straight = dir.resolve("straight"), resumed = dir.resolve("resumed");
        assertEquals(0, new Cli(args.apply(straight)).waitFor());
        Cli p = new Cli(args.apply(resumed));
        p.await(l -> l.contains("two-phase") && l.contains("train loss"), "an epoch of two-phase");
        p.kill();
        assertEquals(0, Cli.resume(resumed).waitFor());

        List<String> header = List.of(Files.readAllLines(straight.resolve("history.csv")).get(0).split(","));
        int seconds = header.indexOf("seconds"), toDevice = header.indexOf("hostToDeviceBytes"), toHost = header.indexOf("deviceToHostBytes");
        List<List<String>> a = table(straight), b = table(resumed);
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            List<String> x = new ArrayList<>(a.get(i)), y = new ArrayList<>(b.get(i));
            assertTrue(Long.parseLong(y.get(toDevice)) + Long.parseLong(y.get(toHost)) > 0, "transfers of " + b.get(i));
            for (int c : new int[]{toHost, toDevice, seconds}) {
                x.remove(c);
                y.remove(c);
            }
            assertEquals(x, y, "record " + i);
        }
    }

    private static List<List<String>> table(Path out) throws IOException {
        List<String> lines = Files.readAllLines(out.resolve("history.csv"));
        return lines.subList(1, lines.size()).stream().map(l -> List.of(l.split(",", -1))).toList();
    }

    @Test
    void aChangedOptionIsRefusedNamingItAndTheFolderIsLeftAlone() throws IOException {
        Path out = finished("options");
        byte[] report = Files.readAllBytes(out.resolve("report.json")), checkpoint = Files.readAllBytes(out.resolve(Checkpoint.FILE));
        // every option of compare is either refused when changed or listed as free to change
        java.util.Set<String> options = new java.util.TreeSet<>(RobustnessTest.optionNames(Main.commandLine().getSubcommands().get("compare")));
        options.removeAll(List.of("--help", "--version", "--out", "--overwrite")); // both refused by resume whatever their value
        java.util.Set<String> covered = new java.util.TreeSet<>(CHANGES.keySet());
        covered.addAll(ResumeCommand.CHANGEABLE);
        assertEquals(options, covered);
        for (var change : CHANGES.entrySet()) {
            List<String> args = new ArrayList<>(List.of(change.getKey()));
            args.addAll(List.of(change.getValue()));
            CliTest.Result r = resume(out, args.toArray(String[]::new));
            String label = args + " -> " + r.err();
            assertEquals(ExitStatus.BAD_INPUT, r.code(), label);
            assertEquals(1, r.err().strip().lines().count(), label);
            assertTrue(r.err().startsWith("twophase: " + change.getKey() + " "), label);
            assertTrue(r.err().contains("cannot change on resume; only --threads"), label);
        }
        CliTest.Result r = resume(out, "--lr", "0.01", "--epochs", "5");
        assertTrue(r.err().contains("--epochs 5 (the runs in " + out + " were started with 2); --lr 0.01 (the runs in " + out + " were started with 0.001)"),
                "every changed option is named, with both values: " + r.err());
        for (String[] refused : new String[][]{{"--out", dir.resolve("elsewhere").toString(), "--out: resume continues in DIR"},
                {"--scale", "full", "--scale: the runs in " + out + " were started by 'twophase compare', which has no --scale"},
                {"--threads", "0", "--threads 0: expected 1.."}, {"--checkpoint-every", "soon", "--checkpoint-every 'soon'"}}) {
            r = resume(out, refused[0], refused[1]);
            assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
            assertTrue(r.err().contains(refused[2]), r.err());
        }
        assertFalse(Files.exists(dir.resolve("elsewhere")));
        assertArrayEquals(report, Files.readAllBytes(out.resolve("report.json")));
        assertArrayEquals(checkpoint, Files.readAllBytes(out.resolve(Checkpoint.FILE)));
        // the same values as given at first, or the defaults, are no change, and the report stays as it was
        r = resume(out, "--epochs", "2", "--lr", "1e-3", "--runs", "adam", "--hidden", "64,64", "--switch", "rise-peak:0.9:0.9");
        assertEquals(0, r.code(), r.err());
        assertEquals(JSON.readTree(report).get("settings"), JSON.readTree(out.resolve("report.json").toFile()).get("settings"));
    }

    @Test
    void theOptionsThatDoNotChangeTheRunsMayChangeAndALostReportIsRewritten() throws IOException {
        Path out = finished("free");
        JsonNode report = reportWithoutSeconds(out);
        List<String> history = historyWithoutSeconds(out);
        // as if killed after the last checkpoint but before the report and figures
        Files.writeString(out.resolve("report.json"), "{}");
        Files.delete(out.resolve("history.csv"));
        Files.delete(out.resolve("loss-vs-compute.png"));
        CliTest.Result r = resume(out, "--threads", "2", "--quiet", "--checkpoint-every", "5m", "--skip-checksums", "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        assertEquals(history, historyWithoutSeconds(out));
        JsonNode now = reportWithoutSeconds(out);
        // the backend's description names the thread count
        ((ObjectNode) now.get("settings")).set("backendDescription", report.get("settings").get("backendDescription"));
        ((ObjectNode) now).set("backendSelection", report.get("backendSelection"));
        assertEquals(report, now);
        assertTrue(Files.size(out.resolve("loss-vs-compute.png")) > 1000);
    }

    @Test
    void aDamagedOrMissingCheckpointIsRefusedWithTheFileAndWhatIsWrong() throws IOException {
        Path out = finished("damaged");
        Path file = out.resolve(Checkpoint.FILE);
        byte[] b = Files.readAllBytes(file);
        b[b.length / 2] ^= 0x10;
        Files.write(file, b);
        CliTest.Result r = resume(out);
        assertEquals(ExitStatus.FAILURE, r.code(), r.err());
        assertTrue(r.err().matches("twophase: " + java.util.regex.Pattern.quote(file.toString()) + ": at byte \\d+: checksum mismatch: the file is damaged.*\\s*"),
                r.err());
        Files.delete(file);
        r = resume(out);
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("resume " + out + ": no checkpoint (checkpoint.bin) in this folder"), r.err());
        r = resume(dir.resolve("nowhere"));
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("no such folder"), r.err());
        assertFalse(Files.exists(dir.resolve("nowhere")));
    }

    @Test
    void aFreshRunReplacesAnEarlierCheckpointOrWithCheckpointsOffDeletesIt() throws IOException {
        Path out = finished("stale");
        CliTest.Result r = run("compare", "--epochs", "1", "--runs", "adam", "--hidden", "4", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        Checkpoint c = Checkpoint.read(out.resolve(Checkpoint.FILE), Main.VERSION);
        assertTrue(c.identity().command().contains("4"), "the new run's checkpoint (the default policy saves at the end of each run)");
        assertEquals(1, c.finished().get(0).epochs().size());
        r = run("compare", "--epochs", "1", "--runs", "adam", "--hidden", "4", "--backend", "cpu", "--checkpoint-every", "off", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(out.resolve(Checkpoint.FILE)), "a checkpoint that no longer matches the report is removed");
    }

    @Test
    void aNewRunDoesNotReplaceTheCheckpointOfAnUnfinishedOneUnlessTold() throws Exception {
        Path out = dir.resolve("unfinished");
        Cli p = new Cli(comparison(out));
        p.await(l -> l.contains("train loss"), "a progress line");
        while (!Files.exists(out.resolve(Checkpoint.FILE))) Thread.sleep(10);
        p.kill();
        byte[] checkpoint = Files.readAllBytes(out.resolve(Checkpoint.FILE));
        String progress = Checkpoint.read(out.resolve(Checkpoint.FILE), Main.VERSION).progress();
        assertTrue(progress.matches("adam after epoch \\d+ of 150; two-phase not started; cg-only not started"), progress);
        Set<String> files = listing(out);

        for (String[] fresh : new String[][]{{"compare", "--epochs", "3", "--out", out.toString()}, {"--epochs", "3", "--seed", "7", "--out", out.toString()},
                {"--epochs", "3", "--checkpoint-every", "off", "--out", out.toString()}}) {
            CliTest.Result r = run(fresh);
            assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
            assertEquals("twophase: --out " + out + ": holds the checkpoint of a run that did not finish (" + progress + "); continue it with 'twophase resume "
                    + out + "', or pass --overwrite to start this run there instead, replacing it", r.err().strip());
            assertEquals("", r.out());
            assertArrayEquals(checkpoint, Files.readAllBytes(out.resolve(Checkpoint.FILE)), "the checkpoint is left alone");
            assertEquals(files, listing(out));
        }
        CliTest.Result r = resume(out, "--overwrite");
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().startsWith("twophase: --overwrite: resume continues the checkpoint in " + out), r.err());

        // a checkpoint that cannot be read is not replaced silently either
        byte[] damaged = checkpoint.clone();
        damaged[damaged.length / 2] ^= 0x10;
        Files.write(out.resolve(Checkpoint.FILE), damaged);
        r = run("compare", "--epochs", "3", "--out", out.toString());
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().startsWith("twophase: --out " + out + ": holds a checkpoint that cannot be read (" + out.resolve(Checkpoint.FILE) + ": at byte "), r.err());
        assertTrue(r.err().strip().endsWith("pass --overwrite to start this run there anyway, replacing it, or choose another --out"), r.err());
        Files.write(out.resolve(Checkpoint.FILE), checkpoint);

        r = run("compare", "--epochs", "2", "--runs", "adam", "--hidden", "4", "--backend", "cpu", "--quiet", "--overwrite", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Checkpoint.read(out.resolve(Checkpoint.FILE), Main.VERSION).complete(), "the new run's checkpoint");
    }

    private static Set<String> listing(Path out) throws IOException {
        try (var s = Files.list(out)) {
            return s.map(f -> f.getFileName().toString()).filter(n -> !n.contains(".twophase-")).collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new));
        }
    }

    @Test
    void theDefaultCommandResumesLikeCompare() throws IOException {
        Path out = dir.resolve("default");
        CliTest.Result r = run("--epochs", "3", "--hidden", "4", "--backend", "cpu", "--checkpoint-every", "1", "--quiet", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> history = historyWithoutSeconds(out);
        assertEquals(List.of("--epochs", "3", "--hidden", "4", "--backend", "cpu", "--checkpoint-every", "1", "--quiet", "--out", out.toString()),
                Checkpoint.read(out.resolve(Checkpoint.FILE), Main.VERSION).identity().command());
        r = resume(out, "--hidden", "4");
        assertEquals(0, r.code(), r.err());
        assertEquals(history, historyWithoutSeconds(out));
    }

    @Test
    void theDataMayMoveButMustBeTheSame() throws IOException {
        Path a = mnist(dir.resolve("a"), 0), b = mnist(dir.resolve("b"), 0), other = mnist(dir.resolve("other"), 1);
        Path out = dir.resolve("mnist");
        CliTest.Result r = run("repro", "vit-nomlp-wkewq-wvwo1", "--data-dir", a.toString(), "--train-size", "24", "--val-size", "12", "--epochs", "3",
                "--backend", "cpu", "--threads", "1", "--checkpoint-every", "1", "--quiet", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        r = resume(out, "--data-dir", other.toString());
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("--data-dir " + other + ": the data differ from those the runs in " + out + " were trained on"), r.err());
        r = resume(out, "--scale", "full");
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().startsWith("twophase: --scale full (the runs in " + out + " were started with cpu)"), r.err());
        r = resume(out, "--runs", "adam");
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("which has no --runs"), r.err());
        r = resume(out, "--data-dir", b.toString());
        assertEquals(0, r.code(), r.err());
    }

    /** The four MNIST files (raw IDX) of 40 training and 20 test images; {@code variant} changes one pixel. */
    static Path mnist(Path d, int variant) throws IOException {
        Files.createDirectories(d);
        Files.write(d.resolve("train-images-idx3-ubyte"), idxImages(40, variant));
        Files.write(d.resolve("train-labels-idx1-ubyte"), idxLabels(40));
        Files.write(d.resolve("t10k-images-idx3-ubyte"), idxImages(20, 0));
        Files.write(d.resolve("t10k-labels-idx1-ubyte"), idxLabels(20));
        return d;
    }

    static byte[] idxImages(int n, int variant) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16 + n * 784);
        b.putInt(0x803).putInt(n).putInt(28).putInt(28);
        for (int i = 0; i < n * 784; i++) b.put((byte) ((i * 37 + i / 784 * 11) % 256));
        b.put(16 + 500, (byte) (b.get(16 + 500) + variant));
        return b.array();
    }

    static byte[] idxLabels(int n) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + n);
        b.putInt(0x801).putInt(n);
        for (int i = 0; i < n; i++) b.put((byte) (i % 10));
        return b.array();
    }
}
