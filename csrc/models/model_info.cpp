#include "models/model_info.h"

#include <vector>

#include "core/errors.h"

namespace ev {
namespace {

// Bounds what a module may state (today: 7 values, ~90 bytes of names).
constexpr uint64_t kMaxValues = 64;
constexpr uint64_t kMaxNameBytes = 64 * 48;

bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

}  // namespace

ModelInfo ModelInfo::read(Vm& vm, const Manifest& manifest) {
    ModelInfo info;
    info.path_ = manifest.path();
    const FunctionSpec* spec = manifest.function("model_info");
    if (spec == nullptr)
        throw Error(EV_ERR_MODEL_INVALID, info.path_ + ": no 'model_info' function (built by an older compiler)",
                    "rebuild the artifact with `edge-veda compile` (or pull it again) so the library can "
                    "check the manifest against the compiled module");
    std::vector<int32_t> values(kMaxValues);
    std::string names(kMaxNameBytes, '\0');
    std::vector<TensorRef> out = {output_tensor(values.data(), kI32, values.size()),
                                  output_tensor(names.data(), kU8, names.size())};
    try {
        vm.function(spec->name, spec->weights)->call({}, out);
    } catch (const Error& e) {
        if (e.code() == EV_ERR_OUT_OF_MEMORY) throw;
        throw Error(EV_ERR_MODEL_INVALID,
                    info.path_ + ": model_info does not return named values (" + e.what() +
                        "); the artifact was built by an older compiler",
                    kRebuildHint);
    }
    names.resize(out[1].written);
    // names: "a,b,c" -> one value each, in order; every name [a-z0-9_]+, none twice.
    size_t index = 0, at = 0;
    auto refuse = [&](const std::string& why) {
        throw Error(EV_ERR_MODEL_INVALID, info.path_ + ": the module's model_info " + why, kRebuildHint);
    };
    while (at <= names.size() && !names.empty()) {
        size_t comma = names.find(',', at);
        if (comma == std::string::npos) comma = names.size();
        const std::string name = names.substr(at, comma - at);
        if (name.empty()) refuse("has an empty name");
        for (char c : name)
            if (!name_char(c)) refuse("has a name that is not [a-z0-9_]: '" + name.substr(0, 64) + "'");
        if (index >= out[0].written) refuse("names more values than it returns");
        if (!info.values_.emplace(name, values[index]).second) refuse("names '" + name + "' twice");
        ++index;
        at = comma + 1;
    }
    if (index != out[0].written)
        refuse("returns " + std::to_string(out[0].written) + " values for " + std::to_string(index) + " names");
    return info;
}

int64_t ModelInfo::get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end())
        throw Error(EV_ERR_MODEL_INVALID,
                    path_ + ": the compiled module does not state '" + name + "' (its model_info)", kRebuildHint);
    return it->second;
}

void ModelInfo::expect(const std::string& name, int64_t manifest_value, const std::string& field) const {
    const int64_t module_value = get(name);
    if (module_value != manifest_value)
        throw Error(EV_ERR_MODEL_INVALID,
                    path_ + ": " + field + " is " + std::to_string(manifest_value) + ", the compiled module has " +
                        std::to_string(module_value),
                    "the manifest does not describe this compiled module; " + std::string(kRebuildHint));
}

}  // namespace ev
