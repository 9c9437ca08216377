/*
 * twophase native tests: loop counters of the kernel sources (ctest kernel_loop_counters).
 *
 *   check_loop_counters DIR     every .cu and .cuh file in DIR
 *
 * A 32-bit loop counter that steps by more than one towards a bound known only at run time
 * wraps once the bound is within a step of INT_MAX (i += TP_BLOCK with i < nparts, nparts up to
 * 2^31 - 1): undefined behaviour, and on a GPU an out-of-bounds access. Every `for (int ...)` or
 * `for (unsigned ...)` must therefore step by one (++i, --i), or compare with a bound made of
 * constants only (upper-case names and numbers: TP_BLOCK, K, 32), or carry on its line a block
 * comment that begins with "int:" and says why the bound is small. Otherwise the counter is
 * long long. Prints every violation with its file and line; exits 1 when there is one.
 */
#include <dirent.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

/* An expression of upper-case identifiers (TP_BLOCK, K), numbers and operators only. */
static bool constant_bound(const std::string &expr)
{
    static const std::regex lower("[a-z_][a-z0-9_]*");
    std::smatch m;
    std::string rest = expr;
    while (std::regex_search(rest, m, lower)) {
        const std::string word = m.str();
        const size_t at = (size_t)m.position();
        const bool part_of_upper = at > 0 && (std::isupper((unsigned char)rest[at - 1]) || rest[at - 1] == '_');
        if (!part_of_upper) return false;
        rest = rest.substr(at + word.size());
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: check_loop_counters DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    DIR *d = opendir(dir.c_str());
    if (d == nullptr) {
        std::fprintf(stderr, "check_loop_counters: cannot open %s\n", dir.c_str());
        return 2;
    }
    std::vector<std::string> files;
    while (dirent *e = readdir(d)) {
        const std::string n = e->d_name;
        if ((n.size() > 3 && n.compare(n.size() - 3, 3, ".cu") == 0) || (n.size() > 4 && n.compare(n.size() - 4, 4, ".cuh") == 0))
            files.push_back(dir + "/" + n);
    }
    closedir(d);
    /* for (int|unsigned [int] VAR = INIT; VAR <|<=|>|>=|!= BOUND; STEP) */
    static const std::regex loop(
        R"(for\s*\(\s*(?:const\s+)?(int|unsigned(?:\s+int)?)\s+([A-Za-z_]\w*)\s*=[^;]*;\s*\2\s*(?:<=?|>=?|!=)\s*([^;]*);\s*([^)]*)\))");
    int loops = 0, violations = 0;
    for (const std::string &f : files) {
        std::ifstream in(f);
        std::string line;
        int no = 0;
        while (std::getline(in, line)) {
            ++no;
            std::smatch m;
            if (!std::regex_search(line, m, loop)) continue;
            ++loops;
            const std::string var = m.str(2), bound = m.str(3), step = m.str(4);
            const bool by_one = step == "++" + var || step == var + "++" || step == "--" + var || step == var + "--";
            const bool justified = line.find("/* int: ") != std::string::npos;
            if (by_one || constant_bound(bound) || justified) continue;
            ++violations;
            std::printf("%s:%d: 32-bit counter %s steps by '%s' towards the run-time bound '%s': count in long long, or "
                        "say why it cannot wrap (/* int: ... */)\n  %s\n",
                        f.c_str(), no, var.c_str(), step.c_str(), bound.c_str(), line.c_str());
        }
    }
    std::printf("check_loop_counters: %zu files, %d loops with 32-bit counters, %d violations\n", files.size(), loops,
                violations);
    return violations == 0 && loops > 0 ? 0 : 1;
}
