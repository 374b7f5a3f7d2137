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

// dlopen and the runtime report exhausted memory only as text ("failed to map segment from
// shared object: Cannot allocate memory", std::bad_alloc inside TVM): recognise it so that it
// is reported as EV_ERR_OUT_OF_MEMORY, not as a broken artifact.
bool mentions_out_of_memory(const std::string& text) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    for (const char* sign : {"cannot allocate memory", "failed to map segment", "bad_alloc", "out of memory"})
        if (lower.find(sign) != std::string::npos) return true;
    return false;
}

[[noreturn]] void runtime_error(const std::string& what, const std::exception& e) {
    if (mentions_out_of_memory(e.what()))
        throw Error(EV_ERR_OUT_OF_MEMORY, what + ": " + e.what(),
                    "not enough memory to load the model: free memory, raise the process's memory limit "
                    "(ulimit -v), or use fewer threads");
    throw Error(EV_ERR_RUNTIME, what + ": " + e.what(),
                "the artifact may have been compiled for another CPU or TVM version; rebuild it "
                "with `edge-veda compile`");
}

// model_info layout, written by the compiler (pybind/edge_veda/compile/g2p_en.py MODEL_INFO).
enum ModelInfo : int {
    kInfoHidden = 0, kInfoInputRows, kInfoOutputRows, kInfoLogits, kInfoGreedySteps, kInfoBos, kInfoEos,
    kInfoCount
};

class TvmBackend final : public Backend {
public:
    TvmBackend(const Manifest& m, const BackendOptions& o) : manifest_(m), options_(o) {}

    void load() override {
        if (vm_.has_value()) return;
        // Again at every (re)load, e.g. after a memory-pressure unload: the files may have been
        // replaced since ev_init. Unchanged files cost one stat each (verification cache).
        manifest_.verify_files();
        const std::string path = manifest_.real_dir + "/" + manifest_.library;
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
            check_model_info(vm, path);
            vm_ = vm;
        } catch (const Error&) {
            unload();
            throw;
        } catch (const std::bad_alloc&) {
            unload();
            throw Error(EV_ERR_OUT_OF_MEMORY, "out of memory while loading '" + path + "'",
                        "free memory or raise the process's memory limit");
        } catch (const std::exception& e) {
            unload();
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
        check_ids(ids, n, input_rows_, "input");
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
        check_ids(&token, 1, output_rows_, "decoder input");
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
        check_ids(ids, n, input_rows_, "input");
        if (max_steps < 0 || max_steps > manifest_.greedy_max_steps)
            throw Error(EV_ERR_INTERNAL, "greedy decode asked for " + std::to_string(max_steps) + " steps",
                        "this is a bug in libedge_veda; please report it");
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
    // The module states the shapes it was compiled with; a manifest that disagrees would make
    // the kernels read or write outside their tables, so it is refused before any call.
    void check_model_info(const ffi::Module& vm, const std::string& path) {
        ffi::Optional<ffi::Function> info_fn = vm->GetFunction("model_info");
        if (!info_fn.has_value())
            throw Error(EV_ERR_MODEL_INVALID, path + " has no 'model_info' function (built by an older compiler)",
                        "rebuild the artifact with `edge-veda compile` (or pull it again) so the library can "
                        "check the manifest against the compiled module");
        ffi::Tensor info = (*info_fn)().cast<ffi::Tensor>();
        int64_t numel = 1;
        for (int64_t d : info.shape()) numel *= d;
        if (info.dtype() != kInt32 || info.ndim() != 1 || numel < kInfoCount)
            throw Error(EV_ERR_MODEL_INVALID, path + ": model_info is not an int32 vector of " +
                        std::to_string(kInfoCount) + " values", "rebuild the artifact with `edge-veda compile`");
        const int32_t* v = static_cast<const int32_t*>(info.data_ptr());
        struct Check { const char* field; int64_t manifest; int64_t module; };
        const Check checks[] = {
            {"model.hidden_size", manifest_.hidden_size, v[kInfoHidden]},
            {"vocab.input (entries)", static_cast<int64_t>(manifest_.input_vocab.size()), v[kInfoInputRows]},
            {"vocab.output (entries)", static_cast<int64_t>(manifest_.output_vocab.size()), v[kInfoOutputRows]},
            {"model.logits_size", manifest_.logits_size, v[kInfoLogits]},
            {"model.greedy_max_steps", manifest_.greedy_fn.empty() ? v[kInfoGreedySteps] : manifest_.greedy_max_steps,
             v[kInfoGreedySteps]},
            {"special_tokens.output_bos", manifest_.output_bos, v[kInfoBos]},
            {"special_tokens.output_eos", manifest_.output_eos, v[kInfoEos]},
        };
        for (const Check& c : checks)
            if (c.manifest != c.module)
                throw Error(EV_ERR_MODEL_INVALID,
                            path + ": manifest " + c.field + " is " + std::to_string(c.manifest) +
                                ", the compiled module has " + std::to_string(c.module),
                            "the manifest does not describe this compiled library; rebuild the artifact with "
                            "`edge-veda compile` or pull it again");
        input_rows_ = v[kInfoInputRows];
        output_rows_ = v[kInfoOutputRows];
    }

    // Ids index the compiled tables; the tokenizer only produces ids below the vocabulary size,
    // and this keeps that true for every caller of the backend.
    static void check_ids(const int32_t* ids, int64_t n, int32_t rows, const char* what) {
        for (int64_t i = 0; i < n; ++i)
            if (ids[i] < 0 || ids[i] >= rows)
                throw Error(EV_ERR_INTERNAL, std::string(what) + " id " + std::to_string(ids[i]) +
                            " is outside the model's table of " + std::to_string(rows) + " rows",
                            "this is a bug in libedge_veda; please report it");
    }

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
    int32_t input_rows_ = 0;   // from model_info; 0 until loaded
    int32_t output_rows_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_tvm_backend(const Manifest& manifest, const BackendOptions& options) {
    return std::unique_ptr<Backend>(new TvmBackend(manifest, options));
}

}  // namespace ev
