// Where an artifact's compiled module is (the manifest's "module" section): a shared-library
// file, or the prefix of a system-lib model archive linked into the process (iOS). The runtime
// layer loads it (runtime/runtime.h: load_module).
#pragma once

#include <string>

namespace ev {

struct ModuleSource {
    // "library": `location` is the path of a shared library; "system-lib": `location` is the
    // prefix of a model archive linked into the process.
    std::string type = "library";
    std::string location;

    bool is_system_lib() const { return type == "system-lib"; }
    // For messages: the path, or "system-lib prefix 'g2p_'".
    std::string describe() const {
        return is_system_lib() ? "system-lib prefix '" + location + "'" : "'" + location + "'";
    }
};

}  // namespace ev
