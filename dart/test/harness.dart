/// A test harness for plain Dart programs (no package:test on a bare VM): named checks, a
/// summary line, and exit code 1 when one failed. The pytest driver (tests/test_dart.py) runs
/// each program and reads its output files.
library;

import 'dart:io';

final List<String> _failures = [];

/// Runs [body] as the check [name]; an exception or a false [check] inside fails it.
Future<void> test(String name, Future<void> Function() body) async {
  final sw = Stopwatch()..start();
  try {
    await body();
    stdout.writeln('PASS $name (${sw.elapsedMilliseconds} ms)');
  } catch (e, stack) {
    _failures.add(name);
    stdout.writeln('FAIL $name: $e\n$stack');
  }
}

void check(bool ok, String what) {
  if (!ok) throw StateError('check failed: $what');
}

/// Awaits [future] and returns the exception it failed with; fails when it succeeded.
Future<E> throwsA<E extends Object>(Future<Object?> future, String what) async {
  try {
    await future;
  } on E catch (e) {
    return e;
  }
  throw StateError('expected $E: $what');
}

/// Ends the program: exit code 1 if any check failed.
Never finish() {
  stdout.writeln(_failures.isEmpty ? 'ALL PASSED' : 'FAILED: ${_failures.join(', ')}');
  exit(_failures.isEmpty ? 0 : 1);
}
