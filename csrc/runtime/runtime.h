// The runtime layer: the only part of libedge_veda that includes TVM (runtime/tvm_runtime.cpp,
// runtime/json.cpp). It sits on core/ (errors, weights, the module source); the model kinds and
// the ABI boundary sit on it. Everything above it speaks in plain pointers, shapes and dtypes.
//
//   Module   one compiled Relax VM executable, loaded once per context from a ModuleSource:
//            a shared-library file, or a system-lib prefix linked into the process (iOS).
//   Vm       one virtual machine over a Module; a context creates one per thread that runs the
//            model at the same time (batch workers). Every Vm of a context binds the same
//            Weights, so the weights exist once in memory.
//   Function a VM function with its weights bound as trailing arguments: callers pass only the
//            data inputs, in caller memory, and receive the outputs copied into caller memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/module_source.h"
#include "core/weights.h"

namespace ev {

// A tensor in caller memory (read-only input, or output buffer of `capacity` elements).
struct TensorRef {
    void* data = nullptr;
    DType dtype;
    std::vector<int64_t> shape;  // inputs: the exact shape; outputs: ignored
    uint64_t capacity = 0;       // outputs: elements that fit at `data`
    uint64_t written = 0;        // outputs: elements the call wrote
};

// The element types the kinds pass (DLPack codes: 0 int, 1 uint, 2 float).
constexpr DType kU8{1, 8};
constexpr DType kI32{0, 32};
constexpr DType kI64{0, 64};
constexpr DType kF32{2, 32};

// An input of exactly `shape`, read from `data` (never written).
inline TensorRef input_tensor(const void* data, DType dtype, std::vector<int64_t> shape) {
    TensorRef t;
    t.data = const_cast<void*>(data);
    t.dtype = dtype;
    t.shape = std::move(shape);
    return t;
}

// An output buffer of `capacity` elements at `data`.
inline TensorRef output_tensor(void* data, DType dtype, uint64_t capacity) {
    TensorRef t;
    t.data = data;
    t.dtype = dtype;
    t.capacity = capacity;
    return t;
}

// Asked before each kernel of a function running on an interruptible VM (Module::create_vm):
// whatever it throws ends the function, and Function::call rethrows that exception as it was.
// A cancel check, so one long function (Kokoro's vocoder) stops within one kernel.
using Interrupt = std::function<void()>;

class Function {
public:
    virtual ~Function() = default;
    // Calls the function with `inputs` followed by its bound weights and copies each returned
    // tensor (one, or a tuple of them) into `outputs`, in order. Throws ev::Error when the
    // result does not fit (count, dtype or capacity): a manifest/module mismatch. `interrupt`
    // (may be null; used only on an interruptible VM) is asked before each kernel.
    virtual void call(const std::vector<TensorRef>& inputs, std::vector<TensorRef>& outputs,
                      const Interrupt* interrupt = nullptr) = 0;
};

class Vm {
public:
    virtual ~Vm() = default;
    // The function `name` with the weights `weight_names` (in this order) bound after the
    // inputs. Throws ev::Error (EV_ERR_MODEL_INVALID) naming what is missing.
    virtual std::unique_ptr<Function> function(const std::string& name,
                                               const std::vector<std::string>& weight_names) = 0;
    virtual bool has_function(const std::string& name) = 0;
};

// Where a VM's intermediate tensors come from.
//  Pooled: freed buffers are kept for the next request of the same size. Right for functions
//    with fixed shapes (every call asks for the same sizes: no allocation after the first).
//  Released: freed buffers go back to the system at once. Right for symbolic lengths: each
//    call asks for sizes of its own, and a pool would keep every size ever seen (Kokoro grew
//    by ~150 MiB per distinct input length, without bound), and within one call the peak is
//    what is live, not everything allocated (measured: 1.2 GiB instead of 4.6 GiB for 19 s of
//    audio, at the same speed).
enum class BufferPolicy { Pooled, Released };

class Module {
public:
    virtual ~Module() = default;
    // A VM over this module whose functions bind `weights` (may be null for a model without
    // a weights file). `interruptible`: its functions ask their Interrupt before each kernel
    // (costs about a microsecond per kernel; for functions that run long). Throws ev::Error.
    virtual std::unique_ptr<Vm> create_vm(std::shared_ptr<const Weights> weights,
                                          BufferPolicy buffers = BufferPolicy::Pooled,
                                          bool interruptible = false) = 0;
};

// Bytes the VMs of BufferPolicy::Released hold right now, across the process (TVM's naive
// allocator counts them). Sampled before every kernel of an interruptible function, it is what
// a synthesis holds at once beyond its host buffers (models/tts: WorkingMemory). Thread-safe.
uint64_t released_buffer_bytes();

// Loads the compiled module. A system-lib prefix that is not linked into the process is
// EV_ERR_MODEL_NOT_FOUND whose hint lists the prefixes that are. Out of memory while loading
// is EV_ERR_OUT_OF_MEMORY; any other runtime failure EV_ERR_RUNTIME. Throws ev::Error.
std::shared_ptr<Module> load_module(const ModuleSource& source);

// Makes kernels launched from the calling thread use `num_threads` threads of TVM's pool
// (parallel loops in compiled kernels). Cheap when nothing changes; call before running a
// model on a thread. Throws EV_ERR_OUT_OF_MEMORY, leaving the pool as it was, when the
// threads cannot be had (TVM's pool itself would call std::terminate).
void use_kernel_threads(int32_t num_threads);

// Runs body(worker, workers) on TVM's thread pool of the calling thread, sized to
// `num_threads` (the calling thread is worker 0), and waits for all of them; the first
// exception thrown by a worker is rethrown here. When the threads cannot be had, body(0, 1)
// runs alone on the calling thread. Kernels run inside `body` must not be parallel themselves
// (TVM cannot nest its pool).
void run_on_kernel_threads(int32_t num_threads, const std::function<void(int32_t worker, int32_t workers)>& body);

// The TVM version this library was built against (ev_runtime_version): a system-lib archive
// built for another TVM major.minor is refused.
const char* tvm_version();

// Strict JSON (no NaN/Infinity, no leading zeros, valid UTF-8, nesting <= 32 levels, at most
// `max_bytes`), over tvm-ffi's parser behind a lexical check (runtime/json.cpp). Core reads
// manifests with it through ManifestReader (core/manifest.h), since core cannot include TVM.
// Throws ev::Error (EV_ERR_MODEL_INVALID) naming `where`.
Json parse_json(const std::string& text, const std::string& where, size_t max_bytes);

}  // namespace ev
