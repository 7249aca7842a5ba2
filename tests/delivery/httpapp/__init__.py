"""A tiny Django app that registers the ``http`` test messenger in worker processes."""
