"""Train a generator: the command-line runner of :mod:`jaxinv.train.trainer`.

    python -m jaxinv.experiments.train --config=configs/train_stylegan2.py[:overparam] \
        [--config.KEY=VALUE ...]

Exit status: 0 when the run finished, 1 when a loss became non-finite (the last checkpoint is
kept), 2 for a config, data or checkpoint error (one line on stderr). Re-running the same
command resumes from the last checkpoint; a larger ``--config.steps`` extends a finished run.
"""

from __future__ import annotations

import sys

from absl import app, logging

from jaxinv.experiments import cli


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax reports every save at INFO
    config = cli.loaded_config()
    if config is None:
        return 2
    from jaxinv.io.checkpoints import CheckpointError
    from jaxinv.train.trainer import TrainError, train

    try:
        return train(config)
    except (TrainError, CheckpointError) as e:
        cli.log(f"error: {e}")
        return 2


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=cli.parse_flags)
