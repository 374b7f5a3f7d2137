/// Speak a sentence and save it as a WAV file: what a Flutter app does, minus the player.
///
///   dart example/speak.dart LIBEDGE_VEDA KOKORO_DIR G2P_DIR "Text to say." out.wav
///
/// In a Flutter app, leave EdgeVeda.libraryPath unset (the app ships the library: Android
/// jniLibs, iOS linked in) and hand the samples to an audio player instead of a file.
import 'dart:io';
import 'dart:typed_data';

import '../lib/edge_veda.dart';

Future<void> main(List<String> args) async {
  if (args.length != 5) {
    stderr.writeln('usage: dart example/speak.dart LIBEDGE_VEDA KOKORO_DIR G2P_DIR TEXT OUT.wav');
    exit(2);
  }
  EdgeVeda.libraryPath = args[0];
  final speech = await Speech.load(args[1], frontend: args[2]); // a worker isolate; the UI stays free
  try {
    final audio = await speech.synthesize(args[3]);
    File(args[4]).writeAsBytesSync(wav16(audio.samples, audio.sampleRate));
    stdout.writeln('${audio.duration.inMilliseconds} ms of audio in ${args[4]}; words: ${audio.words}');
  } on EdgeVedaException catch (e) {
    stderr.writeln('${e.message}\nhint: ${e.hint}');
    exitCode = 1;
  } finally {
    await speech.close(); // frees the native context on its worker
  }
}

/// Mono 16-bit PCM WAV bytes of [samples] (clipped to [-1, 1]).
Uint8List wav16(Float32List samples, int rate) {
  final data = ByteData(44 + samples.length * 2);
  void text(int at, String s) {
    for (var i = 0; i < s.length; i++) {
      data.setUint8(at + i, s.codeUnitAt(i));
    }
  }

  text(0, 'RIFF');
  data.setUint32(4, 36 + samples.length * 2, Endian.little);
  text(8, 'WAVEfmt ');
  data.setUint32(16, 16, Endian.little); // fmt chunk size
  data.setUint16(20, 1, Endian.little); // PCM
  data.setUint16(22, 1, Endian.little); // mono
  data.setUint32(24, rate, Endian.little);
  data.setUint32(28, rate * 2, Endian.little); // bytes per second
  data.setUint16(32, 2, Endian.little); // block align
  data.setUint16(34, 16, Endian.little); // bits per sample
  text(36, 'data');
  data.setUint32(40, samples.length * 2, Endian.little);
  for (var i = 0; i < samples.length; i++) {
    data.setInt16(44 + i * 2, (samples[i].clamp(-1.0, 1.0) * 32767).round(), Endian.little);
  }
  return data.buffer.asUint8List();
}
