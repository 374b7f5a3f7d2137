/// The worker isolate: one per loaded model, for the model's whole life. It owns the native
/// context (and a TTS model's front-end context), makes every blocking ev_* call, and answers
/// each request with zero or more items, then exactly one `done` or `error`.
///
/// Why an isolate of its own: a native call blocks its thread, and Flutter's UI isolate must
/// never block. Why callbacks are isolate-local: a token or audio chunk points at memory that
/// is valid only during the callback, so the callback runs synchronously on this isolate's
/// thread, inside the native call (NativeCallable.isolateLocal), copies, and posts the copy.
/// Only the memory-pressure callback, whose arguments are plain values, is a listener (on the
/// caller's isolate; its address is passed in).
library;

import 'dart:ffi';
import 'dart:isolate';
import 'dart:typed_data';

import 'ffi/bindings.dart';
import 'native_library.dart';
import 'native_memory.dart';
import 'types.dart';

/// What the caller's isolate asks for. [cancelCell] is the address of an int32 the caller
/// owns and sets to 1 to abandon this request (it frees it after the request's last reply).
class Request {
  Request(this.id, this.op, this.args, this.cancelCell);
  final int id;
  final String op;
  final Object? args;
  final int cancelCell;
}

/// One answer. kind: 'started' (the native call begins), 'item' (a stream element), 'done'
/// (the result; the last reply) or 'error' (an EdgeVedaException; the last reply).
class Reply {
  Reply(this.id, this.kind, this.value);
  final int id;
  final String kind;
  final Object? value;
}

/// The worker's first message: the context's address (for ev_cancel and ev_status, the two
/// calls the caller's isolate makes itself) and where to send requests.
class Ready {
  Ready(this.requests, this.contextAddress);
  final SendPort requests;
  final int contextAddress;
}

class Closed {
  const Closed();
}

class WorkerArgs {
  WorkerArgs(this.replies, this.libraryPath, this.modelPath, this.options, this.frontendPath, this.listenerAddress);
  final SendPort replies;
  final String? libraryPath;
  final String modelPath;
  final LoadOptions options;
  final String? frontendPath; // a G2P artifact this TTS model phonemizes text with
  final int listenerAddress; // the memory-pressure listener, 0 for none
}

/// A synthesis request's arguments.
class SynthesisArgs {
  SynthesisArgs(this.input, this.voice, this.speed, this.phonemes);
  final String input;
  final String? voice;
  final double speed;
  final bool phonemes; // EV_TTS_INPUT_PHONEMES: input is in the model's own symbols
}

void workerMain(WorkerArgs args) {
  late final EdgeVedaBindings ev;
  var ctx = nullptr.cast<ev_context_s>();
  var frontend = nullptr.cast<ev_context_s>();
  try {
    ev = handshake(openLibrary(args.libraryPath));
    ctx = _init(ev, args.modelPath, args.options);
    if (args.frontendPath != null) {
      frontend = _init(ev, args.frontendPath!, LoadOptions(numThreads: args.options.numThreads));
      final rc = ev.ev_set_frontend(ctx, frontend);
      if (rc != EV_OK) throw lastError(ev, ctx, rc);
    }
    if (args.listenerAddress != 0) {
      final rc = ev.ev_set_memory_pressure_callback(
          ctx, Pointer<NativeFunction<ev_memory_pressure_callbackFunction>>.fromAddress(args.listenerAddress), nullptr);
      if (rc != EV_OK) throw lastError(ev, ctx, rc);
    }
  } catch (e) {
    if (ctx.address != 0) ev.ev_free(ctx); // the TTS context first: it uses the front end
    if (frontend.address != 0) ev.ev_free(frontend);
    args.replies.send(e is EdgeVedaException ? e : EdgeVedaException(EV_ERR_INTERNAL, '$e', 'report this bug'));
    return;
  }
  final inbox = ReceivePort();
  final worker = _Worker(ev, ctx, args.replies);
  args.replies.send(Ready(inbox.sendPort, ctx.address));
  inbox.listen((message) {
    final request = message as Request;
    if (request.op == 'close') {
      ev.ev_set_memory_pressure_callback(ctx, nullptr, nullptr);
      ev.ev_free(ctx); // after this returns no callback of ctx fires again
      if (frontend.address != 0) ev.ev_free(frontend);
      inbox.close();
      args.replies.send(const Closed());
      return;
    }
    worker.handle(request);
  });
}

ev_context _init(EdgeVedaBindings ev, String path, LoadOptions o) {
  final config = malloc.zeroed<ev_config>(sizeOf<ev_config>());
  final nativePath = path.toNativeUtf8();
  final err = malloc<Int32>();
  try {
    config.ref = ev.ev_config_default();
    config.ref.model_path = nativePath;
    config.ref.num_threads = o.numThreads;
    config.ref.memory_limit_bytes = o.memoryLimitBytes;
    config.ref.seed = o.seed;
    config.ref.use_mmap = o.useMmap ? 1 : 0;
    config.ref.auto_unload_on_memory_pressure = o.autoUnloadOnMemoryPressure ? 1 : 0;
    final ctx = ev.ev_init(config, err);
    if (ctx.address == 0) throw lastError(ev, nullptr, err.value);
    return ctx;
  } finally {
    malloc.free(config); // the library copied what it keeps
    malloc.free(nativePath);
    malloc.free(err);
  }
}

class _Worker {
  _Worker(this.ev, this.ctx, this.replies);
  final EdgeVedaBindings ev;
  final ev_context ctx;
  final SendPort replies;

  void handle(Request r) {
    final cell = Pointer<Int32>.fromAddress(r.cancelCell);
    if (cell.value != 0) {
      replies.send(Reply(r.id, 'error', EdgeVedaException(EV_ERR_CANCELLED, 'cancelled before it started', '')));
      return;
    }
    replies.send(Reply(r.id, 'started', null));
    try {
      replies.send(Reply(r.id, 'done', _run(r, cell)));
    } on EdgeVedaException catch (e) {
      replies.send(Reply(r.id, 'error', e));
    } catch (e, stack) {
      replies.send(Reply(r.id, 'error', EdgeVedaException(EV_ERR_INTERNAL, '$e\n$stack', 'report this bug')));
    }
  }

  void _check(int rc) {
    if (rc != EV_OK) throw lastError(ev, ctx, rc);
  }

  Object? _run(Request r, Pointer<Int32> cell) {
    switch (r.op) {
      case 'generate':
        final (prompt, params) = r.args as (String, GenerationParams?);
        return _withParams(params, (p) => _withString(prompt, (s) => _takeString((out) => ev.ev_generate(ctx, s, p, out))));
      case 'batch':
        final (prompts, params) = r.args as (List<String>, GenerationParams?);
        return _withParams(params, (p) => _batch(prompts, p));
      case 'phonemize':
        final (text, params) = r.args as (String, GenerationParams?);
        return _withParams(params, (p) => _withString(text, (s) => _phonemize(s, p)));
      case 'stream':
        final (prompt, params) = r.args as (String, GenerationParams?);
        return _withParams(params, (p) => _withString(prompt, (s) => _stream(r.id, cell, s, p)));
      case 'synthesize':
        return _synthesize(r.args as SynthesisArgs, null, cell);
      case 'synthesizeStream':
        return _synthesize(r.args as SynthesisArgs, r.id, cell);
      case 'voices':
        return _voices();
      case 'warmup':
        _check(ev.ev_warmup(ctx));
        return null;
      case 'notify':
        _check(ev.ev_notify_memory_pressure(ctx, r.args as int));
        return null;
    }
    throw EdgeVedaException(EV_ERR_INVALID_ARGUMENT, 'unknown request ${r.op}', 'report this bug');
  }

  T _withString<T>(String s, T Function(Pointer<Utf8>) body) {
    final native = s.toNativeUtf8();
    try {
      return body(native);
    } finally {
      malloc.free(native);
    }
  }

  /// A library string result: copied, then freed with ev_free_string (it accepts NULL).
  String _takeString(int Function(Pointer<Pointer<Utf8>>) call) {
    final out = malloc<Pointer<Utf8>>();
    out.value = nullptr;
    try {
      _check(call(out));
      return out.value.toDartString();
    } finally {
      ev.ev_free_string(out.value);
      malloc.free(out);
    }
  }

  T _withParams<T>(GenerationParams? g, T Function(Pointer<ev_generation_params>) body) {
    if (g == null) return body(nullptr);
    final p = malloc.zeroed<ev_generation_params>(sizeOf<ev_generation_params>());
    final stops = malloc.zeroed<Pointer<Utf8>>(sizeOf<Pointer<Utf8>>() * (g.stopSequences.length + 1));
    try {
      p.ref = ev.ev_generation_params_default();
      if (g.maxTokens != null) p.ref.max_tokens = g.maxTokens!;
      if (g.temperature != null) p.ref.temperature = g.temperature!;
      if (g.topP != null) p.ref.top_p = g.topP!;
      if (g.topK != null) p.ref.top_k = g.topK!;
      if (g.repeatPenalty != null) p.ref.repeat_penalty = g.repeatPenalty!;
      if (g.seed != null) p.ref.seed = g.seed!;
      for (var i = 0; i < g.stopSequences.length; i++) {
        stops[i] = g.stopSequences[i].toNativeUtf8();
      }
      p.ref.stop_sequences = stops;
      p.ref.num_stop_sequences = g.stopSequences.length;
      return body(p);
    } finally {
      for (var i = 0; i < g.stopSequences.length; i++) {
        if (stops[i].address != 0) malloc.free(stops[i]);
      }
      malloc.free(stops);
      malloc.free(p);
    }
  }

  List<String> _batch(List<String> prompts, Pointer<ev_generation_params> p) {
    final n = prompts.length;
    final ins = malloc.zeroed<Pointer<Utf8>>(sizeOf<Pointer<Utf8>>() * (n + 1));
    final outs = malloc.zeroed<Pointer<Utf8>>(sizeOf<Pointer<Utf8>>() * (n + 1));
    try {
      for (var i = 0; i < n; i++) {
        ins[i] = prompts[i].toNativeUtf8();
      }
      _check(ev.ev_generate_batch(ctx, ins, n, p, outs));
      return [for (var i = 0; i < n; i++) outs[i].toDartString()];
    } finally {
      for (var i = 0; i < n; i++) {
        ev.ev_free_string(outs[i]); // NULL on failure; accepted
        if (ins[i].address != 0) malloc.free(ins[i]);
      }
      malloc.free(ins);
      malloc.free(outs);
    }
  }

  List<PhonemizedToken> _phonemize(Pointer<Utf8> text, Pointer<ev_generation_params> p) {
    final out = malloc<Pointer<ev_phonemes>>();
    out.value = nullptr;
    try {
      _check(ev.ev_phonemize(ctx, text, p, out));
      final r = out.value.ref;
      return [
        for (var i = 0; i < r.count; i++)
          PhonemizedToken(r.tokens[i].toDartString(), r.phonemes[i].toDartString(),
              PhonemeSource.values[(r.sources[i] - EV_SOURCE_LEXICON).clamp(0, 2)])
      ];
    } finally {
      ev.ev_phonemes_free(out.value);
      malloc.free(out);
    }
  }

  /// Tokens as they are decoded: the callback runs inside ev_generate_stream on this thread,
  /// copies the borrowed token and posts it; a request abandoned by the caller is cancelled
  /// from the callback (the one ev_* call a callback may make).
  Object? _stream(int id, Pointer<Int32> cell, Pointer<Utf8> prompt, Pointer<ev_generation_params> p) {
    void onToken(Pointer<Void> _, Pointer<Utf8> token, int tokenId) {
      if (cell.value != 0) {
        ev.ev_cancel(ctx);
        return;
      }
      replies.send(Reply(id, 'item', token.toDartString()));
    }

    final callback = NativeCallable<ev_token_callbackFunction>.isolateLocal(onToken);
    try {
      _check(ev.ev_generate_stream(ctx, prompt, p, callback.nativeFunction, nullptr));
      return null;
    } finally {
      callback.close(); // the call has returned: it is never called again
    }
  }

  Object? _synthesize(SynthesisArgs a, int? streamId, Pointer<Int32> cell) {
    final params = malloc.zeroed<ev_synthesis_params>(sizeOf<ev_synthesis_params>());
    final input = a.input.toNativeUtf8();
    final voice = a.voice?.toNativeUtf8();
    try {
      params.ref = ev.ev_synthesis_params_default();
      params.ref.input = a.phonemes ? EV_TTS_INPUT_PHONEMES : EV_TTS_INPUT_TEXT;
      params.ref.speed = a.speed;
      if (voice != null) params.ref.voice = voice;
      if (streamId == null) return _synthesizeWhole(input, params, a.phonemes ? null : a.input);
      void onChunk(Pointer<ev_audio_chunk> chunk, Pointer<Void> _) {
        if (cell.value != 0) {
          ev.ev_cancel(ctx);
          return;
        }
        final c = chunk.ref;
        replies.send(Reply(
            streamId,
            'item',
            AudioChunk(c.chunk_index, c.start_sample, Float32List.fromList(c.samples.asTypedList(c.sample_count)),
                c.is_final != 0, c.progress)));
      }

      final callback = NativeCallable<ev_audio_callbackFunction>.isolateLocal(onChunk);
      try {
        _check(ev.ev_synthesize_stream(ctx, input, params, callback.nativeFunction, nullptr));
        return null;
      } finally {
        callback.close();
      }
    } finally {
      malloc.free(params);
      malloc.free(input);
      if (voice != null) malloc.free(voice);
    }
  }

  /// [text]: the input text (null for phoneme input), which the word spans index.
  Audio _synthesizeWhole(Pointer<Utf8> input, Pointer<ev_synthesis_params> params, String? text) {
    final out = malloc<Pointer<ev_audio>>();
    out.value = nullptr;
    try {
      _check(ev.ev_synthesize(ctx, input, params, out));
      final a = out.value.ref;
      return Audio(Float32List.fromList(a.samples.asTypedList(a.sample_count)), a.sample_rate, _words(a, text));
    } finally {
      ev.ev_audio_free(out.value);
      malloc.free(out);
    }
  }

  /// ev_audio's words as WordTiming entries: the spoken words of one source span (the input
  /// bytes they were read from) merged into one entry for that input word (as Python's Audio.words).
  static List<WordTiming> _words(ev_audio a, String? text) {
    // word_source_begin/end: ABI minor 7; an older library's ev_audio ends before them.
    final hasSource = a.struct_size >= sizeOf<ev_audio>();
    final units = text != null && hasSource ? _utf16Offsets(text) : null;
    final words = <WordTiming>[];
    int? spanBegin, spanEnd; // the byte span of words.last
    for (var i = 0; i < a.word_count; i++) {
      final spoken = a.words[i].toDartString();
      final start = a.word_start[i], end = a.word_end[i];
      final b = units != null ? a.word_source_begin[i] : -1, e = units != null ? a.word_source_end[i] : -1;
      if (units == null || !(0 <= b && b < e && e < units.length)) {
        words.add(WordTiming(spoken, start, end));
        spanBegin = spanEnd = null;
        continue;
      }
      if (spanEnd != null && b < spanEnd) {
        // the same input word ("1984": "nineteen", "eighty-four")
        final w = words.last;
        spanEnd = e > spanEnd ? e : spanEnd;
        final s0 = units[spanBegin!], s1 = units[spanEnd];
        words[words.length - 1] = WordTiming(
            text!.substring(s0, s1), start < w.start ? start : w.start, end > w.end ? end : w.end,
            spoken: '${w.spoken} $spoken', sourceStart: s0, sourceEnd: s1);
        continue;
      }
      spanBegin = b;
      spanEnd = e;
      words.add(WordTiming(text!.substring(units[b], units[e]), start, end,
          spoken: spoken, sourceStart: units[b], sourceEnd: units[e]));
    }
    return words;
  }

  /// Per UTF-8 byte offset of [text] (and its end), the UTF-16 index of the character it is in.
  static List<int> _utf16Offsets(String text) {
    final at = <int>[];
    var unit = 0;
    for (final r in text.runes) {
      final bytes = r < 0x80 ? 1 : r < 0x800 ? 2 : r < 0x10000 ? 3 : 4;
      for (var k = 0; k < bytes; k++) {
        at.add(unit);
      }
      unit += r >= 0x10000 ? 2 : 1;
    }
    at.add(unit);
    return at;
  }

  List<String> _voices() {
    final out = malloc<Pointer<ev_voice_list>>();
    out.value = nullptr;
    try {
      _check(ev.ev_list_voices(ctx, out));
      final v = out.value.ref;
      return [for (var i = 0; i < v.count; i++) v.names[i].toDartString()];
    } finally {
      ev.ev_voice_list_free(out.value);
      malloc.free(out);
    }
  }
}
