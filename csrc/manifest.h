// Artifact manifest (format v1, docs/artifact-format.md): what the library needs to know about
// a compiled model before it touches the runtime.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ev {

constexpr int kArtifactFormatVersion = 1;

struct GenerationDefaults {
    int32_t max_tokens = 20;
};

struct Manifest {
    std::string dir;           // the artifact directory
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

    // Reads and validates DIR/manifest.json; throws ev::Error with an actionable hint.
    static Manifest load(const std::string& dir);
};

}  // namespace ev
