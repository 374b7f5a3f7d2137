/// Edge Veda for Dart and Flutter: the hand-written layer over the generated bindings.
///
/// Rules this file follows (they are the C header's rules, applied to Dart):
/// * Ownership: what libedge_veda allocates, libedge_veda frees (ev_free_string, ev_free);
///   what Dart allocates (calloc), Dart frees, in `finally`.
/// * No blocking native call on the UI isolate: every ev_init / ev_generate runs on one
///   long-lived worker isolate that owns the context (a Pointer cannot cross isolates).
/// * The memory-pressure callback is a NativeCallable.listener: libedge_veda may call it from
///   any native thread; Dart runs it on this isolate's event loop. It is closed only after
///   ev_set_memory_pressure_callback(ctx, nullptr, nullptr) or ev_free has returned.
library edge_veda;

import 'dart:async';
import 'dart:ffi';
import 'dart:io';
import 'dart:isolate';

import 'package:ffi/ffi.dart';

import 'src/ffi/bindings.dart';

export 'src/ffi/bindings.dart' show EV_ABI_VERSION, EV_ABI_MINOR;

DynamicLibrary _open() {
  if (Platform.isIOS) return DynamicLibrary.process(); // statically linked into the app
  if (Platform.isMacOS) return DynamicLibrary.open('libedge_veda.dylib');
  if (Platform.isWindows) return DynamicLibrary.open('edge_veda.dll');
  return DynamicLibrary.open('libedge_veda.so');
}

/// The ABI handshake (docs/abi.md): the library must have this package's EV_ABI_VERSION and at
/// least its EV_ABI_MINOR. A library of minor 0 has no `ev_abi_minor` symbol, so it is looked up
/// with providesSymbol before the (lazily bound) binding is called. Returns null when compatible.
String? _abiMismatch(DynamicLibrary lib, EdgeVedaBindings ev) {
  final version = ev.ev_abi_version();
  if (version != EV_ABI_VERSION) {
    return 'libedge_veda has ABI $version, this package needs $EV_ABI_VERSION\n'
        'hint: ship the libedge_veda built from the same release as this package';
  }
  final minor = lib.providesSymbol('ev_abi_minor') ? ev.ev_abi_minor() : 0;
  if (minor < EV_ABI_MINOR) {
    return 'libedge_veda has ABI minor $minor, this package needs at least $EV_ABI_MINOR\n'
        'hint: ship a libedge_veda at least as new as this package';
  }
  return null;
}

class EdgeVedaException implements Exception {
  EdgeVedaException(this.code, this.message);
  final int code;
  final String message; // ends with a "hint: ..." line
  @override
  String toString() => 'EdgeVedaException($code): $message';
}

/// A memory-pressure event: the context's tracked bytes and its configured limit.
class MemoryPressureEvent {
  MemoryPressureEvent(this.currentBytes, this.limitBytes);
  final int currentBytes;
  final int limitBytes;
}

// --- the worker isolate ---------------------------------------------------------------------

sealed class _Request {}

class _Generate extends _Request {
  _Generate(this.id, this.prompt);
  final int id;
  final String prompt;
}

class _Close extends _Request {}

void _worker((SendPort, String, int, int) args) {
  final (replies, modelPath, numThreads, callbackAddress) = args;
  final lib = _open();
  final ev = EdgeVedaBindings(lib);
  final abiProblem = _abiMismatch(lib, ev);
  if (abiProblem != null) {
    replies.send(EdgeVedaException(EV_ERR_INVALID_STATE, abiProblem));
    return;
  }
  final inbox = ReceivePort();
  final config = calloc<ev_config>();
  final path = modelPath.toNativeUtf8();
  final err = calloc<Int32>();
  late final ev_context ctx;
  try {
    config.ref = ev.ev_config_default();
    config.ref.model_path = path;
    config.ref.num_threads = numThreads;
    ctx = ev.ev_init(config, err);
    if (ctx == nullptr) {
      replies.send(EdgeVedaException(err.value, ev.ev_last_error_message(nullptr).toDartString()));
      return;
    }
  } finally {
    calloc.free(config); // the library copied what it keeps
    calloc.free(path);
    calloc.free(err);
  }
  if (callbackAddress != 0) {
    ev.ev_set_memory_pressure_callback(
        ctx, Pointer<NativeFunction<ev_memory_pressure_callbackFunction>>.fromAddress(callbackAddress), nullptr);
  }
  replies.send(inbox.sendPort);
  inbox.listen((message) {
    if (message is _Generate) {
      final prompt = message.prompt.toNativeUtf8();
      final out = calloc<Pointer<Utf8>>();
      try {
        final rc = ev.ev_generate(ctx, prompt, nullptr, out);
        replies.send(rc == EV_OK
            ? (message.id, out.value.toDartString())
            : (message.id, EdgeVedaException(rc, ev.ev_last_error_message(ctx).toDartString())));
      } finally {
        ev.ev_free_string(out.value); // accepts NULL
        calloc.free(out);
        calloc.free(prompt);
      }
    } else if (message is _Close) {
      ev.ev_set_memory_pressure_callback(ctx, nullptr, nullptr);
      ev.ev_free(ctx); // after this returns the callback never fires again
      replies.send(const _Closed());
      inbox.close();
    }
  });
}

class _Closed {
  const _Closed();
}

/// One loaded model on its own long-lived worker isolate.
class EdgeVeda {
  EdgeVeda._(this._requests, this._replies, this._callback, this._events);

  final SendPort _requests;
  final ReceivePort _replies;
  final NativeCallable<ev_memory_pressure_callbackFunction> _callback;
  final StreamController<MemoryPressureEvent> _events;
  final Map<int, Completer<String>> _pending = {};
  final Completer<void> _closed = Completer<void>();
  int _nextId = 0;

  /// Memory-pressure events, delivered on this isolate's event loop.
  Stream<MemoryPressureEvent> get memoryEvents => _events.stream;

  static Future<EdgeVeda> load(String artifactDir, {int numThreads = 0}) async {
    final events = StreamController<MemoryPressureEvent>.broadcast();
    final callback = NativeCallable<ev_memory_pressure_callbackFunction>.listener(
        (Pointer<Void> _, int current, int limit) => events.add(MemoryPressureEvent(current, limit)));
    final replies = ReceivePort();
    await Isolate.spawn(_worker, (replies.sendPort, artifactDir, numThreads, callback.nativeFunction.address));
    final queue = StreamIterator(replies);
    await queue.moveNext();
    final first = queue.current;
    if (first is EdgeVedaException) {
      callback.close();
      replies.close();
      throw first;
    }
    final model = EdgeVeda._(first as SendPort, replies, callback, events);
    () async {
      while (await queue.moveNext()) {
        model._onReply(queue.current);
      }
    }();
    return model;
  }

  void _onReply(Object? message) {
    if (message is (int, String)) {
      _pending.remove(message.$1)?.complete(message.$2);
    } else if (message is (int, EdgeVedaException)) {
      _pending.remove(message.$1)?.completeError(message.$2);
    } else if (message is _Closed) {
      _callback.close(); // safe now: ev_free has returned on the worker
      _events.close();
      _replies.close();
      _closed.complete();
    }
  }

  /// Runs the model off the UI isolate; g2p-en returns space-separated ARPAbet.
  Future<String> generate(String prompt) {
    final id = _nextId++;
    final done = Completer<String>();
    _pending[id] = done;
    _requests.send(_Generate(id, prompt));
    return done.future;
  }

  Future<void> close() {
    _requests.send(_Close());
    return _closed.future;
  }
}
