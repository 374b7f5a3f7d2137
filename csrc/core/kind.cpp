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

}  // namespace ev
