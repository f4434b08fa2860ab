#pragma once

// What the benchmarks need to run a bot as a child process and watch it from outside: start it
// with extra environment variables, read its CPU time and memory from /proc.

#include <fcntl.h>
#include <spawn.h>
#include <sys/types.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace bench {

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// CPU time of every live thread of `pid` in ns: the first field of /proc/PID/task/*/schedstat
/// is the thread's sum_exec_runtime, exact where utime+stime count 10 ms ticks.
inline std::uint64_t cpu_ns(pid_t pid) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
        std::ifstream in(task.path() / "schedstat");
        std::uint64_t ns = 0;
        if (in >> ns) {
            total += ns;
        }
    }
    return total;
}

/// A "VmRSS:" style line of /proc/PID/status in KiB; 0 when absent.
inline std::uint64_t status_kib(pid_t pid, std::string_view key) {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(key)) {
            return std::stoull(line.substr(key.size()));
        }
    }
    return 0;
}

/// Starts `argv` (looked up in PATH) with `env_overrides` added to this process's environment,
/// stdout and stderr to `log`, stdin from /dev/null. Returns the pid, or -1 with `error` set.
inline pid_t spawn_process(const std::vector<std::string>& argv,
                           const std::map<std::string, std::string>& env_overrides,
                           const std::filesystem::path& log, std::string& error) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view kv(*e);
        if (!env_overrides.contains(std::string(kv.substr(0, kv.find('='))))) {
            env.emplace_back(kv);
        }
    }
    for (const auto& [k, v] : env_overrides) {
        env.push_back(k + "=" + v);
    }
    std::vector<char*> cargv;
    std::vector<char*> cenv;
    for (const auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    for (const auto& e : env) {
        cenv.push_back(const_cast<char*>(e.c_str()));
    }
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        error = fmt::format("cannot start {}: {}", argv[0], std::strerror(rc));
        return -1;
    }
    return pid;
}

}  // namespace bench
