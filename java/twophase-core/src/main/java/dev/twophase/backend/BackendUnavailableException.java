package dev.twophase.backend;

/** A backend cannot run on this machine; the message is the reason shown to users. */
public final class BackendUnavailableException extends Exception {
    public BackendUnavailableException(String reason) { super(reason); }

    public BackendUnavailableException(String reason, Throwable cause) { super(reason, cause); }
}
