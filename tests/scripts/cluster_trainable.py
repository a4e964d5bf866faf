"""Trainable for the two-node cluster test: records which Ray node ran each trial."""
import os
import time
import uuid

import hpo


def train(config):
    import ray

    node = ray.get_runtime_context().get_node_id()
    with open(os.path.join(config["out_dir"], f"{uuid.uuid4().hex}.node"), "w") as fh:
        fh.write(node)
    for epoch in range(config["max_epochs"]):
        time.sleep(config["sleep"])
        hpo.report(loss=float(config["x"]) ** 2 + 1.0 / (epoch + 1))
