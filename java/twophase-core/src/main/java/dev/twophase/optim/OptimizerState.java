package dev.twophase.optim;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * A snapshot of an optimizer's state: named float arrays (moments, directions, gradients) and
 * named scalars (step counters, losses, flags, settings to check against). Names are dotted paths;
 * {@link #putAll} nests one state under a prefix, {@link #nested} takes it back out, so
 * {@link TwoPhase}'s state holds Adam's as {@code adam.*} and CG's as {@code cg.*}.
 *
 * <p>The file format ({@link #write}, {@link #read}), all numbers big-endian as
 * {@link DataOutputStream} writes them:
 * <pre>
 *   magic    8 bytes  "TPSTATE\n"
 *   version  int32    1
 *   count    int32    number of entries
 *   entry    count times, in insertion order:
 *     name   modified UTF-8 with a uint16 length (DataOutput.writeUTF)
 *     type   uint8    1 float32 array, 2 float64, 3 int64, 4 string
 *     value  float32 array: int32 length, then the floats (IEEE 754 bits, so NaN payloads survive);
 *            float64: 8 bytes; int64: 8 bytes; string: DataOutput.writeUTF
 *   crc      int64    CRC-32 of every byte before it
 * </pre>
 * Writing goes to a temporary file in the same folder that is then renamed over the target, so
 * a crash never leaves a half-written state. Reading checks the magic, the version, every length
 * against the bytes left, and the checksum, and names the file and the offset of what is wrong.
 */
public final class OptimizerState {
    private static final byte[] MAGIC = {'T', 'P', 'S', 'T', 'A', 'T', 'E', '\n'};
    private static final int VERSION = 1;
    private static final int FLOATS = 1, DOUBLE = 2, LONG = 3, STRING = 4;

    private final Map<String, Object> entries = new LinkedHashMap<>();

    /** The names of all entries, in insertion order. */
    public Set<String> names() { return Collections.unmodifiableSet(entries.keySet()); }

    public boolean has(String name) { return entries.containsKey(name); }

    public OptimizerState putFloats(String name, float[] values) { return put(name, values.clone()); }

    public OptimizerState putDouble(String name, double value) { return put(name, value); }

    public OptimizerState putLong(String name, long value) { return put(name, value); }

    public OptimizerState putBoolean(String name, boolean value) { return put(name, value ? 1L : 0L); }

    public OptimizerState putString(String name, String value) { return put(name, value); }

    /** Adds every entry of {@code nested} under {@code prefix + "."}. */
    public OptimizerState putAll(String prefix, OptimizerState nested) {
        for (Map.Entry<String, Object> e : nested.entries.entrySet()) put(prefix + "." + e.getKey(), e.getValue());
        return this;
    }

    /** The entries under {@code prefix + "."}, with the prefix removed. */
    public OptimizerState nested(String prefix) {
        OptimizerState s = new OptimizerState();
        String p = prefix + ".";
        for (Map.Entry<String, Object> e : entries.entrySet()) {
            if (e.getKey().startsWith(p)) s.entries.put(e.getKey().substring(p.length()), e.getValue());
        }
        if (s.entries.isEmpty()) throw new IllegalArgumentException("optimizer state has no entries under '" + prefix + "'; has " + entries.keySet());
        return s;
    }

    /** A copy of the float array {@code name}. */
    public float[] floats(String name) { return get(name, float[].class, "a float array").clone(); }

    public double getDouble(String name) { return get(name, Double.class, "a float64"); }

    public long getLong(String name) { return get(name, Long.class, "an int64"); }

    public boolean getBoolean(String name) {
        long v = getLong(name);
        if (v != 0 && v != 1) throw new IllegalArgumentException("optimizer state entry '" + name + "' = " + v + "; expected a boolean (0 or 1)");
        return v == 1;
    }

    public String getString(String name) { return get(name, String.class, "a string"); }

    /** Throws unless the string entry {@code name} equals {@code expected}; for settings a state must match. */
    public void require(String name, String expected) {
        String actual = getString(name);
        if (!actual.equals(expected)) {
            throw new IllegalArgumentException("optimizer state was saved with " + name + " = " + actual + "; this optimizer has " + expected);
        }
    }

    /** Writes the state to {@code file} atomically (a temporary sibling, then a rename). */
    public void write(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp)) {
                writeTo(out);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Writes the format described above to {@code out} (not closed). */
    public void writeTo(OutputStream out) throws IOException {
        CRC32 crc = new CRC32();
        // The checksum sees the buffered blocks, not single values: one update per 64 KB.
        BufferedOutputStream buffered = new BufferedOutputStream(new CheckedOutputStream(out, crc), 1 << 16);
        DataOutputStream data = new DataOutputStream(buffered);
        data.write(MAGIC);
        data.writeInt(VERSION);
        data.writeInt(entries.size());
        for (Map.Entry<String, Object> e : entries.entrySet()) {
            data.writeUTF(e.getKey());
            switch (e.getValue()) {
                case float[] f -> {
                    data.writeByte(FLOATS);
                    data.writeInt(f.length);
                    writeFloats(data, f);
                }
                case Double d -> { data.writeByte(DOUBLE); data.writeLong(Double.doubleToRawLongBits(d)); }
                case Long l -> { data.writeByte(LONG); data.writeLong(l); }
                case String s -> { data.writeByte(STRING); data.writeUTF(s); }
                default -> throw new IllegalStateException("unexpected entry type " + e.getValue().getClass());
            }
        }
        data.flush();
        new DataOutputStream(out).writeLong(crc.getValue());
        out.flush();
    }

    /** Floats per bulk conversion to big-endian bytes (a ByteBuffer view keeps NaN payloads). */
    private static final int FLOAT_BLOCK = 1 << 14;

    private static void writeFloats(DataOutputStream data, float[] f) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(Math.min(f.length, FLOAT_BLOCK) * Float.BYTES);
        for (int from = 0; from < f.length; from += FLOAT_BLOCK) {
            int n = Math.min(FLOAT_BLOCK, f.length - from);
            bytes.clear();
            bytes.asFloatBuffer().put(f, from, n);
            data.write(bytes.array(), 0, n * Float.BYTES);
        }
    }

    private static void readFloats(DataInputStream data, float[] f) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(Math.min(f.length, FLOAT_BLOCK) * Float.BYTES);
        for (int from = 0; from < f.length; from += FLOAT_BLOCK) {
            int n = Math.min(FLOAT_BLOCK, f.length - from);
            data.readFully(bytes.array(), 0, n * Float.BYTES);
            bytes.clear();
            bytes.asFloatBuffer().get(f, from, n);
        }
    }

    /** Reads a state file; an {@link IOException} names the file and what is wrong with it. */
    public static OptimizerState read(Path file) throws IOException {
        long size = Files.size(file);
        try (InputStream in = Files.newInputStream(file)) {
            return readFrom(in, size, file.toString());
        }
    }

    /**
     * Reads a state of {@code size} bytes from {@code in} (not closed); {@code source} names it in
     * error messages.
     */
    public static OptimizerState readFrom(InputStream in, long size, String source) throws IOException {
        CRC32 crc = new CRC32();
        CountingInput counted = new CountingInput(new BufferedInputStream(in));
        DataInputStream data = new DataInputStream(new CheckedInputStream(counted, crc));
        OptimizerState s = new OptimizerState();
        try {
            byte[] magic = new byte[MAGIC.length];
            data.readFully(magic);
            if (!Arrays.equals(magic, MAGIC)) throw bad(source, 0, "not a twophase optimizer state (magic bytes differ)");
            int version = data.readInt();
            if (version != VERSION) throw bad(source, 8, "format version " + version + "; this build reads version " + VERSION);
            int count = data.readInt();
            if (count < 0 || count > size / 4) throw bad(source, 12, "entry count " + count + " does not fit in " + size + " bytes");
            for (int i = 0; i < count; i++) {
                long at = counted.count;
                String name = data.readUTF();
                int type = data.readUnsignedByte();
                Object value = switch (type) {
                    case FLOATS -> {
                        int n = data.readInt();
                        if (n < 0 || (long) n * Float.BYTES > size - counted.count) {
                            throw bad(source, at, "entry '" + name + "' claims " + n + " floats; only " + (size - counted.count) + " bytes are left");
                        }
                        float[] f = new float[n];
                        readFloats(data, f);
                        yield f;
                    }
                    case DOUBLE -> Double.longBitsToDouble(data.readLong());
                    case LONG -> data.readLong();
                    case STRING -> data.readUTF();
                    default -> throw bad(source, at, "entry '" + name + "' has unknown type " + type);
                };
                if (s.entries.put(name, value) != null) throw bad(source, at, "entry '" + name + "' appears twice");
            }
            long expected = crc.getValue(), at = counted.count;
            long stored = new DataInputStream(counted).readLong();
            if (stored != expected) throw bad(source, at, "checksum mismatch: the file is damaged or cut short");
            if (counted.read() != -1) throw bad(source, counted.count - 1, "trailing bytes after the checksum");
        } catch (EOFException e) {
            throw bad(source, counted.count, "truncated");
        } catch (java.io.UTFDataFormatException e) {
            throw bad(source, counted.count, "malformed text: " + e.getMessage());
        }
        return s;
    }

    private OptimizerState put(String name, Object value) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("optimizer state entry names must not be empty");
        entries.put(name, value);
        return this;
    }

    private <T> T get(String name, Class<T> type, String what) {
        Object v = entries.get(name);
        if (v == null) throw new IllegalArgumentException("optimizer state has no entry '" + name + "'; has " + entries.keySet());
        if (!type.isInstance(v)) throw new IllegalArgumentException("optimizer state entry '" + name + "' is not " + what);
        return type.cast(v);
    }

    private static IOException bad(String source, long offset, String what) {
        return new IOException(source + ": at byte " + offset + ": " + what);
    }

    @Override public String toString() {
        StringBuilder sb = new StringBuilder("OptimizerState{");
        String sep = "";
        for (Map.Entry<String, Object> e : entries.entrySet()) {
            sb.append(sep).append(e.getKey()).append('=');
            sb.append(e.getValue() instanceof float[] f ? "float[" + f.length + "]" : e.getValue());
            sep = ", ";
        }
        return sb.append('}').toString();
    }

    /** Counts the bytes read, for offsets in error messages. */
    private static final class CountingInput extends java.io.FilterInputStream {
        long count;

        CountingInput(InputStream in) { super(in); }

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
}
