package dev.twophase.examples;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.NormMeasure;
import dev.twophase.optim.Objective;
import dev.twophase.optim.SwitchRule;
import dev.twophase.optim.TwoPhase;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Random;

/**
 * twophase inside a trainer of your own: {@link Mlp} keeps its weights and gradient in float
 * arrays; the CPU backend wraps them without copying, so Adam and CG update the very array the
 * network reads. Adam runs step by step on mini-batch gradients the network computes; once the
 * switch rule fires, CG runs through an {@link Objective} (the full-batch loss). Prints one line
 * per epoch; with a file argument, saves the optimizer state there at the end.
 *
 * <pre>
 * java --enable-native-access=dev.twophase.core -p twophase-core.jar:twophase-examples.jar \
 *      -m dev.twophase.examples/dev.twophase.examples.EmbeddingExample [state-file]
 * </pre>
 */
public final class EmbeddingExample {
    private EmbeddingExample() { }

    /** What a run reached: the loss before training, when CG took over, and at the end. */
    public record Result(String backend, double initialLoss, Integer switchEpoch, double lossAtSwitch, double finalLoss, int epochs) { }

    static final int SAMPLES = 512, BATCH = 64, EPOCHS = 60;

    public static void main(String[] args) throws IOException {
        Result r = run(2, args.length > 0 ? Path.of(args[0]) : null, System.out);
        System.out.printf("loss %.5f at the start, %.5f when CG took over after epoch %s, %.5f after %d epochs%n",
                r.initialLoss(), r.lossAtSwitch(), r.switchEpoch(), r.finalLoss(), r.epochs());
    }

    public static Result run(int threads, Path stateFile, PrintStream log) throws IOException {
        // The data: y = sin(3 x0) cos(2 x1) on 512 points of [-1, 1]^2.
        Random random = new Random(7);
        float[][] x = new float[SAMPLES][2], y = new float[SAMPLES][1];
        for (int s = 0; s < SAMPLES; s++) {
            x[s][0] = (float) (2 * random.nextDouble() - 1);
            x[s][1] = (float) (2 * random.nextDouble() - 1);
            y[s][0] = (float) (Math.sin(3 * x[s][0]) * Math.cos(2 * x[s][1]));
        }
        Mlp net = new Mlp(2, 32, 1);
        float[] weights = net.initialWeights(1), grads = new float[net.parameterCount()], fullGrad = new float[net.parameterCount()];
        double initial = net.loss(weights, x, y, 0, SAMPLES, null);

        try (CpuBackend cpu = new CpuBackend(threads);
             TwoPhase opt = new TwoPhase(cpu, net.layout(), AdamConfig.adam().withLr(1e-2), CgConfig.defaults(),
                                         SwitchRule.risePeak(0.9, 0), NormMeasure.MINIBATCH_MEAN)) {
            log.println("backend " + cpu.description());
            Buffer w = cpu.wrap(weights), g = cpu.wrap(grads);  // no copies: the optimizer writes into `weights`
            // CG's line search evaluates the loss at the buffer it moves, the one given to
            // cgIteration: our wrapped weights, so the network reads its own array. Only the
            // gradient goes into CG's own buffer.
            Objective fullBatch = new Objective() {
                @Override public double value(Buffer params) {
                    requireWeights(params, w);
                    return net.loss(weights, x, y, 0, SAMPLES, null);
                }

                @Override public double valueAndGradient(Buffer params, Buffer gradient) {
                    requireWeights(params, w);
                    double loss = net.loss(weights, x, y, 0, SAMPLES, fullGrad);
                    cpu.upload(fullGrad, gradient);
                    return loss;
                }
            };
            double lossAtSwitch = Double.NaN;
            int epoch = 0;
            while (epoch < EPOCHS && opt.phase() != TwoPhase.Phase.DONE) {
                epoch++;
                if (opt.phase() == TwoPhase.Phase.ADAM) {
                    for (int from = 0; from < SAMPLES; from += BATCH) {
                        net.loss(weights, x, y, from, Math.min(SAMPLES, from + BATCH), grads);  // your forward/backward
                        opt.adamStep(w, g);                                                   // fused Adam on your arrays
                    }
                    TwoPhase.AdamEpochEnd end = opt.endAdamEpoch(fullBatch, w);  // the switch rule sees this epoch's norm
                    double loss = net.loss(weights, x, y, 0, SAMPLES, null);
                    if (end.switched()) lossAtSwitch = loss;
                    log.printf("epoch %2d  adam  loss %.5f  gradient norm %.4f%s%n", epoch, loss,
                            end.gradientNorm(), end.switched() ? "  -> CG from the next epoch" : "");
                } else {
                    var it = opt.cgIteration(fullBatch, w);  // one line search and one gradient
                    log.printf("epoch %2d  cg    loss %.5f  gradient norm %.4f  step %.3g  (%d evaluations)%n", epoch, it.loss(),
                            it.gradientNorm(), it.alpha(), it.evaluations());
                }
            }
            if (stateFile != null) {
                opt.state().write(stateFile);
                log.println("optimizer state written to " + stateFile);
            }
            return new Result(cpu.description(), initial, opt.switchEpoch(), lossAtSwitch, net.loss(weights, x, y, 0, SAMPLES, null), epoch);
        }
    }

    private static void requireWeights(Buffer params, Buffer weights) {
        if (params != weights) throw new IllegalArgumentException("this objective evaluates the network's own weights; got " + params);
    }
}
