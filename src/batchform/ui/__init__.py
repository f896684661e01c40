"""The web dashboard served at ``/ui``: jobs, live progress, per-object state, throughput, logs.

Built on the job service, like the API beside it; see :mod:`batchform.ui.app`.
"""
