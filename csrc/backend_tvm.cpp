// The TVM runtime behind ev::Backend: loads a Relax VM executable compiled by
// `edge-veda compile`, calls its entry functions with caller memory wrapped in DLTensors.
#include <cstring>
#include <mutex>

#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include "backend.h"
#include "errors.h"

namespace ev {
namespace {

namespace ffi = tvm::ffi;

constexpr int kDeviceCPU = 1;        // kDLCPU
constexpr int kPooledAllocator = 2;  // tvm::runtime::memory::kPooled

DLTensor wrap(void* data, int64_t* shape, int ndim, DLDataType dtype) {
    DLTensor t;
    std::memset(&t, 0, sizeof(t));
    t.data = data;
    t.device = DLDevice{kDLCPU, 0};
    t.ndim = ndim;
    t.dtype = dtype;
    t.shape = shape;
    return t;
}

const DLDataType kInt32{kDLInt, 32, 1};
const DLDataType kFloat32{kDLFloat, 32, 1};

[[noreturn]] void runtime_error(const std::string& what, const std::exception& e) {
    throw Error(EV_ERR_RUNTIME, what + ": " + e.what(),
                "the artifact may have been compiled for another CPU or TVM version; rebuild it "
                "with `edge-veda compile`");
}

class TvmBackend final : public Backend {
public:
    TvmBackend(const Manifest& m, const BackendOptions& o) : manifest_(m), options_(o) {}

    void load() override {
        if (vm_.has_value()) return;
        const std::string path = manifest_.dir + "/" + manifest_.library;
        try {
            ffi::Module lib = ffi::Module::LoadFromFile(path);
            ffi::Optional<ffi::Function> load_exec = lib->GetFunction("vm_load_executable");
            if (!load_exec.has_value())
                throw Error(EV_ERR_MODEL_INVALID, path + " holds no Relax VM executable",
                            "compile the artifact with `edge-veda compile`");
            ffi::Module vm = (*load_exec)().cast<ffi::Module>();
            ffi::Function init = vm->GetFunction("vm_initialization").value();
            init(kDeviceCPU, 0, kPooledAllocator, kDeviceCPU, 0, kPooledAllocator);
            encode_ = lookup(vm, manifest_.encode_fn, path);
            decode_step_ = lookup(vm, manifest_.decode_step_fn, path);
            if (!manifest_.greedy_fn.empty()) greedy_ = lookup(vm, manifest_.greedy_fn, path);
            vm_ = vm;
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            runtime_error("cannot load '" + path + "'", e);
        }
    }

    void unload() override {
        encode_ = std::nullopt;
        decode_step_ = std::nullopt;
        greedy_ = std::nullopt;
        vm_ = std::nullopt;
    }

    bool loaded() const override { return vm_.has_value(); }

    uint64_t memory_bytes() const override {
        return loaded() ? manifest_.weights_bytes + manifest_.workspace_bytes : 0;
    }

    void encode(const int32_t* ids, int64_t n, float* h_out) override {
        int64_t shape[1] = {n};
        DLTensor in = wrap(const_cast<int32_t*>(ids), shape, 1, kInt32);
        try {
            ffi::Tensor h = (*encode_)(&in).cast<ffi::Tensor>();
            copy_out(h, h_out, manifest_.hidden_size);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            runtime_error("encoder failed", e);
        }
    }

    void decode_step(int32_t token, const float* h_in, float* h_out, float* logits) override {
        int64_t tok_shape[1] = {1};
        int64_t h_shape[1] = {manifest_.hidden_size};
        DLTensor tok = wrap(&token, tok_shape, 1, kInt32);
        DLTensor h = wrap(const_cast<float*>(h_in), h_shape, 1, kFloat32);
        try {
            ffi::Array<ffi::Any> out = (*decode_step_)(&tok, &h).cast<ffi::Array<ffi::Any>>();
            if (out.size() != 2)
                throw Error(EV_ERR_MODEL_INVALID, "decode step returned " +
                            std::to_string(out.size()) + " values, expected 2 (h, logits)",
                            "rebuild the artifact with `edge-veda compile`");
            copy_out(out[0].cast<ffi::Tensor>(), h_out, manifest_.hidden_size);
            copy_out(out[1].cast<ffi::Tensor>(), logits, manifest_.logits_size);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            runtime_error("decode step failed", e);
        }
    }

    bool has_greedy() const override { return !manifest_.greedy_fn.empty(); }

    int32_t greedy(const int32_t* ids, int64_t n, int32_t max_steps, int32_t* out_ids) override {
        int64_t shape[1] = {n};
        int64_t one[1] = {1};
        DLTensor in = wrap(const_cast<int32_t*>(ids), shape, 1, kInt32);
        DLTensor steps = wrap(&max_steps, one, 1, kInt32);
        try {
            ffi::Array<ffi::Any> out = (*greedy_)(&in, &steps).cast<ffi::Array<ffi::Any>>();
            ffi::Tensor tokens = out[0].cast<ffi::Tensor>();
            const int32_t count = *static_cast<const int32_t*>(out[1].cast<ffi::Tensor>().data_ptr());
            if (count < 0 || count > max_steps || count > manifest_.greedy_max_steps)
                throw Error(EV_ERR_MODEL_INVALID, "greedy decode returned " + std::to_string(count) + " tokens",
                            "rebuild the artifact with `edge-veda compile`");
            std::memcpy(out_ids, tokens.data_ptr(), static_cast<size_t>(count) * sizeof(int32_t));
            return count;
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            runtime_error("greedy decode failed", e);
        }
    }

private:
    static ffi::Function lookup(const ffi::Module& vm, const std::string& name, const std::string& path) {
        ffi::Optional<ffi::Function> f = vm->GetFunction(name);
        if (!f.has_value())
            throw Error(EV_ERR_MODEL_INVALID, path + " has no function '" + name + "'",
                        "the manifest's entry_functions must name functions of the compiled module");
        return *f;
    }

    static void copy_out(const ffi::Tensor& t, float* dst, int64_t count) {
        int64_t numel = 1;
        for (int64_t d : t.shape()) numel *= d;
        if (numel != count || t.dtype() != kFloat32)
            throw Error(EV_ERR_MODEL_INVALID,
                        "model returned " + std::to_string(numel) + " values, manifest expects " +
                            std::to_string(count),
                        "the manifest does not describe this compiled library; rebuild the artifact");
        std::memcpy(dst, t.data_ptr(), static_cast<size_t>(count) * sizeof(float));
    }

    Manifest manifest_;
    BackendOptions options_;
    ffi::Optional<ffi::Module> vm_;
    ffi::Optional<ffi::Function> encode_;
    ffi::Optional<ffi::Function> decode_step_;
    ffi::Optional<ffi::Function> greedy_;
};

}  // namespace

std::unique_ptr<Backend> make_tvm_backend(const Manifest& manifest, const BackendOptions& options) {
    return std::unique_ptr<Backend>(new TvmBackend(manifest, options));
}

}  // namespace ev
