// Reading the files of an artifact safely: only regular files inside the artifact directory,
// size-capped reads that cannot block on a FIFO, and SHA-256 verification with a cache keyed on
// (device, inode, size, mtime, ctime). docs/artifact-format.md, "Verification".
#pragma once

#include <cstdint>
#include <string>

namespace ev {

struct ArtifactFile {
    std::string name;    // plain file name inside the artifact directory
    uint64_t size = 0;
    std::string sha256;  // 64 lowercase hex digits
};

// A name without '/', not starting with '.', at most 255 bytes.
bool plain_file_name(const std::string& name);
bool is_hex_digest(const std::string& s);

// The canonical path of `real_dir`/`name`, which must stay inside `real_dir` (symlinks that stay
// inside are fine). Missing -> EV_ERR_MODEL_NOT_FOUND with `missing_hint`.
std::string resolve_inside(const std::string& real_dir, const std::string& name, const char* missing_hint);

// A whole regular file of at most `cap` bytes (never blocks on a FIFO, never reads past the cap).
std::string read_capped(const std::string& path, uint64_t cap);

// Checks that `f` is a regular file inside `real_dir` with the recorded size and SHA-256; an
// unchanged file verified before costs one stat. Throws ev::Error.
void verify_file(const std::string& real_dir, const ArtifactFile& f);

extern const char* const kResealHint;

}  // namespace ev
