/// Kokoro from Dart: dart test/tts_test.dart LIB G2P_DIR TTS_DIR INPUTS_JSON OUT_DIR
/// INPUTS_JSON: {"phonemes": [...], "text": "...", "word_texts": [...], "sentences": [...], "long_text": "..."}.
/// Writes OUT_DIR/dart_<i>.f32 (the samples of phonemes[i]) and OUT_DIR/dart.json (word
/// timings, voices, sample rate) for the driver to compare with C on the same build.
import 'dart:async';
import 'dart:convert';
import 'dart:io';
import 'dart:typed_data';

import '../lib/edge_veda.dart';
import 'harness.dart';

Future<void> main(List<String> args) async {
  EdgeVeda.libraryPath = args[0];
  final inputs = jsonDecode(File(args[3]).readAsStringSync()) as Map<String, dynamic>;
  final outDir = args[4];
  final speech = await Speech.load(args[2], frontend: args[1], options: const LoadOptions(numThreads: 1));
  final out = <String, Object>{};

  await test('voices and status', () async {
    final voices = await speech.voices();
    final status = speech.status();
    check(voices.isNotEmpty && status.voiceCount == voices.length, '$voices vs ${status.voiceCount}');
    check(status.capabilities.contains('synthesize') && status.hasFrontend && status.sampleRate == 24000,
        'status ${status.capabilities} ${status.sampleRate}');
    out['voices'] = voices;
  });

  await test('phonemize shows what a text synthesis says (Kokoro\'s own English lexicon)', () async {
    final tokens = await speech.phonemize('Hello, world.');
    check(tokens.map((t) => t.token).join(' ') == 'hello , world .', '$tokens');
    check(tokens.first.phonemes == 'h ə l ˈ O' && tokens.first.source == PhonemeSource.lexicon, '$tokens');
  });

  await test('synthesize phoneme inputs', () async {
    final timings = <Object>[];
    final phonemes = (inputs['phonemes'] as List).cast<String>();
    for (var i = 0; i < phonemes.length; i++) {
      final audio = await speech.synthesize(phonemes[i], phonemes: true);
      check(audio.sampleRate == 24000 && audio.samples.isNotEmpty, 'audio of ${phonemes[i]}');
      File('$outDir/dart_$i.f32').writeAsBytesSync(audio.samples.buffer.asUint8List());
      timings.add([for (final w in audio.words) [w.word, w.start, w.end]]);
    }
    out['timings'] = timings;
  });

  await test('synthesize text through the G2P front end, with word timings', () async {
    final audio = await speech.synthesize(inputs['text'] as String, voice: (out['voices'] as List).last as String);
    check(audio.words.isNotEmpty, 'word timings');
    for (var i = 1; i < audio.words.length; i++) {
      check(audio.words[i].start >= audio.words[i - 1].end, 'words in order: ${audio.words}');
    }
    check(audio.words.last.end <= audio.samples.length, 'timings inside the audio');
    File('$outDir/dart_text.f32').writeAsBytesSync(audio.samples.buffer.asUint8List());
    out['text_words'] = [for (final w in audio.words) [w.word, w.start, w.end]];
  });

  await test('words as the input wrote them: text, spoken words, UTF-16 source offsets', () async {
    final results = <Object>[];
    for (final text in (inputs['word_texts'] as List).cast<String>()) {
      final audio = await speech.synthesize(text);
      check(audio.words.isNotEmpty, 'words of $text');
      for (var i = 0; i < audio.words.length; i++) {
        final w = audio.words[i];
        check(w.sourceStart != null && text.substring(w.sourceStart!, w.sourceEnd!) == w.word, 'source of $w in $text');
        check(i == 0 || w.sourceStart! >= audio.words[i - 1].sourceEnd!, 'words in input order: ${audio.words}');
      }
      results.add([for (final w in audio.words) [w.word, w.spoken, w.start, w.end, w.sourceStart, w.sourceEnd]]);
    }
    final phonemeWords = (await speech.synthesize('həlˈoʊ wˈɜːld', phonemes: true)).words;
    check(phonemeWords.every((w) => w.sourceStart == null && w.spoken == w.word), 'phoneme input: $phonemeWords');
    out['source_words'] = results;
  });

  await test('stream chunks joined: the sentences synthesized apart, the first in parts', () async {
    final sentences = (inputs['sentences'] as List).cast<String>();
    final chunks = await speech.stream(sentences.join(' ')).toList();
    // The first sentence is vocoded in parts (its first word alone); the later ones are short
    // enough to come whole (each at most twice the audio before it).
    check(chunks.length > sentences.length, '${chunks.length} chunks for ${sentences.length} sentences');
    check(chunks.last.isFinal && chunks.where((c) => c.isFinal).length == 1, 'one final chunk, the last');
    var at = 0;
    for (var i = 0; i < chunks.length; i++) {
      check(chunks[i].index == i && chunks[i].startSample == at, 'chunk $i at ${chunks[i].startSample}');
      at += chunks[i].samples.length;
    }
    final wholes = [for (final s in sentences) await speech.synthesize(s)];
    final wholeLength = wholes.fold<int>(0, (n, a) => n + a.samples.length);
    check(at == wholeLength, 'joined: $at samples, the sentences apart: $wholeLength');
    final later = chunks.length - (sentences.length - 1);
    for (var j = 1; j < sentences.length; j++) {
      check(_same(chunks[later + j - 1].samples, wholes[j].samples), 'chunk ${later + j - 1} equals synthesize("${sentences[j]}")');
    }
    final single = await speech.stream(sentences.first).toList();
    final singleLength = single.fold<int>(0, (n, c) => n + c.samples.length);
    check(single.length >= 2 && singleLength == wholes.first.samples.length,
        'one sentence: its parts joined have its length');
  });

  await test('abandoning a stream after its first chunk cancels the rest', () async {
    final longText = inputs['long_text'] as String;
    final watch = Stopwatch()..start();
    final first = await speech.stream(longText).first; // cancels the subscription
    final firstMs = watch.elapsedMilliseconds;
    check(!first.isFinal, 'more chunks were to come');
    final next = await speech.synthesize('hˈaɪ', phonemes: true);
    final totalMs = watch.elapsedMilliseconds;
    stdout.writeln('  first chunk $firstMs ms (${first.samples.length} samples), next call done at $totalMs ms');
    check(next.samples.isNotEmpty, 'usable after an abandoned stream');
    // The first chunk is the first word or so of four sentences (~10 s of audio): had the rest
    // run on, the next call would wait for over ten times the first chunk's work. Cancelled,
    // only that call's own (a short word: about twice the first chunk's) is left.
    check(totalMs - firstMs < 5 * firstMs, 'the rest was cancelled (${totalMs - firstMs} ms after the first chunk)');
  });

  await test('cancel from this isolate during a synthesis', () async {
    final job = speech.synthesize(inputs['long_text'] as String);
    await Future<void>.delayed(const Duration(milliseconds: 300));
    final watch = Stopwatch()..start();
    speech.cancel();
    final e = await throwsA<EdgeVedaException>(job, 'a cancelled synthesis');
    stdout.writeln('  cancel -> EV_ERR_CANCELLED in ${watch.elapsedMilliseconds} ms');
    check(e.isCancelled, '$e');
    check(watch.elapsedMilliseconds < 500, 'cancel took ${watch.elapsedMilliseconds} ms');
  });

  await test('a memory-pressure notification raised during a synthesis reaches memoryEvents', () async {
    final event = speech.memoryEvents.first;
    final job = speech.synthesize(inputs['sentences'][0] as String);
    await Future<void>.delayed(const Duration(milliseconds: 50));
    final notified = speech.notifyMemoryPressure(critical: true); // queued behind the synthesis
    final e = await event.timeout(const Duration(seconds: 60));
    await notified;
    check((await job).samples.isNotEmpty && e.currentBytes > 0, '$e');
  });

  await test('errors carry a code and a hint; the model stays usable', () async {
    final voice = await throwsA<EdgeVedaException>(speech.synthesize('hello', voice: 'no_such_voice'), 'unknown voice');
    check(voice.code == EV_ERR_INVALID_ARGUMENT && voice.hint.isNotEmpty, '$voice');
    final speed = await throwsA<EdgeVedaException>(speech.synthesize('hello', speed: 9), 'speed 9');
    check(speed.code == EV_ERR_INVALID_ARGUMENT && speed.hint.isNotEmpty, '$speed');
    check((await speech.synthesize('hˈaɪ', phonemes: true)).samples.isNotEmpty, 'usable after errors');
  });

  await test('40 synthesize calls: RSS grows by under 1 MiB', () async {
    // At speed 4: the same calls through the binding (params, audio struct, copy, free) with a
    // quarter of the vocoding. One call's audio is 33 KiB: leaking it (or more) would grow RSS
    // by 1.3 MiB; measured over 30 calls: 0.26 MiB (the Dart heap's own growth).
    for (var i = 0; i < 5; i++) {
      await speech.synthesize('hˈaɪ', phonemes: true, speed: 4);
    }
    final before = ProcessInfo.currentRss;
    for (var i = 0; i < 40; i++) {
      await speech.synthesize('hˈaɪ', phonemes: true, speed: 4);
    }
    final after = ProcessInfo.currentRss;
    stdout.writeln('  RSS ${before >> 10} KiB -> ${after >> 10} KiB');
    check(after - before < 1 << 20, 'RSS grew from $before to $after');
  });

  await test('warmup and close', () async {
    await speech.warmup();
    await speech.close();
    final e = await throwsA<EdgeVedaException>(speech.synthesize('x'), 'a call after close');
    check(e.code == EV_ERR_INVALID_STATE, '$e');
  });

  File('$outDir/dart.json').writeAsStringSync(jsonEncode(out));
  finish();
}

bool _same(Float32List a, Float32List b) {
  if (a.length != b.length) return false;
  for (var i = 0; i < a.length; i++) {
    if (a[i] != b[i]) return false;
  }
  return true;
}
