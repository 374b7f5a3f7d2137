// Kind "tts": text-to-speech in two compiled stages split at the data-dependent alignment
// (Kokoro-82M; docs/tts.md).
//
//   input ──(text: the front end (G2P context) + the ARPAbet map, arpabet.h)──▶ phonemes
//   phonemes ──(the vocabulary)──▶ ids, cut into pieces of at most max_phoneme_ids
//   per piece: style = the voice's row for the piece's length (blended for "a:0.7,b:0.3");
//     "durations"(tokens [0, ids, 0], style, speed) → frames per token, d, t_en
//     alignment [L, F] built here (row i: ones on token i's frames)
//     "audio"(alignment, d, t_en, style) → F × samples_per_frame samples
//   pieces are handed to the sink as they finish; cancellation is checked between stages.
#pragma once

#include <memory>

#include "models/kind.h"

namespace ev {

std::unique_ptr<ModelInstance> create_tts(const KindInputs& inputs);

}  // namespace ev
