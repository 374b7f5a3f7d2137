#include "manifest.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "errors.h"
#include "json.h"

namespace ev {
namespace {

const char* kFixHint = "rebuild the artifact with `edge-veda compile` for this library version";

bool file_size(const std::string& path, uint64_t* size, bool* is_dir) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return false;
    *size = static_cast<uint64_t>(st.st_size);
    *is_dir = S_ISDIR(st.st_mode);
    return true;
}

[[noreturn]] void invalid(const std::string& path, const std::string& what) {
    throw Error(EV_ERR_MODEL_INVALID, path + ": " + what, kFixHint);
}

const Json& require(const Json& obj, const char* key, Json::Type type, const std::string& path) {
    const Json* v = obj.find(key);
    if (!v || v->type() != type) invalid(path, std::string("missing or mistyped field '") + key + "'");
    return *v;
}

std::vector<std::string> string_list(const Json& arr, const std::string& path, const char* what) {
    std::vector<std::string> out;
    for (const Json& item : arr.items()) {
        if (!item.is_string()) invalid(path, std::string(what) + " must hold strings");
        out.push_back(item.str());
    }
    if (out.empty()) invalid(path, std::string(what) + " is empty");
    return out;
}

int32_t int_field(const Json& obj, const char* key, int32_t fallback) {
    const Json* v = obj.find(key);
    return (v && v->is_number()) ? static_cast<int32_t>(v->number()) : fallback;
}

}  // namespace

Manifest Manifest::load(const std::string& dir) {
    uint64_t size = 0;
    bool is_dir = false;
    if (!file_size(dir, &size, &is_dir) || !is_dir)
        throw Error(EV_ERR_MODEL_NOT_FOUND, "no artifact directory at '" + dir + "'",
                    "pass the directory that holds manifest.json (build one with `edge-veda "
                    "compile g2p-en -o DIR`, or use a model name from `edge-veda models list`)");
    const std::string path = dir + "/manifest.json";
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(EV_ERR_MODEL_NOT_FOUND, "no manifest at '" + path + "'",
                    "an artifact directory must hold manifest.json next to the compiled library");
    std::stringstream buf;
    buf << in.rdbuf();
    Json root;
    try {
        root = Json::parse(buf.str());
    } catch (const std::exception& e) {
        invalid(path, e.what());
    }
    if (!root.is_object()) invalid(path, "top level is not an object");

    Manifest m;
    m.dir = dir;
    m.format_version = static_cast<int>(require(root, "format_version", Json::Type::Number, path).number());
    if (m.format_version != kArtifactFormatVersion)
        throw Error(EV_ERR_MODEL_INVALID,
                    path + ": artifact format " + std::to_string(m.format_version) +
                        " is not supported (this library reads format " +
                        std::to_string(kArtifactFormatVersion) + ")",
                    kFixHint);
    int abi = static_cast<int>(require(root, "ev_abi_version", Json::Type::Number, path).number());
    if (abi != EV_ABI_VERSION)
        throw Error(EV_ERR_MODEL_INVALID,
                    path + ": built for EV ABI " + std::to_string(abi) + ", library has ABI " +
                        std::to_string(EV_ABI_VERSION),
                    kFixHint);
    m.name = require(root, "name", Json::Type::String, path).str();
    m.kind = require(root, "kind", Json::Type::String, path).str();
    if (m.kind != "seq2seq-gru")
        throw Error(EV_ERR_MODEL_INVALID, path + ": model kind '" + m.kind + "' is not supported",
                    "supported kinds: seq2seq-gru");
    if (const Json* v = root.find("tvm_version"); v && v->is_string()) m.tvm_version = v->str();
    m.library = require(root, "library", Json::Type::String, path).str();
    if (m.library.empty() || m.library.find('/') != std::string::npos || m.library[0] == '.')
        invalid(path, "'library' must be a plain file name inside the artifact directory");

    const Json& entry = require(root, "entry_functions", Json::Type::Object, path);
    m.encode_fn = require(entry, "encode", Json::Type::String, path).str();
    m.decode_step_fn = require(entry, "decode_step", Json::Type::String, path).str();
    if (const Json* g = entry.find("greedy"); g && g->is_string()) m.greedy_fn = g->str();

    const Json& model = require(root, "model", Json::Type::Object, path);
    m.hidden_size = int_field(model, "hidden_size", 0);
    m.logits_size = int_field(model, "logits_size", 0);
    m.greedy_max_steps = int_field(model, "greedy_max_steps", 0);
    if (!m.greedy_fn.empty() && m.greedy_max_steps <= 0)
        invalid(path, "entry_functions.greedy needs model.greedy_max_steps > 0");
    if (const Json* v = model.find("weights_bytes"); v && v->is_number())
        m.weights_bytes = static_cast<uint64_t>(v->number());
    if (const Json* v = model.find("workspace_bytes"); v && v->is_number())
        m.workspace_bytes = static_cast<uint64_t>(v->number());

    const Json& vocab = require(root, "vocab", Json::Type::Object, path);
    m.input_vocab = string_list(require(vocab, "input", Json::Type::Array, path), path, "vocab.input");
    m.output_vocab = string_list(require(vocab, "output", Json::Type::Array, path), path, "vocab.output");
    if (m.hidden_size <= 0 || m.logits_size < static_cast<int32_t>(m.output_vocab.size()))
        invalid(path, "model.hidden_size / model.logits_size are missing or too small");

    if (const Json* tok = root.find("tokenizer"); tok && tok->is_object()) {
        if (const Json* v = tok->find("lowercase_ascii"); v && v->type() == Json::Type::Bool)
            m.lowercase_ascii = v->boolean();
        if (const Json* v = tok->find("output_separator"); v && v->is_string())
            m.output_separator = v->str();
    }
    const Json& special = require(root, "special_tokens", Json::Type::Object, path);
    m.input_unk = int_field(special, "input_unk", -1);
    m.input_eos = int_field(special, "input_eos", -1);
    m.output_bos = int_field(special, "output_bos", -1);
    m.output_eos = int_field(special, "output_eos", -1);
    auto in_range = [](int32_t id, size_t n) { return id >= 0 && static_cast<size_t>(id) < n; };
    if (!in_range(m.input_unk, m.input_vocab.size()) || !in_range(m.input_eos, m.input_vocab.size()) ||
        !in_range(m.output_bos, m.output_vocab.size()) || !in_range(m.output_eos, m.output_vocab.size()))
        invalid(path, "special_tokens are missing or outside the vocabularies");

    if (const Json* gen = root.find("generation_defaults"); gen && gen->is_object())
        m.defaults.max_tokens = int_field(*gen, "max_tokens", m.defaults.max_tokens);

    const std::string lib_path = dir + "/" + m.library;
    if (!file_size(lib_path, &size, &is_dir) || is_dir)
        throw Error(EV_ERR_MODEL_NOT_FOUND, "compiled library '" + lib_path + "' is missing",
                    "the artifact is incomplete: copy the whole directory, or rebuild it");
    m.library_size = size;
    // A truncated copy fails here, before the runtime sees it. Full SHA-256 verification is
    // the model manager's job (`edge-veda models verify`), not every load's.
    if (const Json* files = root.find("files"); files && files->is_object()) {
        if (const Json* f = files->find(m.library); f && f->is_object()) {
            const Json* expected = f->find("size");
            if (expected && expected->is_number() && static_cast<uint64_t>(expected->number()) != size)
                throw Error(EV_ERR_MODEL_INVALID,
                            lib_path + " has " + std::to_string(size) + " bytes, manifest says " +
                                std::to_string(static_cast<uint64_t>(expected->number())),
                            "the file is truncated or replaced: copy or download the artifact again");
        }
    }
    return m;
}

}  // namespace ev
