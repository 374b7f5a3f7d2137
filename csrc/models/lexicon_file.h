// A lexicon file of an artifact (docs/lexicon-format.md), as a kind's manifest section names it
// ({"file": NAME}): listed in the manifest's files (so verified with them before the kind is
// created), mapped read-only once, and checked whole by Lexicon::open. The g2p kind's CMUdict
// lexicon and the tts kind's English lexicons are opened the same way.
#pragma once

#include <memory>

#include "core/json.h"
#include "core/manifest.h"
#include "core/weights.h"
#include "models/lexicon.h"

namespace ev {

struct MappedLexicon {
    std::shared_ptr<const Weights> file;  // the read-only mapping the lexicon reads in place
    std::unique_ptr<Lexicon> lexicon;
    uint64_t bytes() const { return file ? file->bytes() : 0; }
};

// Throws ev::Error (EV_ERR_MODEL_INVALID naming the field) when `entry`'s file is not a plain
// name, is not listed in the manifest's files, or is not a valid lexicon.
MappedLexicon open_lexicon_file(const Manifest& manifest, const Fields& entry);

}  // namespace ev
