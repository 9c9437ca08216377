package dev.twophase.train;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.Transfers;
import dev.twophase.data.Dataset;
import dev.twophase.nn.Loss;
import dev.twophase.nn.Network;
import dev.twophase.nn.NetworkRunner;
import dev.twophase.optim.ConjugateGradient;
import dev.twophase.optim.NonFiniteException;
import dev.twophase.optim.SwitchRule;
import dev.twophase.optim.TwoPhase;

/**
 * Trains a network with {@link TwoPhase} under one switch rule and records every epoch. Runs that
 * share a seed start from the same weights and see the same mini-batch order, so they differ only
 * in the optimizer.
 */
public final class Trainer {
    /** Rows per chunk when the full training set goes through the network (CG, evaluation). */
    static final int FULL_BATCH_CHUNK = 2048;

    /**
     * The rows a training run's network runner holds: one runner serves the mini-batches and the
     * chunks of full-batch passes.
     */
    public static int runnerRows(int batchSize, int trainingSamples) {
        return Math.max(batchSize, Math.min(trainingSamples, FULL_BATCH_CHUNK));
    }

    private final Backend be;
    private final TrainSettings settings;
    private volatile boolean stopRequested;

    public Trainer(Backend be, TrainSettings settings) {
        this.be = be;
        this.settings = settings;
    }

    /** Asks a running {@link #run} to stop after the current epoch (used by the Ctrl-C handler). */
    public void requestStop() { stopRequested = true; }

    public boolean stopRequested() { return stopRequested; }

    /** Loss and accuracy of the network on a data set. */
    public record Evaluation(double loss, double accuracy) { }

    /**
     * Trains {@code net} from its initial weights under {@code rule} for the settings' epochs, or
     * until CG converges, the run diverges (see {@link TrainSettings}), or a stop is requested; the
     * result says which ({@link RunResult.Outcome}).
     */
    public RunResult run(String name, SwitchRule rule, Network net, Dataset train, Dataset val, Progress progress) {
        return run(name, rule, net, train, val, progress, null, EpochHook.none());
    }

    /**
     * {@link #run(String, SwitchRule, Network, Dataset, Dataset, Progress)} that continues from
     * {@code from} (a state that {@code hook} received from a run with the same settings, rule,
     * network and data; null: start at the initial weights), bit for bit as if it had never
     * stopped, and shows {@code hook} every epoch after which the run goes on.
     */
    public RunResult run(String name, SwitchRule rule, Network net, Dataset train, Dataset val, Progress progress, RunState from, EpochHook hook) {
        int chunk = runnerRows(settings.batchSize(), train.size());
        try (DeviceData trainData = new DeviceData(be, train);
             DeviceData valData = new DeviceData(be, val);
             NetworkRunner runner = new NetworkRunner(net, be, chunk);
             Buffer params = be.allocate(net.layout().size());
             Buffer grads = be.allocate(net.layout().size());
             AdamEpochs adamEpochs = new AdamEpochs(be, runner, trainData, settings.loss(), settings.batchSize());
             TwoPhase opt = new TwoPhase(be, net.layout(), settings.adam(), settings.cg(), rule, settings.normMeasure())) {
            ModelObjective objective = new ModelObjective(runner, trainData, settings.loss());
            java.util.List<EpochRecord> records = new java.util.ArrayList<>();
            double initialLoss, seconds;
            if (from == null) {
                be.upload(net.initialParameters(settings.seed()), 0, params);
                initialLoss = evaluate(runner, trainData, params).loss();
                seconds = 0;
            } else {
                restore(from, name, rule, net, params, opt, objective);
                records.addAll(from.soFar().epochs());
                initialLoss = from.initialLoss();
                seconds = from.seconds();
            }
            String diverged = Double.isFinite(initialLoss) ? null : "the training loss at the initial weights is " + initialLoss;
            boolean stop = stopRequested;
            for (int epoch = records.size() + 1; diverged == null && epoch <= settings.epochs() && opt.phase() != TwoPhase.Phase.DONE && !stop; epoch++) {
                long t0 = System.nanoTime();
                Transfers before = be.transfers();
                String phase = opt.phase() == TwoPhase.Phase.ADAM ? (opt.fellBackToAdam() ? "adam*" : "adam") : "cg";
                double gradNorm;
                String nonFinite = null;
                try {
                    if (opt.phase() == TwoPhase.Phase.ADAM) {
                        adamEpochs.epoch(settings.seed() * 1_000_003L + epoch, params, grads, (p, g, rows) -> {
                            opt.adamStep(p, g);
                            objective.addCompute((double) rows / train.size());
                        });
                        gradNorm = opt.endAdamEpoch(objective, params).gradientNorm();
                    } else {
                        ConjugateGradient.Iteration it = opt.cgIteration(objective, params);
                        gradNorm = it.gradientNorm();
                    }
                } catch (NonFiniteException e) {
                    // The switch rule or CG refuses a non-finite norm, loss or gradient: the run has diverged.
                    gradNorm = e.quantity().equals("loss") ? Double.NaN : e.value();
                    nonFinite = "the " + e.getMessage();
                }
                be.synchronize();
                seconds += (System.nanoTime() - t0) / 1e9;
                Evaluation tr = evaluate(runner, trainData, params), va = evaluate(runner, valData, params);
                Transfers moved = be.transfers().minus(before);
                EpochRecord r = new EpochRecord(epoch, phase, tr.loss(), tr.accuracy(), va.loss(), va.accuracy(), gradNorm, objective.compute(), seconds,
                        moved.hostToDeviceBytes(), moved.deviceToHostBytes());
                records.add(r);
                progress.epoch(name, r, settings.epochs());
                diverged = nonFinite != null ? nonFinite : divergence(tr.loss(), gradNorm, initialLoss, settings.divergenceFactor());
                stop = stopRequested; // read once, so that a run stopping here is always shown to the hook
                if (diverged == null && epoch < settings.epochs() && opt.phase() != TwoPhase.Phase.DONE) {
                    double loss0 = initialLoss, elapsed = seconds;
                    hook.afterEpoch(epoch, stop, () -> {
                        float[] host = new float[Math.toIntExact(params.length())];
                        be.download(params, host);
                        return new RunState(result(name, rule, opt, records, null), host, opt.state(), objective.compute(), loss0, elapsed);
                    });
                }
            }
            return result(name, rule, opt, records, diverged);
        }
    }

    /** Puts a saved run back: parameters, optimizer state, compute; refuses a state of another run or model. */
    private void restore(RunState from, String name, SwitchRule rule, Network net, Buffer params, TwoPhase opt, ModelObjective objective) {
        if (!from.soFar().name().equals(name) || !from.soFar().switchRule().equals(rule.describe())) {
            throw new IllegalArgumentException("the saved state is of run '" + from.soFar().name() + "' (" + from.soFar().switchRule() + "), not of '"
                    + name + "' (" + rule.describe() + ")");
        }
        if (from.parameters().length != net.layout().size()) {
            throw new IllegalArgumentException("the saved state of run '" + name + "' has " + from.parameters().length + " parameters; the model has "
                    + net.layout().size());
        }
        be.upload(from.parameters(), params);
        opt.load(from.optimizer());
        objective.addCompute(from.compute());
    }

    /** The run's result: diverged, converged (CG done early), interrupted (stopped early) or completed. */
    private RunResult result(String name, SwitchRule rule, TwoPhase opt, java.util.List<EpochRecord> records, String diverged) {
        int done = records.size();
        RunResult.Outcome outcome;
        String reason;
        if (diverged != null) {
            outcome = RunResult.Outcome.DIVERGED;
            reason = diverged;
        } else if (opt.phase() == TwoPhase.Phase.DONE && done < settings.epochs()) {
            outcome = RunResult.Outcome.CONVERGED;
            reason = "CG met its gradient test (" + settings.cg().stop().describeGradientTest() + ") after epoch " + done;
        } else if (done < settings.epochs()) {
            outcome = RunResult.Outcome.INTERRUPTED;
            reason = "stopped on request after epoch " + done + " of " + settings.epochs();
        } else {
            outcome = RunResult.Outcome.COMPLETED;
            reason = null;
        }
        return new RunResult(name, rule.describe(), opt.switchEpoch(), records, opt.adam().skippedCount(), opt.fellBackToAdam(), outcome, reason);
    }

    /**
     * Why an epoch that ended with {@code trainLoss} and {@code gradNorm} counts as diverged, or null
     * when it does not: a non-finite loss or norm, or a loss above {@code factor} times the loss at
     * the initial weights.
     */
    static String divergence(double trainLoss, double gradNorm, double initialLoss, double factor) {
        if (!Double.isFinite(trainLoss)) return "the training loss is " + trainLoss;
        if (!Double.isFinite(gradNorm)) return "the gradient norm is " + gradNorm;
        if (trainLoss > factor * initialLoss) {
            return String.format(java.util.Locale.ROOT, "the training loss %.4g is above %.4g times the loss at the initial weights (%.4g)",
                    trainLoss, factor, initialLoss);
        }
        return null;
    }

    /**
     * The gradient of the mean loss over one mini-batch of {@code rows} rows into {@code grads}
     * (overwritten): the step every Adam iteration takes ({@link AdamEpochs}), and what {@code throughput} times.
     */
    public static void batchGradient(Backend be, NetworkRunner runner, Loss loss, Buffer params, Buffer grads,
                                     Buffer x, Buffer y, int rows, int classes) {
        be.fill(grads, 0f);
        Buffer out = runner.forward(params, x, rows);
        loss.sum(be, out, y, classes, (float) (1 / loss.normalizer(rows, classes)), runner.outputGradient(rows));
        runner.backward(params, grads, x, rows);
    }

    /**
     * Mean loss and accuracy over a data set (forward passes only; not counted as training
     * compute). Both are computed on the backend; only the two scalars of each chunk come back.
     */
    public Evaluation evaluate(NetworkRunner runner, DeviceData data, Buffer params) {
        int n = data.size(), chunk = runner.maxBatch(), classes = data.classes();
        double lossSum = 0;
        long correct = 0;
        for (int first = 0; first < n; first += chunk) {
            int rows = Math.min(chunk, n - first);
            Buffer o = runner.forward(params, data.inputRows(first, rows), rows);
            lossSum += settings.loss().sum(be, o, data.targetRows(first, rows), classes, 0f, null);
            correct += be.countCorrect(o, classes, data.labelRows(first, rows));
        }
        return new Evaluation(lossSum / settings.loss().normalizer(n, classes), (double) correct / n);
    }
}
