// Prints the SHA-256 of each file named on the command line with csrc/core/sha256.cpp, feeding it
// in chunks of growing odd sizes so that every buffering path runs
// (tests/test_hostile_native.py compares the digests with hashlib).
#include <cstdio>
#include <string>
#include <vector>

#include "core/sha256.h"

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        FILE* f = std::fopen(argv[i], "rb");
        if (f == nullptr) return 2;
        std::vector<char> data;
        char buf[4096];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) data.insert(data.end(), buf, buf + n);
        std::fclose(f);
        ev::Sha256 chunked;
        size_t off = 0;
        for (size_t step = 1; off < data.size(); step = step * 3 + 1) {
            const size_t take = step < data.size() - off ? step : data.size() - off;
            chunked.update(data.data() + off, take);
            off += take;
        }
        ev::Sha256 portable(/*portable=*/true);  // the code without the CPU's SHA instructions
        portable.update(data.data(), data.size());
        const std::string whole = ev::sha256_hex(data.data(), data.size());
        const std::string other = portable.hex_digest();
        if (other != whole) {
            std::printf("portable %s != %s\n", other.c_str(), whole.c_str());
            return 3;
        }
        std::printf("%s %s\n", whole.c_str(), chunked.hex_digest().c_str());
    }
    return 0;
}
