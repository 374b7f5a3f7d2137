// Artifact manifest (format v1, docs/artifact-format.md): what the library needs to know about
// a compiled model before it touches the runtime, and the checks that every file it names is
// the file that was built (SHA-256) before any byte of it runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ev {

constexpr int kArtifactFormatVersion = 1;

// Bounds on manifest values (docs/artifact-format.md, "Bounds"). Every value that sizes a
// buffer or indexes memory is checked against these before it is used.
constexpr uint64_t kMaxManifestBytes = 4u << 20;
constexpr int kMaxJsonDepth = 32;
constexpr int64_t kMaxHiddenSize = 65536;
constexpr int64_t kMaxVocabSize = 65536;
constexpr int64_t kMaxLogitsSize = 1 << 20;
constexpr int64_t kMaxGreedySteps = 4096;
constexpr int64_t kMaxDefaultTokens = 4096;
constexpr int64_t kMaxBytesField = int64_t(1) << 40;  // weights_bytes, workspace_bytes, file sizes
constexpr int64_t kMaxFiles = 64;
constexpr int32_t kDefaultMaxInputChars = 1024;
constexpr int64_t kMaxInputCharsBound = 4096;

struct GenerationDefaults {
    int32_t max_tokens = 20;
};

struct ArtifactFile {
    std::string name;    // plain file name inside the artifact directory
    uint64_t size = 0;
    std::string sha256;  // 64 lowercase hex digits
};

struct Manifest {
    std::string dir;           // the artifact directory as given
    std::string real_dir;      // its canonical path (realpath); every file must resolve inside
    int format_version = 0;
    std::string name;
    std::string kind;          // "seq2seq-gru" for g2p-en
    std::string tvm_version;
    std::string library;       // file name of the compiled module, relative to dir
    uint64_t library_size = 0;
    std::string encode_fn = "encode";
    std::string decode_step_fn = "decode_step";
    std::string greedy_fn;            // optional: whole greedy decode in one call
    int32_t greedy_max_steps = 0;     // output capacity of greedy_fn

    int32_t hidden_size = 0;
    int32_t logits_size = 0;   // padded width of the logits the decode step returns
    uint64_t weights_bytes = 0;
    uint64_t workspace_bytes = 0;

    std::vector<std::string> input_vocab;
    std::vector<std::string> output_vocab;
    bool lowercase_ascii = false;
    std::string output_separator = " ";
    int32_t input_unk = 1;
    int32_t input_eos = 2;
    int32_t output_bos = 2;
    int32_t output_eos = 3;
    GenerationDefaults defaults;
    int32_t max_input_chars = kDefaultMaxInputChars;  // "limits": {"max_input_chars": N}

    std::vector<ArtifactFile> files;

    // Validates manifest text (strict JSON, typed and bounded values); no file I/O, so a
    // fuzzer can drive it. `dir` is only recorded. Throws ev::Error (EV_ERR_MODEL_INVALID).
    static Manifest parse(const std::string& json_text, const std::string& dir);

    // Reads DIR/manifest.json (a regular file, size-capped), checks it against
    // DIR/manifest.json.sha256, parses it and verifies every listed file (verify_files).
    // Throws ev::Error with an actionable hint.
    static Manifest load(const std::string& dir);

    // Checks that every file in `files` is a regular file inside real_dir with the recorded
    // size and SHA-256. Cached per (device, inode, size, mtime, ctime), so repeating it for an
    // unchanged file costs one stat. Throws ev::Error.
    void verify_files() const;
};

}  // namespace ev
