package dev.twophase.train;

import dev.twophase.optim.OptimizerState;

/**
 * A run between two epochs, everything needed to continue it bit for bit: the run as it stands
 * ({@code soFar}: its records, switch epoch and counters, outcome interrupted), the parameters,
 * the optimizer's state ({@link dev.twophase.optim.TwoPhase#state()}), the compute spent
 * ({@link ModelObjective#compute()}), the training loss at the initial weights (the divergence
 * test's reference) and the training seconds so far. Mini-batch order needs no state: it is
 * derived from the seed and the epoch.
 */
public record RunState(RunResult soFar, float[] parameters, OptimizerState optimizer, double compute, double initialLoss, double seconds) {

    public RunState {
        if (soFar.outcome() != RunResult.Outcome.INTERRUPTED) {
            throw new IllegalArgumentException("run '" + soFar.name() + "' is " + soFar.outcome().id() + "; only a run that goes on has a state to continue from");
        }
        for (int i = 0; i < soFar.epochs().size(); i++) {
            if (soFar.epochs().get(i).epoch() != i + 1) {
                throw new IllegalArgumentException("run '" + soFar.name() + "': record " + (i + 1) + " is of epoch " + soFar.epochs().get(i).epoch());
            }
        }
    }

    /** The last epoch finished; the run continues with the next. */
    public int epoch() { return soFar.epochs().size(); }
}
