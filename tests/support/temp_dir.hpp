#pragma once

// A fresh directory under the system temp dir, removed with everything in it, even files a test
// made read-only.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>

namespace tugboat::test {

struct temp_dir {
    std::filesystem::path path;

    temp_dir() {
        // The pid and a counter keep parallel test processes and one test's several
        // directories apart; the random part keeps a rerun away from a crashed run's leftovers.
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("tugboat-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::random_device{}()) + "-" + std::to_string(++counter));
        std::filesystem::create_directories(path);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path, ec);
    }

    std::string file(const std::string& name) const { return (path / name).string(); }

    /// Writes `content` to the file `name` (which may name subfolders) and returns its path.
    std::filesystem::path write(const std::string& name, const std::string& content) const {
        auto p = path / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }
};

}  // namespace tugboat::test
