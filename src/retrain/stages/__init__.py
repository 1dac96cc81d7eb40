"""One module per DVC stage: `cli(argv) -> int` and the glue between files and the core.

The domain logic a stage runs lives in the core modules it calls (`retrain.gating`,
`retrain.metrics`, `retrain.search`, ...); the files it reads and writes are the models in
`retrain.artifacts`, written atomically through `retrain.fileio`.
"""
