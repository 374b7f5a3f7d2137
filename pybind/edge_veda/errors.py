"""Exceptions raised for ev_error_t codes. Each carries the code, the message and the hint."""
from __future__ import annotations

from ._ffi import ffi, lib


class EdgeVedaError(Exception):
    """Base of every error reported by libedge_veda."""

    code: int = lib.EV_ERR_INTERNAL

    def __init__(self, message: str, hint: str = "", code: int | None = None):
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        super().__init__(message + (f"\nhint: {hint}" if hint else ""))

    @property
    def code_name(self) -> str:
        return ffi.string(lib.ev_error_string(self.code)).decode()


class InvalidArgumentError(EdgeVedaError, ValueError):
    code = lib.EV_ERR_INVALID_ARGUMENT


class InvalidArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type, or an unknown keyword. Also a TypeError, as Python's own
    "unexpected keyword argument" and wrong-type errors are, so `except TypeError` still works."""


class ModelNotFoundError(EdgeVedaError, FileNotFoundError):
    code = lib.EV_ERR_MODEL_NOT_FOUND


class ModelInvalidError(EdgeVedaError):
    code = lib.EV_ERR_MODEL_INVALID


class UnsupportedDeviceError(EdgeVedaError):
    code = lib.EV_ERR_UNSUPPORTED_DEVICE


class OutOfMemoryError(EdgeVedaError, MemoryError):
    code = lib.EV_ERR_OUT_OF_MEMORY


class RuntimeFailure(EdgeVedaError):
    """The TVM runtime failed."""

    code = lib.EV_ERR_RUNTIME


class CancelledError(EdgeVedaError):
    """The call was stopped by cancel(); the model stays usable."""

    code = lib.EV_ERR_CANCELLED


class InvalidStateError(EdgeVedaError):
    code = lib.EV_ERR_INVALID_STATE


class InternalError(EdgeVedaError):
    code = lib.EV_ERR_INTERNAL


class UnsupportedOperationError(EdgeVedaError):
    """The model's kind does not support this call (Status.capabilities lists what it does)."""

    code = lib.EV_ERR_UNSUPPORTED_OPERATION


class CompilerNotInstalledError(UnsupportedOperationError, ImportError):
    """`edge-veda compile` (or a first-use compile) in an install without the compiler: the
    default install is the runtime only; the [compile] extra adds TVM (pip_extra)."""


def pip_extra(extra: str) -> str:
    """The one way hints name an extra: the command for an install from PyPI and the one for a
    source checkout (where "edge-veda[...]" would resolve from PyPI, not from the checkout)."""
    return f'pip install "edge-veda[{extra}]" (from a source checkout: pip install ".[{extra}]")'


def compiler_installed() -> bool:
    """Whether this install has the TVM compiler (the [compile] extra): the default install is
    the runtime only. Looked up without importing tvm."""
    import importlib.util

    for module in ("tvm", "tvm_ffi"):
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):  # a broken or blocked install counts as none
            return False
    return True


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgumentError, ModelNotFoundError, ModelInvalidError, UnsupportedDeviceError,
    OutOfMemoryError, RuntimeFailure, CancelledError, InvalidStateError, InternalError, UnsupportedOperationError)}


def error_from_code(code: int, ctx=ffi.NULL) -> EdgeVedaError:
    """Builds the exception for `code` from the calling thread's last error message.

    Must run on the thread that made the failing call, right after it (the message is
    thread-local in the library).
    """
    text = ffi.string(lib.ev_last_error_message(ctx)).decode("utf-8", "replace")
    prefix = ffi.string(lib.ev_error_string(code)).decode() + ": "
    if text.startswith(prefix):
        text = text[len(prefix):]
    message, _, hint = text.partition("\nhint: ")
    cls = _BY_CODE.get(code, EdgeVedaError)
    return cls(message or prefix.rstrip(": "), hint, code=code)
