#include "core/files.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/sha256.h"

namespace ev {

const char* const kResealHint =
    "the artifact was modified or is incomplete: rebuild it with `edge-veda compile NAME -o DIR` "
    "or pull it again with `edge-veda models pull NAME`";

namespace {

[[noreturn]] void invalid(const std::string& where, const std::string& what, const char* hint = kResealHint) {
    throw Error(EV_ERR_MODEL_INVALID, where + ": " + what, hint);
}

}  // namespace

bool plain_file_name(const std::string& name) {
    return !name.empty() && name.size() <= 255 && name[0] != '.' && name.find('/') == std::string::npos;
}

bool is_hex_digest(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// ---- files -----------------------------------------------------------------------------------

namespace {

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { if (fd_ >= 0) ::close(fd_); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

// The canonical path of `path`, which must lie inside `real_dir` (symlinks that stay inside
// are fine). ENOENT -> EV_ERR_MODEL_NOT_FOUND.
std::string resolve_inside(const std::string& real_dir, const std::string& name, const char* missing_hint) {
    const std::string path = real_dir + "/" + name;
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr) {
        const int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            throw Error(EV_ERR_MODEL_NOT_FOUND, "'" + path + "' is missing", missing_hint);
        invalid(path, std::string("cannot resolve: ") + std::strerror(err));
    }
    const std::string out = resolved;
    const std::string prefix = real_dir == "/" ? real_dir : real_dir + "/";
    if (out.compare(0, prefix.size(), prefix) != 0)
        invalid(path, "resolves to '" + out + "', outside the artifact directory",
                "every file of an artifact must be inside its directory; copy the file in instead of linking it");
    return out;
}

namespace {

// Opens `path` for reading without following a final symlink and without blocking (a FIFO
// opens at once), and requires a regular file.
int open_regular(const std::string& path, struct stat* st) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT)
            throw Error(EV_ERR_MODEL_NOT_FOUND, "'" + path + "' is missing", kResealHint);
        invalid(path, std::string("cannot open: ") + std::strerror(err));
    }
    if (::fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        ::close(fd);
        invalid(path, "is not a regular file (a FIFO, device or directory cannot be part of an artifact)",
                kResealHint);
    }
    return fd;
}

}  // namespace

// Reads a whole regular file of at most `cap` bytes (the loop ends at EOF or one byte past
// the cap, so a file that grows while being read is still bounded).
std::string read_capped(const std::string& path, uint64_t cap) {
    struct stat st;
    Fd fd(open_regular(path, &st));
    if (static_cast<uint64_t>(st.st_size) > cap)
        invalid(path, "is " + std::to_string(st.st_size) + " bytes, more than the " + std::to_string(cap) +
                          " allowed");
    std::string out;
    out.resize(static_cast<size_t>(st.st_size));
    size_t have = 0;
    char extra;
    for (;;) {
        char* dst = have < out.size() ? &out[have] : &extra;
        const size_t want = have < out.size() ? out.size() - have : 1;
        const ssize_t got = ::read(fd.get(), dst, want);
        if (got < 0) {
            if (errno == EINTR) continue;
            invalid(path, std::string("read failed: ") + std::strerror(errno));
        }
        if (got == 0) break;
        if (have >= out.size()) invalid(path, "changed while being read");
        have += static_cast<size_t>(got);
    }
    out.resize(have);
    return out;
}

namespace {

// What the verification cache trusts: a file whose device, inode, size, mtime and ctime are
// unchanged has unchanged content (ctime cannot be set back by an unprivileged user, and every
// write updates it). docs/artifact-format.md, "Verification".
using FileKey = std::tuple<uint64_t, uint64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

FileKey key_of(const struct stat& st) {
#ifdef __APPLE__  // Darwin spells the timespec fields st_mtimespec / st_ctimespec
    const struct timespec& mtime = st.st_mtimespec;
    const struct timespec& ctime = st.st_ctimespec;
#else
    const struct timespec& mtime = st.st_mtim;
    const struct timespec& ctime = st.st_ctim;
#endif
    return FileKey(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                   static_cast<int64_t>(st.st_size), static_cast<int64_t>(mtime.tv_sec),
                   static_cast<int64_t>(mtime.tv_nsec), static_cast<int64_t>(ctime.tv_sec),
                   static_cast<int64_t>(ctime.tv_nsec));
}

std::mutex g_verified_mu;
std::map<FileKey, std::string>& verified_digests() {
    static std::map<FileKey, std::string>* cache = new std::map<FileKey, std::string>();  // never destroyed:
    return *cache;  // a context freed by a static destructor may still look here
}
constexpr size_t kMaxCachedDigests = 1024;

std::string hash_fd(int fd, const std::string& path, uint64_t expected_size) {
    Sha256 h;
    std::vector<char> buf(1 << 20);
    uint64_t total = 0;
    for (;;) {
        const ssize_t got = ::read(fd, buf.data(), buf.size());
        if (got < 0) {
            if (errno == EINTR) continue;
            invalid(path, std::string("read failed: ") + std::strerror(errno));
        }
        if (got == 0) break;
        total += static_cast<uint64_t>(got);
        if (total > expected_size) break;
        h.update(buf.data(), static_cast<size_t>(got));
    }
    if (total != expected_size)
        throw Error(EV_ERR_MODEL_INVALID, path + " changed while being verified",
                    "the file is being replaced: try again when the copy is complete");
    return h.hex_digest();
}

}  // namespace

// The verified SHA-256 of one listed file.
void verify_file(const std::string& real_dir, const ArtifactFile& f) {
    const std::string path = resolve_inside(real_dir, f.name, kResealHint);
    struct stat st;
    Fd fd(open_regular(path, &st));
    if (static_cast<uint64_t>(st.st_size) != f.size)
        throw Error(EV_ERR_MODEL_INVALID,
                    path + " has " + std::to_string(st.st_size) + " bytes, manifest says " + std::to_string(f.size),
                    "the file is truncated or replaced: copy or download the artifact again");
    const FileKey key = key_of(st);
    std::string digest;
    {
        std::lock_guard<std::mutex> g(g_verified_mu);
        auto it = verified_digests().find(key);
        if (it != verified_digests().end()) digest = it->second;
    }
    if (digest.empty()) {
        digest = hash_fd(fd.get(), path, f.size);
        struct stat after;
        // Cache only what was hashed from a file that did not change meanwhile.
        if (::fstat(fd.get(), &after) == 0 && key_of(after) == key) {
            std::lock_guard<std::mutex> g(g_verified_mu);
            if (verified_digests().size() >= kMaxCachedDigests) verified_digests().clear();
            verified_digests()[key] = digest;
        }
    }
    if (digest != f.sha256)
        throw Error(EV_ERR_MODEL_INVALID, path + " has SHA-256 " + digest + ", manifest says " + f.sha256,
                    "the file was modified or corrupted: copy or pull the artifact again, or rebuild it with "
                    "`edge-veda compile`");
}


}  // namespace ev
