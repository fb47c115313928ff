"""What the command-line programs share: the ``--config`` flag (a file in ``configs/`` with
``--config.KEY=VALUE`` overrides), and one-line errors for a command line that cannot be parsed
or a config file that cannot be loaded (exit status 2), never a traceback."""

from __future__ import annotations

import os
import sys

from ml_collections import config_flags

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs")


def config_names() -> list[str]:
    return sorted(f for f in os.listdir(CONFIGS) if f.endswith(".py")) if os.path.isdir(
        CONFIGS) else []


CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file in configs/ (" + ", ".join(config_names())
    + "); override any key with --config.KEY=VALUE (every key is documented in the config's "
    "builder: jaxinv/experiments/config_base.py, each method's in its Settings class, and "
    "jaxinv/train/config.py for training).", lock_config=True)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def loaded_config():
    """The ``--config`` given, loaded; None (with the error logged) when it is missing or its
    file cannot be loaded."""
    config = CONFIG.value
    if config is None:
        log("error: --config=configs/<name>.py is required (see --help)")
        return None
    try:
        config.output_dir  # the config file is loaded lazily: a missing one fails here
    except OSError as e:
        log(f"error: {flag_error(e, sys.argv)}")
        return None
    return config


def main(run, errors: tuple = ()) -> int:
    """A program's body: loads ``--config``, returns ``run(config)`` (the exit status); a
    CheckpointError or one of ``errors`` (each naming the key or file) is one ``error:`` line
    and exit status 2."""
    from absl import logging

    from jaxinv.io.checkpoints import CheckpointError

    logging.set_verbosity(logging.WARNING)  # JAX logs its backend search at INFO under absl
    config = loaded_config()
    if config is None:
        return 2
    try:
        return run(config)
    except (CheckpointError, *errors) as e:
        log(f"error: {e}")
        return 2


def flag_error(error: Exception, argv) -> str:
    """One line for a command line that cannot be parsed: a missing config file, a key the
    config does not have (with the suggestion), or a value of the wrong type."""
    chain, e = [], error
    while e is not None:
        chain.append(e)
        e = e.__cause__ or e.__context__
    config_arg = next((a for a in argv if a.startswith("--config=")), "--config")
    if any(isinstance(e, OSError) and "Failed loading config file" in str(e) for e in chain):
        return (f"{config_arg}: the config file does not exist or cannot be loaded; the "
                f"configs are {', '.join(config_names())}")
    missing = [e for e in chain if type(e) is KeyError]
    if missing:
        key = str(missing[-1].args[0]).strip("'")
        given = next((a.split("=")[0] for a in argv if a.startswith("--config.")
                      and a.split("=")[0].endswith("." + key)), f"--config...{key}")
        hint = next((str(e) for e in chain if "Did you mean" in str(e)), "")
        suggestion = hint[hint.index("Did you mean"):].split("?")[0] + "? " if hint else ""
        return (f"{given}: the config has no key {key!r}; {suggestion}Every key is documented "
                f"in the config's builder (see --help)")
    return str(chain[0]).strip().splitlines()[0]


def parse_flags(argv):
    """absl's flag parser with ``--help`` to stdout and one ``error:`` line (exit 2) for a
    command line that cannot be parsed."""
    from absl import flags

    if any(a in ("-h", "--help", "-?", "--helpshort", "--helpfull") for a in argv[1:]):
        print((sys.modules["__main__"].__doc__ or "").strip() + "\n")
        print(flags.FLAGS.module_help(__name__))
        sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except Exception as e:  # absl wraps every parse failure differently
        log(f"error: {flag_error(e, argv)}")
        sys.exit(2)
