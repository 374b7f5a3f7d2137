/// The bindings themselves: every ev_* function the idiomatic layer does not call, called here
/// through the generated bindings; and the ABI handshake refusing a library older than the
/// bindings. dart test/abi_test.dart LIB G2P_DIR TTS_DIR OLD_LIB
/// OLD_LIB: a library that has ev_abi_version but no ev_abi_minor (an ABI-minor-0 build).
import 'dart:ffi';

import '../lib/edge_veda.dart';
import '../lib/src/ffi/bindings.dart';
import '../lib/src/native_library.dart';
import '../lib/src/native_memory.dart';
import 'harness.dart';

ev_context _open(EdgeVedaBindings ev, String path) {
  final config = malloc.zeroed<ev_config>(sizeOf<ev_config>());
  final p = path.toNativeUtf8();
  final err = malloc<Int32>();
  try {
    config.ref = ev.ev_config_default();
    config.ref.model_path = p;
    config.ref.num_threads = 1;
    final ctx = ev.ev_init(config, err);
    check(ctx.address != 0, 'ev_init $path: ${ev.ev_last_error_message(nullptr).toDartString()}');
    return ctx;
  } finally {
    malloc.free(config);
    malloc.free(p);
    malloc.free(err);
  }
}

Future<void> main(List<String> args) async {
  final lib = openLibrary(args[0]);

  await test('handshake accepts the library built with these bindings', () async {
    final ev = handshake(lib);
    check(ev.ev_abi_version() == EV_ABI_VERSION && ev.ev_abi_minor() == EV_ABI_MINOR, 'same ABI');
  });

  await test('handshake refuses a library older than the bindings, with a hint', () async {
    try {
      handshake(lib, requiredMinor: EV_ABI_MINOR + 1);
      check(false, 'refused');
    } on EdgeVedaException catch (e) {
      check(e.code == EV_ERR_INVALID_STATE && e.message.contains('ABI minor $EV_ABI_MINOR') && e.hint.isNotEmpty, '$e');
    }
    try {
      handshake(DynamicLibrary.open(args[3])); // no ev_abi_minor symbol: minor 0
      check(false, 'refused');
    } on EdgeVedaException catch (e) {
      check(e.message.contains('ABI minor 0') && e.hint.contains('at least as new'), '$e');
    }
    EdgeVeda.libraryPath = args[3];
    try {
      await EdgeVeda.load(args[1]);
      check(false, 'EdgeVeda.load refused');
    } on EdgeVedaException catch (e) {
      check(e.message.contains('ABI minor 0'), '$e');
    } finally {
      EdgeVeda.libraryPath = args[0];
    }
  });

  final ev = handshake(lib);

  await test('version strings, error names, defaults', () async {
    check(ev.ev_version().toDartString().split('.').length == 3, 'ev_version');
    check(ev.ev_runtime_version().toDartString().startsWith('0.'), 'ev_runtime_version');
    check(ev.ev_error_string(EV_ERR_CANCELLED).toDartString() == 'EV_ERR_CANCELLED', 'ev_error_string');
    check(ev.ev_error_string(12345).toDartString().isNotEmpty, 'an unknown code has a name too');
    check(ev.ev_config_default().struct_size == sizeOf<ev_config>(), 'ev_config_default');
    check(ev.ev_generation_params_default().struct_size == sizeOf<ev_generation_params>(), 'params');
    final s = ev.ev_synthesis_params_default();
    check(s.struct_size == sizeOf<ev_synthesis_params>() && s.speed == 1.0, 'ev_synthesis_params_default');
    check(ev.ev_last_error_message(nullptr).address != 0, 'ev_last_error_message never NULL');
  });

  await test('pull-style token stream: ev_stream_begin / next / free', () async {
    final ctx = _open(ev, args[1]);
    final prompt = 'hello'.toNativeUtf8();
    final stream = malloc<Pointer<ev_stream_s>>();
    final token = malloc<Pointer<Utf8>>();
    final id = malloc<Int32>();
    try {
      check(ev.ev_stream_begin(ctx, prompt, nullptr, stream) == EV_OK, 'ev_stream_begin');
      final tokens = <String>[];
      int rc;
      while ((rc = ev.ev_stream_next(stream.value, token, id)) == EV_OK) {
        tokens.add(token.value.toDartString()); // owned by the stream until the next call
      }
      check(rc == EV_ERR_STREAM_END && tokens.join(' ') == 'HH AH0 L OW1', '$rc $tokens');
    } finally {
      ev.ev_stream_free(stream.value);
      ev.ev_free(ctx);
      malloc.free(prompt);
      malloc.free(stream);
      malloc.free(token);
      malloc.free(id);
    }
  });

  await test('ev_voices (comma-joined) agrees with ev_list_voices', () async {
    final ctx = _open(ev, args[2]);
    final names = malloc<Pointer<Utf8>>();
    final list = malloc<Pointer<ev_voice_list>>();
    try {
      check(ev.ev_voices(ctx, names) == EV_OK && ev.ev_list_voices(ctx, list) == EV_OK, 'both calls');
      final joined = names.value.toDartString();
      final v = list.value.ref;
      check(joined == [for (var i = 0; i < v.count; i++) v.names[i].toDartString()].join(','), joined);
    } finally {
      ev.ev_free_string(names.value);
      ev.ev_voice_list_free(list.value);
      ev.ev_free(ctx);
      malloc.free(names);
      malloc.free(list);
    }
  });

  await test('ev_register_system_lib_model ignores what it cannot use; frees accept NULL', () async {
    ev.ev_register_system_lib_model(nullptr);
    final m = malloc.zeroed<ev_system_lib_model>(sizeOf<ev_system_lib_model>());
    try {
      ev.ev_register_system_lib_model(m); // struct_size 0: ignored
    } finally {
      malloc.free(m);
    }
    ev.ev_free_string(nullptr);
    ev.ev_phonemes_free(nullptr);
    ev.ev_audio_free(nullptr);
    ev.ev_voice_list_free(nullptr);
    ev.ev_stream_free(nullptr);
    ev.ev_free(nullptr);
    check(ev.ev_cancel(nullptr) != EV_OK, 'ev_cancel(NULL) is an error code, not a crash');
    check(ev.ev_set_frontend(nullptr, nullptr) != EV_OK, 'ev_set_frontend(NULL) likewise');
  });

  finish();
}
