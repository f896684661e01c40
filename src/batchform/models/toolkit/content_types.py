"""MIME types known to sagemaker-inference-toolkit, under the toolkit's own names."""

from __future__ import annotations

JSON = "application/json"
CSV = "text/csv"
OCTET_STREAM = "application/octet-stream"
ANY = "*/*"
NPY = "application/x-npy"
NPZ = "application/x-npz"

# Bodies of these exact types reach input_fn as str (decoded as UTF-8), others as bytes.
UTF8_TYPES = [JSON, CSV]
