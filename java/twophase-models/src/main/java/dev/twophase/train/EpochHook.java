package dev.twophase.train;

import java.util.function.Supplier;

/**
 * Sees every epoch after which a {@link Trainer} run goes on (not its last one, nor one at which it
 * diverged or converged). {@code stopping}: a stop was requested and the run ends after this epoch;
 * {@code state} makes a {@link RunState} to continue from this point (it copies the parameters and
 * the optimizer's buffers to the host, so call it only when saving). Used to write checkpoints.
 */
@FunctionalInterface
public interface EpochHook {

    void afterEpoch(int epoch, boolean stopping, Supplier<RunState> state);

    static EpochHook none() { return (epoch, stopping, state) -> { }; }
}
