// Kind "seq2seq-gru": a character-level GRU encoder-decoder (g2p-en). docs/artifact-format.md,
// "Kind seq2seq-gru", describes its manifest section and functions.
//
// One decode loop (DecodeRun::step) serves every path: generate, the token callback, pull
// streams, batches and warmup. Plain greedy decoding may instead run the module's fused
// `greedy` function, which computes the same tokens in one call.
#include "models/seq2seq_gru/seq2seq_gru.h"

#include <algorithm>
#include <atomic>

#include "core/errors.h"
#include "core/json.h"
#include "core/utf8.h"
#include "models/model_info.h"

namespace ev {
namespace {

// The model's facts, from its manifest section, checked against the compiled module.
struct GruConfig {
    int32_t hidden_size = 0;
    int32_t logits_size = 0;       // padded width of the logits the decode step returns
    int32_t greedy_max_steps = 0;  // output capacity of the fused greedy function (0 = none)
    uint64_t workspace_bytes = 0;
    std::vector<std::string> input_vocab;
    std::vector<std::string> output_vocab;
    bool lowercase_ascii = false;
    std::string output_separator = " ";
    int32_t input_unk = 0, input_eos = 0, output_bos = 0, output_eos = 0;
    int32_t default_max_tokens = 20;
    int64_t max_input_chars = 0;
    int64_t max_output_tokens = 0;

    // `f`: the seq2seq-gru section (the manifest's own, or one nested in another kind's).
    static GruConfig parse(const Fields& f, const Manifest& m) {
        GruConfig c;
        c.hidden_size = static_cast<int32_t>(f.integer("hidden_size", 1, 65536));
        c.greedy_max_steps = static_cast<int32_t>(f.integer("greedy_max_steps", 0, 4096, 0));
        c.workspace_bytes = static_cast<uint64_t>(f.integer("workspace_bytes", 0, int64_t(1) << 30, 0));
        Fields vocab = f.object("vocab");
        c.input_vocab = vocab.strings("input", 65536, 256);
        if (c.input_vocab.empty()) vocab.fail("input", "is empty");
        c.output_vocab = vocab.strings("output", 65536, 256);
        if (c.output_vocab.empty()) vocab.fail("output", "is empty");
        c.logits_size = static_cast<int32_t>(
            f.integer("logits_size", static_cast<int64_t>(c.output_vocab.size()), int64_t(1) << 20));
        const int64_t in_n = static_cast<int64_t>(c.input_vocab.size()) - 1;
        const int64_t out_n = static_cast<int64_t>(c.output_vocab.size()) - 1;
        Fields special = f.object("special_tokens");
        c.input_unk = static_cast<int32_t>(special.integer("input_unk", 0, in_n));
        c.input_eos = static_cast<int32_t>(special.integer("input_eos", 0, in_n));
        c.output_bos = static_cast<int32_t>(special.integer("output_bos", 0, out_n));
        c.output_eos = static_cast<int32_t>(special.integer("output_eos", 0, out_n));
        if (auto tok = f.optional_object("tokenizer")) {
            const std::string type = tok->string("type", 32, "characters");
            if (type != "characters") tok->fail("type", "is '" + type + "'; this kind tokenizes \"characters\"");
            c.lowercase_ascii = tok->boolean("lowercase_ascii", false);
            c.output_separator = tok->string("output_separator", 64, " ");
        }
        if (auto gen = f.optional_object("generation_defaults"))
            c.default_max_tokens = static_cast<int32_t>(gen->integer("max_tokens", 1, 4096, 20));
        c.max_input_chars = m.max_input_chars;
        c.max_output_tokens = m.max_output_tokens;
        if (c.default_max_tokens > c.max_output_tokens)
            f.fail("generation_defaults", "max_tokens is above limits.max_output_tokens");
        return c;
    }
};

// The compiled functions of one VM. Each thread that runs the model at the same time owns
// one; every one binds the context's single copy of the weights.
struct GruVm {
    std::unique_ptr<Vm> vm;
    std::unique_ptr<Function> encode, decode_step, greedy;
};

struct DecodeRun {
    SamplingParams params;
    Rng rng;
    std::vector<float> h;
    std::vector<float> logits;
    std::vector<int32_t> produced;
    std::string text;        // tokens so far, joined by the separator
    int32_t next_input = 0;  // decoder input of the next step
    int32_t steps = 0;
    bool done = false;
};

class Seq2SeqGru;

class GruStream final : public TokenStream {
public:
    GruStream(Seq2SeqGru& model, DecodeRun run) : model_(model), run_(std::move(run)) {}
    bool next(CallControl& call, std::string* token, int32_t* id) override;

private:
    Seq2SeqGru& model_;
    DecodeRun run_;
};

class Seq2SeqGru final : public Seq2SeqGruNetwork {
public:
    Seq2SeqGru(const KindInputs& in, const Fields& section)
        : manifest_(in.manifest), cfg_(GruConfig::parse(section, in.manifest)), module_(in.module), weights_(in.weights) {
        for (int32_t& id : ascii_ids_) id = cfg_.input_unk;
        for (size_t i = 0; i < cfg_.input_vocab.size(); ++i) {
            const std::string& g = cfg_.input_vocab[i];
            if (g.size() == 1 && static_cast<unsigned char>(g[0]) < 0x80)
                ascii_ids_[static_cast<unsigned char>(g[0])] = static_cast<int32_t>(i);
        }
        vms_.push_back(create_vm());
        check_model_info(*vms_[0]);
        check_functions_run(*vms_[0]);
    }

    uint64_t working_bytes() const override { return cfg_.workspace_bytes * vms_.size(); }

    void warmup(CallControl& call) override {
        SamplingParams p;
        p.max_tokens = 2;
        DecodeRun run = begin(*vms_[0], "a", p, /*seed=*/0);  // greedy; the context RNG is left alone
        while (step(*vms_[0], run, call, nullptr)) {
        }
        // Every input row once (all of a-z and an unknown), so no table row is cold afterwards;
        // within the model's input limit.
        SamplingParams greedy = fill_defaults(SamplingParams());
        std::string every_row = "abcdefghijklmnopqrstuvwxyz'";
        every_row.resize(std::min<size_t>(every_row.size(), static_cast<size_t>(cfg_.max_input_chars)));
        if (fused_applies(greedy)) run_fused(*vms_[0], every_row, greedy);
    }

    std::string generate(const std::string& prompt, const SamplingParams& params_in, CallControl& call,
                         const TokenSink* sink) override {
        SamplingParams params = fill_defaults(params_in);
        const uint64_t seed = call.seed_for(params);
        return decode_prompt(*vms_[0], prompt, params, seed, call, sink);
    }

    std::unique_ptr<TokenStream> stream(const std::string& prompt, const SamplingParams& params_in,
                                        CallControl& call) override {
        SamplingParams params = fill_defaults(params_in);
        return std::unique_ptr<TokenStream>(new GruStream(*this, begin(*vms_[0], prompt, params, call.seed_for(params))));
    }

    std::vector<std::string> generate_batch(const std::vector<std::string>& prompts, const SamplingParams& params_in,
                                            CallControl& call) override {
        SamplingParams params = fill_defaults(params_in);
        // Seeds are drawn in prompt order before any work starts, so the outputs do not depend on
        // which thread decodes which prompt.
        std::vector<uint64_t> seeds(prompts.size());
        for (uint64_t& s : seeds) s = call.seed_for(params);
        std::vector<std::string> out(prompts.size());
        const size_t threads = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(call.num_threads()), prompts.size()));
        while (vms_.size() < threads) vms_.push_back(create_vm());

        std::atomic<size_t> next{0};
        std::atomic<bool> failed{false};
        // The workers are the threads of TVM's pool (ev_config.num_threads); each decodes with
        // its own VM over the shared weights and takes the next prompt until none is left.
        run_on_kernel_threads(static_cast<int32_t>(threads), [&](int32_t worker, int32_t) {
            if (static_cast<size_t>(worker) >= vms_.size()) return;
            GruVm& vm = *vms_[static_cast<size_t>(worker)];
            try {
                for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < prompts.size();) {
                    call.check_cancel();
                    out[i] = decode_prompt(vm, prompts[i], params, seeds[i], call, nullptr);
                }
            } catch (...) {
                failed = true;
                throw;
            }
        });
        return out;
    }

    // The one decode loop's step: decodes one token of `run`; false when the output is complete.
    bool step(GruVm& vm, DecodeRun& run, CallControl& call, std::string* token_out, int32_t* id_out = nullptr) const {
        if (run.done) return false;
        call.check_cancel();
        if (run.steps >= run.params.max_tokens) {
            run.done = true;
            return false;
        }
        int32_t input = run.next_input;
        std::vector<TensorRef> in = {tensor(&input, kI32, {1}), tensor(run.h.data(), kF32, {cfg_.hidden_size})};
        std::vector<TensorRef> out = {output(run.h.data(), kF32, cfg_.hidden_size),
                                      output(run.logits.data(), kF32, cfg_.logits_size)};
        vm.decode_step->call(in, out);
        if (out[0].written != static_cast<uint64_t>(cfg_.hidden_size) ||
            out[1].written != static_cast<uint64_t>(cfg_.logits_size))
            throw Error(EV_ERR_MODEL_INVALID, "decode_step returned tensors of another size", kRebuildHint);
        ++run.steps;
        const int32_t tok = choose_token(run.logits, static_cast<int32_t>(cfg_.output_vocab.size()), run.produced,
                                         run.params, run.rng);
        if (tok == cfg_.output_eos) {
            run.done = true;
            return false;
        }
        if (!run.produced.empty()) run.text += cfg_.output_separator;
        run.text += cfg_.output_vocab[static_cast<size_t>(tok)];
        if (cut_at_stop_sequence(run)) return false;
        run.produced.push_back(tok);
        run.next_input = tok;
        if (token_out) *token_out = cfg_.output_vocab[static_cast<size_t>(tok)];
        if (id_out) *id_out = tok;
        return true;
    }

    GruVm& main_vm() { return *vms_[0]; }

private:
    static constexpr auto tensor = input_tensor;
    static constexpr auto output = output_tensor;

    std::unique_ptr<GruVm> create_vm() const {
        std::unique_ptr<GruVm> g(new GruVm());
        g->vm = module_->create_vm(weights_);
        g->encode = bind_role(*g->vm, manifest_, "encode");
        g->decode_step = bind_role(*g->vm, manifest_, "decode_step");
        g->greedy = bind_role(*g->vm, manifest_, "greedy", /*required=*/false);
        if (g->greedy && cfg_.greedy_max_steps <= 0)
            throw Error(EV_ERR_MODEL_INVALID,
                        manifest_.path() + ": a 'greedy' function needs seq2seq-gru.greedy_max_steps > 0", kRebuildHint);
        return g;
    }

    // The module states the shapes it was compiled with (models/model_info.h); a manifest that
    // disagrees would make the kernels index outside their tables, so it is refused before any call.
    void check_model_info(GruVm& g) const {
        const ModelInfo info = ModelInfo::read(*g.vm, manifest_);
        info.expect("hidden_size", cfg_.hidden_size, "seq2seq-gru.hidden_size");
        info.expect("input_rows", static_cast<int64_t>(cfg_.input_vocab.size()), "seq2seq-gru.vocab.input (entries)");
        info.expect("output_rows", static_cast<int64_t>(cfg_.output_vocab.size()),
                    "seq2seq-gru.vocab.output (entries)");
        info.expect("logits_size", cfg_.logits_size, "seq2seq-gru.logits_size");
        if (g.greedy) info.expect("greedy_max_steps", cfg_.greedy_max_steps, "seq2seq-gru.greedy_max_steps");
        info.expect("output_bos", cfg_.output_bos, "seq2seq-gru.special_tokens.output_bos");
        info.expect("output_eos", cfg_.output_eos, "seq2seq-gru.special_tokens.output_eos");
    }

    // The model's default for max_tokens <= 0; the manifest's limit caps it (a sampled output
    // that never reaches the end token must still end).
    // Runs every function once on the smallest input: the Relax VM checks each weights tensor
    // against the compiled signature, so a manifest that binds the wrong weights fails here, at
    // load, with a message about the artifact (not at some later sampled call).
    void check_functions_run(GruVm& g) const {
        try {
            SamplingParams p;
            p.max_tokens = 1;
            DecodeRun run = begin(g, "", p, 0);
            int32_t input = run.next_input;
            std::vector<TensorRef> in = {tensor(&input, kI32, {1}), tensor(run.h.data(), kF32, {cfg_.hidden_size})};
            std::vector<TensorRef> out = {output(run.h.data(), kF32, cfg_.hidden_size),
                                          output(run.logits.data(), kF32, cfg_.logits_size)};
            g.decode_step->call(in, out);
            if (g.greedy) run_fused(g, "", p);
        } catch (const Error& e) {
            if (e.code() == EV_ERR_OUT_OF_MEMORY) throw;
            throw Error(EV_ERR_MODEL_INVALID,
                        manifest_.path() + ": the compiled functions do not run with the weights the manifest "
                                           "binds to them (" + e.what() + ")",
                        "the manifest does not describe this compiled module and weights file; rebuild the "
                        "artifact with `edge-veda compile` or pull it again");
        }
    }

    SamplingParams fill_defaults(SamplingParams p) const {
        if (p.max_tokens <= 0) p.max_tokens = cfg_.default_max_tokens;
        p.max_tokens = static_cast<int32_t>(std::min<int64_t>(p.max_tokens, cfg_.max_output_tokens));
        return p;
    }

    // UTF-8 prompt -> input ids, one per code point (as Python's list(str) splits a word), then
    // the end token. The core has checked the length limit and the UTF-8.
    std::vector<int32_t> tokenize(const std::string& prompt) const {
        std::vector<int32_t> ids;
        ids.reserve(prompt.size() + 1);
        for_each_code_point(prompt, [&](uint32_t cp) {
            if (cfg_.lowercase_ascii && cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
            ids.push_back(cp < 0x80 ? ascii_ids_[cp] : cfg_.input_unk);
        });
        ids.push_back(cfg_.input_eos);
        return ids;
    }

    DecodeRun begin(GruVm& vm, const std::string& prompt, const SamplingParams& params, uint64_t seed) const {
        DecodeRun run;
        run.params = params;
        run.rng = Rng(seed);
        run.h.assign(static_cast<size_t>(cfg_.hidden_size), 0.0f);
        run.logits.assign(static_cast<size_t>(cfg_.logits_size), 0.0f);
        std::vector<int32_t> ids = tokenize(prompt);
        std::vector<TensorRef> in = {tensor(ids.data(), kI32, {static_cast<int64_t>(ids.size())})};
        std::vector<TensorRef> out = {output(run.h.data(), kF32, cfg_.hidden_size)};
        vm.encode->call(in, out);
        if (out[0].written != static_cast<uint64_t>(cfg_.hidden_size))
            throw Error(EV_ERR_MODEL_INVALID, "encode returned a tensor of another size", kRebuildHint);
        run.next_input = cfg_.output_bos;
        return run;
    }

    bool cut_at_stop_sequence(DecodeRun& run) const {
        for (const std::string& stop : run.params.stop_sequences) {
            const size_t at = run.text.find(stop);
            if (at == std::string::npos) continue;
            run.text.resize(at);
            // Drop a separator left dangling by the cut.
            const std::string& sep = cfg_.output_separator;
            if (!sep.empty() && run.text.size() >= sep.size() &&
                run.text.compare(run.text.size() - sep.size(), sep.size(), sep) == 0)
                run.text.resize(run.text.size() - sep.size());
            run.done = true;
            return true;
        }
        return false;
    }

    // Plain argmax with no token callback: the fused function gives the same tokens in one call.
    bool fused_applies(const SamplingParams& p) const {
        return vms_[0]->greedy && p.greedy() && p.stop_sequences.empty() && p.max_tokens <= cfg_.greedy_max_steps;
    }

    std::string run_fused(GruVm& vm, const std::string& prompt, const SamplingParams& p) const {
        std::vector<int32_t> ids = tokenize(prompt);
        int32_t max_steps = p.max_tokens;
        std::vector<int32_t> tokens(static_cast<size_t>(cfg_.greedy_max_steps));
        int32_t count = 0;
        std::vector<TensorRef> in = {tensor(ids.data(), kI32, {static_cast<int64_t>(ids.size())}),
                                     tensor(&max_steps, kI32, {1})};
        std::vector<TensorRef> out = {output(tokens.data(), kI32, static_cast<uint64_t>(cfg_.greedy_max_steps)),
                                      output(&count, kI32, 1)};
        vm.greedy->call(in, out);
        if (count < 0 || count > max_steps)
            throw Error(EV_ERR_MODEL_INVALID, "greedy returned " + std::to_string(count) + " tokens", kRebuildHint);
        std::string text;
        for (int32_t i = 0; i < count; ++i) {
            const int32_t id = tokens[static_cast<size_t>(i)];
            if (id < 0 || static_cast<size_t>(id) >= cfg_.output_vocab.size())
                throw Error(EV_ERR_MODEL_INVALID, "greedy produced token id " + std::to_string(id), kRebuildHint);
            if (i) text += cfg_.output_separator;
            text += cfg_.output_vocab[static_cast<size_t>(id)];
        }
        return text;
    }

    std::string decode_prompt(GruVm& vm, const std::string& prompt, const SamplingParams& params, uint64_t seed,
                              CallControl& call, const TokenSink* sink) const {
        if (sink == nullptr && fused_applies(params)) {
            call.check_cancel();
            return run_fused(vm, prompt, params);
        }
        DecodeRun run = begin(vm, prompt, params, seed);
        std::string token;
        int32_t id = 0;
        while (step(vm, run, call, &token, &id))
            if (sink) (*sink)(token, id);
        return run.text;
    }

    const Manifest& manifest_;
    GruConfig cfg_;
    std::shared_ptr<Module> module_;
    std::shared_ptr<const Weights> weights_;
    std::vector<std::unique_ptr<GruVm>> vms_;  // [0] serves the calling thread; the rest batch workers
    int32_t ascii_ids_[128];
};

bool GruStream::next(CallControl& call, std::string* token, int32_t* id) {
    return model_.step(model_.main_vm(), run_, call, token, id);
}

}  // namespace

std::unique_ptr<ModelInstance> create_seq2seq_gru(const KindInputs& inputs) {
    return std::unique_ptr<ModelInstance>(new Seq2SeqGru(inputs, inputs.manifest.kind_config()));
}

std::unique_ptr<Seq2SeqGruNetwork> create_seq2seq_gru_from(const KindInputs& inputs, const Fields& section) {
    return std::unique_ptr<Seq2SeqGruNetwork>(new Seq2SeqGru(inputs, section));
}

std::vector<std::string> seq2seq_gru_output_vocab(const Fields& section) {
    return section.object("vocab").strings("output", 65536, 256);
}

}  // namespace ev
