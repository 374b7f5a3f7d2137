// The kinds this build supports: a new kind is a folder under csrc/models/ plus one line here
// (an explicit table, not self-registration, because static initializers of an object nobody
// references are dropped when libedge_veda is linked statically).
#include "models/kind.h"
#include "models/g2p/g2p.h"
#include "models/seq2seq_gru/seq2seq_gru.h"
#include "models/tts/tts.h"

namespace ev {
namespace {

const KindEntry kKinds[] = {
    {"seq2seq-gru", &create_seq2seq_gru},
    {"g2p", &create_g2p},
    {"tts", &create_tts},
};

}  // namespace

const KindEntry* find_kind(const std::string& name) {
    for (const KindEntry& k : kKinds)
        if (name == k.name) return &k;
    return nullptr;
}

bool kind_supported(const std::string& name) { return find_kind(name) != nullptr; }

std::string supported_kinds() {
    std::string out;
    for (const KindEntry& k : kKinds) out += (out.empty() ? "" : ", ") + std::string(k.name);
    return out;
}

}  // namespace ev
