package dev.twophase.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.twophase.experiment.OutputFolder;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static dev.twophase.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** Nothing lost, nothing silent: divergence, argument checks before work, one writer per folder, interruptions. */
class RobustnessTest {
    @TempDir
    Path dir;

    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aDivergingRunIsMarkedTheOthersContinueAndTheStatusSaysSo() throws IOException {
        Path out = dir.resolve("out");
        // lr 1e30 blows Adam up in its first epoch; CG alone does not use the learning rate
        CliTest.Result r = run("compare", "--lr", "1e30", "--runs", "adam,cg-only", "--epochs", "4", "--hidden", "8", "--backend", "cpu",
                "--quiet", "--out", out.toString());
        assertEquals(ExitStatus.DIVERGED, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("twophase: diverged: adam at epoch 1 (the training loss"), r.err());
        assertFalse(r.err().contains("cg-only"), r.err());
        String text = Files.readString(out.resolve("report.json"));
        assertFalse(java.util.regex.Pattern.compile(":\\s*\"?(NaN|-?Infinity)\"?\\s*[,}\\n]").matcher(text).find(), "JSON numbers or null, never strings");
        JsonNode runs = JSON.readTree(text).get("runs");
        assertEquals("diverged", runs.get(0).get("outcome").asText());
        assertEquals(1, runs.get(0).get("divergedEpoch").asInt());
        assertEquals(1, runs.get(0).get("epochs").size());
        assertTrue(runs.get(0).get("reason").asText().contains("times the loss at the initial weights"));
        assertEquals("completed", runs.get(1).get("outcome").asText());
        assertTrue(runs.get(1).get("divergedEpoch").isNull() && runs.get(1).get("reason").isNull());
        assertEquals(4, runs.get(1).get("epochs").size());
        for (String png : List.of("gradnorm-vs-loss.png", "loss-vs-compute.png")) assertTrue(Files.size(out.resolve(png)) > 1000, png);
    }

    @Test
    void nonFiniteValuesAreNullInTheReport() throws IOException {
        Path out = dir.resolve("nan");
        // a factor of inf leaves only the non-finite test: lr 1e30 soon overflows the loss
        CliTest.Result r = run("compare", "--lr", "1e30", "--runs", "adam", "--epochs", "50", "--hidden", "8", "--divergence-factor", "inf",
                "--backend", "cpu", "--quiet", "--out", out.toString());
        assertEquals(ExitStatus.DIVERGED, r.code(), r.err());
        JsonNode run = JSON.readTree(out.resolve("report.json").toFile()).get("runs").get(0);
        JsonNode last = run.get("final");
        assertTrue(last.get("trainLoss").isNull() || last.get("gradNorm").isNull(), last.toString());
        assertTrue(run.get("reason").asText().matches("the (training loss|gradient norm) is (NaN|Infinity|-Infinity)( at epoch \\d+)?"), run.get("reason").asText());
        assertTrue(JSON.readTree(out.resolve("report.json").toFile()).get("settings").get("divergenceFactor").isNull(), "infinity is null too");
    }

    @Test
    void badArgumentsAreRefusedBeforeAnyWorkNamingTheOption() throws IOException {
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        Path out = dir.resolve("never-created");
        String[][] cases = {
                {"--runs", "adam,adam", "appears twice"}, {"--runs", ",", "run 1 of 2 is empty"}, {"--runs", "adam,,two-phase", "run 2 of 3 is empty"},
                {"--runs", "adam,sometimes", "--runs"}, {"--threads", "100000", "--threads 100000: expected 1.."}, {"--threads", "0", "--threads"},
                {"--epochs", "0", "--epochs 0"}, {"--epochs", "20000000", "--epochs"}, {"--batch-size", "0", "--batch-size"},
                {"--hidden", "0", "--hidden 0"}, {"--hidden", "200000", "--hidden"}, {"--lr", "-1", "--lr"}, {"--lr", "NaN", "--lr"},
                {"--lr", "Infinity", "--lr"}, {"--ls-tolerance", "1", "--ls-tolerance"}, {"--restart-every", "-1", "--restart-every"},
                {"--powell-restart", "-0.1", "--powell-restart"}, {"--reliable-guess-c2", "1", "--reliable-guess-c2"},
                {"--train-size", "-1", "--train-size"}, {"--val-size", "100000001", "--val-size"},
                {"--output-activation", "relu", "--output-activation 'relu': expected one of identity, sigmoid, tanh"},
                {"--activation", "identity", "--activation"}, {"--model", "vit-mlp", "--hidden", "8", "--hidden applies to --model mlp only"},
                {"--data-dir", dir.toString(), "--data-dir"}, {"--dataset", "mnist", "--data-dir", file.toString(), "is a regular file"},
                {"--divergence-factor", "1", "--divergence-factor"}, {"--divergence-factor", "many", "--divergence-factor"},
                {"--backend", "tpu", "--backend"}, {"--model", "resnet", "--model"}, {"--switch", "sometimes", "switch rule"},
                {"--out", file.toString(), "--out " + file + ": is a file"},
                // values picocli cannot read as the option's type: the option, the value and its range, no Java type name
                {"--epochs", "10000000000", "--epochs 10000000000: expected 1..10,000,000"}, {"--epochs", "abc", "--epochs 'abc': expected a whole number, 1..10,000,000"},
                {"--hidden", "64,10000000000", "--hidden 10000000000: expected 1..100,000"}, {"--lr", "abc", "--lr 'abc': expected a number"},
                {"--threads", "99999999999", "--threads 99999999999: expected 1.."},
                // an empty width anywhere in the list, the trailing one included; a number beyond a double's range echoed as typed
                {"--hidden", "64,", "--hidden '': expected a whole number, 1..100,000 (item 2 of 2 in '64,')"},
                {"--hidden", ",64", "(item 1 of 2 in ',64')"}, {"--hidden", "64,,64", "(item 2 of 3 in '64,,64')"},
                {"--hidden", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", "--hidden (number of layers) 33: expected 1..32"},
                {"--lr", "1e400", "--lr '1e400': beyond the range of a double"}, {"--c2", "-1e999", "--c2 '-1e999': beyond the range of a double"},
                {"--lr", "1e-400", "--lr '1e-400': beyond the range of a double (magnitudes 4.9e-324 to 1.8e308)"}, {"--lr", "0e5", "--lr 0.0: expected a positive"}};
        for (String[] c : cases) {
            String[] args = Stream.concat(Stream.of("compare", "--quiet", "--out", out.toString()), Stream.of(c).limit(c.length - 1)).toArray(String[]::new);
            if (c[c.length - 2].equals(file.toString()) && c[0].equals("--out")) args = new String[]{"compare", "--quiet", "--out", file.toString()};
            long t0 = System.nanoTime();
            CliTest.Result r = run(args);
            String label = String.join(" ", args) + " -> " + r.err();
            assertEquals(ExitStatus.BAD_INPUT, r.code(), label);
            assertEquals(1, r.err().strip().lines().count(), label);
            assertTrue(r.err().contains(c[c.length - 1]), label);
            assertFalse(r.err().matches("(?s).*(is not an? (int|long|double)|Exception).*"), label);
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, label);
            assertFalse(Files.exists(out), "no output folder for refused arguments: " + label);
        }
        for (String[] args : new String[][]{{"throughput", "--threads", "100000"}, {"throughput", "--input", "1x28"}, {"throughput", "--samples", "0"}, {"throughput", "--hidden", "256,"},
                {"throughput", "--paper-estimate", "--cg-passes", "0.5"}, {"throughput", "--paper-estimate", "--train-size", "0"},
                {"throughput", "--input", "1x100000x100000"}, {"throughput", "--model", "vit-mlp", "--input", "3x7x7"}, {"throughput", "--samples", "99999999999"},
                {"devices", "--threads", "0"}, {"download", "mnist", "--dir", file.toString()}, {"repro", "vit-mlp", "--model", "vgg5-max-relu"},
                {"repro", "vit-mlp", "--scale", "huge"}}) {
            CliTest.Result r = run(args);
            assertEquals(ExitStatus.BAD_INPUT, r.code(), String.join(" ", args) + " -> " + r.err());
            assertTrue(r.err().contains(args[args.length - 2]), r.err());
        }
        // a request the data cannot meet is found after the folder is taken, which is then removed again
        CliTest.Result r = run("compare", "--quiet", "--train-size", "5000", "--out", out.toString());
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("--train-size 5000: digits-train: 5000 samples asked for, but there are 1438"), r.err());
        assertFalse(Files.exists(out));
        r = run("compare", "--quiet", "--out", file.resolve("sub").toString());
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("cannot create the folder"), r.err());
    }

    @Test
    void anUnwritableOutputFolderIsRefused() {
        Path proc = Path.of("/proc/twophase-out");
        Assumptions.assumeTrue(Files.isDirectory(Path.of("/proc")), "needs /proc, which nobody can write, not even root");
        CliTest.Result r = run("compare", "--quiet", "--out", proc.toString());
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().startsWith("twophase: --out " + proc + ": cannot"), r.err());
    }

    /** A sample count the data cannot meet that the option did not give says where it came from. */
    @Test
    void aPresetSampleCountTheDataCannotMeetIsNamedAsThePresets() throws IOException {
        Path data = ResumeTest.mnist(dir.resolve("small"), 0); // 40 training, 20 validation samples
        String preset = " (repro's preset for --scale cpu; give ";
        CliTest.Result r = run("repro", "vit-mlp", "--data-dir", data.toString(), "--val-size", "11", "--quiet", "--out", dir.resolve("a").toString());
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().startsWith("twophase: --train-size 1000" + preset + "--train-size N to change it): "), r.err());
        assertTrue(r.err().contains("but there are 40"), r.err());
        r = run("repro", "vit-mlp", "--dataset", "digits", "--train-size", "100", "--quiet", "--out", dir.resolve("b").toString());
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().startsWith("twophase: --val-size 1000" + preset + "--val-size N to change it): "), r.err());
        r = run("repro", "vit-mlp", "--data-dir", data.toString(), "--train-size", "41", "--quiet", "--out", dir.resolve("c").toString());
        assertTrue(r.err().startsWith("twophase: --train-size 41: "), "a value given is not called the preset's: " + r.err());
        assertFalse(Files.exists(dir.resolve("a")) || Files.exists(dir.resolve("b")) || Files.exists(dir.resolve("c")));
    }

    /** Each refusal of an output folder names the place and what was expected, never a Java exception's class. */
    @Test
    void outputFolderRefusalsNameThePlace() throws IOException {
        Path dangling = Files.createSymbolicLink(dir.resolve("link"), dir.resolve("nowhere"));
        Path locked = Files.createDirectories(dir.resolve("locked").resolve(OutputFolder.LOCK)).getParent();
        Path badCheckpoint = Files.createDirectories(dir.resolve("bad").resolve("checkpoint.bin")).getParent();
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        String[][] cases = {
                {"--out " + dangling + ": is a symbolic link to " + dir.resolve("nowhere") + ", which does not exist; expected a folder", "compare", "--out", dangling.toString()},
                {"--out " + locked + ": cannot open its lock file " + locked.resolve(OutputFolder.LOCK) + " (a folder of that name is in the way; expected a file,",
                        "compare", "--out", locked.toString()},
                {"--out '': an empty path; expected a folder (. for the current one)", "compare", "--out", ""},
                {"--out '': an empty path; expected a folder (. for the current one)", "--out", ""},
                {"resume '': an empty path; expected a folder (. for the current one)", "resume", ""},
                {"--out " + file.resolve("sub") + ": cannot create the folder (", "compare", "--out", file.resolve("sub").toString()},
        };
        for (String[] c : cases) {
            CliTest.Result r = run(java.util.Arrays.copyOfRange(c, 1, c.length));
            assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
            assertTrue(r.err().startsWith("twophase: " + c[0]), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        assertFalse(Files.exists(dir.resolve("nowhere")));
        CliTest.Result r = run("resume", badCheckpoint.toString());
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertEquals("twophase: resume " + badCheckpoint + ": cannot write " + badCheckpoint.resolve("checkpoint.bin")
                + " (a folder of that name is in the way; expected a file, or nothing, there)", r.err().strip());
        if (Files.isDirectory(Path.of("/proc"))) {
            r = run("compare", "--quiet", "--out", "/proc/twophase-out");
            assertFalse(r.err().contains("Exception"), r.err());
        }
    }

    @Test
    void theDefaultCommandTakesCompareOptions() throws IOException {
        Path out = dir.resolve("default");
        CliTest.Result r = run("--epochs", "2", "--hidden", "8", "--backend", "cpu", "--quiet", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(2, JSON.readTree(out.resolve("report.json").toFile()).get("runs").size());
        // the same options, so that every compare option works without the command name
        CommandLine cl = Main.commandLine();
        assertEquals(optionNames(cl.getSubcommands().get("compare")), optionNames(cl));
        // options before a command would be ignored by it: refused
        r = run("--epochs", "2", "compare");
        assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("apply only when no command is given"), r.err());
    }

    static Set<String> optionNames(CommandLine cl) {
        return cl.getCommandSpec().options().stream().map(o -> o.longestName()).collect(Collectors.toCollection(TreeSet::new));
    }

    // ---- two processes, Ctrl-C: the CLI as a subprocess ----

    static Process start(Path out, String... extra) throws IOException { return start(System.getProperty("java.class.path"), out, extra); }

    static Process start(String classPath, Path out, String... extra) throws IOException {
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", classPath, Main.class.getName(),
                "compare", "--hidden", "8", "--backend", "cpu", "--threads", "1", "--out", out.toString()));
        cmd.addAll(List.of(extra));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    /** Reads lines until one contains {@code marker}; returns everything read. */
    static String until(BufferedReader lines, String marker) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String line; (line = lines.readLine()) != null; ) {
            sb.append(line).append('\n');
            if (line.contains(marker)) return sb.toString();
        }
        throw new AssertionError("'" + marker + "' never came; output:\n" + sb);
    }

    /** Sends SIG{@code sig} to {@code p}; a process that has just ended (its stop finished first) is no failure here. */
    static void signal(Process p, String sig) throws Exception {
        int status = new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).start().waitFor();
        assertTrue(status == 0 || !p.isAlive(), "kill -" + sig + " " + p.pid() + " failed (status " + status + ") on a live process");
    }

    /**
     * The signal a test sends for Ctrl-C: SIGINT, unless this process ignores SIGINT (a shell starts
     * background jobs so, and the CLI started from here inherits it, as Java honours an ignored
     * SIGINT), then SIGTERM, which the CLI handles the same way.
     */
    static String ctrlC() throws IOException {
        Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) return "INT";
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("SigIgn:")) {
                long ignored = Long.parseUnsignedLong(line.substring("SigIgn:".length()).trim(), 16);
                return (ignored & (1L << (2 - 1))) != 0 ? "TERM" : "INT";
            }
        }
        return "INT";
    }

    static String rest(BufferedReader lines, Process p) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String line; (line = lines.readLine()) != null; ) sb.append(line).append('\n');
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the process ends");
        return sb.toString();
    }

    static List<String> temporaries(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList();
        }
    }

    @Test
    void oneFolderOneWriterAndCtrlCKeepsWhatFinished() throws Exception {
        Path out = dir.resolve("shared");
        Process first = start(out, "--epochs", "100000");
        BufferedReader lines = new BufferedReader(new InputStreamReader(first.getInputStream(), StandardCharsets.UTF_8));
        until(lines, " epoch ");
        // a second writer fails at once, naming the first
        long t0 = System.nanoTime();
        CliTest.Result second = run("compare", "--quiet", "--epochs", "2", "--out", out.toString());
        assertEquals(ExitStatus.FAILURE, second.code(), second.err());
        assertTrue(second.err().contains("in use by another twophase run (pid " + first.pid()), second.err());
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
        String sig = ctrlC();
        signal(first, sig);
        String rest = rest(lines, first);
        assertEquals(ExitStatus.INTERRUPTED, first.exitValue(), rest);
        assertTrue(rest.contains("SIG" + sig) && rest.contains("train loss") && rest.contains("interrupted at epoch"), rest);
        JsonNode adam = JSON.readTree(out.resolve("report.json").toFile()).get("runs").get(0);
        assertEquals("interrupted", adam.get("outcome").asText());
        assertEquals(adam.get("epochs").size(), adam.get("final").get("epoch").asInt());
        assertEquals(List.of(), temporaries(out));
        // the lock went with the process; the stopped run's checkpoint is replaced only when asked to
        assertEquals(ExitStatus.BAD_INPUT, run("compare", "--quiet", "--epochs", "1", "--hidden", "4", "--backend", "cpu", "--out", out.toString()).code());
        assertEquals(0, run("compare", "--quiet", "--epochs", "1", "--hidden", "4", "--backend", "cpu", "--overwrite", "--out", out.toString()).code());
    }

    /**
     * A folder where an output file goes is refused when the run takes its folder (status 2, naming
     * it), before the data are loaded and the training time spent; by resume too, before it reads
     * the checkpoint.
     */
    @Test
    void aFolderInTheWayOfAnOutputFileIsRefusedBeforeTraining() throws IOException {
        String inTheWay = " (a folder of that name is in the way; expected a file, or nothing, there)";
        for (String name : List.of("report.json", "history.csv", "checkpoint.bin", "gradnorm-vs-loss.png", "loss-vs-compute.png")) {
            Path out = Files.createDirectories(dir.resolve("in-the-way-" + name).resolve(name));
            Files.writeString(out.resolve("keep.txt"), "mine");
            out = out.getParent();
            CliTest.Result r = run("compare", "--epochs", "3", "--hidden", "8", "--backend", "cpu", "--out", out.toString());
            assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
            assertEquals("twophase: --out " + out + ": cannot write " + out.resolve(name) + inTheWay, r.err().strip());
            try (Stream<Path> s = Files.list(out)) {
                assertEquals(List.of(name), s.map(p -> p.getFileName().toString()).filter(n -> !n.equals(OutputFolder.LOCK)).toList(), "nothing written");
            }
            assertEquals("mine", Files.readString(out.resolve(name).resolve("keep.txt")));
            r = run("resume", out.toString());
            assertEquals(ExitStatus.BAD_INPUT, r.code(), r.err());
            assertEquals("twophase: resume " + out + ": cannot write " + out.resolve(name) + inTheWay, r.err().strip());
        }
        Path two = dir.resolve("two");
        Files.createDirectories(two.resolve("report.json"));
        Files.createDirectories(two.resolve("history.csv"));
        CliTest.Result r = run("compare", "--quiet", "--out", two.toString());
        assertEquals("twophase: --out " + two + ": cannot write " + two.resolve("report.json") + inTheWay + "; cannot write "
                + two.resolve("history.csv") + inTheWay, r.err().strip());
    }

    /** A write that fails: the summary says what was written and what the checkpoint keeps, never "wrote" for what was not. */
    @Test
    void aFailedWriteIsNotReportedAsWrittenAndTheSummarySaysWhatIsKept() throws Exception {
        String inTheWay = ": not written (a folder of that name is in the way; expected a file, or nothing, there)";
        // the figure's folder appears after the first report: the report is written, the figures are not
        Path late = dir.resolve("late");
        Process p = start(late, "--epochs", "400");
        BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        until(lines, "two-phase  epoch");
        Files.createDirectories(late.resolve("gradnorm-vs-loss.png"));
        String all = rest(lines, p);
        assertEquals(ExitStatus.FAILURE, p.exitValue(), all);
        assertTrue(all.contains("failed (the error follows): wrote " + late.resolve("report.json") + " and history.csv (runs adam, two-phase);"
                + " not written: gradnorm-vs-loss.png, loss-vs-compute.png\n"), all);
        assertTrue(all.contains("kept: " + late.resolve("checkpoint.bin") + " (adam finished (completed); two-phase finished (completed))"), all);
        assertTrue(all.strip().endsWith("twophase: " + late.resolve("gradnorm-vs-loss.png") + inTheWay), all);
    }

    @Test
    void sigtermWhileFiguresAreDrawnLeavesNoTemporaryAndNoStaleFigure() throws Exception {
        Path out = Files.createDirectories(dir.resolve("figures"));
        // an earlier run's figures and a killed writer's temporary file
        for (String png : List.of("gradnorm-vs-loss.png", "loss-vs-compute.png")) Files.writeString(out.resolve(png), "old");
        Files.writeString(out.resolve(".report.json.twophase-999999-1.tmp"), "stale");
        Process p = start(out, "--epochs", "3");
        BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        until(lines, "drawing ");
        signal(p, "TERM");
        String rest = rest(lines, p);
        assertEquals(ExitStatus.INTERRUPTED, p.exitValue(), rest);
        assertTrue(rest.contains("SIGTERM") && rest.contains("run ") && rest.contains("train loss"), "the summary is printed: " + rest);
        assertEquals(List.of(), temporaries(out));
        for (String png : List.of("gradnorm-vs-loss.png", "loss-vs-compute.png")) {
            byte[] b = Files.readAllBytes(out.resolve(png));
            assertTrue(b.length > 1000 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G', png + " is this run's");
        }
    }

    /**
     * A class path on which the bundled digits are a named pipe that no one writes: a run on them
     * blocks in its data load, after it took its folder and before it trains or writes anything.
     */
    private String classPathBlockingTheDataLoad() throws Exception {
        Path pipe = Files.createDirectories(dir.resolve("blocking-classes").resolve("dev/twophase/data")).resolve("digits.csv.gz");
        Assumptions.assumeTrue(Files.exists(pipe) || new ProcessBuilder("mkfifo", pipe.toString()).start().waitFor() == 0, "needs mkfifo");
        return dir.resolve("blocking-classes") + java.io.File.pathSeparator + System.getProperty("java.class.path");
    }

    /**
     * Waits until {@code p} has taken the folder {@code out} (its lock file names it), and a moment
     * more for it to say what a quit leaves (it then blocks in the data load, so waiting costs nothing).
     */
    private static void awaitLock(Process p, Path out) throws Exception {
        for (long deadline = System.nanoTime() + 60_000_000_000L; !holds(p, out); Thread.sleep(5)) {
            assertTrue(p.isAlive() && System.nanoTime() < deadline, "the run takes its folder");
        }
        Thread.sleep(500);
    }

    private static boolean holds(Process p, Path out) {
        try {
            return Files.readString(out.resolve(OutputFolder.LOCK)).startsWith("pid " + p.pid() + ",");
        } catch (IOException notYet) {
            return false;
        }
    }

    /** Ctrl-C before anything is written: one line says so; the folder the run created goes, one that was there stays as it was. */
    @Test
    void ctrlCBeforeAnythingIsWrittenSaysSoAndRemovesTheFolderTheRunCreated() throws Exception {
        String cp = classPathBlockingTheDataLoad();
        String sig = ctrlC();
        Path created = dir.resolve("created");
        Process p = start(cp, created);
        awaitLock(p, created);
        signal(p, sig);
        String all = rest(new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)), p);
        assertEquals(ExitStatus.INTERRUPTED, p.exitValue(), all);
        assertEquals("twophase: SIG" + sig + ": quit at once: nothing written; removed " + created + ", which this run created; nothing can be resumed",
                all.strip());
        assertFalse(Files.exists(created), "the folder the run created is gone");

        // a folder that was there, with an earlier comparison's (finished) checkpoint: left as it was
        Path earlier = dir.resolve("earlier-run");
        assertEquals(0, run("compare", "--quiet", "--epochs", "2", "--hidden", "8", "--backend", "cpu", "--out", earlier.toString()).code());
        byte[] checkpoint = Files.readAllBytes(earlier.resolve("checkpoint.bin"));
        p = start(cp, earlier);
        awaitLock(p, earlier);
        signal(p, sig);
        all = rest(new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)), p);
        assertEquals(ExitStatus.INTERRUPTED, p.exitValue(), all);
        assertEquals("twophase: SIG" + sig + ": quit at once: nothing written to " + earlier + "; " + earlier.resolve("checkpoint.bin")
                + ", an earlier run's, is left as it was", all.strip());
        assertArrayEquals(checkpoint, Files.readAllBytes(earlier.resolve("checkpoint.bin")));
    }

    @Test
    void aSecondCtrlCQuitsAtOnceAndStillLeavesNoTemporaryFile() throws Exception {
        Path out = dir.resolve("twice");
        Process p = start(out, "--epochs", "100000");
        BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        until(lines, " epoch ");
        signal(p, ctrlC());
        until(lines, "stopping");
        signal(p, ctrlC());
        rest(lines, p);
        assertEquals(ExitStatus.INTERRUPTED, p.exitValue());
        if (Files.exists(out)) assertEquals(List.of(), temporaries(out));
    }

    /**
     * A second Ctrl-C mid-epoch: one line says which checkpoint is kept and how to continue from it.
     * The second signal must come while the first one's stop is still writing (hundreds of
     * milliseconds); a run whose stop ended first is a plain interruption, and the test tries again.
     */
    @Test
    void aSecondCtrlCSaysWhatIsKept() throws Exception {
        String sig = ctrlC();
        for (int attempt = 1; ; attempt++) {
            Path out = dir.resolve("twice-kept-" + attempt);
            // epochs of about a second (--hidden adds to start's 8), a checkpoint after each
            Process p = start(out, "--epochs", "100000", "--hidden", "700,700", "--checkpoint-every", "1");
            BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            Path file = out.resolve("checkpoint.bin");
            for (long deadline = System.nanoTime() + 120_000_000_000L; !Files.exists(file); Thread.sleep(10)) {
                assertTrue(p.isAlive() && System.nanoTime() < deadline, "a checkpoint is written");
            }
            signal(p, sig);
            until(lines, "stopping");
            boolean secondSent = new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).start().waitFor() == 0;
            String rest = rest(lines, p);
            assertEquals(ExitStatus.INTERRUPTED, p.exitValue(), rest);
            assertEquals(List.of(), temporaries(out));
            String last = rest.strip().lines().reduce((a, b) -> b).orElseThrow();
            if (!(secondSent && last.startsWith("twophase: SIG")) && attempt < 5) continue;
            assertSecondCtrlCNamedTheKeptCheckpoint(sig, out, file, rest, last);
            return;
        }
    }

    private static void assertSecondCtrlCNamedTheKeptCheckpoint(String sig, Path out, Path file, String rest, String last) throws IOException {
        // what the file holds is named: as kept, or as the write in progress at the quit, which finished
        String progress = dev.twophase.experiment.Checkpoint.read(file, Main.VERSION).progress();
        assertTrue(last.startsWith("twophase: SIG" + sig + ": quit at once: kept " + file + " (adam after epoch "), rest);
        assertTrue(last.contains("): 'twophase resume " + out + "' continues from it"), last);
        assertTrue(last.contains("(" + progress + ")"), last + " names " + progress);
    }

    @Test
    void aRefusedSecondWriterLeavesTheFolderAlone() throws Exception {
        Path out = Files.createDirectories(dir.resolve("earlier"));
        Files.writeString(out.resolve("report.json"), "{\"earlier\": true}");
        try (OutputFolder held = OutputFolder.open(out, "--out")) {
            // while this test holds the folder, a run fails without touching it
            CliTest.Result r = run("compare", "--quiet", "--epochs", "1", "--out", out.toString());
            assertEquals(ExitStatus.FAILURE, r.code(), r.err());
        }
        assertEquals("{\"earlier\": true}", Files.readString(out.resolve("report.json")));
    }
}
