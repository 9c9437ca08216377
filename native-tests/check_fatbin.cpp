/*
 * twophase native tests (CPU, built with the CUDA path): twophase.fatbin holds every
 * kernel for every requested target. Parses the fatbin container (header magic 0xBA55ED50,
 * then entries: kind 1 = PTX, 2 = ELF cubin; arch = SM number) and looks for each kernel:
 * ".entry <name>(" in the PTX, the NUL-terminated symbol name in each cubin. The fatbin is
 * built uncompressed (--compress-mode=none) so that this check can read it.
 *
 *   check_fatbin <file.fatbin> <targets> <kernel>...
 *   targets: comma list of sm_XX (cubin) and compute_XX (PTX), e.g. sm_80,sm_90,compute_90
 */
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

struct Entry {
    int kind = 0; /* 1 PTX, 2 ELF */
    unsigned arch = 0;
    bool compressed = false;
    std::string payload;
};

template <typename T> T read_le(const std::string &b, size_t at)
{
    T v{};
    std::memcpy(&v, b.data() + at, sizeof(T));
    return v;
}

bool parse(const std::string &file, std::vector<Entry> &entries)
{
    size_t pos = 0;
    while (pos + 16 <= file.size()) {
        if (read_le<uint32_t>(file, pos) != 0xBA55ED50u) return !entries.empty();
        const uint16_t header_size = read_le<uint16_t>(file, pos + 6);
        const uint64_t fat_size = read_le<uint64_t>(file, pos + 8);
        size_t e = pos + header_size;
        const size_t end = pos + header_size + (size_t)fat_size;
        if (end > file.size()) return false;
        while (e + 64 <= end) {
            /* entry: u16 kind, u16 ?, u32 entry header size, u64 payload size (8-aligned),
             * u32 compressed size (0 when stored plain), u32 ?, u32 code version, u32 arch, ... */
            Entry en;
            en.kind = read_le<uint16_t>(file, e);
            const uint32_t ehdr = read_le<uint32_t>(file, e + 4);
            const uint64_t size = read_le<uint64_t>(file, e + 8);
            const uint32_t compressed_size = read_le<uint32_t>(file, e + 16);
            en.arch = read_le<uint32_t>(file, e + 28);
            if (ehdr < 64 || e + ehdr + size > end) return false;
            en.payload = file.substr(e + ehdr, (size_t)size);
            /* a plain ELF starts with \x7fELF, plain PTX is text with a .version line */
            en.compressed = compressed_size != 0 ||
                            (en.kind == 2 ? en.payload.compare(0, 4, "\x7f" "ELF") != 0
                                          : en.payload.find(".version") == std::string::npos);
            entries.push_back(en);
            e += ehdr + size;
        }
        pos = end;
    }
    return !entries.empty();
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s file.fatbin sm_80,sm_90,compute_90 kernel...\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    TPT_CHECK(!file.empty(), "cannot read %s", argv[1]);
    std::vector<Entry> entries;
    TPT_CHECK(parse(file, entries), "%s is not a fatbin container", argv[1]);
    for (const Entry &e : entries)
        std::printf("entry: %s arch %u, %zu bytes%s\n", e.kind == 1 ? "PTX" : e.kind == 2 ? "ELF" : "?", e.arch,
                    e.payload.size(), e.compressed ? " (compressed)" : "");

    std::string targets = argv[2];
    size_t start = 0;
    while (start <= targets.size()) {
        const size_t comma = targets.find(',', start);
        const std::string t = targets.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        start = comma == std::string::npos ? targets.size() + 1 : comma + 1;
        if (t.empty()) continue;
        const bool ptx = t.rfind("compute_", 0) == 0;
        const unsigned arch = (unsigned)std::stoul(t.substr(ptx ? 8 : 3));
        const Entry *found = nullptr;
        for (const Entry &e : entries)
            if (e.kind == (ptx ? 1 : 2) && e.arch == arch) found = &e;
        TPT_CHECK(found != nullptr, "no %s entry for %s", ptx ? "PTX" : "ELF", t.c_str());
        if (found == nullptr) continue;
        TPT_CHECK(!found->compressed, "%s entry is compressed: cannot check kernel names", t.c_str());
        if (found->compressed) continue;
        for (int k = 3; k < argc; ++k) {
            const std::string name = argv[k];
            const std::string needle = ptx ? ".entry " + name + "(" : std::string(1, '\0') + name + std::string(1, '\0');
            TPT_CHECK(found->payload.find(needle) != std::string::npos, "kernel %s missing from %s", name.c_str(),
                      t.c_str());
        }
    }
    return tpt::finish("check_fatbin");
}
