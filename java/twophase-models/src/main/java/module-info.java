/**
 * The paper's models as layers over a flat parameter buffer ({@link dev.twophase.nn.Models}),
 * the data sets it trains on ({@link dev.twophase.data.Datasets}), and the trainer that runs
 * Adam alone or the two-phase method and records every epoch ({@link dev.twophase.train.Trainer}).
 */
module dev.twophase.models {
    requires transitive dev.twophase.core;
    requires java.net.http;

    exports dev.twophase.nn;
    exports dev.twophase.data;
    exports dev.twophase.train;
}
