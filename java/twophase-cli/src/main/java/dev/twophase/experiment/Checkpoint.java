package dev.twophase.experiment;

import dev.twophase.data.Dataset;
import dev.twophase.optim.OptimizerState;
import dev.twophase.train.EpochRecord;
import dev.twophase.train.RunResult;
import dev.twophase.train.RunState;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UTFDataFormatException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.CheckedOutputStream;

/**
 * Everything needed to continue a comparison: what it is ({@link Identity}: the software, the
 * command line, every option's value, the backend, a checksum of the data, the runs planned), the
 * results of the runs that finished, and the run in progress as a {@link RunState} (the run after
 * them; none when every run finished or the next one has not started).
 *
 * <p>The file, {@value #FILE} in the output folder, all numbers big-endian as
 * {@link DataOutputStream} writes them, strings as {@code DataOutput.writeUTF} (a uint16 length,
 * then modified UTF-8):
 * <pre>
 *   magic     8 bytes  "TPCHKPT\n"
 *   version   int32    2 (version 1, without the records' transfer counts, is read too)
 *   software  string   "twophase 0.1.0"
 *   command   int32 n, then n strings: the command line as given
 *   options   int32 n, then n (name, value) string pairs: every option as the runs used it
 *   backend   string   the backend the runs ran on
 *   data      int64    CRC-32 of the training and validation data (sizes, inputs' float bits, labels)
 *   plan      int32 n, then n (name, switch rule) string pairs
 *   finished  int32 n, then n results
 *   current   uint8    1 if a run is in progress, then its result so far and its state (up to the crc); else 0
 *   crc       int64    CRC-32 of every byte before it
 * result: name, switch rule (strings), switch epoch (int32, -1: none), skipped Adam steps (int64),
 *   fell back to Adam (uint8), outcome (string), reason (uint8 1 and a string, or 0), int32 n
 *   records: epoch (int32), phase (string), train loss, train accuracy, validation loss,
 *   validation accuracy, gradient norm, evaluations, seconds (float64 bits each), bytes copied host
 *   to device and device to host (int64 each; absent in version 1, read as 0)
 * state: an {@link OptimizerState} file (its own format, with its own CRC) that fills the bytes up
 *   to the crc, with the entries parameters (float32 array), compute, initialLoss, seconds
 *   (float64) and optimizer.* (the TwoPhase state)
 * </pre>
 * {@link #write} goes through {@link OutputFolder#writeDurably} (a unique temporary name, flushed
 * to disk, renamed into place); {@link #read} checks the magic, the version, the checksum over the
 * whole file, then every count against the bytes left, and names the file and the byte offset of
 * what is wrong.
 */
public final class Checkpoint {
    /** The checkpoint's file name in the output folder. */
    public static final String FILE = "checkpoint.bin";
    private static final byte[] MAGIC = {'T', 'P', 'C', 'H', 'K', 'P', 'T', '\n'};
    private static final int VERSION = 2;
    /** The oldest format version this build reads. */
    private static final int OLDEST_VERSION = 1;

    /**
     * What a comparison is: the software that ran it ("twophase 0.1.0"), its command line, every
     * option's value by option name (defaults filled in), the backend it ran on, the checksum of its
     * data ({@link #dataChecksum}) and its runs.
     */
    public record Identity(String software, List<String> command, Map<String, String> options, String backend, long dataChecksum,
                           List<Comparison.Run> plan) {
        public Identity {
            command = List.copyOf(command);
            options = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(options));
            plan = List.copyOf(plan);
        }
    }

    private final Identity identity;
    private final List<RunResult> finished;
    private final RunState current;

    /** {@code current}: the run after the finished ones, in progress; null when none is. */
    public Checkpoint(Identity identity, List<RunResult> finished, RunState current) {
        if (finished.size() + (current == null ? 0 : 1) > identity.plan().size()) {
            throw new IllegalArgumentException(finished.size() + " finished runs" + (current == null ? "" : " and one in progress") + " for a plan of "
                    + identity.plan().size());
        }
        List<RunResult> all = new ArrayList<>(finished);
        if (current != null) all.add(current.soFar());
        for (int i = 0; i < all.size(); i++) {
            Comparison.Run planned = identity.plan().get(i);
            RunResult r = all.get(i);
            if (!r.name().equals(planned.name())) throw new IllegalArgumentException("run " + (i + 1) + " is '" + r.name() + "'; the plan has '" + planned.name() + "'");
            if (i < finished.size() && r.outcome() == RunResult.Outcome.INTERRUPTED) {
                throw new IllegalArgumentException("run '" + r.name() + "' is interrupted, not finished");
            }
        }
        this.identity = identity;
        this.finished = List.copyOf(finished);
        this.current = current;
    }

    public Identity identity() { return identity; }

    /** The results of the runs that finished (completed, converged or diverged), in plan order. */
    public List<RunResult> finished() { return finished; }

    /** The run in progress (the one after the finished runs), or null. */
    public RunState current() { return current; }

    /** Whether every run of the plan finished. */
    public boolean complete() { return finished.size() == identity.plan().size(); }

    /**
     * How far the comparison got, run by run: "adam finished (completed); two-phase after epoch 274
     * of 300; cg-only not started" (the epochs per run as its {@code --epochs} option recorded them).
     */
    public String progress() {
        List<String> parts = new ArrayList<>();
        for (RunResult r : finished) parts.add(r.name() + " finished (" + r.outcome().id() + ")");
        int next = finished.size();
        if (current != null) {
            String epochs = identity.options().get("--epochs");
            parts.add(current.soFar().name() + " after epoch " + current.epoch() + (epochs == null ? "" : " of " + epochs));
            next++;
        }
        for (int i = next; i < identity.plan().size(); i++) parts.add(identity.plan().get(i).name() + " not started");
        return String.join("; ", parts);
    }

    /** Writes this checkpoint into {@code out} as {@value #FILE}, atomically and flushed to disk. */
    public void write(OutputFolder out) throws IOException {
        out.writeDurably(FILE, this::writeTo);
    }

    /** Writes the format described above to {@code stream} (not closed). */
    void writeTo(OutputStream stream) throws IOException {
        CRC32 crc = new CRC32();
        // the buffer below the checksum, so that the CRC is updated in large blocks
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(new CheckedOutputStream(stream, crc), 1 << 16));
        out.write(MAGIC);
        out.writeInt(VERSION);
        out.writeUTF(identity.software());
        out.writeInt(identity.command().size());
        for (String a : identity.command()) out.writeUTF(a);
        out.writeInt(identity.options().size());
        for (Map.Entry<String, String> e : identity.options().entrySet()) {
            out.writeUTF(e.getKey());
            out.writeUTF(e.getValue());
        }
        out.writeUTF(identity.backend());
        out.writeLong(identity.dataChecksum());
        out.writeInt(identity.plan().size());
        for (Comparison.Run r : identity.plan()) {
            out.writeUTF(r.name());
            out.writeUTF(r.rule());
        }
        out.writeInt(finished.size());
        for (RunResult r : finished) writeResult(out, r);
        out.writeBoolean(current != null);
        if (current != null) {
            writeResult(out, current.soFar());
            OptimizerState s = new OptimizerState()
                    .putFloats("parameters", current.parameters())
                    .putDouble("compute", current.compute())
                    .putDouble("initialLoss", current.initialLoss())
                    .putDouble("seconds", current.seconds())
                    .putAll("optimizer", current.optimizer());
            s.writeTo(out);
        }
        out.flush();
        new DataOutputStream(stream).writeLong(crc.getValue());
        stream.flush();
    }

    private static void writeResult(DataOutputStream out, RunResult r) throws IOException {
        out.writeUTF(r.name());
        out.writeUTF(r.switchRule());
        out.writeInt(r.switchEpoch() == null ? -1 : r.switchEpoch());
        out.writeLong(r.skippedAdamSteps());
        out.writeBoolean(r.fellBackToAdam());
        out.writeUTF(r.outcome().id());
        out.writeBoolean(r.reason() != null);
        if (r.reason() != null) out.writeUTF(r.reason());
        out.writeInt(r.epochs().size());
        for (EpochRecord e : r.epochs()) {
            out.writeInt(e.epoch());
            out.writeUTF(e.phase());
            for (double v : new double[]{e.trainLoss(), e.trainAccuracy(), e.valLoss(), e.valAccuracy(), e.gradNorm(), e.evaluations(), e.seconds()}) {
                out.writeLong(Double.doubleToRawLongBits(v));
            }
            out.writeLong(e.hostToDeviceBytes());
            out.writeLong(e.deviceToHostBytes());
        }
    }

    /**
     * Reads a checkpoint written by {@code software} (such as "twophase 0.1.0"). A missing file is a
     * {@link NoSuchFileException}; a damaged one, one of another format version or another software
     * version is an {@link IOException} naming the file and what is wrong (with the byte offset).
     */
    public static Checkpoint read(Path file, String software) throws IOException {
        if (Files.isDirectory(file)) throw new IOException(file + ": is a folder; expected a checkpoint file");
        long size = Files.size(file);
        String source = file.toString();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate(MAGIC.length + Integer.BYTES);
            while (head.hasRemaining() && ch.read(head) >= 0) { }
            if (head.position() < MAGIC.length || !Arrays.equals(Arrays.copyOf(head.array(), MAGIC.length), MAGIC)) {
                throw bad(source, 0, "not a twophase checkpoint (its first bytes are not \"TPCHKPT\")");
            }
            if (head.hasRemaining()) throw bad(source, head.position(), "truncated");
            int version = head.getInt(MAGIC.length);
            if (version < OLDEST_VERSION || version > VERSION) {
                throw bad(source, MAGIC.length, "checkpoint format version " + version + "; this build reads versions " + OLDEST_VERSION + " to " + VERSION);
            }
            if (size < head.capacity() + Long.BYTES) throw bad(source, size, "truncated");
            // The checksum first: a damaged file is called damaged, not misread field by field.
            CRC32 crc = new CRC32();
            ByteBuffer buf = ByteBuffer.allocate(1 << 16);
            ch.position(0);
            for (long left = size - Long.BYTES; left > 0; ) {
                buf.clear().limit((int) Math.min(buf.capacity(), left));
                int n = ch.read(buf);
                if (n < 0) throw bad(source, size - left, "truncated");
                crc.update(buf.flip());
                left -= n;
            }
            ByteBuffer stored = ByteBuffer.allocate(Long.BYTES);
            while (stored.hasRemaining() && ch.read(stored) >= 0) { }
            if (stored.getLong(0) != crc.getValue()) {
                throw bad(source, size - Long.BYTES, "checksum mismatch: the file is damaged or cut short (or was not written by twophase)");
            }
            ch.position(head.capacity());
            CountingInput counted = new CountingInput(new BufferedInputStream(Channels.newInputStream(ch), 1 << 16), head.capacity());
            return new Reader(new DataInputStream(counted), counted, size - Long.BYTES, source, version).checkpoint(software);
        }
    }

    /** Parses the body after the version, every count checked against the bytes left before the checksum. */
    private record Reader(DataInputStream in, CountingInput at, long end, String source, int version) {

        Checkpoint checkpoint(String software) throws IOException {
            long where = at.count;
            try {
                String written = in.readUTF();
                if (!written.equals(software)) {
                    throw bad(source, where, "written by " + written + "; this is " + software + ", which continues only its own checkpoints"
                            + " (finish the runs with " + written + ", or start them again)");
                }
                List<String> command = new ArrayList<>();
                for (int i = 0, n = count("command arguments", 2); i < n; i++) command.add(in.readUTF());
                Map<String, String> options = new LinkedHashMap<>();
                for (int i = 0, n = count("options", 4); i < n; i++) options.put(in.readUTF(), in.readUTF());
                String backend = in.readUTF();
                long data = in.readLong();
                List<Comparison.Run> plan = new ArrayList<>();
                for (int i = 0, n = count("runs", 4); i < n; i++) plan.add(new Comparison.Run(in.readUTF(), in.readUTF()));
                List<RunResult> finished = new ArrayList<>();
                for (int i = 0, n = count("finished runs", 4); i < n; i++) finished.add(result());
                RunState current = null;
                where = at.count;
                if (in.readBoolean()) {
                    RunResult soFar = result();
                    where = at.count;
                    long length = end - where;
                    OptimizerState s = OptimizerState.readFrom(new Bounded(in, length), length, source + ", the state of run '" + soFar.name() + "' at byte " + where);
                    where = at.count;
                    current = new RunState(soFar, s.floats("parameters"), s.nested("optimizer"), s.getDouble("compute"), s.getDouble("initialLoss"), s.getDouble("seconds"));
                }
                where = at.count;
                if (at.count != end) throw bad(source, where, (end - at.count) + " bytes left over before the checksum");
                return new Checkpoint(new Identity(written, command, options, backend, data, plan), finished, current);
            } catch (EOFException e) {
                throw bad(source, at.count, "truncated");
            } catch (UTFDataFormatException e) {
                throw bad(source, at.count, "malformed text: " + e.getMessage());
            } catch (IllegalArgumentException e) {
                throw bad(source, where, e.getMessage());
            }
        }

        /** A count of items of at least {@code minBytes} each, checked against the bytes left. */
        private int count(String what, int minBytes) throws IOException {
            long where = at.count;
            int n = in.readInt();
            if (n < 0 || (long) n * minBytes > end - at.count) throw bad(source, where, n + " " + what + " do not fit in the " + (end - at.count) + " bytes left");
            return n;
        }

        private RunResult result() throws IOException {
            long where = at.count;
            String name = in.readUTF(), rule = in.readUTF();
            int switchEpoch = in.readInt();
            long skipped = in.readLong();
            boolean fellBack = in.readBoolean();
            String outcome = in.readUTF();
            String reason = in.readBoolean() ? in.readUTF() : null;
            RunResult.Outcome o = Arrays.stream(RunResult.Outcome.values()).filter(v -> v.id().equals(outcome)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("run '" + name + "' has outcome '" + outcome + "'"));
            List<EpochRecord> records = new ArrayList<>();
            boolean transfers = version >= 2;
            for (int i = 0, n = count("records of run '" + name + "'", 4 + 2 + 7 * 8 + (transfers ? 2 * 8 : 0)); i < n; i++) {
                int epoch = in.readInt();
                String phase = in.readUTF();
                double[] v = new double[7];
                for (int j = 0; j < v.length; j++) v[j] = Double.longBitsToDouble(in.readLong());
                long toDevice = transfers ? in.readLong() : 0, toHost = transfers ? in.readLong() : 0;
                if (toDevice < 0 || toHost < 0) {
                    throw new IllegalArgumentException("run '" + name + "', epoch " + epoch + ": negative transfer counts " + toDevice + ", " + toHost);
                }
                records.add(new EpochRecord(epoch, phase, v[0], v[1], v[2], v[3], v[4], v[5], v[6], toDevice, toHost));
            }
            try {
                return new RunResult(name, rule, switchEpoch < 0 ? null : switchEpoch, records, skipped, fellBack, o, reason);
            } catch (IllegalArgumentException e) {
                throw bad(source, where, "run '" + name + "': " + e.getMessage());
            }
        }
    }

    /**
     * CRC-32 of a comparison's data: the sizes, the inputs' float bits and the labels of the
     * training and then the validation set. A resumed comparison must see the same data.
     */
    public static long dataChecksum(Dataset.Split data) {
        CRC32 crc = new CRC32();
        ByteBuffer buf = ByteBuffer.allocate(1 << 16);
        for (Dataset d : List.of(data.train(), data.validation())) {
            buf.clear();
            buf.putInt(d.size()).putInt(d.features()).putInt(d.classes());
            crc.update(buf.flip());
            float[] x = d.inputs();
            for (int i = 0; i < x.length; ) {
                buf.clear();
                int n = Math.min(x.length - i, buf.capacity() / Float.BYTES);
                buf.asFloatBuffer().put(x, i, n);
                crc.update(buf.limit(n * Float.BYTES));
                i += n;
            }
            int[] y = d.labels();
            for (int i = 0; i < y.length; ) {
                buf.clear();
                int n = Math.min(y.length - i, buf.capacity() / Integer.BYTES);
                buf.asIntBuffer().put(y, i, n);
                crc.update(buf.limit(n * Integer.BYTES));
                i += n;
            }
        }
        return crc.getValue();
    }

    private static IOException bad(String source, long offset, String what) {
        return new IOException(source + ": at byte " + offset + ": " + what);
    }

    /** Counts the bytes read (from {@code start}), for offsets in error messages. */
    private static final class CountingInput extends FilterInputStream {
        long count;

        CountingInput(InputStream in, long start) {
            super(in);
            count = start;
        }

        @Override public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count++;
            return b;
        }

        @Override public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count += n;
            return n;
        }
    }

    /** At most {@code left} bytes of the stream beneath, which stays open. */
    private static final class Bounded extends FilterInputStream {
        private long left;

        Bounded(InputStream in, long left) {
            super(in);
            this.left = left;
        }

        @Override public int read() throws IOException {
            if (left <= 0) return -1;
            int b = super.read();
            if (b >= 0) left--;
            return b;
        }

        @Override public int read(byte[] b, int off, int len) throws IOException {
            if (left <= 0) return -1;
            int n = super.read(b, off, (int) Math.min(len, left));
            if (n > 0) left -= n;
            return n;
        }

        @Override public void close() { }
    }
}
