#include "integrations/kubeconfig.hpp"

#include "core/text.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

namespace tugboat::integrations {

namespace fs = std::filesystem;

namespace {

core::error config_error(std::string message) {
    return core::make_error(core::errc::config_error, std::move(message));
}

std::optional<std::string> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        return std::nullopt;
    }
    return text;
}

// A scalar child as text; "" when absent or null. Non-scalars throw YAML::Exception, which the
// caller turns into a config error naming the file.
std::string scalar(const YAML::Node& node, const char* key) {
    const YAML::Node child = node[key];
    if (!child || child.IsNull()) {
        return {};
    }
    return child.as<std::string>();
}

bool truthy(const YAML::Node& node, const char* key) {
    const YAML::Node child = node[key];
    return child && child.IsScalar() && child.as<bool>(false);
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts): its inner map.
YAML::Node find_entry(const YAML::Node& list, std::string_view name, const char* inner) {
    if (!list || !list.IsSequence()) {
        return YAML::Node(YAML::NodeType::Undefined);
    }
    for (const auto& item : list) {
        if (item.IsMap() && scalar(item, "name") == name) {
            return item[inner];
        }
    }
    return YAML::Node(YAML::NodeType::Undefined);
}

std::vector<std::string> entry_names(const YAML::Node& list) {
    std::vector<std::string> names;
    if (list && list.IsSequence()) {
        for (const auto& item : list) {
            if (item.IsMap()) {
                names.push_back(scalar(item, "name"));
            }
        }
    }
    return names;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) {
            out += ", ";
        }
        out += item;
    }
    return out.empty() ? "none" : out;
}

class kubeconfig_reader {
public:
    kubeconfig_reader(const YAML::Node& root, std::string path)
        : root_(root), path_(std::move(path)), dir_(fs::path(path_).parent_path()) {}

    core::result<cluster_access> read(std::string_view wanted) {
        if (!root_.IsMap()) {
            return config_error(
                fmt::format("kubeconfig {} is not a kubeconfig (no top-level map)", path_));
        }
        const YAML::Node contexts = root_["contexts"];
        const auto names = entry_names(contexts);
        std::string context(wanted);
        if (context.empty()) {
            context = scalar(root_, "current-context");
            if (context.empty()) {
                return config_error(fmt::format(
                    "kubeconfig {} has no current-context; name one with `context:` in the "
                    "cluster's config (available: {})",
                    path_, join(names)));
            }
        }
        const YAML::Node ctx = find_entry(contexts, context, "context");
        if (!ctx || !ctx.IsMap()) {
            return config_error(
                fmt::format("context `{}` not found in kubeconfig {} (available: "
                            "{}).{}",
                            context, path_, join(names), core::did_you_mean(context, names)));
        }
        cluster_access access;
        access.origin = fmt::format("context {} in {}", context, path_);
        const auto ns = scalar(ctx, "namespace");
        if (!ns.empty()) {
            access.namespace_name = ns;
        }

        const auto cluster_name = scalar(ctx, "cluster");
        const YAML::Node cluster = find_entry(root_["clusters"], cluster_name, "cluster");
        if (cluster_name.empty() || !cluster || !cluster.IsMap()) {
            return config_error(
                fmt::format("context `{}` in kubeconfig {} names cluster `{}`, which is not under "
                            "`clusters:` (available: {})",
                            context, path_, cluster_name, join(entry_names(root_["clusters"]))));
        }
        if (auto r = read_cluster(cluster, cluster_name, access); !r) {
            return r.error();
        }

        const auto user_name = scalar(ctx, "user");
        const YAML::Node user = find_entry(root_["users"], user_name, "user");
        if (user_name.empty() || !user || !user.IsMap()) {
            return config_error(fmt::format(
                "context `{}` in kubeconfig {} names user `{}`, which is not under `users:` "
                "(available: {})",
                context, path_, user_name, join(entry_names(root_["users"]))));
        }
        if (auto r = read_user(user, user_name, access); !r) {
            return r.error();
        }
        return access;
    }

private:
    core::result<void> read_cluster(const YAML::Node& c, const std::string& name,
                                    cluster_access& access) {
        const auto where = fmt::format("cluster `{}` in kubeconfig {}", name, path_);
        if (truthy(c, "insecure-skip-tls-verify")) {
            return config_error(fmt::format(
                "{} sets insecure-skip-tls-verify: true; Tugboat never turns off certificate "
                "verification. Remove it and add the cluster's CA as certificate-authority-data "
                "(or certificate-authority: FILE)",
                where));
        }
        auto server = scalar(c, "server");
        while (!server.empty() && server.back() == '/') {
            server.pop_back();
        }
        if (!server.starts_with("https://")) {
            return config_error(fmt::format(
                "{} has server `{}`; it must be an https:// URL of the API server", where, server));
        }
        access.server = server;
        access.tls_server_name = scalar(c, "tls-server-name");

        auto ca = pem_field(c, "certificate-authority-data", where);
        if (!ca) {
            return ca.error();
        }
        auto ca_file = file_field(c, "certificate-authority", where);
        if (!ca_file) {
            return ca_file.error();
        }
        access.tls.ca_pem = std::move(*ca);
        access.tls.ca_file = std::move(*ca_file);
        // Like kubectl: a named cluster CA is the only trust anchor for that cluster.
        access.tls.system_roots = access.tls.ca_pem.empty() && access.tls.ca_file.empty();
        return core::ok();
    }

    core::result<void> read_user(const YAML::Node& u, const std::string& name,
                                 cluster_access& access) {
        const auto where = fmt::format("user `{}` in kubeconfig {}", name, path_);
        if (const YAML::Node exec = u["exec"]; exec && !exec.IsNull()) {
            const auto command = exec.IsMap() ? scalar(exec, "command") : std::string{};
            return config_error(fmt::format(
                "{} gets its credentials from an exec plugin (`{}`), which Tugboat does not run. "
                "Give the bot a ServiceAccount token instead (`kubectl create token NAME "
                "--duration=…`, or a token Secret) under `token:` or `tokenFile:`",
                where, command.empty() ? "exec" : command));
        }
        if (const YAML::Node provider = u["auth-provider"]; provider && !provider.IsNull()) {
            return config_error(fmt::format(
                "{} uses an auth-provider plugin, which Tugboat does not support. Give the bot a "
                "ServiceAccount token under `token:` or `tokenFile:` instead",
                where));
        }
        if (!scalar(u, "username").empty() || !scalar(u, "password").empty()) {
            return config_error(fmt::format(
                "{} uses a username and password, which Tugboat does not send. Use a "
                "ServiceAccount token (`token:` or `tokenFile:`) or a client certificate",
                where));
        }

        access.token = scalar(u, "token");
        const auto token_file = file_field(u, "tokenFile", where);
        if (!token_file) {
            return token_file.error();
        }
        if (access.token.empty() && !token_file->empty()) {
            auto text = read_file(*token_file);
            if (!text) {
                return config_error(
                    fmt::format("{}: cannot read tokenFile {}", where, *token_file));
            }
            access.token = std::string(core::trim(*text));
            access.token_file = *token_file;
        }

        auto cert = pem_field(u, "client-certificate-data", where);
        if (!cert) {
            return cert.error();
        }
        auto key = pem_field(u, "client-key-data", where);
        if (!key) {
            return key.error();
        }
        auto cert_file = file_field(u, "client-certificate", where);
        if (!cert_file) {
            return cert_file.error();
        }
        auto key_file = file_field(u, "client-key", where);
        if (!key_file) {
            return key_file.error();
        }
        const bool has_cert = !cert->empty() || !cert_file->empty();
        const bool has_key = !key->empty() || !key_file->empty();
        if (has_cert != has_key) {
            return config_error(fmt::format(
                "{} has a client {} without its {}; give both (client-certificate-data and "
                "client-key-data, or the -file forms)",
                where, has_cert ? "certificate" : "key", has_cert ? "key" : "certificate"));
        }
        access.tls.client_cert_pem = std::move(*cert);
        access.tls.client_key_pem = std::move(*key);
        access.tls.client_cert_file = std::move(*cert_file);
        access.tls.client_key_file = std::move(*key_file);

        if (access.token.empty() && !has_cert) {
            return config_error(fmt::format(
                "{} has no credentials Tugboat can use; add `token:`, `tokenFile:` or a client "
                "certificate and key",
                where));
        }
        return core::ok();
    }

    // A base64 `*-data` field, decoded; "" when absent.
    core::result<std::string> pem_field(const YAML::Node& node, const char* key,
                                        const std::string& where) {
        const auto text = scalar(node, key);
        if (text.empty()) {
            return std::string{};
        }
        auto decoded = base64_decode(text);
        if (!decoded || decoded->empty()) {
            return config_error(fmt::format(
                "{}: `{}` is not valid base64 (it should be the base64 of a PEM file, e.g. "
                "`base64 -w0 ca.crt`)",
                where, key));
        }
        return std::move(*decoded);
    }

    // A file path field, made absolute against the kubeconfig's folder and checked to be
    // readable now, so the error names the kubeconfig field instead of surfacing at connect.
    core::result<std::string> file_field(const YAML::Node& node, const char* key,
                                         const std::string& where) {
        const auto text = scalar(node, key);
        if (text.empty()) {
            return std::string{};
        }
        fs::path p(text);
        if (p.is_relative()) {
            p = dir_ / p;
        }
        std::ifstream probe(p);
        if (!probe) {
            return config_error(
                fmt::format("{}: `{}` names {}, which cannot be read", where, key, p.string()));
        }
        return p.string();
    }

    const YAML::Node& root_;
    std::string path_;
    fs::path dir_;
};

}  // namespace

env_getter process_env_getter() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());  // NOLINT(concurrency-mt-unsafe)
        if (v == nullptr) {
            return std::nullopt;
        }
        return std::string(v);
    };
}

core::result<cluster_access> parse_kubeconfig(std::string_view yaml, const std::string& path,
                                              std::string_view context) {
    try {
        const YAML::Node root = YAML::Load(std::string(yaml));
        return kubeconfig_reader(root, path).read(context);
    } catch (const YAML::Exception& e) {
        if (e.mark.is_null()) {
            return config_error(fmt::format("kubeconfig {} cannot be read: {}", path, e.msg));
        }
        return config_error(fmt::format("kubeconfig {}:{}:{}: {}", path, e.mark.line + 1,
                                        e.mark.column + 1, e.msg));
    }
}

core::result<cluster_access> load_kubeconfig(const std::string& path, std::string_view context) {
    auto text = read_file(path);
    if (!text) {
        return config_error(fmt::format(
            "cannot read kubeconfig {}; check the path in the cluster's `kubeconfig:` and that the "
            "bot's user may read it",
            path));
    }
    return parse_kubeconfig(*text, path, context);
}

core::result<cluster_access> load_in_cluster(const env_getter& env,
                                             const fs::path& service_account_dir) {
    const auto host = env("KUBERNETES_SERVICE_HOST").value_or("");
    const auto port = env("KUBERNETES_SERVICE_PORT").value_or("");
    if (host.empty() || port.empty()) {
        return config_error(
            "in_cluster is set, but KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not: "
            "the bot is not running in a Kubernetes pod. Run it in that cluster, or use "
            "`kubeconfig:` instead");
    }
    cluster_access access;
    access.origin = "in-cluster service account";
    const bool ipv6 = host.find(':') != std::string::npos;
    access.server = ipv6 ? fmt::format("https://[{}]:{}", host, port)
                         : fmt::format("https://{}:{}", host, port);

    const auto token_path = service_account_dir / "token";
    auto token = read_file(token_path);
    if (!token || core::trim(*token).empty()) {
        return config_error(fmt::format(
            "in-cluster: cannot read the service-account token {}; is automountServiceAccountToken "
            "off for the bot's pod?",
            token_path.string()));
    }
    access.token = std::string(core::trim(*token));
    access.token_file = token_path.string();

    const auto ca_path = service_account_dir / "ca.crt";
    if (!std::ifstream(ca_path)) {
        return config_error(
            fmt::format("in-cluster: cannot read the cluster CA {}", ca_path.string()));
    }
    access.tls.ca_file = ca_path.string();
    access.tls.system_roots = false;

    if (auto ns = read_file(service_account_dir / "namespace")) {
        auto trimmed = core::trim(*ns);
        if (!trimmed.empty()) {
            access.namespace_name = std::string(trimmed);
        }
    }
    return access;
}

core::result<cluster_access> load_cluster_access(const core::cluster_config& cluster,
                                                 const env_getter& env,
                                                 const fs::path& service_account_dir) {
    auto access = cluster.in_cluster ? load_in_cluster(env, service_account_dir)
                                     : load_kubeconfig(cluster.kubeconfig, cluster.context);
    if (!access) {
        return core::make_error(access.error().code, fmt::format("cluster {}: {}", cluster.name,
                                                                 access.error().message));
    }
    return access;
}

std::optional<std::string> base64_decode(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        if (c == '+') {
            return 62;
        }
        if (c == '/') {
            return 63;
        }
        return -1;
    };
    std::string out;
    out.reserve(text.size() * 3 / 4);
    unsigned acc = 0;
    int bits = 0;
    bool padding = false;
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        }
        if (c == '=') {
            padding = true;
            continue;
        }
        const int v = value(c);
        if (v < 0 || padding) {
            return std::nullopt;  // a stray character, or data after the padding
        }
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    // 6 leftover bits cannot come from whole bytes.
    if (bits >= 6) {
        return std::nullopt;
    }
    return out;
}

std::string base64_encode(std::string_view bytes) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                           static_cast<unsigned char>(bytes[i + 2]);
        out.push_back(alphabet[(n >> 18) & 63]);
        out.push_back(alphabet[(n >> 12) & 63]);
        out.push_back(alphabet[(n >> 6) & 63]);
        out.push_back(alphabet[n & 63]);
    }
    if (i < bytes.size()) {
        unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
        const bool two = i + 1 < bytes.size();
        if (two) {
            n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        }
        out.push_back(alphabet[(n >> 18) & 63]);
        out.push_back(alphabet[(n >> 12) & 63]);
        out.push_back(two ? alphabet[(n >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

}  // namespace tugboat::integrations
