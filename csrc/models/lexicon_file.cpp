#include "models/lexicon_file.h"

#include <string>

#include "core/errors.h"
#include "core/files.h"

namespace ev {

MappedLexicon open_lexicon_file(const Manifest& manifest, const Fields& entry) {
    const std::string file = entry.string("file", 255);
    if (!plain_file_name(file)) entry.fail("file", "is not a plain file name");
    if (manifest.file(file) == nullptr)
        entry.fail("file", "'" + file + "' is not listed in the manifest's files (so it is not verified)");
    const std::string path = resolve_inside(manifest.real_dir, file, kRebuildHint);
    WeightsSpec whole;
    whole.file = file;
    MappedLexicon out;
    out.file = Weights::open(path, whole, /*use_mmap=*/true);
    out.lexicon = Lexicon::open(out.file->base(), static_cast<size_t>(out.file->bytes()));
    return out;
}

}  // namespace ev
