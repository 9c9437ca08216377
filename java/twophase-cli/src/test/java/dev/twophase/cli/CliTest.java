package dev.twophase.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The command-line contract: outputs, report fields, exit codes and one-line errors. */
class CliTest {

    record Result(int code, String out, String err) { }

    static Result run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void compareWritesTheReportContract(@TempDir Path dir) throws Exception {
        Result r = run("compare", "--epochs", "6", "--switch", "epoch:3", "--hidden", "16", "--backend", "cpu", "--quiet", "--out", dir.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode report = new ObjectMapper().readTree(dir.resolve("report.json").toFile());
        assertEquals("cpu", report.get("backend").asText());
        assertEquals(1, report.get("seed").asLong());
        JsonNode runs = report.get("runs");
        assertEquals(2, runs.size());
        assertEquals("adam", runs.get(0).get("name").asText());
        assertTrue(runs.get(0).get("switchEpoch").isNull());
        assertEquals("two-phase", runs.get(1).get("name").asText());
        assertEquals(3, runs.get(1).get("switchEpoch").asInt());
        for (JsonNode run : runs) {
            assertEquals(6, run.get("epochs").size());
            for (String field : new String[]{"epoch", "phase", "trainLoss", "trainAccuracy", "valLoss", "valAccuracy", "gradNorm", "evaluations", "seconds"}) {
                assertTrue(run.get("final").has(field), field);
            }
            assertEquals(run.get("epochs").get(5), run.get("final"));
        }
        assertEquals("cg", runs.get(1).get("epochs").get(3).get("phase").asText());
        assertEquals(13, Files.readAllLines(dir.resolve("history.csv")).size());
        for (String png : new String[]{"gradnorm-vs-loss.png", "loss-vs-compute.png"}) {
            byte[] head = Files.readAllBytes(dir.resolve(png));
            assertTrue(head.length > 1000 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G', png);
        }
    }

    @Test
    void terminatingARunKeepsTheEpochsFinishedSoFar(@TempDir Path dir) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "compare", "--epochs", "100000", "--hidden", "8", "--backend", "cpu", "--out", dir.toString());
        pb.redirectErrorStream(true);
        Process p = pb.start();
        java.io.BufferedReader lines = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
        String line;
        while ((line = lines.readLine()) != null && !line.contains(" epoch ")) { } // training has started
        RobustnessTest.signal(p, RobustnessTest.ctrlC());
        StringBuilder rest = new StringBuilder();
        while ((line = lines.readLine()) != null) rest.append(line).append('\n');
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the run stops after its current epoch");
        assertTrue(rest.toString().contains("interrupted"), rest.toString());
        JsonNode report = new ObjectMapper().readTree(dir.resolve("report.json").toFile());
        JsonNode adam = report.get("runs").get(0);
        int epochs = adam.get("epochs").size();
        assertTrue(epochs >= 1 && epochs < 100000, "epochs recorded: " + epochs);
        assertEquals(epochs, adam.get("final").get("epoch").asInt());
        assertEquals(epochs + 1, Files.readAllLines(dir.resolve("history.csv")).size());
    }

    @Test
    void badInputExitsNonZeroWithOneLine() {
        for (String[] args : new String[][]{
                {"compare", "--epochs", "0", "--quiet"},
                {"compare", "--lr", "-1", "--quiet"},
                {"compare", "--switch", "peak:2", "--quiet"},
                {"compare", "--backend", "tpu", "--quiet"},
                {"compare", "--dataset", "imagenet", "--quiet"},
                {"compare", "--epochs", "many"},
                {"compare", "--no-such-option"},
                {"train", "--help"}, {"compare", "train", "--help"}}) {
            Result r = run(args);
            assertEquals(2, r.code(), String.join(" ", args) + " -> " + r.err());
            assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
            assertTrue(r.err().startsWith("twophase: "), r.err());
        }
        Result r = run("compare", "--switch", "peak:0.9:-1", "--quiet");
        assertTrue(r.err().startsWith("twophase: --switch: switch rule 'peak:0.9:-1': norm smoothing = -1.0; expected a value in [0, 1)"), r.err());
    }

    @Test
    void helpListsTheCommands() {
        Result r = run("--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("compare") && r.out().contains("devices"), r.out());
        // each command's summary (the first line of its description) is a sentence of its own
        for (var sub : Main.commandLine().getSubcommands().values()) {
            String summary = sub.getCommandSpec().usageMessage().description()[0];
            assertTrue(summary.endsWith("."), sub.getCommandName() + ": " + summary);
        }
        Result bogus = run("repro", "bogus");
        assertEquals(2, bogus.code());
        assertEquals("twophase: unknown model 'bogus'; expected one of " + String.join(", ", new java.util.TreeSet<>(ReproCommand.PAPER_MNIST.keySet())),
                bogus.err().strip());
    }
}
