package dev.twophase.backend;

/**
 * Bytes a backend has copied between host memory and its own memory: host to device (uploads,
 * the index tables and row numbers it sends) and device to host (downloads, the scalars that
 * reductions return). Kernel arguments passed with a launch are not copies and not counted. Both
 * are 0 on the CPU backend, whose memory is host memory. {@link VectorBackend#transfers()} gives
 * the totals since the backend opened; {@link #minus} the bytes of a stretch of work.
 */
public record Transfers(long hostToDeviceBytes, long deviceToHostBytes) {
    /** No bytes either way. */
    public static final Transfers NONE = new Transfers(0, 0);

    public Transfers {
        if (hostToDeviceBytes < 0 || deviceToHostBytes < 0) {
            throw new IllegalArgumentException("transfers: " + hostToDeviceBytes + " and " + deviceToHostBytes + " bytes; expected at least 0");
        }
    }

    /** The bytes moved since {@code earlier}, a reading of the same backend. */
    public Transfers minus(Transfers earlier) {
        return new Transfers(hostToDeviceBytes - earlier.hostToDeviceBytes, deviceToHostBytes - earlier.deviceToHostBytes);
    }
}
