"""botocore's service models load once per process, however many requests arrive together."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter (the models are cached per process): 20 threads validate the same
# operation at once and count how often botocore loads the SageMaker model.
PROGRAM = """
import threading, botocore.session
loads = []
original = botocore.session.Session.get_service_model
def counted(self, *args, **kwargs):
    loads.append(args)
    return original(self, *args, **kwargs)
botocore.session.Session.get_service_model = counted
from batchform.api.validation import validate_request
barrier = threading.Barrier(20)
def call():
    barrier.wait(timeout=30)
    validate_request("ListModels", {"MaxResults": 100})
threads = [threading.Thread(target=call) for _ in range(20)]
for thread in threads: thread.start()
for thread in threads: thread.join(timeout=60)
print(len(loads))
"""


def test_requests_arriving_together_load_the_service_model_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "1"
