#include "kind.h"

#include "errors.h"

namespace ev {

void unsupported_operation(const std::string& kind, const char* operation) {
    throw Error(EV_ERR_UNSUPPORTED_OPERATION,
                std::string(operation) + " is not an operation of model kind '" + kind + "'",
                "ev_status_info.capabilities lists what this model supports (EV_CAP_* bits)");
}

std::string ModelInstance::generate(const std::string&, const SamplingParams&, CallControl&, const TokenSink*) {
    unsupported_operation("this", "ev_generate");
}

std::unique_ptr<TokenStream> ModelInstance::stream(const std::string&, const SamplingParams&, CallControl&) {
    unsupported_operation("this", "ev_stream_begin");
}

std::vector<std::string> ModelInstance::generate_batch(const std::vector<std::string>&, const SamplingParams&,
                                                       CallControl&) {
    unsupported_operation("this", "ev_generate_batch");
}

std::vector<PhonemizedToken> ModelInstance::phonemize(const std::string&, const SamplingParams&, CallControl&) {
    unsupported_operation("this", "ev_phonemize");
}

void ModelInstance::synthesize(const SynthesisRequest&, CallControl&, const AudioSink&, std::vector<WordSpan>*) {
    unsupported_operation("this", "ev_synthesize");
}

std::vector<PhonemizedToken> CallControl::frontend_phonemize(const std::string&) {
    throw Error(EV_ERR_INVALID_STATE, "text input needs a front end, and this context has none",
                "call ev_set_frontend(ctx, g2p_context) with a G2P model's context, or pass phonemes "
                "(EV_TTS_INPUT_PHONEMES)");
}

}  // namespace ev
