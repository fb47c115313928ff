"""Inversion methods. Each builds a :class:`~jaxinv.methods.problem.Problem` (variables, how they
render an image, penalties, projections, learning rates) that the engine optimises."""
