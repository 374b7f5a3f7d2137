// Pronunciation lexicon read in place from a file image (docs/lexicon-format.md): a sorted
// word table searched by binary search, pronunciations as one-byte ids into the file's own
// phoneme symbol table. Nothing is copied out of the image except the symbol table's views;
// the caller keeps the image (normally a read-only mmap) alive and unchanged while the
// Lexicon lives. open() checks every header field, offset and length once, so no lookup can
// read outside the image. Lookups are const and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace ev {

// A pronunciation inside the image: `size` phoneme ids, each < Lexicon::symbol_count().
struct PhonemeSpan {
    const uint8_t* ids = nullptr;
    size_t size = 0;
};

class Lexicon {
public:
    static constexpr uint32_t kVersion = 1;
    static constexpr size_t kHeaderSize = 48;

    // Throws ev::Error(EV_ERR_MODEL_INVALID) when the image is not a valid lexicon (wrong magic
    // or version, truncated, any offset or length out of range, words not strictly sorted,
    // a phoneme id outside the symbol table).
    static std::unique_ptr<Lexicon> open(const void* data, size_t size);

    // Exact, case-sensitive lookup (words are stored lowercase). Returns false when absent.
    bool find(std::string_view word, PhonemeSpan* out) const;
    // Same, with the ids copied into *out (replacing its contents).
    bool lookup(std::string_view word, std::vector<int32_t>* out) const;

    size_t size() const { return count_; }                    // number of words
    size_t symbol_count() const { return symbols_.size(); }   // phoneme symbols
    std::string_view symbol(size_t id) const { return symbols_[id]; }
    const std::vector<std::string_view>& symbols() const { return symbols_; }

    // Entry i in sorted order (i < size()), for iteration and tests.
    std::string_view word_at(size_t i) const;
    PhonemeSpan phonemes_at(size_t i) const;

private:
    Lexicon() = default;
    uint32_t record_offset(size_t i) const;

    const uint8_t* index_ = nullptr;    // count_ little-endian u32 record offsets
    const uint8_t* records_ = nullptr;  // records_size_ bytes of records
    size_t records_size_ = 0;
    size_t count_ = 0;
    std::vector<std::string_view> symbols_;
};

}  // namespace ev
