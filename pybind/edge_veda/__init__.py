"""Edge Veda: TVM-compiled on-device models behind one C ABI (include/edge_veda.h).

Layers, mirroring the C library:
    edge_veda._ffi        the cffi binding of edge_veda.h (low level, C types)
    edge_veda._callbacks  the C -> Python callbacks (token, audio, memory pressure)
    edge_veda._native     NativeContext: one ev_context's lifetime and the call shapes
                          (call, call_out, call_relayed, streams)
    edge_veda._bridge     the one callback -> (async) iterator bridge
    edge_veda._base       ModelBase: what every model class shares (load, close() / `with`,
                          cancel, status, memory pressure); Status; argument checks
    edge_veda.model       Model (= TextModel): a text model (generate, stream, phonemize)
    edge_veda.speech      SpeechModel: a text-to-speech model (Audio, AudioChunk)
    edge_veda.aio         AsyncModel, AsyncSpeechModel: the twins on a worker thread, for asyncio
    edge_veda.artifact    the artifact format: write, seal, read and verify a manifest
    edge_veda.paths       where artifacts live (cache root, local build directories)
    edge_veda.resolve     a model name or directory -> an artifact directory (pull/compile)
    edge_veda.models      the model manager: catalogs, downloads, the installed models
    edge_veda.compile     the model compiler (the only module that imports `tvm`)
"""
from ._ffi import ffi as _ffi, lib as _lib
from .errors import (
    CancelledError,
    EdgeVedaError,
    InternalError,
    InvalidArgumentError,
    InvalidStateError,
    ModelInvalidError,
    ModelNotFoundError,
    OutOfMemoryError,
    RuntimeFailure,
    UnsupportedDeviceError,
    UnsupportedOperationError,
)
from ._native import runtime_version
from ._base import Status
from .model import Model, TextModel
from .speech import Audio, AudioChunk, SpeechModel, Word

ABI_VERSION = int(_lib.EV_ABI_VERSION)
__version__ = _ffi.string(_lib.ev_version()).decode()

if _lib.ev_abi_version() != ABI_VERSION:  # pragma: no cover - a broken install
    raise ImportError(
        f"libedge_veda has ABI {_lib.ev_abi_version()}, the edge_veda package expects {ABI_VERSION}; "
        "reinstall the package so both come from one build")

# The ABI minor handshake (edge_veda.h, EV_ABI_MINOR): this binding was generated from a header
# with EV_ABI_MINOR and may call everything appended up to it, so the library must be at least
# that new. A library older than minor 1 lacks ev_abi_minor itself.
ABI_MINOR = int(_lib.EV_ABI_MINOR)
try:
    _library_minor = int(_lib.ev_abi_minor())
except AttributeError:  # pragma: no cover - a broken install
    _library_minor = 0
if _library_minor < ABI_MINOR:  # pragma: no cover - a broken install
    raise ImportError(
        f"libedge_veda has ABI minor {_library_minor}, the edge_veda package needs at least {ABI_MINOR}; "
        "reinstall the package so both come from one build")


def __getattr__(name):
    # asyncio costs ~40 ms to import: only programs that use the async API pay for it.
    if name in ("AsyncModel", "AsyncSpeechModel", "MemoryEvent"):
        from . import aio

        return getattr(aio, name)
    raise AttributeError(f"module 'edge_veda' has no attribute {name!r}")


__all__ = [
    "ABI_MINOR", "ABI_VERSION", "AsyncModel", "AsyncSpeechModel", "Audio", "AudioChunk", "SpeechModel", "Word", "MemoryEvent", "CancelledError", "EdgeVedaError", "InternalError", "InvalidArgumentError",
    "InvalidStateError", "Model", "ModelInvalidError", "ModelNotFoundError", "OutOfMemoryError",
    "RuntimeFailure", "Status", "TextModel", "UnsupportedDeviceError", "UnsupportedOperationError", "runtime_version",
]
