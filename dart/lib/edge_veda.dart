/// Edge Veda for Dart and Flutter: on-device models (g2p-en, Kokoro-82M) through libedge_veda's
/// C ABI (include/edge_veda.h), on dart:ffi alone.
///
/// Rules this package follows (the header's, applied to Dart):
/// * Ownership: what libedge_veda allocates, libedge_veda frees (ev_*_free); what Dart
///   allocates, Dart frees, in `finally`. Results are copied into Dart objects first.
/// * No blocking native call on the caller's isolate: each model has one long-lived worker
///   isolate that owns its context; only ev_cancel and ev_status (which never wait) are
///   called from the caller's isolate.
/// * Callbacks whose arguments point at borrowed memory (tokens, audio chunks) run
///   synchronously on the worker, inside the call, and copy; only the memory-pressure callback
///   (values only) is a NativeCallable.listener, closed after ev_free has returned.
library edge_veda;

export 'src/ffi/bindings.dart' show EV_ABI_VERSION, EV_ABI_MINOR, EV_ERR_CANCELLED, EV_ERR_INVALID_ARGUMENT,
    EV_ERR_INVALID_STATE, EV_ERR_MODEL_INVALID, EV_ERR_MODEL_NOT_FOUND, EV_ERR_OUT_OF_MEMORY, EV_ERR_RUNTIME,
    EV_ERR_UNSUPPORTED_OPERATION, EV_ERR_INTERNAL;
export 'src/models.dart' show EdgeVeda, Speech, ModelHost;
export 'src/types.dart';
