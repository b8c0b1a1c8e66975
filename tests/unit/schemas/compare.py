"""Exact tensor comparison for codec tests (Tensor has no __eq__: it holds numpy arrays)."""

from __future__ import annotations

from typing import Any

import numpy as np

from schemas.tensors import Tensor


def assert_same_array(got: np.ndarray[Any, Any], want: np.ndarray[Any, Any]) -> None:
    """Same dtype, shape and elements; floats bit for bit except that any NaN matches any NaN."""
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    if got.dtype.kind == "f":
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan)
        bits = f"u{got.dtype.itemsize}"
        assert np.array_equal(got[~nan].view(bits), want[~nan].view(bits))
    else:
        assert got.tolist() == want.tolist()


def assert_same_tensor(got: Tensor, want: Tensor) -> None:
    """Same name, datatype, shape, parameters and data."""
    assert (got.name, got.datatype, got.shape) == (want.name, want.datatype, want.shape)
    assert (got.parameters or None) == (want.parameters or None)
    assert_same_array(got.data, want.data)
