// Kind "seq2seq-gru" (g2p-en): see seq2seq_gru.cpp.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "models/kind.h"

namespace ev {

// A seq2seq GRU network: what the kind can do, as the g2p kind drives it for its words.
class Seq2SeqGruNetwork : public ModelInstance, public Generator, public BatchGenerator {};

// The kind on its own: the manifest's section "seq2seq-gru".
std::unique_ptr<ModelInstance> create_seq2seq_gru(const KindInputs& inputs);
// The same model configured by `section`, a seq2seq-gru section nested in another kind's (the
// g2p kind's "network"); the module, weights, functions and limits are the artifact's.
std::unique_ptr<Seq2SeqGruNetwork> create_seq2seq_gru_from(const KindInputs& inputs, const Fields& section);
// The section's vocab.output (output ids are positions in it). Throws ev::Error.
std::vector<std::string> seq2seq_gru_output_vocab(const Fields& section);

}  // namespace ev
