/// The models as the caller's isolate sees them: every blocking call is a request to the
/// model's worker isolate (worker.dart), answered by a Future or a Stream; only ev_cancel and
/// ev_status (neither waits for a running call) are made here, on the context's address.
library;

import 'dart:async';
import 'dart:ffi';
import 'dart:isolate';

import 'ffi/bindings.dart';
import 'native_library.dart';
import 'native_memory.dart';
import 'types.dart';
import 'worker.dart';

class _Pending {
  _Pending(this.cell, {this.result, this.items});
  final Pointer<Int32> cell; // set to 1 to abandon; freed after the request's last reply
  final Completer<Object?>? result;
  final StreamController<Object?>? items;
}

/// What both kinds share: the worker, its requests, cancel, status, memory events, close.
abstract class ModelHost {
  ModelHost._(this._ev, this._ctx, this._requests, this._listener, this._events, this._kindName);

  final EdgeVedaBindings _ev; // this isolate's bindings
  final ev_context _ctx; // used here only for ev_cancel and ev_status
  final SendPort _requests;
  final NativeCallable<ev_memory_pressure_callbackFunction>? _listener;
  final StreamController<MemoryPressureEvent> _events;
  final String _kindName;
  final Map<int, _Pending> _pending = {};
  final Completer<void> _closed = Completer<void>();
  int _nextId = 0;
  int? _running; // the request the worker is inside, as far as this isolate has heard
  bool _closing = false;
  ReceivePort? _replyPort; // closed when the worker has gone, so this isolate may exit

  /// Spawns the worker and waits for it to load the model. Throws [EdgeVedaException].
  static Future<T> _start<T extends ModelHost>(
      String modelPath,
      String? frontendPath,
      LoadOptions options,
      String? libraryPath,
      T Function(EdgeVedaBindings, ev_context, SendPort, NativeCallable<ev_memory_pressure_callbackFunction>,
              StreamController<MemoryPressureEvent>)
          create) async {
    final ev = handshake(openLibrary(libraryPath)); // before anything else: an old library is an exception
    final events = StreamController<MemoryPressureEvent>.broadcast();
    // Values only, so a listener may serve it: it may fire on the worker's thread inside a call.
    final listener = NativeCallable<ev_memory_pressure_callbackFunction>.listener(
        (Pointer<Void> _, int current, int limit) => events.add(MemoryPressureEvent(current, limit)));
    final replies = ReceivePort();
    final exits = ReceivePort();
    try {
      await Isolate.spawn(workerMain,
          WorkerArgs(replies.sendPort, libraryPath, modelPath, options, frontendPath, listener.nativeFunction.address),
          onExit: exits.sendPort, debugName: 'edge_veda worker');
    } catch (_) {
      listener.close();
      replies.close();
      exits.close();
      rethrow;
    }
    final inbox = StreamIterator(replies);
    final exited = exits.first;
    final first = await Future.any([inbox.moveNext().then((_) => inbox.current), exited.then((_) => null)]);
    if (first is! Ready) {
      listener.close();
      events.close();
      await inbox.cancel();
      exits.close();
      throw first is EdgeVedaException
          ? first
          : EdgeVedaException(EV_ERR_INTERNAL, 'the worker isolate ended while loading', 'report this bug');
    }
    final model = create(ev, Pointer<ev_context_s>.fromAddress(first.contextAddress), first.requests, listener, events)
      .._replyPort = replies;
    () async {
      while (await inbox.moveNext()) {
        model._onReply(inbox.current);
      }
    }();
    exited.then((_) {
      exits.close();
      model._workerGone();
    });
    return model;
  }

  /// Memory-pressure events (the limit crossed, or notifyMemoryPressure), on this isolate.
  Stream<MemoryPressureEvent> get memoryEvents => _events.stream;

  bool get isClosed => _closing;

  void _onReply(Object? message) {
    if (message is Closed) {
      _finish();
      return;
    }
    final reply = message as Reply;
    final pending = _pending[reply.id];
    if (pending == null) return;
    switch (reply.kind) {
      case 'started':
        _running = reply.id;
      case 'item':
        final items = pending.items;
        if (items != null && !items.isClosed) items.add(reply.value);
      case 'done':
      case 'error':
        if (_running == reply.id) _running = null;
        _pending.remove(reply.id);
        malloc.free(pending.cell); // the worker has finished with it
        final error = reply.kind == 'error' ? reply.value as EdgeVedaException : null;
        if (pending.result != null) {
          error == null ? pending.result!.complete(reply.value) : pending.result!.completeError(error);
        } else if (!pending.items!.isClosed) {
          if (error != null) pending.items!.addError(error);
          pending.items!.close();
        }
    }
  }

  void _finish() {
    _listener?.close(); // safe now: ev_free has returned on the worker
    _events.close();
    _replyPort?.close();
    if (!_closed.isCompleted) _closed.complete();
  }

  void _workerGone() {
    // Normally after Closed; otherwise the worker died: fail what waits instead of hanging.
    for (final p in _pending.values) {
      final e = EdgeVedaException(EV_ERR_INTERNAL, 'the $_kindName worker isolate ended', 'load the model again');
      p.result?.completeError(e);
      if (p.items != null && !p.items!.isClosed) {
        p.items!.addError(e);
        p.items!.close();
      }
    }
    _pending.clear(); // their cells are leaked rather than freed under a worker that may run
    _closing = true;
    _finish();
  }

  Pointer<Int32> _newCell() {
    final cell = malloc<Int32>();
    cell.value = 0;
    return cell;
  }

  void _ensureOpen(String api) {
    if (_closing) {
      throw EdgeVedaException(EV_ERR_INVALID_STATE, '$_kindName.$api: the model is closed',
          'load it again ($_kindName.load) and call the new object');
    }
  }

  Future<R> _call<R>(String api, String op, Object? args) {
    try {
      _ensureOpen(api);
    } catch (e) {
      return Future.error(e);
    }
    final id = _nextId++;
    final result = Completer<Object?>();
    _pending[id] = _Pending(_newCell(), result: result);
    _requests.send(Request(id, op, args, _pending[id]!.cell.address));
    return result.future.then((v) => v as R);
  }

  /// A request whose items arrive as a Stream. Nothing is sent before the first listener;
  /// cancelling the subscription abandons the request: queued, it never starts; running, it
  /// is cancelled at once from here (ev_cancel) and at its next item from the worker.
  Stream<E> _stream<E>(String api, String op, Object? args) {
    late final StreamController<Object?> items;
    int? id;
    items = StreamController<Object?>(onListen: () {
      if (_closing) {
        items.addError(EdgeVedaException(EV_ERR_INVALID_STATE, '$_kindName.$api: the model is closed',
            'load it again ($_kindName.load) and call the new object'));
        items.close();
        return;
      }
      id = _nextId++;
      _pending[id!] = _Pending(_newCell(), items: items);
      _requests.send(Request(id!, op, args, _pending[id!]!.cell.address));
    }, onCancel: () {
      final p = _pending[id];
      if (p == null) return; // already ended
      p.cell.value = 1;
      if (_running == id) _ev.ev_cancel(_ctx);
    });
    return items.stream.cast<E>();
  }

  /// Cancels every request made so far: the running call ends with EV_ERR_CANCELLED within
  /// milliseconds, queued ones without starting. The model stays usable.
  void cancel() {
    if (_closing) return;
    for (final p in _pending.values) {
      p.cell.value = 1;
    }
    _ev.ev_cancel(_ctx);
  }

  /// The context's status, at once, even while a long call runs.
  Status status() {
    _ensureOpen('status');
    return readStatus(_ev, _ctx);
  }

  /// Runs the model once so the first real call is not slower.
  Future<void> warmup() => _call<void>('warmup', 'warmup', null);

  /// Tells the model the OS reports memory pressure (iOS didReceiveMemoryWarning, Android
  /// onTrimMemory): a [MemoryPressureEvent] follows on [memoryEvents], and with
  /// autoUnloadOnMemoryPressure the weights are released until the next call.
  Future<void> notifyMemoryPressure({bool critical = false}) => _call<void>('notifyMemoryPressure', 'notify',
      critical ? EV_MEMORY_PRESSURE_CRITICAL : EV_MEMORY_PRESSURE_MODERATE);

  /// Cancels what runs, lets the worker free the context, ends the worker. Idempotent.
  Future<void> close() {
    if (!_closing) {
      cancel();
      _closing = true;
      _requests.send(Request(-1, 'close', null, 0));
    }
    return _closed.future;
  }
}

/// A text model (g2p-en): text to phonemes, on its own worker isolate.
class EdgeVeda extends ModelHost {
  EdgeVeda._(EdgeVedaBindings ev, ev_context ctx, SendPort requests,
      NativeCallable<ev_memory_pressure_callbackFunction> listener, StreamController<MemoryPressureEvent> events)
      : super._(ev, ctx, requests, listener, events, 'EdgeVeda');

  /// Where libedge_veda is loaded from (null: the platform's default; see native_library.dart).
  static String? get libraryPath => defaultLibraryPath;
  static set libraryPath(String? path) => defaultLibraryPath = path;

  /// Loads an artifact directory (edge-veda compile / pull) on a new worker isolate.
  static Future<EdgeVeda> load(String artifactDir, {LoadOptions options = const LoadOptions()}) =>
      ModelHost._start(artifactDir, null, options, defaultLibraryPath, EdgeVeda._);

  /// The model's output for [prompt] (g2p-en: space-separated ARPAbet, " | " between words).
  Future<String> generate(String prompt, {GenerationParams? params}) =>
      _call('generate', 'generate', (prompt, params));

  /// One output per prompt (greedy decoding runs on up to numThreads threads).
  Future<List<String>> generateBatch(List<String> prompts, {GenerationParams? params}) =>
      _call<List<Object?>>('generateBatch', 'batch', (List<String>.of(prompts), params))
          .then((v) => v.cast<String>());

  /// Each word and punctuation token with its phonemes and where they came from.
  Future<List<PhonemizedToken>> phonemize(String text, {GenerationParams? params}) =>
      _call<List<Object?>>('phonemize', 'phonemize', (text, params)).then((v) => v.cast<PhonemizedToken>());

  /// The output tokens as they are decoded. Cancelling the subscription cancels the call.
  Stream<String> stream(String prompt, {GenerationParams? params}) => _stream('stream', 'stream', (prompt, params));
}

/// A text-to-speech model (Kokoro), with a G2P front end for text input.
class Speech extends ModelHost {
  Speech._(EdgeVedaBindings ev, ev_context ctx, SendPort requests,
      NativeCallable<ev_memory_pressure_callbackFunction> listener, StreamController<MemoryPressureEvent> events)
      : super._(ev, ctx, requests, listener, events, 'Speech');

  /// Loads a TTS artifact directory on a new worker isolate. [frontend]: a G2P artifact
  /// directory (g2p-en) the worker loads beside it to turn text into phonemes, in the same
  /// runtime; without one, only phoneme input works.
  static Future<Speech> load(String artifactDir, {String? frontend, LoadOptions options = const LoadOptions()}) =>
      ModelHost._start(artifactDir, frontend, options, defaultLibraryPath, Speech._);

  /// The whole utterance: samples, sample rate and where each word is. [phonemes]: the input
  /// is in the model's own symbols instead of text.
  Future<Audio> synthesize(String input, {String? voice, double speed = 1.0, bool phonemes = false}) =>
      _call('synthesize', 'synthesize', SynthesisArgs(input, voice, speed, phonemes));

  /// The audio as it is made, one chunk per sentence; the chunks joined are [synthesize]'s
  /// samples. Cancelling the subscription cancels the rest of the synthesis.
  Stream<AudioChunk> stream(String input, {String? voice, double speed = 1.0, bool phonemes = false}) =>
      _stream('stream', 'synthesizeStream', SynthesisArgs(input, voice, speed, phonemes));

  /// What a text synthesis says, word by word, in the model's own symbols (its English lexicon,
  /// else the front end's phonemes mapped), for the default voice's language.
  Future<List<PhonemizedToken>> phonemize(String text) =>
      _call<List<Object?>>('phonemize', 'phonemize', (text, null)).then((v) => v.cast<PhonemizedToken>());

  /// The voice names, the default first.
  Future<List<String>> voices() => _call<List<Object?>>('voices', 'voices', null).then((v) => v.cast<String>());
}
