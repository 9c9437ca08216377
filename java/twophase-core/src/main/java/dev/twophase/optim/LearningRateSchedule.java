package dev.twophase.optim;

/**
 * The learning rate of each Adam step, from the step number and the base learning rate (the
 * config's, or the last {@link Adam#setLearningRate}). Set with {@link Adam#setSchedule}; Adam
 * evaluates it once per applied step, before the update. For example, linear warm-up over 1,000
 * steps followed by cosine decay to zero at step 100,000:
 * <pre>{@code
 * adam.setSchedule((step, lr) -> step <= 1000 ? lr * step / 1000
 *         : lr * 0.5 * (1 + Math.cos(Math.PI * (step - 1000) / 99_000.0)));
 * }</pre>
 * A schedule is code, not state: {@link Adam#state()} saves the step counter and the base
 * learning rate, so after {@link Adam#load} the same schedule continues where it was.
 */
@FunctionalInterface
public interface LearningRateSchedule {

    /**
     * The learning rate for step {@code step} (1-based: the step about to be applied, which
     * skipped steps do not advance); must be finite and {@code >= 0}.
     */
    double learningRate(long step, double baseLearningRate);
}
