/// Opening libedge_veda, the ABI handshake, and reading results out of native memory. Used on
/// both isolates: each opens the library itself (a DynamicLibrary, like a Pointer, stays in its
/// isolate; opening an already loaded library is cheap).
library;

import 'dart:ffi';
import 'dart:io';

import 'ffi/bindings.dart';
import 'native_memory.dart';
import 'types.dart';

/// Where libedge_veda is: null for the platform's default (iOS: linked into the app;
/// Android/Linux: libedge_veda.so on the loader's path; macOS: libedge_veda.dylib).
String? defaultLibraryPath;

DynamicLibrary openLibrary(String? path) {
  path ??= defaultLibraryPath;
  if (path != null) return DynamicLibrary.open(path);
  if (Platform.isIOS) return DynamicLibrary.process(); // statically linked into the app
  if (Platform.isMacOS) return DynamicLibrary.open('libedge_veda.dylib');
  if (Platform.isWindows) return DynamicLibrary.open('edge_veda.dll');
  return DynamicLibrary.open('libedge_veda.so');
}

/// The ABI handshake (docs/abi.md), before any other call: the library must have this
/// package's EV_ABI_VERSION and at least its EV_ABI_MINOR. A library of minor 0 has no
/// `ev_abi_minor` symbol, so it is looked up with providesSymbol first: an old library is an
/// exception with a hint here, never a missing-symbol crash later. [requiredMinor] is this
/// package's (a parameter so that a test can ask for more than a library has).
EdgeVedaBindings handshake(DynamicLibrary lib, {int requiredMinor = EV_ABI_MINOR}) {
  if (!lib.providesSymbol('ev_abi_version')) {
    throw EdgeVedaException(EV_ERR_INVALID_STATE, 'the library opened is not libedge_veda (no ev_abi_version)',
        'set EdgeVeda.libraryPath to the libedge_veda built for this platform');
  }
  final ev = EdgeVedaBindings(lib);
  final version = ev.ev_abi_version();
  if (version != EV_ABI_VERSION) {
    throw EdgeVedaException(EV_ERR_INVALID_STATE, 'libedge_veda has ABI $version, this package needs $EV_ABI_VERSION',
        'ship the libedge_veda built from the same release as this package');
  }
  final minor = lib.providesSymbol('ev_abi_minor') ? ev.ev_abi_minor() : 0;
  if (minor < requiredMinor) {
    throw EdgeVedaException(EV_ERR_INVALID_STATE,
        'libedge_veda has ABI minor $minor, this package needs at least $requiredMinor',
        'ship a libedge_veda at least as new as this package (ev_abi_minor() >= $requiredMinor)');
  }
  return ev;
}

/// The exception for [code] with the calling thread's last message on [ctx] (read at once: it
/// is valid only until the next ev_* call on this thread).
EdgeVedaException lastError(EdgeVedaBindings ev, ev_context ctx, int code) =>
    EdgeVedaException.fromNative(code, ev.ev_last_error_message(ctx).toDartString());

const _capabilityNames = {
  EV_CAP_GENERATE: 'generate',
  EV_CAP_GENERATE_BATCH: 'generate_batch',
  EV_CAP_PHONEMIZE: 'phonemize',
  EV_CAP_SYNTHESIZE: 'synthesize',
};

/// ev_status, copied (its strings belong to the context). Never waits for a running call.
Status readStatus(EdgeVedaBindings ev, ev_context ctx) {
  final info = malloc.zeroed<ev_status_info>(sizeOf<ev_status_info>());
  try {
    info.ref.struct_size = sizeOf<ev_status_info>();
    final rc = ev.ev_status(ctx, info);
    if (rc != EV_OK) throw lastError(ev, ctx, rc);
    final s = info.ref;
    return Status(
      initialized: s.initialized != 0,
      weightsLoaded: s.weights_loaded != 0,
      device: s.device.toDartString(),
      artifactPath: s.artifact_path.toDartString(),
      modelName: s.model_name.toDartString(),
      modelKind: s.model_kind.toDartString(),
      numThreads: s.num_threads,
      memoryUsedBytes: s.memory_used_bytes,
      memoryLimitBytes: s.memory_limit_bytes,
      capabilities: {
        for (final e in _capabilityNames.entries)
          if (s.capabilities & e.key != 0) e.value
      },
      weightsMapped: s.weights_mapped != 0,
      weightsBytes: s.weights_bytes,
      maxInputChars: s.max_input_chars,
      sampleRate: s.sample_rate,
      voiceCount: s.voice_count,
      lastFrontendMs: s.last_frontend_ms,
      lastDurationsMs: s.last_durations_ms,
      lastAudioMs: s.last_audio_ms,
      hasFrontend: s.has_frontend != 0,
    );
  } finally {
    malloc.free(info);
  }
}
