// The system-lib model archives linked into this process, as their static constructors
// registered them (ev_register_system_lib_model). TVM's own registry cannot list what it
// holds, and an unlinked prefix there is an empty module, not an error; this one can.
#pragma once

#include <string>
#include <vector>

namespace ev {

struct SystemLibModel {
    std::string prefix;
    int32_t ev_abi_version = 0;
    std::string tvm_version;
    std::string name;
};

// Records a model; the first registration of a prefix wins. Never throws.
void register_system_lib_model(const SystemLibModel& model) noexcept;

// The model registered under `prefix`; false when there is none.
bool find_system_lib_model(const std::string& prefix, SystemLibModel* out);

// Every registered model, in registration order.
std::vector<SystemLibModel> system_lib_models();

// Throws ev::Error unless `prefix` is registered and was built for this library's ABI and the
// embedded TVM's major.minor: EV_ERR_MODEL_NOT_FOUND naming the linked prefixes, or
// EV_ERR_MODEL_INVALID naming both versions.
void check_system_lib_model(const std::string& prefix, const std::string& runtime_tvm_version);

}  // namespace ev
