package dev.twophase.experiment;

import dev.twophase.data.Dataset;
import dev.twophase.optim.OptimizerState;
import dev.twophase.train.EpochRecord;
import dev.twophase.train.RunResult;
import dev.twophase.train.RunState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.*;

/** The checkpoint file: an exact round trip, and every damage refused with the file and what is wrong. */
class CheckpointTest {
    static final String SOFTWARE = "twophase 0.1.0";

    @TempDir
    Path dir;

    static List<EpochRecord> records(int n, String phase, SplittableRandom r) {
        List<EpochRecord> list = new ArrayList<>();
        for (int e = 1; e <= n; e++) {
            list.add(new EpochRecord(e, phase, r.nextDouble(), r.nextDouble(), r.nextDouble(), r.nextDouble(), r.nextDouble() * 10, e * 1.0 / 3, r.nextDouble(),
                    r.nextLong(1L << 40), r.nextLong(1L << 40)));
        }
        return list;
    }

    static Checkpoint sample(boolean inProgress) {
        SplittableRandom r = new SplittableRandom(11);
        List<EpochRecord> diverged = new ArrayList<>(records(2, "adam", r));
        diverged.add(new EpochRecord(3, "adam", Double.NaN, 0.1, Double.POSITIVE_INFINITY, 0.1, Double.NEGATIVE_INFINITY, 3, -0.0));
        List<RunResult> finished = List.of(
                new RunResult("adam", "never", null, records(5, "adam", r), 2, false, RunResult.Outcome.COMPLETED, null),
                new RunResult("lr-test", "epoch:1", 1, diverged, 0, true, RunResult.Outcome.DIVERGED, "the training loss is NaN"));
        List<Comparison.Run> plan = List.of(new Comparison.Run("adam", "never"), new Comparison.Run("lr-test", "epoch:1"),
                new Comparison.Run("two-phase", "rise-peak:0.9:0.9"), new Comparison.Run("cg-only", "cg-only"));
        Checkpoint.Identity id = new Checkpoint.Identity(SOFTWARE, List.of("compare", "--epochs", "5", "--data-dir", "d\u00e4ta"),
                Map.of("--epochs", "5", "--threads", "2"), "cpu", 0xfedcba98L, plan);
        RunState current = null;
        if (inProgress) {
            float[] params = new float[1001];
            for (int i = 0; i < params.length; i++) params[i] = (float) r.nextGaussian();
            params[7] = -0.0f;
            float[] moments = new float[1001];
            Arrays.fill(moments, 0.25f);
            OptimizerState opt = new OptimizerState().putString("optimizer", "two-phase").putLong("adamEpochs", 3).putFloats("adam.expAvg", moments)
                    .putDouble("epochNormSum", Math.PI);
            RunResult soFar = new RunResult("two-phase", "rise-peak:0.9:0.9", 3, records(4, "cg", r), 0, false, RunResult.Outcome.INTERRUPTED,
                    "stopped on request after epoch 4 of 5");
            current = new RunState(soFar, params, opt, 4.0 + 1.0 / 3, 0.1024, 1.5);
        }
        return new Checkpoint(id, finished, current);
    }

    Path written(Checkpoint c) throws IOException {
        try (OutputFolder out = OutputFolder.open(dir.resolve("out"), "--out")) {
            c.write(out);
        }
        return dir.resolve("out").resolve(Checkpoint.FILE);
    }

    @Test
    void aCheckpointReadsBackExactly() throws IOException {
        for (boolean inProgress : new boolean[]{false, true}) {
            Checkpoint c = sample(inProgress);
            Path file = written(c);
            try (Stream<Path> s = Files.list(file.getParent())) {
                assertEquals(List.of(), s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList());
            }
            Checkpoint back = Checkpoint.read(file, SOFTWARE);
            assertEquals(c.identity(), back.identity());
            assertEquals(c.finished(), back.finished()); // records compare doubles by their bits (NaN, -0.0)
            assertEquals(Double.doubleToRawLongBits(-0.0), Double.doubleToRawLongBits(back.finished().get(1).epochs().get(2).seconds()));
            assertFalse(back.complete());
            if (!inProgress) {
                assertNull(back.current());
                continue;
            }
            RunState s = c.current(), b = back.current();
            assertEquals(s.soFar(), b.soFar());
            assertEquals(4, b.epoch());
            assertArrayEquals(s.parameters(), b.parameters());
            assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(b.parameters()[7]));
            assertEquals(s.compute(), b.compute(), 0.0);
            assertEquals(s.initialLoss(), b.initialLoss(), 0.0);
            assertEquals(s.seconds(), b.seconds(), 0.0);
            assertEquals(s.optimizer().names(), b.optimizer().names());
            assertArrayEquals(s.optimizer().floats("adam.expAvg"), b.optimizer().floats("adam.expAvg"));
            assertEquals(Math.PI, b.optimizer().getDouble("epochNormSum"), 0.0);
        }
    }

    @Test
    void everyDamageIsRefusedNamingTheFileAndTheOffset() throws IOException {
        Path file = written(sample(true));
        byte[] good = Files.readAllBytes(file);
        Path bad = dir.resolve("bad.bin");
        SplittableRandom r = new SplittableRandom(5);
        int cases = 0;
        for (int i = 0; i < 400; i++) {
            byte[] b;
            int kind = i < 12 ? 0 : r.nextInt(3);
            if (kind == 0) { // one byte changed: the first twelve (magic, version), then anywhere
                b = good.clone();
                int at = i < 12 ? i : r.nextInt(b.length);
                b[at] ^= (byte) (1 + r.nextInt(255));
            } else if (kind == 1) { // cut short
                b = Arrays.copyOf(good, r.nextInt(good.length));
            } else { // bytes appended
                b = Arrays.copyOf(good, good.length + 1 + r.nextInt(20));
            }
            Files.write(bad, b);
            IOException e = assertThrows(IOException.class, () -> Checkpoint.read(bad, SOFTWARE), "case " + i);
            assertTrue(e.getMessage().startsWith(bad + ": at byte "), e.getMessage());
            assertTrue(e.getMessage().matches(".*(not a twophase checkpoint|format version|truncated|checksum mismatch).*"), e.getMessage());
            cases++;
        }
        assertEquals(400, cases);
        byte[] b = good.clone();
        b[11] = 3; // version 3
        Files.write(bad, b);
        assertEquals(bad + ": at byte 8: checkpoint format version 3; this build reads versions 1 to 2",
                assertThrows(IOException.class, () -> Checkpoint.read(bad, SOFTWARE)).getMessage());
        Files.write(bad, new byte[0]);
        assertTrue(assertThrows(IOException.class, () -> Checkpoint.read(bad, SOFTWARE)).getMessage().contains("not a twophase checkpoint"));
        Files.write(bad, Arrays.copyOf(good, good.length - 3));
        assertTrue(assertThrows(IOException.class, () -> Checkpoint.read(bad, SOFTWARE)).getMessage().contains("checksum mismatch: the file is damaged"));
    }

    /** A hand-written file's start: the magic, format version 1 and the software. */
    static DataOutputStream versionOneHeader(ByteArrayOutputStream bytes) throws IOException {
        DataOutputStream out = new DataOutputStream(bytes);
        out.write("TPCHKPT\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        out.writeInt(1);
        out.writeUTF(SOFTWARE);
        return out;
    }

    /** Appends the CRC-32 of the bytes so far and writes them to a file in the test folder. */
    Path sealed(ByteArrayOutputStream bytes, String name) throws IOException {
        CRC32 crc = new CRC32();
        crc.update(bytes.toByteArray());
        new DataOutputStream(bytes).writeLong(crc.getValue());
        return Files.write(dir.resolve(name), bytes.toByteArray());
    }

    /** A version 1 file (records without transfer counts, as written before they existed) reads with both counts 0. */
    @Test
    void aVersionOneCheckpointReadsWithoutTransferCounts() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = versionOneHeader(bytes);
        out.writeInt(1);
        out.writeUTF("compare");
        out.writeInt(0);
        out.writeUTF("cpu");
        out.writeLong(42);
        out.writeInt(1);
        out.writeUTF("adam");
        out.writeUTF("never");
        out.writeInt(1); // one finished run
        out.writeUTF("adam");
        out.writeUTF("never");
        out.writeInt(-1);
        out.writeLong(0);
        out.writeBoolean(false);
        out.writeUTF("completed");
        out.writeBoolean(false);
        out.writeInt(1); // one record, seven doubles and no transfer counts
        out.writeInt(1);
        out.writeUTF("adam");
        for (double v : new double[]{0.5, 0.25, 0.75, 0.125, 2.0, 1.0, 0.01}) out.writeLong(Double.doubleToRawLongBits(v));
        out.writeBoolean(false); // no run in progress
        Path file = sealed(bytes, "v1.bin");
        Checkpoint c = Checkpoint.read(file, SOFTWARE);
        assertEquals(List.of(new EpochRecord(1, "adam", 0.5, 0.25, 0.75, 0.125, 2.0, 1.0, 0.01, 0, 0)), c.finished().get(0).epochs());
        assertTrue(c.complete());
    }

    @Test
    void anotherVersionsCheckpointIsRefused() throws IOException {
        Path file = written(sample(false));
        IOException e = assertThrows(IOException.class, () -> Checkpoint.read(file, "twophase 0.2.0"));
        assertEquals(file + ": at byte 12: written by twophase 0.1.0; this is twophase 0.2.0, which continues only its own checkpoints"
                + " (finish the runs with twophase 0.1.0, or start them again)", e.getMessage());
    }

    @Test
    void countsThatDoNotFitAreRefusedBeforeAllocating() throws IOException {
        // a well-formed checksum over a body that claims a billion command arguments
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = versionOneHeader(bytes);
        out.writeInt(1_000_000_000);
        Path file = sealed(bytes, "huge.bin");
        IOException e = assertThrows(IOException.class, () -> Checkpoint.read(file, SOFTWARE));
        assertEquals(file + ": at byte 28: 1000000000 command arguments do not fit in the 0 bytes left", e.getMessage());
    }

    @Test
    void theDataChecksumSeesEveryBitOfTheData() {
        SplittableRandom r = new SplittableRandom(2);
        float[] x = new float[300 * 7];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble();
        int[] y = new int[300];
        for (int i = 0; i < y.length; i++) y[i] = r.nextInt(3);
        Dataset.Split s = new Dataset("d", 7, 3, x, y).split(0.2, 1);
        long base = Checkpoint.dataChecksum(s);
        assertEquals(base, Checkpoint.dataChecksum(new Dataset("d", 7, 3, x.clone(), y.clone()).split(0.2, 1)));
        float[] x2 = x.clone();
        x2[1234] = Math.nextUp(x2[1234]);
        assertNotEquals(base, Checkpoint.dataChecksum(new Dataset("d", 7, 3, x2, y).split(0.2, 1)));
        int[] y2 = y.clone();
        y2[299] = (y2[299] + 1) % 3;
        assertNotEquals(base, Checkpoint.dataChecksum(new Dataset("d", 7, 3, x, y2).split(0.2, 1)));
        assertNotEquals(base, Checkpoint.dataChecksum(new Dataset.Split(s.validation(), s.train())), "order matters");
    }

    @Test
    void thePolicyParsesEpochsWallTimeAndOff() {
        assertEquals(new CheckpointPolicy(3, 0), CheckpointPolicy.parse("--checkpoint-every", "3"));
        assertEquals(new CheckpointPolicy(0, 30_000_000_000L), CheckpointPolicy.parse("--checkpoint-every", "30s"));
        assertEquals(new CheckpointPolicy(0, 300_000_000_000L), CheckpointPolicy.parse("--checkpoint-every", CheckpointPolicy.DEFAULT));
        assertEquals("2h", CheckpointPolicy.parse("--checkpoint-every", "2H").toString());
        assertEquals("5m", CheckpointPolicy.parse("--checkpoint-every", "300s").toString());
        assertEquals("1 epoch", CheckpointPolicy.parse("--checkpoint-every", "1").toString());
        for (String off : List.of("off", "0", " OFF ")) assertFalse(CheckpointPolicy.parse("--checkpoint-every", off).enabled());
        for (String bad : List.of("", "-1", "1.5", "5x", "m", "10000000000", "10001h", "five")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CheckpointPolicy.parse("--checkpoint-every", bad), bad);
            assertTrue(e.getMessage().startsWith("--checkpoint-every '" + bad + "': expected"), e.getMessage());
        }
        CheckpointPolicy every3 = CheckpointPolicy.parse("--checkpoint-every", "3");
        assertTrue(every3.due(6, 0) && !every3.due(7, Long.MAX_VALUE));
        CheckpointPolicy minute = CheckpointPolicy.parse("--checkpoint-every", "1m");
        assertTrue(minute.due(1, 60_000_000_000L) && !minute.due(1, 59_999_999_999L));
        assertFalse(CheckpointPolicy.OFF.due(1, Long.MAX_VALUE));
    }
}
