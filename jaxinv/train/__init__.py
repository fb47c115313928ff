"""StyleGAN2 training in JAX (the baseline and the overparameterized generator):
:mod:`~jaxinv.train.discriminator`, :mod:`~jaxinv.train.objectives`, :mod:`~jaxinv.train.data`,
:mod:`~jaxinv.train.trainer`; configs from :mod:`~jaxinv.train.config`, run by
:mod:`jaxinv.experiments.train`."""
