// Lexicon file reader: docs/lexicon-format.md is the format's definition.
#include "models/lexicon.h"

#include <cstring>
#include <string>

#include "core/errors.h"

namespace ev {

namespace {

const char kMagic[8] = {'E', 'V', 'L', 'E', 'X', 'C', 'O', 'N'};

inline uint32_t load_u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

[[noreturn]] void invalid(const std::string& what) {
    throw Error(EV_ERR_MODEL_INVALID, "lexicon file is invalid: " + what,
                "rebuild the artifact (edge-veda compile) or pull it again");
}

// [offset, offset + length) must lie inside [lo, hi).
void check_section(const char* name, uint64_t offset, uint64_t length, uint64_t lo, uint64_t hi) {
    if (offset < lo || offset > hi || length > hi - offset)
        invalid(std::string(name) + " section [" + std::to_string(offset) + ", +" + std::to_string(length) +
                ") lies outside [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
}

int compare_words(std::string_view a, std::string_view b) {
    const size_t n = a.size() < b.size() ? a.size() : b.size();
    const int c = n ? std::memcmp(a.data(), b.data(), n) : 0;
    if (c != 0) return c;
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

}  // namespace

uint32_t Lexicon::record_offset(size_t i) const { return load_u32(index_ + 4 * i); }

std::string_view Lexicon::word_at(size_t i) const {
    const uint8_t* r = records_ + record_offset(i);
    return std::string_view(reinterpret_cast<const char*>(r + 1), r[0]);
}

PhonemeSpan Lexicon::phonemes_at(size_t i) const {
    const uint8_t* r = records_ + record_offset(i);
    const uint8_t* p = r + 1 + r[0];
    return PhonemeSpan{p + 1, p[0]};
}

std::unique_ptr<Lexicon> Lexicon::open(const void* data, size_t size) {
    if (data == nullptr) invalid("no data");
    const uint8_t* base = static_cast<const uint8_t*>(data);
    if (size < kHeaderSize) invalid("file is " + std::to_string(size) + " bytes, shorter than its header");
    if (std::memcmp(base, kMagic, sizeof kMagic) != 0) invalid("bad magic (not a lexicon file)");
    const uint32_t version = load_u32(base + 8);
    if (version != kVersion)
        invalid("format version " + std::to_string(version) + ", this library reads version " +
                std::to_string(kVersion));
    const uint32_t header_size = load_u32(base + 12);
    const uint32_t file_size = load_u32(base + 16);
    const uint32_t word_count = load_u32(base + 20);
    const uint32_t symbol_count = load_u32(base + 24);
    const uint32_t symbols_offset = load_u32(base + 28);
    const uint32_t symbols_size = load_u32(base + 32);
    const uint32_t index_offset = load_u32(base + 36);
    const uint32_t records_offset = load_u32(base + 40);
    const uint32_t records_size = load_u32(base + 44);
    if (header_size != kHeaderSize) invalid("header size " + std::to_string(header_size));
    if (file_size != size)
        invalid("file is " + std::to_string(size) + " bytes, its header says " + std::to_string(file_size) +
                " (truncated or padded)");
    if (symbol_count == 0 || symbol_count > 256)
        invalid("symbol count " + std::to_string(symbol_count) + " (must be 1..256)");
    // Sections in file order, none overlapping: symbols, index, records.
    check_section("symbols", symbols_offset, symbols_size, kHeaderSize, size);
    check_section("index", index_offset, 4ull * word_count, uint64_t(symbols_offset) + symbols_size, size);
    check_section("records", records_offset, records_size, uint64_t(index_offset) + 4ull * word_count, size);

    std::unique_ptr<Lexicon> lex(new Lexicon());

    // Symbol table: symbol_count non-empty printable-ASCII names, each ended by a NUL.
    const char* sym = reinterpret_cast<const char*>(base + symbols_offset);
    size_t start = 0;
    for (size_t i = 0; i < symbols_size; ++i) {
        const unsigned char c = static_cast<unsigned char>(sym[i]);
        if (c == 0) {
            if (i == start) invalid("empty phoneme symbol " + std::to_string(lex->symbols_.size()));
            lex->symbols_.emplace_back(sym + start, i - start);
            start = i + 1;
        } else if (c < 0x21 || c > 0x7E) {
            invalid("phoneme symbol " + std::to_string(lex->symbols_.size()) + " is not printable ASCII");
        }
    }
    if (start != symbols_size || lex->symbols_.size() != symbol_count)
        invalid("symbol table does not hold " + std::to_string(symbol_count) + " NUL-terminated names");

    lex->index_ = base + index_offset;
    lex->records_ = base + records_offset;
    lex->records_size_ = records_size;
    lex->count_ = word_count;

    // Records: each one exactly fills the span from its offset to the next one's (or to the end),
    // words strictly increasing in byte order, phoneme ids inside the symbol table.
    if (word_count == 0 ? records_size != 0 : lex->record_offset(0) != 0)
        invalid("first record does not start the records section");
    std::string_view previous;
    for (size_t i = 0; i < word_count; ++i) {
        const uint64_t begin = lex->record_offset(i);
        const uint64_t end = i + 1 < word_count ? lex->record_offset(i + 1) : records_size;
        if (end > records_size || begin >= end || end - begin < 2)
            invalid("record " + std::to_string(i) + " has offsets [" + std::to_string(begin) + ", " +
                    std::to_string(end) + ")");
        const uint8_t* r = lex->records_ + begin;
        const uint64_t word_len = r[0];
        if (word_len == 0 || 2 + word_len > end - begin)
            invalid("record " + std::to_string(i) + ": word length " + std::to_string(word_len));
        const uint64_t phoneme_count = r[1 + word_len];
        if (2 + word_len + phoneme_count != end - begin)
            invalid("record " + std::to_string(i) + " does not fill its " + std::to_string(end - begin) +
                    " bytes");
        const uint8_t* ids = r + 2 + word_len;
        for (uint64_t k = 0; k < phoneme_count; ++k)
            if (ids[k] >= symbol_count)
                invalid("record " + std::to_string(i) + ": phoneme id " + std::to_string(ids[k]) +
                        " >= symbol count " + std::to_string(symbol_count));
        const std::string_view word(reinterpret_cast<const char*>(r + 1), word_len);
        if (i > 0 && compare_words(previous, word) >= 0)
            invalid("words are not strictly sorted at record " + std::to_string(i));
        previous = word;
    }
    return lex;
}

bool Lexicon::find(std::string_view word, PhonemeSpan* out) const {
    size_t lo = 0, hi = count_;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const int c = compare_words(word_at(mid), word);
        if (c == 0) {
            if (out) *out = phonemes_at(mid);
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool Lexicon::lookup(std::string_view word, std::vector<int32_t>* out) const {
    PhonemeSpan span;
    if (!find(word, &span)) return false;
    if (out) out->assign(span.ids, span.ids + span.size);
    return true;
}

}  // namespace ev
