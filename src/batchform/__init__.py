"""batchform: a self-hosted implementation of Amazon SageMaker Batch Transform."""

__version__ = "0.1.0"
