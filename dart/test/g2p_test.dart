/// g2p-en from Dart: dart test/g2p_test.dart LIB G2P_DIR INPUTS_JSON OUT_JSON
/// INPUTS_JSON: {"words": [...], "sentences": [...], "long_batch": [...]}. Writes OUT_JSON:
/// {"words": {word: phonemes}, "sentences": [[[token, phonemes, source], ...], ...]} for the
/// driver to compare with the Python binding's output.
import 'dart:async';
import 'dart:convert';
import 'dart:io';

import '../lib/edge_veda.dart';
import 'harness.dart';

Future<void> main(List<String> args) async {
  EdgeVeda.libraryPath = args[0];
  final inputs = jsonDecode(File(args[2]).readAsStringSync()) as Map<String, dynamic>;
  final words = (inputs['words'] as List).cast<String>();
  final sentences = (inputs['sentences'] as List).cast<String>();
  final longBatch = (inputs['long_batch'] as List).cast<String>();
  final model = await EdgeVeda.load(args[1], options: const LoadOptions(numThreads: 1));
  final out = <String, Object>{};

  await test('generate every word', () async {
    final results = <String, String>{};
    for (final w in words) {
      results[w] = await model.generate(w);
    }
    out['words'] = results;
  });

  await test('phonemize every sentence', () async {
    out['sentences'] = [
      for (final s in sentences)
        [for (final t in await model.phonemize(s)) [t.token, t.phonemes, t.source.name]]
    ];
  });

  await test('generateBatch equals generate', () async {
    final batch = await model.generateBatch(words.take(50).toList());
    final results = out['words'] as Map<String, String>;
    check(batch.length == 50, 'one output per prompt');
    for (var i = 0; i < 50; i++) {
      check(batch[i] == results[words[i]], 'batch ${words[i]}: ${batch[i]} vs ${results[words[i]]}');
    }
  });

  await test('stream yields the tokens of generate', () async {
    for (final w in words.take(40)) {
      final tokens = await model.stream(w).toList();
      check(tokens.join(' ') == await model.generate(w), 'stream $w: $tokens');
    }
  });

  await test('status answers at once during a long batch; cancel lands within 100 ms', () async {
    final batch = model.generateBatch(longBatch);
    await Future<void>.delayed(const Duration(milliseconds: 300));
    final statusWatch = Stopwatch()..start();
    final status = model.status();
    final statusMs = statusWatch.elapsedMilliseconds;
    check(status.modelKind == 'g2p' && status.capabilities.contains('phonemize'), 'status ${status.modelKind}');
    check(statusMs < 50, 'status took $statusMs ms during the batch');
    final cancelWatch = Stopwatch()..start();
    model.cancel();
    final e = await throwsA<EdgeVedaException>(batch, 'a cancelled batch');
    final ms = cancelWatch.elapsedMilliseconds;
    stdout.writeln('  cancel -> EV_ERR_CANCELLED in $ms ms');
    check(e.code == EV_ERR_CANCELLED, 'code ${e.code}: ${e.message}');
    check(ms < 100, 'cancel took $ms ms');
    check(await model.generate('hello') == 'HH AH0 L OW1', 'usable after a cancel');
  });

  await test('abandoning a stream cancels it; the model stays usable', () async {
    final first = await model.stream(longBatch.take(1).join()).first; // .first cancels the subscription
    check(first.isNotEmpty, 'a first token');
    check(await model.generate('world') == 'W ER1 L D', 'usable after an abandoned stream');
  });

  await test('bad input is an exception with a code and a hint; the model stays usable', () async {
    final e = await throwsA<EdgeVedaException>(model.generate('a' * 5000), 'an over-long prompt');
    check(e.code == EV_ERR_INVALID_ARGUMENT && e.hint.isNotEmpty, '$e');
    final batch = await throwsA<EdgeVedaException>(
        model.generate('x', params: const GenerationParams(temperature: -1)), 'a negative temperature');
    check(batch.code == EV_ERR_INVALID_ARGUMENT && batch.hint.isNotEmpty, '$batch');
    check(await model.generate('hello') == 'HH AH0 L OW1', 'usable after errors');
  });

  await test('memory pressure reaches memoryEvents on this isolate', () async {
    final event = model.memoryEvents.first;
    await model.notifyMemoryPressure();
    final e = await event.timeout(const Duration(seconds: 5));
    check(e.currentBytes > 0, '$e');
  });

  await test('1000 generate calls: RSS flat within 5%', () async {
    for (var i = 0; i < 200; i++) {
      await model.generate(words[i % words.length]);
    }
    final before = ProcessInfo.currentRss;
    for (var i = 0; i < 1000; i++) {
      await model.generate(words[i % words.length]);
    }
    final after = ProcessInfo.currentRss;
    stdout.writeln('  RSS ${before >> 10} KiB -> ${after >> 10} KiB');
    check(after <= before * 1.05, 'RSS grew from $before to $after');
  });

  await test('warmup', () => model.warmup());

  await test('a closed model refuses calls with a hint', () async {
    await model.close();
    await model.close(); // idempotent
    final e = await throwsA<EdgeVedaException>(model.generate('x'), 'a call after close');
    check(e.code == EV_ERR_INVALID_STATE && e.hint.contains('load it again'), '$e');
  });

  await test('a missing artifact is an exception from load', () async {
    final e = await throwsA<EdgeVedaException>(EdgeVeda.load('/nonexistent/model'), 'load of a missing dir');
    check(e.code == EV_ERR_MODEL_NOT_FOUND && e.hint.isNotEmpty, '$e');
  });

  File(args[3]).writeAsStringSync(jsonEncode(out));
  finish();
}
