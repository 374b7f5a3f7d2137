// The artifact manifest, format v2 (docs/artifact-format.md): the common header every kind
// shares (format and ABI versions, where the module is, the weights file, the functions with
// the weights they take, limits, every file with its hash) and the kind's own section, which
// the kind reads (ModelInstance factories, via kind_config()).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/files.h"
#include "core/json.h"
#include "core/module_source.h"
#include "core/weights.h"

namespace ev {

constexpr int kArtifactFormatVersion = 2;

// Bounds on manifest values (docs/artifact-format.md, "Bounds").
constexpr uint64_t kMaxManifestBytes = 4u << 20;
constexpr int64_t kMaxBytesField = int64_t(1) << 40;  // file sizes, offsets
constexpr size_t kMaxFiles = 64;
constexpr size_t kMaxTensors = 4096;
constexpr size_t kMaxFunctions = 64;
constexpr int32_t kDefaultMaxInputChars = 1024;
constexpr int64_t kMaxInputCharsBound = 4096;  // encoding 4096 characters of g2p-en: ~28 ms
constexpr int64_t kDefaultMaxOutputTokens = 1024;
constexpr int64_t kMaxOutputTokensBound = 1 << 16;

constexpr size_t kMaxTargetFeatures = 512;

// What reading a manifest needs from the layers above core, which core does not include: the
// runtime's JSON parser (runtime/runtime.h: parse_json) and the model registry's kinds
// (models/kind.h). api.cpp passes them; so does the fuzzer.
struct ManifestReader {
    JsonParser parse_json;
    bool (*kind_supported)(const std::string& kind);
    std::string (*supported_kinds)();  // "g2p, tts, ..." for messages
};

struct FunctionSpec {
    std::string name;                  // the VM function
    std::vector<std::string> weights;  // weights tensors passed after the data inputs, in order
};

struct Manifest {
    std::string dir;       // the artifact directory as given
    std::string real_dir;  // its canonical path; every file must resolve inside it
    std::string name;
    std::string version;
    std::string kind;
    std::string tvm_version;
    std::string target_cpu;                    // target.mcpu ("znver5"), for messages
    std::vector<std::string> target_features;  // target.features: LLVM names the module needs
    ModuleSource module;   // library: `location` is the file name (the loader joins real_dir)
    std::string module_file;  // the library or archive file ("" for a system-lib without one)
    bool kernel_threads = false;  // module.kernel_threads: its kernels run on TVM's thread pool
    bool has_weights = false;
    WeightsSpec weights;
    std::map<std::string, FunctionSpec> functions;  // role -> function
    int64_t max_input_chars = kDefaultMaxInputChars;      // limits.max_input_chars
    int64_t max_output_tokens = kDefaultMaxOutputTokens;  // limits.max_output_tokens
    std::vector<ArtifactFile> files;
    std::shared_ptr<const Json> root;  // the whole document; the kind's section is root[kind]

    std::string path() const { return dir + "/manifest.json"; }
    const FunctionSpec* function(const std::string& role) const;
    // The kind's section (an object named after the kind). Throws ev::Error when it is missing.
    Fields kind_config() const;
    const ArtifactFile* file(const std::string& name) const;

    // Validates manifest text: strict JSON, typed and bounded values, a kind this build supports,
    // files that are plain names; no file I/O (a fuzzer drives it). Throws ev::Error.
    static Manifest parse(const std::string& json_text, const std::string& dir, const ManifestReader& reader);

    // Reads DIR/manifest.json (a regular file, size-capped), checks its seal
    // DIR/manifest.json.sha256, parses it, refuses a module compiled for instruction-set
    // features this CPU lacks (check_cpu) and verifies every listed file. Throws ev::Error.
    static Manifest load(const std::string& dir, const ManifestReader& reader);
    // The artifact directory for `root`: root itself, or the first of root/tvm_output,
    // root/Resources, root/Contents/Resources holding manifest.json (app bundles). Throws
    // EV_ERR_MODEL_NOT_FOUND listing every path tried when root is a directory without one.
    static std::string find_dir(const std::string& root);

    // Every listed file is a regular file inside real_dir with the recorded size and SHA-256
    // (cached per inode: see files.h). Throws ev::Error.
    void verify_files() const;
    // EV_ERR_MODEL_INVALID naming the target features this CPU lacks (core/cpu_features.h):
    // such a module would die with SIGILL in its first kernel.
    void check_cpu() const;
};

}  // namespace ev
