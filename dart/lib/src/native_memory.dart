/// The few native-memory helpers this package needs, on dart:ffi alone (no package:ffi, so the
/// package runs on a bare Dart VM as well as in Flutter): a UTF-8 string type, conversions, and
/// an allocator over the C library's malloc/free.
///
/// Ownership (the header's rule, applied here): memory from [malloc] is Dart's and is freed by
/// Dart, in `finally`; memory libedge_veda returns is freed only by the ev_*_free function
/// named in the header, never by [malloc].
library;

import 'dart:convert';
import 'dart:ffi';
import 'dart:typed_data';

/// A NUL-terminated UTF-8 string in native memory (the header's `const char*`).
final class Utf8 extends Opaque {}

final DynamicLibrary _libc = DynamicLibrary.process();
final Pointer<Void> Function(int) _malloc =
    _libc.lookupFunction<Pointer<Void> Function(IntPtr), Pointer<Void> Function(int)>('malloc');
final void Function(Pointer<Void>) _free =
    _libc.lookupFunction<Void Function(Pointer<Void>), void Function(Pointer<Void>)>('free');

/// The C library's malloc/free as an [Allocator]: `malloc<Int32>()`, `malloc.free(p)`.
/// allocate throws [OutOfMemoryError] instead of returning NULL.
class NativeAllocator implements Allocator {
  const NativeAllocator();

  @override
  Pointer<T> allocate<T extends NativeType>(int byteCount, {int? alignment}) {
    final p = _malloc(byteCount < 1 ? 1 : byteCount);
    if (p.address == 0) throw OutOfMemoryError();
    return p.cast<T>();
  }

  @override
  void free(Pointer pointer) => _free(pointer.cast());

  /// [byteCount] zeroed bytes as a `T` (a struct the caller fills field by field).
  Pointer<T> zeroed<T extends NativeType>(int byteCount) {
    final p = allocate<Uint8>(byteCount);
    p.asTypedList(byteCount).fillRange(0, byteCount, 0);
    return p.cast<T>();
  }
}

const NativeAllocator malloc = NativeAllocator();

extension Utf8Pointer on Pointer<Utf8> {
  /// The bytes before the NUL.
  int get length {
    final bytes = cast<Uint8>();
    var n = 0;
    while (bytes[n] != 0) {
      n++;
    }
    return n;
  }

  /// Decodes the string (malformed UTF-8 becomes U+FFFD). Copies: the result does not depend
  /// on the native memory afterwards. A NULL pointer is the empty string.
  String toDartString() {
    if (address == 0) return '';
    return utf8.decode(cast<Uint8>().asTypedList(length), allowMalformed: true);
  }
}

extension StringUtf8 on String {
  /// A malloc'ed NUL-terminated UTF-8 copy; the caller frees it with `malloc.free`.
  Pointer<Utf8> toNativeUtf8({Allocator allocator = malloc}) {
    final Uint8List units = utf8.encode(this);
    final p = allocator.allocate<Uint8>(units.length + 1);
    final view = p.asTypedList(units.length + 1);
    view.setAll(0, units);
    view[units.length] = 0;
    return p.cast<Utf8>();
  }
}
