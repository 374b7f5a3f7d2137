// Kind "seq2seq-gru" (g2p-en): see seq2seq_gru.cpp.
#pragma once

#include "kind.h"

namespace ev {

std::unique_ptr<ModelInstance> create_seq2seq_gru(const KindInputs& inputs);

}  // namespace ev
