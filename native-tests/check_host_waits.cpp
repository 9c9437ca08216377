/*
 * twophase native tests: where the library waits for the device and copies to or from the host
 * (ctest kernel_host_waits).
 *
 *   check_host_waits DIR     every .cu and .cuh file in DIR, except runtime.cu
 *
 * The C ABI (twophase.h) queues work and waits only where the host needs a value, and counts every
 * byte it copies between host and device (tp_transfer_bytes). Both hold only if the kernel files
 * leave waiting and host copies to runtime.cu: a kernel file must not call cudaStreamSynchronize,
 * cudaDeviceSynchronize or cudaMemcpy (synchronous, and uncounted), nor cudaMemcpyAsync in a
 * direction other than cudaMemcpyDeviceToDevice. A result for the host goes through
 * tp_copy_to_host (tp_copy_to_device for a table), which waits and counts. Prints every violation
 * with its file and line; exits 1 when there is one. Comments are not checked.
 */
#include <dirent.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

/* The text with comments blanked out (newlines kept, so line numbers stay). */
static std::string without_comments(const std::string &s)
{
    std::string out = s;
    for (size_t i = 0; i + 1 < out.size(); ++i) {
        if (out[i] == '/' && out[i + 1] == '/') {
            while (i < out.size() && out[i] != '\n') out[i++] = ' ';
        } else if (out[i] == '/' && out[i + 1] == '*') {
            size_t end = out.find("*/", i + 2);
            end = end == std::string::npos ? out.size() : end + 2;
            for (; i < end; ++i)
                if (out[i] != '\n') out[i] = ' ';
            --i;
        }
    }
    return out;
}

static int line_of(const std::string &s, size_t pos)
{
    int line = 1;
    for (size_t i = 0; i < pos && i < s.size(); ++i)
        if (s[i] == '\n') ++line;
    return line;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: check_host_waits DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    DIR *d = opendir(dir.c_str());
    if (d == nullptr) {
        std::fprintf(stderr, "check_host_waits: cannot open %s\n", dir.c_str());
        return 2;
    }
    std::vector<std::string> files;
    while (dirent *e = readdir(d)) {
        const std::string n = e->d_name;
        const bool source = (n.size() > 3 && n.compare(n.size() - 3, 3, ".cu") == 0) ||
                            (n.size() > 4 && n.compare(n.size() - 4, 4, ".cuh") == 0);
        if (source && n != "runtime.cu") files.push_back(dir + "/" + n);
    }
    closedir(d);
    /* a call with its arguments up to the end of the statement */
    static const std::regex call(R"(\b(cudaStreamSynchronize|cudaDeviceSynchronize|cudaMemcpyAsync|cudaMemcpy\w*)\s*\(([^;]*);)");
    int calls = 0, violations = 0;
    for (const std::string &f : files) {
        std::ifstream in(f);
        std::stringstream buf;
        buf << in.rdbuf();
        const std::string text = without_comments(buf.str());
        for (auto it = std::sregex_iterator(text.begin(), text.end(), call); it != std::sregex_iterator(); ++it) {
            ++calls;
            const std::string name = it->str(1), args = it->str(2);
            const bool device_to_device = name == "cudaMemcpyAsync" && args.find("cudaMemcpyDeviceToDevice") != std::string::npos;
            if (device_to_device) continue;
            ++violations;
            std::printf("%s:%d: %s in a kernel file: the library waits only where the host reads a value, and counts its "
                        "host copies; use tp_copy_to_host / tp_copy_to_device (runtime.cu), or queue the work\n",
                        f.c_str(), line_of(text, (size_t)it->position()), name.c_str());
        }
    }
    std::printf("check_host_waits: %zu files, %d calls, %d violations\n", files.size(), calls, violations);
    return violations == 0 ? 0 : 1;
}
