#include "core/system_lib.h"

#include <mutex>

#include "edge_veda.h"
#include "core/errors.h"

namespace ev {
namespace {

struct Registry {
    std::mutex mu;
    std::vector<SystemLibModel> models;
};

// Constructed on first use: archives register from static constructors, in any order
// relative to this file's own static initialization.
Registry& registry() {
    static Registry* r = new Registry();  // never destroyed: constructors of other archives may run late
    return *r;
}

// "0.27.0.post1" -> "0.27": kernels compiled by one TVM release run on its runtime.
std::string major_minor(const std::string& version) {
    size_t first = version.find('.');
    if (first == std::string::npos) return version;
    size_t second = version.find('.', first + 1);
    return version.substr(0, second);
}

std::string linked_prefixes() {
    std::string out;
    for (const SystemLibModel& m : system_lib_models()) {
        out += (out.empty() ? "" : ", ") + ("'" + m.prefix + "' (" + m.name + ")");
    }
    return out;
}

}  // namespace

void register_system_lib_model(const SystemLibModel& model) noexcept {
    try {
        Registry& r = registry();
        std::lock_guard<std::mutex> g(r.mu);
        for (const SystemLibModel& m : r.models) {
            if (m.prefix == model.prefix) return;
        }
        r.models.push_back(model);
    } catch (...) {
        // Out of memory before main: the model stays unregistered and ev_init says it is not linked.
    }
}

bool find_system_lib_model(const std::string& prefix, SystemLibModel* out) {
    Registry& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    for (const SystemLibModel& m : r.models) {
        if (m.prefix == prefix) {
            *out = m;
            return true;
        }
    }
    return false;
}

std::vector<SystemLibModel> system_lib_models() {
    Registry& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    return r.models;
}

void check_system_lib_model(const std::string& prefix, const std::string& runtime_tvm_version) {
    SystemLibModel m;
    if (!find_system_lib_model(prefix, &m)) {
        const std::string linked = linked_prefixes();
        throw Error(EV_ERR_MODEL_NOT_FOUND,
                    "no model archive with system-lib prefix '" + prefix + "' is linked into this process",
                    (linked.empty() ? std::string("no model archive is linked at all")
                                    : "the linked prefixes are " + linked) +
                        "; link the model's archive with -Wl,--whole-archive (Apple: -force_load) "
                        "(python -m edge_veda.config --static --libs prints the line), or fix the prefix in "
                        "manifest.json (an archive built by an older `edge-veda compile --static` does not "
                        "register itself: rebuild it)");
    }
    if (m.ev_abi_version != EV_ABI_VERSION) {
        throw Error(EV_ERR_MODEL_INVALID,
                    "model archive '" + prefix + "' (" + m.name + ") was built for Edge Veda ABI " +
                        std::to_string(m.ev_abi_version) + ", this library is ABI " + std::to_string(EV_ABI_VERSION),
                    "rebuild it with this version's `edge-veda compile --static`");
    }
    if (major_minor(m.tvm_version) != major_minor(runtime_tvm_version)) {
        throw Error(EV_ERR_MODEL_INVALID,
                    "model archive '" + prefix + "' (" + m.name + ") was compiled by TVM " + m.tvm_version +
                        ", but the runtime linked into this program is TVM " + runtime_tvm_version,
                    "recompile the model with TVM " + major_minor(runtime_tvm_version) +
                        ".x (`edge-veda compile --static` in an environment with that apache-tvm), or link "
                        "the libedge_veda built with its TVM");
    }
}

}  // namespace ev
