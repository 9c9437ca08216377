package dev.twophase.examples.dl4j;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.ConjugateGradient;
import dev.twophase.optim.NormMeasure;
import dev.twophase.optim.Objective;
import dev.twophase.optim.SwitchRule;
import dev.twophase.optim.TwoPhase;
import dev.twophase.tensor.ParameterLayout;
import org.deeplearning4j.nn.api.OptimizationAlgorithm;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * A Deeplearning4j {@link MultiLayerNetwork} trained by twophase: DL4J computes scores and
 * gradients; twophase's Adam, then CG, update DL4J's own parameter memory. No copies: the
 * network's flattened parameters and gradients are off-heap ND4J buffers, which the CPU backend
 * wraps as {@link MemorySegment}s, so every update lands in the array the network reads.
 *
 * <p>Two things to mind: DL4J's {@code gradient()} is the gradient of the summed loss of the
 * mini-batch while {@code score()} is its mean (DL4J's updaters divide by the batch size), so Adam
 * gets {@code gradScale = 1 / batch} and the CG objective scales the full-batch gradient by
 * {@code 1 / N}; this program checks that factor against finite differences first. The switch
 * follows the paper's protocol (Adam for 30% of the epochs, then CG). For comparison the same
 * initial network is trained with DL4J's own Adam for all epochs.
 *
 * <p>Run it with {@code scripts/example-dl4j}.
 */
public final class Dl4jExample {
    static final int SAMPLES = 512, BATCH = 64, EPOCHS = 60, HIDDEN = 32;
    static final double LR = 1e-2;

    public static void main(String[] args) {
        Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
        Random random = new Random(7);
        float[][] xs = new float[SAMPLES][2], ys = new float[SAMPLES][1];
        for (int s = 0; s < SAMPLES; s++) {
            xs[s][0] = (float) (2 * random.nextDouble() - 1);
            xs[s][1] = (float) (2 * random.nextDouble() - 1);
            ys[s][0] = (float) (Math.sin(3 * xs[s][0]) * Math.cos(2 * xs[s][1]));
        }
        DataSet all = new DataSet(Nd4j.create(xs), Nd4j.create(ys));

        MultiLayerNetwork baseline = network(new Adam(LR));
        MultiLayerNetwork net = network(new NoOp());  // DL4J only computes; twophase updates
        System.out.printf("DL4J network: %d parameters, initial loss %.5f%n", net.numParams(), net.score(all, false));

        // DL4J's own Adam, same initial weights, same batches: the baseline.
        for (int epoch = 0; epoch < EPOCHS; epoch++) {
            for (int from = 0; from < SAMPLES; from += BATCH) baseline.fit(batch(all, from));
        }
        System.out.printf("DL4J Adam alone, %d epochs: loss %.5f%n", EPOCHS, baseline.score(all, false));

        try (CpuBackend cpu = new CpuBackend(2)) {
            System.out.println("twophase backend " + cpu.description());
            // DL4J's own memory, wrapped: updates by twophase are what the network reads next.
            Buffer params = wrap(cpu, net.params());
            net.setInput(all.getFeatures());
            net.setLabels(all.getLabels());
            net.computeGradientAndScore();
            Buffer grads = wrap(cpu, net.gradient().gradient());

            checkGradientScale(cpu, net, all, params, grads);

            ParameterLayout layout = ParameterLayout.single(net.numParams());
            Objective fullBatch = new Objective() {
                @Override public double value(Buffer p) {
                    requireParams(p, params);
                    return net.score(all, false);
                }

                @Override public double valueAndGradient(Buffer p, Buffer gradient) {
                    requireParams(p, params);
                    net.setInput(all.getFeatures());
                    net.setLabels(all.getLabels());
                    net.computeGradientAndScore();
                    cpu.fill(gradient, 0f);
                    cpu.axpy(1f / SAMPLES, grads, gradient);  // DL4J's sum -> the gradient of its mean score
                    return net.score();
                }
            };
            try (TwoPhase opt = new TwoPhase(cpu, layout, AdamConfig.adam().withLr(LR), CgConfig.defaults(),
                                             SwitchRule.atEpoch(EPOCHS * 3 / 10), NormMeasure.MINIBATCH_MEAN)) {
                int epoch = 0;
                while (epoch < EPOCHS && opt.phase() != TwoPhase.Phase.DONE) {
                    epoch++;
                    if (opt.phase() == TwoPhase.Phase.ADAM) {
                        for (int from = 0; from < SAMPLES; from += BATCH) {
                            DataSet b = batch(all, from);
                            net.setInput(b.getFeatures());
                            net.setLabels(b.getLabels());
                            net.computeGradientAndScore();                       // fills DL4J's gradient view
                            opt.adamStep(params, grads, 1.0 / b.numExamples());  // sum -> mean
                        }
                        TwoPhase.AdamEpochEnd end = opt.endAdamEpoch(fullBatch, params);
                        if (end.switched() || epoch % 10 == 0) {
                            System.out.printf("epoch %2d  adam  loss %.5f%s%n", epoch, net.score(all, false),
                                    end.switched() ? "  -> CG from the next epoch" : "");
                        }
                    } else {
                        ConjugateGradient.Iteration it = opt.cgIteration(fullBatch, params);
                        if (epoch % 5 == 0) System.out.printf("epoch %2d  cg    loss %.5f  gradient norm %.4f%n", epoch, it.loss(), it.gradientNorm());
                    }
                }
                System.out.printf("twophase (Adam, then CG after epoch %s), %d epochs: loss %.5f; DL4J Adam alone: %.5f%n",
                        opt.switchEpoch(), epoch, net.score(all, false), baseline.score(all, false));
            }
        }
    }

    static MultiLayerNetwork network(IUpdater updater) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(1).dataType(DataType.FLOAT).weightInit(WeightInit.XAVIER).updater(updater)
                .optimizationAlgo(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT)
                .list()
                .layer(new DenseLayer.Builder().nIn(2).nOut(HIDDEN).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(HIDDEN).nOut(1).activation(Activation.IDENTITY).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    static DataSet batch(DataSet all, int from) {
        int to = Math.min(SAMPLES, from + BATCH);
        return new DataSet(all.getFeatures().get(NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup(),
                all.getLabels().get(NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup());
    }

    /** A CPU-backend buffer over an ND4J array's off-heap floats, without a copy. */
    static Buffer wrap(CpuBackend cpu, INDArray a) {
        if (a.dataType() != DataType.FLOAT || a.elementWiseStride() != 1 || a.isEmpty()) {
            throw new IllegalArgumentException("need a contiguous float array; got " + a.dataType() + " with element stride " + a.elementWiseStride());
        }
        long address = a.data().address() + a.offset() * Float.BYTES;
        return cpu.wrap(MemorySegment.ofAddress(address).reinterpret(a.length() * Float.BYTES));
    }

    /**
     * DL4J's gradient is of the summed loss: checks that the full-batch gradient divided by N is
     * the slope of score() along a random direction (central finite difference).
     */
    static void checkGradientScale(CpuBackend cpu, MultiLayerNetwork net, DataSet all, Buffer params, Buffer grads) {
        long n = params.length();
        float[] dir = new float[(int) n];
        Random r = new Random(3);
        for (int i = 0; i < dir.length; i++) dir[i] = (float) r.nextGaussian();
        Buffer d = cpu.wrap(dir);
        double[] gd = new double[1];
        cpu.multiDot(grads, new Buffer[]{d}, gd);
        float h = 1e-3f;
        cpu.axpy(h, d, params);
        double plus = net.score(all, false);
        cpu.axpy(-2 * h, d, params);
        double minus = net.score(all, false);
        cpu.axpy(h, d, params);
        double slope = (plus - minus) / (2 * h);
        System.out.printf("gradient check: slope of score() %.6g, DL4J gradient . d %.6g, ratio %.1f (N = %d)%n", slope, gd[0], gd[0] / slope, SAMPLES);
        if (Math.abs(gd[0] / slope / SAMPLES - 1) > 0.05) throw new IllegalStateException("DL4J's gradient is not N times the slope of its score");
    }

    static void requireParams(Buffer p, Buffer params) {
        if (p != params) throw new IllegalArgumentException("this objective evaluates the network's own parameters; got " + p);
    }
}
