#include "models/kind.h"

#include "core/errors.h"

namespace ev {

std::unique_ptr<Function> bind_role(Vm& vm, const Manifest& manifest, const char* role, bool required) {
    const FunctionSpec* spec = manifest.function(role);
    if (spec != nullptr) return vm.function(spec->name, spec->weights);
    if (!required) return nullptr;
    throw Error(EV_ERR_MODEL_INVALID,
                manifest.path() + ": kind " + manifest.kind + " needs a function for role '" + role + "'",
                kRebuildHint);
}

uint32_t capabilities_of(ModelInstance& model) {
    uint32_t bits = 0;
    if (find<Generator>(model)) bits |= Generator::kBit;
    if (find<BatchGenerator>(model)) bits |= BatchGenerator::kBit;
    if (find<Phonemizer>(model)) bits |= Phonemizer::kBit;
    if (find<Synthesizer>(model)) bits |= Synthesizer::kBit;
    return bits;
}

}  // namespace ev
