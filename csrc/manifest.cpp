#include "manifest.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tvm/ffi/any.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/extra/json.h>
#include <tvm/ffi/string.h>

#include "edge_veda.h"
#include "errors.h"
#include "sha256.h"

namespace ev {
namespace {

namespace ffi = tvm::ffi;
namespace json = tvm::ffi::json;

const char* kFixHint = "rebuild the artifact with `edge-veda compile` for this library version";
const char* kResealHint =
    "the artifact was modified or is incomplete: rebuild it with `edge-veda compile g2p-en -o DIR` "
    "or pull it again with `edge-veda models pull NAME`";
const char* kDigestFile = "manifest.json.sha256";

[[noreturn]] void invalid(const std::string& where, const std::string& what, const char* hint = kFixHint) {
    throw Error(EV_ERR_MODEL_INVALID, where + ": " + what, hint);
}

// ---- strict JSON ------------------------------------------------------------------------
// tvm-ffi's parser accepts a superset of JSON (Infinity, NaN, leading zeros, invalid UTF-8 in
// strings) and recurses once per nesting level (100000 '[' overflow the stack). This lexical
// pass rejects all of those before the text reaches it.

size_t utf8_sequence_length(const unsigned char* s, size_t left) {
    if (s[0] < 0x80) return 1;
    size_t len;
    uint32_t v;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; v = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; v = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; v = s[0] & 0x07; }
    else return 0;
    if (len > left) return 0;
    for (size_t i = 1; i < len; ++i) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return len;
}

void check_strict_json(const std::string& text, const std::string& where) {
    const unsigned char* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    int depth = 0;
    auto fail = [&](size_t at, const std::string& what) {
        invalid(where, "invalid JSON at byte " + std::to_string(at) + ": " + what);
    };
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        if (c == '"') {
            for (++i;; ) {
                if (i >= n) fail(n, "unterminated string");
                if (s[i] == '"') { ++i; break; }
                if (s[i] == '\\') { i += 2; continue; }  // the escape itself is checked by the parser
                const size_t len = utf8_sequence_length(s + i, n - i);
                if (len == 0) fail(i, "invalid UTF-8");
                i += len;
            }
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxJsonDepth) fail(i, "nested deeper than " + std::to_string(kMaxJsonDepth));
            ++i;
        } else if (c == ']' || c == '}') {
            --depth;
            ++i;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i + (c == '-' ? 1 : 0);
            if (j >= n || s[j] < '0' || s[j] > '9') fail(i, "a number needs digits (no Infinity/NaN)");
            if (s[j] == '0' && j + 1 < n && s[j + 1] >= '0' && s[j + 1] <= '9') fail(i, "leading zero");
            while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                             s[j] == '+' || s[j] == '-'))
                ++j;
            i = j;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t j = i;
            while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) ++j;
            const std::string word = text.substr(i, j - i);
            if (word != "true" && word != "false" && word != "null")
                fail(i, "'" + word.substr(0, 16) + "' is not a JSON value");
            i = j;
        } else if (c < 0x80) {
            ++i;  // whitespace and punctuation: the parser checks the grammar
        } else {
            fail(i, "byte outside a string");
        }
    }
}

// ---- typed access --------------------------------------------------------------------------

std::string type_name(const ffi::Any& v) {
    switch (v.type_index()) {
        case ffi::TypeIndex::kTVMFFINone: return "null";
        case ffi::TypeIndex::kTVMFFIInt: return "an integer";
        case ffi::TypeIndex::kTVMFFIBool: return "a boolean";
        case ffi::TypeIndex::kTVMFFIFloat: return "a number with a fraction or exponent";
        case ffi::TypeIndex::kTVMFFIArray: return "an array";
        case ffi::TypeIndex::kTVMFFIMap: return "an object";
        default: return v.as<ffi::String>().has_value() ? "a string" : "another type";
    }
}

class Reader {
public:
    explicit Reader(std::string where) : where_(std::move(where)) {}

    const ffi::Any* find(const json::Object& obj, const char* key) {
        auto it = obj.find(ffi::Any(ffi::String(key)));
        if (it == obj.end()) return nullptr;
        slot_ = (*it).second;
        return &slot_;
    }

    [[noreturn]] void mistyped(const std::string& field, const std::string& want, const ffi::Any* got) {
        invalid(where_, "field '" + field + "' " + (got ? "must be " + want + ", not " + type_name(*got)
                                                          : "is missing (" + want + ")"));
    }

    json::Object object(const json::Object& obj, const char* key, const std::string& field, bool required = true) {
        const ffi::Any* v = find(obj, key);
        if (!v && !required) return json::Object();
        if (!v || v->type_index() != ffi::TypeIndex::kTVMFFIMap) mistyped(field, "an object", v);
        return v->cast<json::Object>();
    }

    json::Array array(const json::Object& obj, const char* key, const std::string& field) {
        const ffi::Any* v = find(obj, key);
        if (!v || v->type_index() != ffi::TypeIndex::kTVMFFIArray) mistyped(field, "an array", v);
        return v->cast<json::Array>();
    }

    std::string string_value(const ffi::Any& v, const std::string& field, size_t max_bytes) {
        std::optional<ffi::String> s = v.as<ffi::String>();
        if (!s.has_value()) mistyped(field, "a string", &v);
        std::string out(s->data(), s->size());
        if (out.size() > max_bytes)
            invalid(where_, "field '" + field + "' is longer than " + std::to_string(max_bytes) + " bytes");
        if (out.find('\0') != std::string::npos) invalid(where_, "field '" + field + "' contains a NUL character");
        return out;
    }

    std::string string(const json::Object& obj, const char* key, const std::string& field, size_t max_bytes,
                       const char* fallback = nullptr) {
        const ffi::Any* v = find(obj, key);
        if (!v && fallback) return fallback;
        if (!v) mistyped(field, "a string", v);
        return string_value(*v, field, max_bytes);
    }

    // An integer (1.0, 1e3 and true are refused) within [lo, hi]; `fallback` when absent.
    int64_t integer(const json::Object& obj, const char* key, const std::string& field, int64_t lo, int64_t hi,
                    const int64_t* fallback = nullptr) {
        const ffi::Any* v = find(obj, key);
        if (!v && fallback) return *fallback;
        return integer_value(v, field, lo, hi);
    }

    int64_t integer_value(const ffi::Any* v, const std::string& field, int64_t lo, int64_t hi) {
        if (!v || v->type_index() != ffi::TypeIndex::kTVMFFIInt) mistyped(field, "an integer", v);
        const int64_t x = v->cast<int64_t>();
        if (x < lo || x > hi)
            invalid(where_, "field '" + field + "' is " + std::to_string(x) + ", allowed " + std::to_string(lo) +
                                ".." + std::to_string(hi));
        return x;
    }

    bool boolean(const json::Object& obj, const char* key, const std::string& field, bool fallback) {
        const ffi::Any* v = find(obj, key);
        if (!v) return fallback;
        if (v->type_index() != ffi::TypeIndex::kTVMFFIBool) mistyped(field, "true or false", v);
        return v->cast<bool>();
    }

    const std::string& where() const { return where_; }

private:
    std::string where_;
    ffi::Any slot_;
};

std::vector<std::string> string_list(Reader& r, const json::Array& arr, const std::string& field) {
    if (arr.empty()) invalid(r.where(), "field '" + field + "' is empty");
    if (static_cast<int64_t>(arr.size()) > kMaxVocabSize)
        invalid(r.where(), "field '" + field + "' has " + std::to_string(arr.size()) + " entries, at most " +
                               std::to_string(kMaxVocabSize) + " allowed");
    std::vector<std::string> out;
    out.reserve(arr.size());
    for (size_t i = 0; i < arr.size(); ++i)
        out.push_back(r.string_value(arr[i], field + "[" + std::to_string(i) + "]", 256));
    return out;
}

bool plain_file_name(const std::string& name) {
    return !name.empty() && name.size() <= 255 && name[0] != '.' && name.find('/') == std::string::npos;
}

bool is_hex_digest(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// ---- files -----------------------------------------------------------------------------------

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { if (fd_ >= 0) ::close(fd_); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

// The canonical path of `path`, which must lie inside `real_dir` (symlinks that stay inside
// are fine). ENOENT -> EV_ERR_MODEL_NOT_FOUND.
std::string resolve_inside(const std::string& real_dir, const std::string& name, const char* missing_hint) {
    const std::string path = real_dir + "/" + name;
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr) {
        const int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            throw Error(EV_ERR_MODEL_NOT_FOUND, "'" + path + "' is missing", missing_hint);
        invalid(path, std::string("cannot resolve: ") + std::strerror(err));
    }
    const std::string out = resolved;
    const std::string prefix = real_dir == "/" ? real_dir : real_dir + "/";
    if (out.compare(0, prefix.size(), prefix) != 0)
        invalid(path, "resolves to '" + out + "', outside the artifact directory",
                "every file of an artifact must be inside its directory; copy the file in instead of linking it");
    return out;
}

// Opens `path` for reading without following a final symlink and without blocking (a FIFO
// opens at once), and requires a regular file.
int open_regular(const std::string& path, struct stat* st) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT)
            throw Error(EV_ERR_MODEL_NOT_FOUND, "'" + path + "' is missing", kResealHint);
        invalid(path, std::string("cannot open: ") + std::strerror(err));
    }
    if (::fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        ::close(fd);
        invalid(path, "is not a regular file (a FIFO, device or directory cannot be part of an artifact)",
                kResealHint);
    }
    return fd;
}

// Reads a whole regular file of at most `cap` bytes (the loop ends at EOF or one byte past
// the cap, so a file that grows while being read is still bounded).
std::string read_capped(const std::string& path, uint64_t cap) {
    struct stat st;
    Fd fd(open_regular(path, &st));
    if (static_cast<uint64_t>(st.st_size) > cap)
        invalid(path, "is " + std::to_string(st.st_size) + " bytes, more than the " + std::to_string(cap) +
                          " allowed");
    std::string out;
    out.resize(static_cast<size_t>(st.st_size));
    size_t have = 0;
    char extra;
    for (;;) {
        char* dst = have < out.size() ? &out[have] : &extra;
        const size_t want = have < out.size() ? out.size() - have : 1;
        const ssize_t got = ::read(fd.get(), dst, want);
        if (got < 0) {
            if (errno == EINTR) continue;
            invalid(path, std::string("read failed: ") + std::strerror(errno));
        }
        if (got == 0) break;
        if (have >= out.size()) invalid(path, "changed while being read");
        have += static_cast<size_t>(got);
    }
    out.resize(have);
    return out;
}

// What the verification cache trusts: a file whose device, inode, size, mtime and ctime are
// unchanged has unchanged content (ctime cannot be set back by an unprivileged user, and every
// write updates it). docs/artifact-format.md, "Verification".
using FileKey = std::tuple<uint64_t, uint64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

FileKey key_of(const struct stat& st) {
    return FileKey(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                   static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec),
                   static_cast<int64_t>(st.st_mtim.tv_nsec), static_cast<int64_t>(st.st_ctim.tv_sec),
                   static_cast<int64_t>(st.st_ctim.tv_nsec));
}

std::mutex g_verified_mu;
std::map<FileKey, std::string>& verified_digests() {
    static std::map<FileKey, std::string>* cache = new std::map<FileKey, std::string>();  // never destroyed:
    return *cache;  // a context freed by a static destructor may still look here
}
constexpr size_t kMaxCachedDigests = 1024;

std::string hash_fd(int fd, const std::string& path, uint64_t expected_size) {
    Sha256 h;
    std::vector<char> buf(1 << 20);
    uint64_t total = 0;
    for (;;) {
        const ssize_t got = ::read(fd, buf.data(), buf.size());
        if (got < 0) {
            if (errno == EINTR) continue;
            invalid(path, std::string("read failed: ") + std::strerror(errno));
        }
        if (got == 0) break;
        total += static_cast<uint64_t>(got);
        if (total > expected_size) break;
        h.update(buf.data(), static_cast<size_t>(got));
    }
    if (total != expected_size)
        throw Error(EV_ERR_MODEL_INVALID, path + " changed while being verified",
                    "the file is being replaced: try again when the copy is complete");
    return h.hex_digest();
}

// The verified SHA-256 of one listed file.
void verify_file(const std::string& real_dir, const ArtifactFile& f) {
    const std::string path = resolve_inside(real_dir, f.name, kResealHint);
    struct stat st;
    Fd fd(open_regular(path, &st));
    if (static_cast<uint64_t>(st.st_size) != f.size)
        throw Error(EV_ERR_MODEL_INVALID,
                    path + " has " + std::to_string(st.st_size) + " bytes, manifest says " + std::to_string(f.size),
                    "the file is truncated or replaced: copy or download the artifact again");
    const FileKey key = key_of(st);
    std::string digest;
    {
        std::lock_guard<std::mutex> g(g_verified_mu);
        auto it = verified_digests().find(key);
        if (it != verified_digests().end()) digest = it->second;
    }
    if (digest.empty()) {
        digest = hash_fd(fd.get(), path, f.size);
        struct stat after;
        // Cache only what was hashed from a file that did not change meanwhile.
        if (::fstat(fd.get(), &after) == 0 && key_of(after) == key) {
            std::lock_guard<std::mutex> g(g_verified_mu);
            if (verified_digests().size() >= kMaxCachedDigests) verified_digests().clear();
            verified_digests()[key] = digest;
        }
    }
    if (digest != f.sha256)
        throw Error(EV_ERR_MODEL_INVALID, path + " has SHA-256 " + digest + ", manifest says " + f.sha256,
                    "the file was modified or corrupted: copy or pull the artifact again, or rebuild it with "
                    "`edge-veda compile`");
}

}  // namespace

Manifest Manifest::parse(const std::string& text, const std::string& dir) {
    const std::string path = dir + "/manifest.json";
    if (text.size() > kMaxManifestBytes)
        invalid(path, "is " + std::to_string(text.size()) + " bytes, more than the " +
                          std::to_string(kMaxManifestBytes) + " allowed");
    check_strict_json(text, path);
    ffi::String error;
    json::Value root_value = json::Parse(ffi::String(text), &error);
    if (!error.empty()) invalid(path, "invalid JSON: " + std::string(error.data(), error.size()));
    if (root_value.type_index() != ffi::TypeIndex::kTVMFFIMap) invalid(path, "top level is not an object");
    const json::Object root = root_value.cast<json::Object>();
    Reader r(path);

    Manifest m;
    m.dir = dir;
    {
        const ffi::Any* v = r.find(root, "format_version");
        if (!v || v->type_index() != ffi::TypeIndex::kTVMFFIInt) r.mistyped("format_version", "an integer", v);
        const int64_t fv = v->cast<int64_t>();
        if (fv != kArtifactFormatVersion)
            throw Error(EV_ERR_MODEL_INVALID,
                        path + ": artifact format " + std::to_string(fv) +
                            " is not supported (this library reads format " +
                            std::to_string(kArtifactFormatVersion) + ")",
                        kFixHint);
        m.format_version = static_cast<int>(fv);
        v = r.find(root, "ev_abi_version");
        if (!v || v->type_index() != ffi::TypeIndex::kTVMFFIInt) r.mistyped("ev_abi_version", "an integer", v);
        const int64_t abi = v->cast<int64_t>();
        if (abi != EV_ABI_VERSION)
            throw Error(EV_ERR_MODEL_INVALID,
                        path + ": built for EV ABI " + std::to_string(abi) + ", library has ABI " +
                            std::to_string(EV_ABI_VERSION),
                        kFixHint);
    }
    m.name = r.string(root, "name", "name", 256);
    m.kind = r.string(root, "kind", "kind", 256);
    if (m.kind != "seq2seq-gru")
        throw Error(EV_ERR_MODEL_INVALID, path + ": model kind '" + m.kind + "' is not supported",
                    "supported kinds: seq2seq-gru");
    m.tvm_version = r.string(root, "tvm_version", "tvm_version", 256, "");
    m.library = r.string(root, "library", "library", 255);
    if (!plain_file_name(m.library))
        invalid(path, "'library' must be a plain file name inside the artifact directory");

    const json::Object entry = r.object(root, "entry_functions", "entry_functions");
    m.encode_fn = r.string(entry, "encode", "entry_functions.encode", 256);
    m.decode_step_fn = r.string(entry, "decode_step", "entry_functions.decode_step", 256);
    m.greedy_fn = r.string(entry, "greedy", "entry_functions.greedy", 256, "");

    const json::Object model = r.object(root, "model", "model");
    m.hidden_size = static_cast<int32_t>(r.integer(model, "hidden_size", "model.hidden_size", 1, kMaxHiddenSize));
    m.logits_size = static_cast<int32_t>(r.integer(model, "logits_size", "model.logits_size", 1, kMaxLogitsSize));
    const int64_t no_steps = 0;
    m.greedy_max_steps = static_cast<int32_t>(
        r.integer(model, "greedy_max_steps", "model.greedy_max_steps", m.greedy_fn.empty() ? 0 : 1,
                  kMaxGreedySteps, m.greedy_fn.empty() ? &no_steps : nullptr));
    const int64_t zero = 0;
    m.weights_bytes = static_cast<uint64_t>(
        r.integer(model, "weights_bytes", "model.weights_bytes", 0, kMaxBytesField, &zero));
    m.workspace_bytes = static_cast<uint64_t>(
        r.integer(model, "workspace_bytes", "model.workspace_bytes", 0, kMaxBytesField, &zero));

    const json::Object vocab = r.object(root, "vocab", "vocab");
    m.input_vocab = string_list(r, r.array(vocab, "input", "vocab.input"), "vocab.input");
    m.output_vocab = string_list(r, r.array(vocab, "output", "vocab.output"), "vocab.output");
    if (m.logits_size < static_cast<int64_t>(m.output_vocab.size()))
        invalid(path, "model.logits_size " + std::to_string(m.logits_size) + " is smaller than vocab.output (" +
                          std::to_string(m.output_vocab.size()) + " entries)");

    const json::Object tok = r.object(root, "tokenizer", "tokenizer", false);
    m.lowercase_ascii = r.boolean(tok, "lowercase_ascii", "tokenizer.lowercase_ascii", false);
    m.output_separator = r.string(tok, "output_separator", "tokenizer.output_separator", 64, " ");

    const json::Object special = r.object(root, "special_tokens", "special_tokens");
    const int64_t in_max = static_cast<int64_t>(m.input_vocab.size()) - 1;
    const int64_t out_max = static_cast<int64_t>(m.output_vocab.size()) - 1;
    m.input_unk = static_cast<int32_t>(r.integer(special, "input_unk", "special_tokens.input_unk", 0, in_max));
    m.input_eos = static_cast<int32_t>(r.integer(special, "input_eos", "special_tokens.input_eos", 0, in_max));
    m.output_bos = static_cast<int32_t>(r.integer(special, "output_bos", "special_tokens.output_bos", 0, out_max));
    m.output_eos = static_cast<int32_t>(r.integer(special, "output_eos", "special_tokens.output_eos", 0, out_max));

    const json::Object gen = r.object(root, "generation_defaults", "generation_defaults", false);
    const int64_t default_tokens = m.defaults.max_tokens;
    m.defaults.max_tokens = static_cast<int32_t>(
        r.integer(gen, "max_tokens", "generation_defaults.max_tokens", 1, kMaxDefaultTokens, &default_tokens));

    const json::Object limits = r.object(root, "limits", "limits", false);
    const int64_t default_chars = kDefaultMaxInputChars;
    m.max_input_chars = static_cast<int32_t>(
        r.integer(limits, "max_input_chars", "limits.max_input_chars", 1, kMaxInputCharsBound, &default_chars));

    const json::Object files = r.object(root, "files", "files");
    if (static_cast<int64_t>(files.size()) > kMaxFiles)
        invalid(path, "'files' lists " + std::to_string(files.size()) + " files, at most " +
                          std::to_string(kMaxFiles) + " allowed");
    bool library_listed = false;
    for (const auto& kv : files) {
        ArtifactFile f;
        f.name = r.string_value(kv.first, "files key", 255);
        if (!plain_file_name(f.name))
            invalid(path, "'files' names '" + f.name + "': only plain file names inside the artifact directory "
                          "are allowed (no '/', no '..', no leading '.')");
        const std::string field = "files." + f.name;
        if (kv.second.type_index() != ffi::TypeIndex::kTVMFFIMap) r.mistyped(field, "an object", &kv.second);
        const json::Object entry_obj = kv.second.cast<json::Object>();
        f.size = static_cast<uint64_t>(r.integer(entry_obj, "size", field + ".size", 0, kMaxBytesField));
        f.sha256 = r.string(entry_obj, "sha256", field + ".sha256", 64);
        if (!is_hex_digest(f.sha256)) invalid(path, "'" + field + ".sha256' is not 64 lowercase hex digits");
        if (f.name == m.library) {
            library_listed = true;
            m.library_size = f.size;
        }
        m.files.push_back(std::move(f));
    }
    if (!library_listed)
        invalid(path, "'files' does not list the library '" + m.library + "' (its size and SHA-256)");
    return m;
}

Manifest Manifest::load(const std::string& dir) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw Error(EV_ERR_MODEL_NOT_FOUND, "no artifact directory at '" + dir + "'",
                    "pass the directory that holds manifest.json (build one with `edge-veda "
                    "compile g2p-en -o DIR`, or use a model name from `edge-veda models list`)");
    char resolved[PATH_MAX];
    if (::realpath(dir.c_str(), resolved) == nullptr)
        throw Error(EV_ERR_MODEL_NOT_FOUND, "cannot resolve the artifact directory '" + dir + "': " +
                    std::strerror(errno), "pass an existing directory that holds manifest.json");
    const std::string real_dir = resolved;

    const std::string path = real_dir + "/manifest.json";
    std::string manifest_path;
    try {
        manifest_path = resolve_inside(real_dir, "manifest.json",
                                       "an artifact directory must hold manifest.json next to the compiled library");
    } catch (const Error& e) {
        if (e.code() == EV_ERR_MODEL_NOT_FOUND)
            throw Error(EV_ERR_MODEL_NOT_FOUND, "no manifest at '" + dir + "/manifest.json'",
                        "an artifact directory must hold manifest.json next to the compiled library");
        throw;
    }
    const std::string text = read_capped(manifest_path, kMaxManifestBytes);

    // The sidecar seals the manifest: no value of it is trusted before the digest matches.
    std::string sidecar;
    try {
        sidecar = read_capped(resolve_inside(real_dir, kDigestFile, kResealHint), 4096);
    } catch (const Error& e) {
        if (e.code() != EV_ERR_MODEL_NOT_FOUND) throw;
        throw Error(EV_ERR_MODEL_INVALID, dir + "/" + kDigestFile + " is missing: manifest.json is not sealed",
                    kResealHint);
    }
    const std::string digest = sha256_hex(text.data(), text.size());
    // sha256sum format: "<64 hex>  manifest.json\n" ('*' instead of the second space: binary mode).
    const bool well_formed = sidecar.size() >= 64 + 2 + 13 && is_hex_digest(sidecar.substr(0, 64)) &&
                             sidecar[64] == ' ' && (sidecar[65] == ' ' || sidecar[65] == '*') &&
                             (sidecar.substr(66) == "manifest.json" || sidecar.substr(66) == "manifest.json\n");
    if (!well_formed)
        invalid(dir + "/" + kDigestFile, "is not '<sha256>  manifest.json' (sha256sum format)", kResealHint);
    if (sidecar.compare(0, 64, digest) != 0)
        invalid(path, "SHA-256 is " + digest + ", " + kDigestFile + " says " + sidecar.substr(0, 64) +
                          ": the manifest was edited after it was sealed",
                kResealHint);

    Manifest m = parse(text, dir);
    m.real_dir = real_dir;
    m.verify_files();
    return m;
}

void Manifest::verify_files() const {
    if (real_dir.empty())
        throw Error(EV_ERR_INTERNAL, "manifest was not loaded from a directory", "this is a bug in libedge_veda");
    for (const ArtifactFile& f : files) verify_file(real_dir, f);
}

}  // namespace ev
