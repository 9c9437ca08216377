package dev.twophase.data;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** MD5 of a stream, for the checksums of downloads and of the canonical data files. */
final class Md5 {
    private Md5() { }

    /** The MD5 of everything left in {@code in} (lowercase hex), and how many bytes that was. */
    record Digest(String hex, long length) { }

    static Digest of(InputStream in) throws IOException {
        Input digesting = new Input(in);
        byte[] buf = new byte[1 << 16];
        while (digesting.read(buf) >= 0) { }
        return digesting.digest();
    }

    /**
     * A stream that passes every byte read through it into an MD5, so that a reader that parses
     * a file computes its checksum in the same pass. No mark/reset; skipped bytes are read.
     */
    static final class Input extends FilterInputStream {
        private final MessageDigest md;
        private long length;
        private boolean digesting = true;

        Input(InputStream in) {
            super(in);
            try {
                md = MessageDigest.getInstance("MD5");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("MD5 is not available", e);
            }
        }

        @Override public int read() throws IOException {
            int b = in.read();
            if (b >= 0 && digesting) {
                md.update((byte) b);
                length++;
            }
            return b;
        }

        @Override public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0 && digesting) {
                md.update(b, off, n);
                length += n;
            }
            return n;
        }

        @Override public long skip(long n) throws IOException {
            byte[] buf = new byte[(int) Math.min(Math.max(n, 0), 1 << 16)];
            long done = 0;
            for (int r; done < n && (r = read(buf, 0, (int) Math.min(buf.length, n - done))) > 0; ) done += r;
            return done;
        }

        @Override public boolean markSupported() { return false; }

        @Override public synchronized void mark(int readlimit) { }

        @Override public synchronized void reset() throws IOException { throw new IOException("mark/reset not supported"); }

        /** Passes the rest through without digesting it (once the file is known not to be the one to check). */
        void stop() { digesting = false; }

        /** The MD5 of the bytes read (before any {@link #stop}), and their count; call once, after the last read. */
        Digest digest() { return new Digest(HexFormat.of().formatHex(md.digest()), length); }
    }
}
