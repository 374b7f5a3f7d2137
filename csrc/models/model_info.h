// What a compiled module says about itself. Every recipe gives its module a "model_info"
// function returning the shapes it was compiled with as NAMED values: an i32 vector and, beside
// it, their names (ASCII, comma-separated, in the same order). A kind compares them with its
// manifest section by name, at load and before any other call, so a manifest that does not
// describe the module is refused instead of letting a kernel index past a table, and the
// recipe (pybind/edge_veda/compile/recipe.py, emit_model_info) and the kind share names only:
// neither keeps a position list in step with the other.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/manifest.h"
#include "runtime/runtime.h"

namespace ev {

class ModelInfo {
public:
    // Calls the manifest's "model_info" role on `vm`. Throws ev::Error (EV_ERR_MODEL_INVALID,
    // with the rebuild hint) when the manifest names no such function or when it does not
    // return named values (an artifact from an older compiler).
    static ModelInfo read(Vm& vm, const Manifest& manifest);

    // The value the module states as `name`. Throws EV_ERR_MODEL_INVALID when it states none.
    int64_t get(const std::string& name) const;

    // Refuses the artifact (EV_ERR_MODEL_INVALID) unless the module's `name` equals
    // `manifest_value`; `field` is where the manifest says it ("tts.style_dim"), for the message.
    void expect(const std::string& name, int64_t manifest_value, const std::string& field) const;

private:
    std::string path_;  // the manifest, for messages
    std::map<std::string, int64_t> values_;
};

}  // namespace ev
