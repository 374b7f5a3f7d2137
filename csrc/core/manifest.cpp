#include "core/manifest.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "edge_veda.h"
#include "core/cpu_features.h"
#include "core/errors.h"
#include "core/sha256.h"

namespace ev {
namespace {

const char* kDigestFile = "manifest.json.sha256";

[[noreturn]] void invalid(const std::string& where, const std::string& what, const char* hint = kRebuildHint) {
    throw Error(EV_ERR_MODEL_INVALID, where + ": " + what, hint);
}

std::string plain_name(const Fields& f, const char* key) {
    std::string name = f.string(key, 255);
    if (!plain_file_name(name))
        f.fail(key, "must be a plain file name inside the artifact directory (no '/', no leading '.')");
    return name;
}

void parse_module(const Fields& root, Manifest& m) {
    Fields mod = root.object("module");
    const std::string source = mod.string("source", 32);
    m.kernel_threads = mod.boolean("kernel_threads", false);
    m.module.type = source;
    if (source == "library") {
        m.module_file = plain_name(mod, "library");
        m.module.location = m.module_file;
    } else if (source == "system-lib") {
        m.module.location = mod.string("prefix", 64);
        for (char c : m.module.location)
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                mod.fail("prefix", "must be a C identifier");
        if (mod.has("archive")) m.module_file = plain_name(mod, "archive");
    } else {
        mod.fail("source", "is '" + source.substr(0, 32) + "'; allowed: \"library\", \"system-lib\"");
    }
}

void parse_weights(const Fields& root, Manifest& m) {
    std::optional<Fields> w = root.optional_object("weights");
    if (!w) return;
    m.has_weights = true;
    m.weights.file = plain_name(*w, "file");
    if (w->has("alignment") && w->integer("alignment", 1, 4096) != 64)
        w->fail("alignment", "must be 64 (the alignment TVM's kernels assume)");
    const Json& tensors = w->array("tensors", kMaxTensors);
    for (size_t i = 0; i < tensors.items().size(); ++i) {
        Fields t(tensors.items()[i], w->where(), w->field("tensors[" + std::to_string(i) + "]"));
        TensorSpec spec;
        spec.name = t.string("name", 128);
        const std::string dtype = t.string("dtype", 16);
        if (!DType::parse(dtype, &spec.dtype)) t.fail("dtype", "is '" + dtype + "', not a known dtype");
        spec.shape = t.integers("shape", 8, 1, kMaxBytesField);
        spec.offset = static_cast<uint64_t>(t.integer("offset", 0, kMaxBytesField));
        spec.nbytes = static_cast<uint64_t>(t.integer("nbytes", 1, kMaxBytesField));
        for (const TensorSpec& other : m.weights.tensors)
            if (other.name == spec.name) t.fail("name", "'" + spec.name + "' appears twice");
        m.weights.tensors.push_back(std::move(spec));
    }
}

void parse_functions(const Fields& root, Manifest& m) {
    Fields fns = root.object("functions");
    if (fns.json().members().size() > kMaxFunctions) invalid(m.path(), "'functions' lists too many functions");
    for (const auto& member : fns.json().members()) {
        Fields f = fns.object(member.first.c_str());
        FunctionSpec spec;
        spec.name = f.string("name", 128);
        if (f.has("weights")) spec.weights = f.strings("weights", kMaxTensors, 128);
        for (const std::string& w : spec.weights)
            if (m.weights.find_index(w) < 0)
                f.fail("weights", "names '" + w.substr(0, 64) + "', which the weights file does not hold");
        m.functions[member.first] = std::move(spec);
    }
}

void parse_files(const Fields& root, Manifest& m) {
    Fields files = root.object("files");
    if (files.json().members().size() > kMaxFiles)
        invalid(m.path(), "'files' lists more than " + std::to_string(kMaxFiles) + " files");
    for (const auto& member : files.json().members()) {
        ArtifactFile f;
        f.name = member.first;
        if (!plain_file_name(f.name))
            invalid(m.path(), "'files' names '" + f.name.substr(0, 64) +
                                  "': only plain file names inside the artifact directory are allowed "
                                  "(no '/', no '..', no leading '.')");
        Fields entry = files.object(member.first.c_str());
        f.size = static_cast<uint64_t>(entry.integer("size", 0, kMaxBytesField));
        f.sha256 = entry.string("sha256", 64);
        if (!is_hex_digest(f.sha256)) entry.fail("sha256", "is not 64 lowercase hex digits");
        m.files.push_back(std::move(f));
    }
    for (const std::string& needed : {m.module_file, m.has_weights ? m.weights.file : std::string()})
        if (!needed.empty() && m.file(needed) == nullptr)
            invalid(m.path(), "'files' does not list '" + needed + "' (its size and SHA-256)");
    if (m.has_weights) m.weights.validate(m.file(m.weights.file)->size, m.path());
}

}  // namespace

const FunctionSpec* Manifest::function(const std::string& role) const {
    auto it = functions.find(role);
    return it == functions.end() ? nullptr : &it->second;
}

const ArtifactFile* Manifest::file(const std::string& name) const {
    for (const ArtifactFile& f : files)
        if (f.name == name) return &f;
    return nullptr;
}

Fields Manifest::kind_config() const {
    const Json* section = root->find(kind);
    if (section == nullptr)
        invalid(path(), "the section '" + kind + "' (the kind's configuration) is missing");
    return Fields(*section, path(), kind);
}

Manifest Manifest::parse(const std::string& text, const std::string& dir, const ManifestReader& reader) {
    Manifest m;
    m.dir = dir;
    const std::string where = m.path();
    m.root = std::make_shared<const Json>(reader.parse_json(text, where, kMaxManifestBytes));
    Fields root(*m.root, where);

    // Versions first: a future format may change everything else.
    const int64_t format = root.integer("format_version", INT64_MIN, INT64_MAX);
    if (format != kArtifactFormatVersion)
        throw Error(EV_ERR_MODEL_INVALID,
                    where + ": artifact format " + std::to_string(format) +
                        " is not supported (this library reads format " + std::to_string(kArtifactFormatVersion) + ")",
                    format < kArtifactFormatVersion
                        ? "the artifact was built by an older edge-veda: rebuild it with `edge-veda compile NAME -o DIR`"
                        : "the artifact is newer than this library: upgrade libedge_veda (pip install -U edge-veda)");
    const int64_t abi = root.integer("ev_abi_version", INT64_MIN, INT64_MAX);
    if (abi != EV_ABI_VERSION)
        throw Error(EV_ERR_MODEL_INVALID,
                    where + ": built for EV ABI " + std::to_string(abi) + ", library has ABI " +
                        std::to_string(EV_ABI_VERSION),
                    kRebuildHint);
    m.name = root.string("name", 128);
    m.version = root.string("version", 128, "");
    m.kind = root.string("kind", 64);
    if (!reader.kind_supported(m.kind))
        throw Error(EV_ERR_MODEL_INVALID, where + ": model kind '" + m.kind + "' is not supported by this build",
                    "supported kinds (this build): " + reader.supported_kinds() +
                        "; upgrade libedge_veda for other kinds");
    m.tvm_version = root.string("tvm_version", 64, "");
    if (auto target = root.optional_object("target")) {
        m.target_cpu = target->string("mcpu", 64, "");
        if (target->has("features")) m.target_features = target->strings("features", kMaxTargetFeatures, 64);
    }
    parse_module(root, m);
    parse_weights(root, m);
    parse_functions(root, m);
    if (auto limits = root.optional_object("limits")) {
        m.max_input_chars = limits->integer("max_input_chars", 1, kMaxInputCharsBound, kDefaultMaxInputChars);
        m.max_output_tokens =
            limits->integer("max_output_tokens", 1, kMaxOutputTokensBound, kDefaultMaxOutputTokens);
    }
    parse_files(root, m);
    (void)m.kind_config();  // the section must exist; its content is the kind's to validate
    return m;
}

std::string Manifest::find_dir(const std::string& root) {
    // Where app packagers put an artifact under the directory an app knows: the directory
    // itself, TVM's output folder, an Android/Flutter asset root, a macOS bundle.
    static const char* const kPlaces[] = {"", "/tvm_output", "/Resources", "/Contents/Resources"};
    struct stat st;
    if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return root;  // load() says so
    std::string tried;
    for (const char* place : kPlaces) {
        const std::string dir = root + place;
        const std::string manifest = dir + "/manifest.json";
        if (::lstat(manifest.c_str(), &st) == 0) return dir;  // load() verifies what it is
        tried += (tried.empty() ? "" : ", ") + ("'" + manifest + "'");
    }
    throw Error(EV_ERR_MODEL_NOT_FOUND, "no manifest.json in '" + root + "' nor where app bundles keep one",
                "tried, in order: " + tried + "; pass the directory that holds manifest.json");
}

Manifest Manifest::load(const std::string& dir, const ManifestReader& reader) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw Error(EV_ERR_MODEL_NOT_FOUND, "no artifact directory at '" + dir + "'",
                    "pass the directory that holds manifest.json (build one with `edge-veda "
                    "compile g2p-en -o DIR`, or use a model name from `edge-veda models list`)");
    char resolved[PATH_MAX];
    if (::realpath(dir.c_str(), resolved) == nullptr)
        throw Error(EV_ERR_MODEL_NOT_FOUND,
                    "cannot resolve the artifact directory '" + dir + "': " + std::strerror(errno),
                    "pass an existing directory that holds manifest.json");
    const std::string real_dir = resolved;

    std::string manifest_path;
    try {
        manifest_path = resolve_inside(real_dir, "manifest.json", kResealHint);
    } catch (const Error& e) {
        if (e.code() == EV_ERR_MODEL_NOT_FOUND)
            throw Error(EV_ERR_MODEL_NOT_FOUND, "no manifest at '" + dir + "/manifest.json'",
                        "an artifact directory must hold manifest.json next to the compiled module");
        throw;
    }
    const std::string text = read_capped(manifest_path, kMaxManifestBytes);

    // The seal: no value of the manifest is trusted before its digest matches.
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
        invalid(dir + "/manifest.json",
                "SHA-256 is " + digest + ", " + kDigestFile + " says " + sidecar.substr(0, 64) +
                    ": the manifest was edited after it was sealed",
                kResealHint);

    Manifest m = parse(text, dir, reader);
    m.check_cpu();  // before hashing: a module this CPU cannot run is not worth verifying
    m.real_dir = real_dir;
    if (!m.module.is_system_lib()) m.module.location = real_dir + "/" + m.module_file;
    m.verify_files();
    return m;
}

void Manifest::check_cpu() const {
    const std::vector<std::string> missing = missing_cpu_features(target_features);
    if (missing.empty()) return;
    std::string names;
    for (const std::string& f : missing) names += (names.empty() ? "" : ", ") + f;
    const std::string built_for = target_cpu.empty() ? "another CPU" : "CPU '" + target_cpu + "'";
    throw Error(EV_ERR_MODEL_INVALID,
                path() + ": the module was compiled for " + built_for + " and needs " + names +
                    ", which this " + cpu_architecture() +
                    " CPU lacks; running it would stop the process with an illegal instruction",
                "compile the model for this CPU (`edge-veda compile " + name +
                    " -o DIR`, or load it by name: local builds match the CPU), or use an artifact "
                    "built for a CPU that has these features");
}

void Manifest::verify_files() const {
    if (real_dir.empty())
        throw Error(EV_ERR_INTERNAL, "manifest was not loaded from a directory", "this is a bug in libedge_veda");
    for (const ArtifactFile& f : files) verify_file(real_dir, f);
}

}  // namespace ev
