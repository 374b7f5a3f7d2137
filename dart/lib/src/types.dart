/// The values the Dart API hands out: plain Dart objects, copied out of native memory before
/// the native result is freed, so they never point at memory the library owns.
library;

import 'dart:typed_data';

import 'ffi/bindings.dart';

/// A failed call: the library's error code, its message and the "hint:" line saying what to do.
class EdgeVedaException implements Exception {
  EdgeVedaException(this.code, this.message, this.hint);

  /// Splits the library's "NAME: message\nhint: ..." text.
  factory EdgeVedaException.fromNative(int code, String text) {
    final at = text.indexOf('\nhint: ');
    return at < 0
        ? EdgeVedaException(code, text, '')
        : EdgeVedaException(code, text.substring(0, at), text.substring(at + 7));
  }

  final int code; // an EV_ERR_* value
  final String message;
  final String hint;

  bool get isCancelled => code == EV_ERR_CANCELLED;

  @override
  String toString() => hint.isEmpty ? 'EdgeVedaException($code): $message' : 'EdgeVedaException($code): $message\nhint: $hint';
}

/// How a model is loaded (ev_config). Defaults are the library's (ev_config_default).
class LoadOptions {
  const LoadOptions({
    this.numThreads = 0,
    this.memoryLimitBytes = 0,
    this.seed = 0,
    this.useMmap = true,
    this.autoUnloadOnMemoryPressure = false,
  });

  final int numThreads; // 0: one per core (capped at EV_MAX_THREADS)
  final int memoryLimitBytes; // 0: none; crossing it fires a MemoryPressureEvent
  final int seed; // sampling seed of the context
  final bool useMmap;
  final bool autoUnloadOnMemoryPressure;
}

/// Sampling parameters (ev_generation_params); null fields keep the library's defaults.
class GenerationParams {
  const GenerationParams({this.maxTokens, this.temperature, this.topP, this.topK, this.repeatPenalty, this.seed,
      this.stopSequences = const []});

  final int? maxTokens;
  final double? temperature;
  final double? topP;
  final int? topK;
  final double? repeatPenalty;
  final int? seed;
  final List<String> stopSequences;
}

/// A memory-pressure event: the context's tracked bytes and its configured limit (0: none).
class MemoryPressureEvent {
  const MemoryPressureEvent(this.currentBytes, this.limitBytes);
  final int currentBytes;
  final int limitBytes;
  @override
  String toString() => 'MemoryPressureEvent($currentBytes of $limitBytes bytes)';
}

/// Where a token's phonemes came from (EV_SOURCE_*).
enum PhonemeSource { lexicon, model, punctuation }

/// One word or punctuation token of ev_phonemize.
class PhonemizedToken {
  const PhonemizedToken(this.token, this.phonemes, this.source);
  final String token; // the normalized word, or the punctuation
  final String phonemes; // space-separated ARPAbet; "" for punctuation
  final PhonemeSource source;
  @override
  String toString() => '$token -> $phonemes (${source.name})';
}

/// One input word of an [Audio] and where it is in the audio: samples [start, end).
///
/// [word]: the word as the input wrote it ("Dr.", "1984", "\$3.50"); for phoneme input, the run
/// of symbols. [spoken]: what the front end said for it ("doctor", "nineteen eighty-four"): the
/// spoken words read from one input word are one WordTiming. [sourceStart], [sourceEnd]: where
/// [word] is in the input String (UTF-16 code unit offsets, as String indexes:
/// input.substring(sourceStart!, sourceEnd!) == word); null for phoneme input.
class WordTiming {
  const WordTiming(this.word, this.start, this.end, {String? spoken, this.sourceStart, this.sourceEnd})
      : spoken = spoken ?? word;
  final String word;
  final int start;
  final int end;
  final String spoken;
  final int? sourceStart;
  final int? sourceEnd;
  @override
  bool operator ==(Object other) =>
      other is WordTiming &&
      other.word == word &&
      other.start == start &&
      other.end == end &&
      other.spoken == spoken &&
      other.sourceStart == sourceStart &&
      other.sourceEnd == sourceEnd;
  @override
  int get hashCode => Object.hash(word, start, end, spoken, sourceStart, sourceEnd);
  @override
  String toString() => '$word[$start, $end)';
}

/// A synthesized utterance (ev_audio, copied).
class Audio {
  const Audio(this.samples, this.sampleRate, this.words);
  final Float32List samples; // mono, nominally in [-1, 1]
  final int sampleRate;
  final List<WordTiming> words;
  Duration get duration => Duration(microseconds: samples.length * 1000000 ~/ sampleRate);
}

/// One chunk of a streamed synthesis (ev_audio_chunk, copied).
class AudioChunk {
  const AudioChunk(this.index, this.startSample, this.samples, this.isFinal, this.progress);
  final int index;
  final int startSample; // where samples[0] is in the whole utterance
  final Float32List samples;
  final bool isFinal;
  final double progress; // fraction of the input synthesized so far
}

/// ev_status: what the context is, reported at once even while a call runs.
class Status {
  const Status({
    required this.initialized,
    required this.weightsLoaded,
    required this.device,
    required this.artifactPath,
    required this.modelName,
    required this.modelKind,
    required this.numThreads,
    required this.memoryUsedBytes,
    required this.memoryLimitBytes,
    required this.capabilities,
    required this.weightsMapped,
    required this.weightsBytes,
    required this.maxInputChars,
    required this.sampleRate,
    required this.voiceCount,
    required this.lastFrontendMs,
    required this.lastDurationsMs,
    required this.lastAudioMs,
    required this.hasFrontend,
  });

  final bool initialized;
  final bool weightsLoaded;
  final String device;
  final String artifactPath;
  final String modelName;
  final String modelKind;
  final int numThreads;
  final int memoryUsedBytes;
  final int memoryLimitBytes;
  final Set<String> capabilities; // generate, generate_batch, phonemize, synthesize
  final bool weightsMapped;
  final int weightsBytes;
  final int maxInputChars;
  final int sampleRate; // 0 for kinds without audio
  final int voiceCount;
  final double lastFrontendMs;
  final double lastDurationsMs;
  final double lastAudioMs;
  final bool hasFrontend;
}
