"""C -> Python callbacks (cffi `extern "Python"`, declared in the generated cdef).

C passes back the `void* user_data` it was given: a cffi handle to a Python callable. Whoever
registers a callback keeps that handle alive until the C side can no longer call it (after
ev_set_memory_pressure_callback(ctx, NULL, NULL), after ev_free, or when the streaming call
returns).
"""
import sys

from ._ffi import ffi, lib


def _report(exc_type, exc, tb):
    # An exception must not unwind into C; print it like an unraisable exception instead.
    sys.unraisablehook(type("UnraisableHookArgs", (), {
        "exc_type": exc_type, "exc_value": exc, "exc_traceback": tb,
        "err_msg": "Exception in an edge_veda callback", "object": None})())


@ffi.def_extern(onerror=_report)
def _ev_py_token_callback(user_data, token, token_id):
    ffi.from_handle(user_data)(ffi.string(token).decode("utf-8"), token_id)


@ffi.def_extern(onerror=_report)
def _ev_py_memory_callback(user_data, current_bytes, limit_bytes):
    ffi.from_handle(user_data)(int(current_bytes), int(limit_bytes))


TOKEN_CALLBACK = lib._ev_py_token_callback
MEMORY_CALLBACK = lib._ev_py_memory_callback
