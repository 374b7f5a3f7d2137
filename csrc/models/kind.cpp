#include "models/kind.h"

namespace ev {

uint32_t capabilities_of(ModelInstance& model) {
    uint32_t bits = 0;
    if (find<Generator>(model)) bits |= Generator::kBit;
    if (find<BatchGenerator>(model)) bits |= BatchGenerator::kBit;
    if (find<Phonemizer>(model)) bits |= Phonemizer::kBit;
    if (find<Synthesizer>(model)) bits |= Synthesizer::kBit;
    return bits;
}

}  // namespace ev
