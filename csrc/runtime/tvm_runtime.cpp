// runtime.h over the TVM runtime (tvm-ffi C++ API): the only file of libedge_veda that
// includes TVM. Loads Relax VM executables, creates VMs, calls their functions with DLTensors
// that wrap caller memory and the context's weights, and copies results out.
#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <exception>
#include <functional>
#include <vector>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>
#include <tvm/runtime/memory/memory_manager.h>

#include "runtime/runtime.h"

#include "core/errors.h"
#include "core/system_lib.h"

#ifndef EV_TVM_VERSION
#define EV_TVM_VERSION "unknown"
#endif

// TVM's C backend API (libtvm_runtime): its thread pool, which also runs parallel kernels.
extern "C" {
struct TVMParallelGroupEnv {
    void* sync_handle;
    int32_t num_task;
};
int TVMBackendParallelLaunch(int (*flambda)(int task_id, TVMParallelGroupEnv* penv, void* cdata), void* cdata,
                             int num_task);
}

namespace ev {

constexpr size_t kTensorAlignment = 64;  // TVM's kAllocAlignment
namespace {

namespace ffi = tvm::ffi;

constexpr int kDeviceCPU = 1;        // kDLCPU
constexpr int kNaiveAllocator = 1;   // tvm::runtime::memory::kNaive
constexpr int kPooledAllocator = 2;  // tvm::runtime::memory::kPooled

DLDataType to_dl(DType t) { return DLDataType{t.code, t.bits, 1}; }

// Lends memory the library owns or borrows (caller inputs, mapped weights) to a Tensor object:
// "allocating" points the tensor at it, freeing does nothing. Functions get Tensor objects, not
// raw DLTensor*: TVM 0.27's vm.builtin.reshape wraps a DLTensor* argument in a DLManagedTensor
// without a deleter, leaking 64 bytes per reshape of an argument (valgrind: ~66 per Kokoro
// synthesis, so a service would grow without bound).
struct BorrowedMemory {
    void* data;
    void AllocData(DLTensor* t) const { t->data = data; }
    void FreeData(DLTensor*) const {}
};

ffi::Tensor borrow(const void* data, const int64_t* shape, int ndim, DType dtype) {
    return ffi::Tensor::FromNDAlloc(BorrowedMemory{const_cast<void*>(data)},
                                    ffi::ShapeView(shape, static_cast<size_t>(ndim)), to_dl(dtype),
                                    DLDevice{kDLCPU, 0});
}

bool looks_like_out_of_memory(const std::string& what) {
    // Not "failed to map segment" alone: dlopen says that for a corrupt library too; an
    // exhausted address space adds ": Cannot allocate memory".
    for (const char* marker : {"bad_alloc", "out of memory", "Out of memory", "Cannot allocate memory",
                               "cannot allocate memory", "ENOMEM", "Resource temporarily unavailable"})
        if (what.find(marker) != std::string::npos) return true;
    return false;
}

// Every TVM failure becomes an ev::Error: out of memory as such, the rest as a runtime error.
[[noreturn]] void rethrow_runtime(const std::string& what, const std::exception& e) {
    const std::string detail = e.what();
    if (looks_like_out_of_memory(detail))
        throw Error(EV_ERR_OUT_OF_MEMORY, what + ": out of memory (" + detail + ")",
                    "free memory, or set a lower ev_config.num_threads so fewer VMs are created");
    throw Error(EV_ERR_RUNTIME, what + ": " + detail,
                "the artifact may have been compiled for another CPU or TVM version; rebuild it "
                "with `edge-veda compile`");
}

template <typename F>
auto tvm_call(const std::string& what, F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const Error&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        rethrow_runtime(what, e);
    }
}

// The Interrupt of the function running on this thread, and what it threw: the VM's
// instrument (called before each kernel) runs inside TVM, which turns any exception into its
// own error type, so the original is kept here and rethrown once the function has unwound.
thread_local const Interrupt* t_interrupt = nullptr;
thread_local std::exception_ptr t_interrupted;

class InterruptScope {
public:
    explicit InterruptScope(const Interrupt* interrupt) : outer_(t_interrupt) {
        t_interrupt = interrupt;
        t_interrupted = nullptr;
    }
    ~InterruptScope() { t_interrupt = outer_; }
    InterruptScope(const InterruptScope&) = delete;
    InterruptScope& operator=(const InterruptScope&) = delete;
    // Rethrows what the Interrupt threw during the function, if it did.
    static void rethrow() {
        if (t_interrupted) {
            std::exception_ptr e = t_interrupted;
            t_interrupted = nullptr;
            std::rethrow_exception(e);
        }
    }

private:
    const Interrupt* outer_;
};

// The VM's instrument (VirtualMachine "set_instrument"): called as (func, name, before, ret,
// args...) around every kernel; returns 0 (run the kernel as usual).
ffi::Function interrupt_instrument() {
    return ffi::Function::FromPacked([](ffi::PackedArgs args, ffi::Any* rv) {
        *rv = static_cast<int64_t>(0);
        if (t_interrupt == nullptr || args.size() < 3 || !args[2].cast<bool>()) return;
        try {
            (*t_interrupt)();
        } catch (...) {
            t_interrupted = std::current_exception();
            throw std::runtime_error("interrupted");
        }
    });
}

void copy_out(const ffi::Tensor& t, TensorRef& out, const std::string& fn) {
    uint64_t numel = 1;
    for (int64_t d : t.shape()) numel *= static_cast<uint64_t>(d);
    const DLDataType dt = t.dtype();
    if (dt.code != out.dtype.code || dt.bits != out.dtype.bits || dt.lanes != 1 || numel > out.capacity)
        throw Error(EV_ERR_MODEL_INVALID,
                    fn + " returned " + std::to_string(numel) + " values of another type or more than the " +
                        std::to_string(out.capacity) + " the manifest allows",
                    kRebuildHint);
    std::memcpy(out.data, t.data_ptr(), numel * out.dtype.bytes());
    out.written = numel;
}

class TvmFunction final : public Function {
public:
    TvmFunction(std::string name, ffi::Function fn, std::vector<ffi::Tensor> weights,
                std::shared_ptr<const Weights> keep)
        : name_(std::move(name)), fn_(std::move(fn)), weights_(std::move(weights)), keep_(std::move(keep)) {}

    void call(const std::vector<TensorRef>& inputs, std::vector<TensorRef>& outputs,
              const Interrupt* interrupt) override {
        InterruptScope scope(interrupt);
        std::vector<ffi::Tensor> in;
        in.reserve(inputs.size());
        // Compiled kernels may assume TVM's 64-byte alignment of every buffer (aligned vector
        // loads); caller memory that is not so aligned is copied into memory that is.
        std::vector<std::unique_ptr<void, void (*)(void*)>> aligned_copies;
        for (const TensorRef& t : inputs) {
            void* data = t.data;
            if (reinterpret_cast<uintptr_t>(data) % kTensorAlignment != 0) {
                uint64_t bytes = t.dtype.bytes();
                for (int64_t d : t.shape) bytes *= static_cast<uint64_t>(d);
                const size_t rounded = static_cast<size_t>((bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment);
                void* copy = std::aligned_alloc(kTensorAlignment, std::max<size_t>(rounded, kTensorAlignment));
                if (copy == nullptr) throw std::bad_alloc();
                aligned_copies.emplace_back(copy, &std::free);
                if (bytes) std::memcpy(copy, data, static_cast<size_t>(bytes));
                data = copy;
            }
            in.push_back(borrow(data, t.shape.data(), static_cast<int>(t.shape.size()), t.dtype));
        }
        std::vector<ffi::AnyView> args;
        args.reserve(in.size() + weights_.size());
        for (const ffi::Tensor& t : in) args.emplace_back(t);
        for (const ffi::Tensor& t : weights_) args.emplace_back(t);
        tvm_call("'" + name_ + "' failed", [&] {
            ffi::Any result;
            try {
                fn_.CallPacked(args.data(), static_cast<int32_t>(args.size()), &result);
            } catch (...) {
                InterruptScope::rethrow();  // what the Interrupt threw, as it was
                throw;
            }
            if (outputs.size() == 1 && result.as<ffi::Tensor>().has_value()) {
                copy_out(result.cast<ffi::Tensor>(), outputs[0], name_);
                return;
            }
            ffi::Array<ffi::Any> tuple = result.cast<ffi::Array<ffi::Any>>();
            if (tuple.size() != outputs.size())
                throw Error(EV_ERR_MODEL_INVALID,
                            "'" + name_ + "' returned " + std::to_string(tuple.size()) + " values, expected " +
                                std::to_string(outputs.size()),
                            kRebuildHint);
            for (size_t i = 0; i < outputs.size(); ++i) copy_out(tuple[i].cast<ffi::Tensor>(), outputs[i], name_);
        });
    }

private:
    std::string name_;
    ffi::Function fn_;
    std::vector<ffi::Tensor> weights_;     // views of *keep_
    std::shared_ptr<const Weights> keep_;  // the weights outlive every function bound to them
};

class TvmVm final : public Vm {
public:
    TvmVm(ffi::Module vm, std::shared_ptr<const Weights> weights, std::string where)
        : vm_(std::move(vm)), weights_(std::move(weights)), where_(std::move(where)) {}

    bool has_function(const std::string& name) override {
        return tvm_call("looking up '" + name + "'", [&] { return vm_->GetFunction(name).has_value(); });
    }

    std::unique_ptr<Function> function(const std::string& name, const std::vector<std::string>& weight_names) override {
        ffi::Optional<ffi::Function> fn = tvm_call("looking up '" + name + "'", [&] { return vm_->GetFunction(name); });
        if (!fn.has_value())
            throw Error(EV_ERR_MODEL_INVALID, where_ + " has no function '" + name + "'", kRebuildHint);
        std::vector<ffi::Tensor> bound;
        for (const std::string& w : weight_names) {
            const int64_t i = weights_ ? weights_->find(w) : -1;
            if (i < 0)
                throw Error(EV_ERR_MODEL_INVALID,
                            "function '" + name + "' needs weights tensor '" + w + "', which the weights file lacks",
                            kRebuildHint);
            const TensorSpec& spec = weights_->spec(static_cast<size_t>(i));
            bound.push_back(borrow(weights_->data(static_cast<size_t>(i)), spec.shape.data(),
                                   static_cast<int>(spec.shape.size()), spec.dtype));
        }
        return std::unique_ptr<Function>(new TvmFunction(name, *fn, std::move(bound), weights_));
    }

private:
    ffi::Module vm_;
    std::shared_ptr<const Weights> weights_;
    std::string where_;
};

class TvmModule final : public Module {
public:
    TvmModule(ffi::Module lib, std::string where) : lib_(std::move(lib)), where_(std::move(where)) {}

    std::unique_ptr<Vm> create_vm(std::shared_ptr<const Weights> weights, BufferPolicy buffers,
                                  bool interruptible) override {
        const int allocator = buffers == BufferPolicy::Pooled ? kPooledAllocator : kNaiveAllocator;
        ffi::Module vm = tvm_call("creating a VM for " + where_, [&] {
            ffi::Optional<ffi::Function> load_exec = lib_->GetFunction("vm_load_executable");
            if (!load_exec.has_value())
                throw Error(EV_ERR_MODEL_INVALID, where_ + " holds no Relax VM executable",
                            "compile the artifact with `edge-veda compile`");
            ffi::Module m = (*load_exec)().cast<ffi::Module>();
            ffi::Function init = m->GetFunction("vm_initialization").value();
            init(kDeviceCPU, 0, allocator, kDeviceCPU, 0, allocator);
            if (interruptible) m->GetFunction("set_instrument").value()(interrupt_instrument());
            return m;
        });
        return std::unique_ptr<Vm>(new TvmVm(std::move(vm), std::move(weights), where_));
    }

private:
    ffi::Module lib_;
    std::string where_;
};

struct PoolJob {
    const std::function<void(int32_t, int32_t)>* body;
    std::mutex mu;
    std::exception_ptr error;
};

// Runs on each pool thread; nothing may unwind into TVM's C code.
int run_pool_task(int task_id, TVMParallelGroupEnv* penv, void* cdata) {
    PoolJob* job = static_cast<PoolJob*>(cdata);
    try {
        (*job->body)(task_id, penv->num_task);
    } catch (...) {
        std::lock_guard<std::mutex> g(job->mu);
        if (!job->error) job->error = std::current_exception();
    }
    return 0;
}

// TVM's pool calls std::terminate when it cannot start a worker thread, so the threads are
// tried first: a few more than the pool needs, all alive at once, each allocating as a pool
// worker does (its first touch of our thread-locals mallocs: the library is dlopen'ed), then
// released and joined. The allocation matters: under an address-space limit (ulimit -v) glibc
// gives each new thread that allocates a malloc arena of its own (64 MiB of address space,
// 128 MiB while it is being aligned; up to 8 per core), and it was those arenas, made by TVM's
// workers while the pool was still creating threads, that left no room for the last stacks.
// The probe starts one thread at a time and waits for its allocation before the next: arenas
// are made as early as they ever can be, so the probe is the worst order, and the arenas it
// makes (never unmapped; reused by later threads) are the ones TVM's workers get. A thread the
// probe could not give an arena could not get one in TVM's pool either (less room there).
// (A limit that tightens between this and TVM's own start is not covered.)
void check_threads_available(int32_t extra) {
    const int32_t wanted = extra + std::max<int32_t>(2, extra / 8);
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    int32_t allocated = 0;
    std::vector<std::thread> probe;
    probe.reserve(static_cast<size_t>(wanted));
    std::string failure;
    for (int32_t i = 0; i < wanted && failure.empty(); ++i) {
        try {
            probe.emplace_back([&] {
                void* volatile block = std::malloc(256);  // volatile: the allocation must happen
                std::unique_lock<std::mutex> g(mu);
                ++allocated;
                cv.notify_all();
                cv.wait(g, [&] { return release; });
                g.unlock();
                std::free(block);
            });
        } catch (const std::exception& e) {
            failure = e.what();
            break;
        }
        // Bounded: a thread that has not allocated within 10 s (a stalled machine) only makes
        // the probe less strict, never hangs it.
        std::unique_lock<std::mutex> g(mu);
        cv.wait_for(g, std::chrono::seconds(10), [&] { return allocated > i; });
    }
    {
        std::lock_guard<std::mutex> g(mu);
        release = true;
    }
    cv.notify_all();
    for (std::thread& t : probe) t.join();
    if (!failure.empty())
        throw Error(EV_ERR_OUT_OF_MEMORY, "cannot start " + std::to_string(extra) + " threads: " + failure,
                    "the process is out of memory or threads: lower ev_config.num_threads, or raise the "
                    "process's limits (ulimit -v / -u)");
}

}  // namespace

void run_on_kernel_threads(int32_t num_threads, const std::function<void(int32_t, int32_t)>& body) {
    if (num_threads <= 1) {
        body(0, 1);
        return;
    }
    try {
        use_kernel_threads(num_threads);
    } catch (const Error& e) {
        if (e.code() != EV_ERR_OUT_OF_MEMORY) throw;
        body(0, 1);  // no threads to be had: the calling thread does all the work
        return;
    }
    PoolJob job;
    job.body = &body;
    int rc = 0;
    try {
        rc = TVMBackendParallelLaunch(&run_pool_task, &job, 0);  // 0 = one task per pool thread
    } catch (const std::exception& e) {
        if (job.error) std::rethrow_exception(job.error);
        rethrow_runtime("TVM's thread pool failed", e);
    }
    if (job.error) std::rethrow_exception(job.error);
    if (rc != 0) throw Error(EV_ERR_RUNTIME, "TVM's thread pool failed", "run the call again; report it if it persists");
}

const char* tvm_version() { return EV_TVM_VERSION; }

uint64_t released_buffer_bytes() {
    // The allocator of BufferPolicy::Released (created on first use; UsedMemory is an atomic).
    static tvm::runtime::memory::Allocator* naive = nullptr;
    static std::once_flag once;
    try {
        std::call_once(once, [] {
            naive = tvm::runtime::memory::MemoryManager::GetOrCreateAllocator(
                DLDevice{kDLCPU, 0}, tvm::runtime::memory::AllocatorType::kNaive);
        });
    } catch (...) {
        return 0;  // no count is better than a failed call: the limit then holds for host buffers
    }
    return naive ? static_cast<uint64_t>(naive->UsedMemory()) : 0;
}

std::shared_ptr<Module> load_module(const ModuleSource& source) {
    const std::string where = source.describe();
    ffi::Module lib = tvm_call("cannot load " + where, [&] {
        if (!source.is_system_lib()) return ffi::Module::LoadFromFile(source.location);
        // ffi.SystemLib never fails: an unlinked prefix yields an empty module. Our own
        // registry knows which archives are linked and what they were built with; ask it first.
        check_system_lib_model(source.location, tvm_version());
        ffi::Function system_lib = ffi::Function::GetGlobal("ffi.SystemLib").value();
        ffi::Module m = system_lib(source.location).cast<ffi::Module>();
        if (!m->GetFunction("vm_load_executable").has_value())
            throw Error(EV_ERR_MODEL_NOT_FOUND,
                        "the model archive with system-lib prefix '" + source.location +
                            "' registered itself, but its kernels are not linked",
                        "link the whole archive (-Wl,--whole-archive; Apple: -force_load), and do not merge model "
                        "archives with ar (each has a lib0.o): run `edge-veda link-check` on them");
        return m;
    });
    return std::make_shared<TvmModule>(std::move(lib), where);
}

void use_kernel_threads(int32_t num_threads) {
    // TVM's pool is per calling thread and starts its workers on that thread's first parallel
    // call, as many as the process-wide cap then allows; later settings move the workers'
    // affinity and how many of them a call uses, never past that first count. Reconfigure
    // only when this thread's setting changes.
    thread_local int32_t configured = -1;
    if (num_threads <= 0 || num_threads == configured) return;
    check_threads_available(num_threads - 1);
    static std::mutex mu;
    static int32_t process_max = 0;
    tvm_call("configuring TVM's thread pool", [&] {
        std::lock_guard<std::mutex> g(mu);
        process_max = std::max(process_max, num_threads);
        ffi::Array<ffi::String> cpus;
        const int32_t cores = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
        for (int32_t i = 0; i < process_max; ++i) cpus.push_back(std::to_string(i % cores));
        // -3 = kSpecifyThreadShareAllCore: the workers may run on any of the listed cores; the
        // list's length sets TVM's concurrency cap, which defaults to half the cores on x86.
        ffi::Function config = ffi::Function::GetGlobal("runtime.config_threadpool").value();
        config(-3, num_threads, cpus);
    });
    configured = num_threads;
}

}  // namespace ev
