"""A user's own training script calling the library (run as a separate process by the tests)."""
import math
import sys

import hpo


def train(config):
    state = hpo.get_checkpoint() or {"epoch": 0}
    for epoch in range(state["epoch"], config["max_epochs"]):
        loss = (math.log10(config["lr"]) + 2.0) ** 2 + 0.5 / (epoch + 1) + (0.05 if config["width"] == 32 else 0.0)
        hpo.report(loss=loss, epoch=epoch, checkpoint={"epoch": epoch + 1})


if __name__ == "__main__":
    res = hpo.tune(train, space={"lr": hpo.loguniform(1e-4, 1e-1), "width": hpo.choice([32, 64])},
                   metric="loss", mode="min", num_samples=8, max_epochs=5, scheduler="asha", search="tpe",
                   seed=0, storage=sys.argv[1], name="lib", num_cpus=2)
    print("BEST_CONFIG", res.best_config)
    print("BEST_METRIC", res.best_metric)
    print("N_TRIALS", len(res.trials), "N_CURVE_ROWS", len(res.curves))
