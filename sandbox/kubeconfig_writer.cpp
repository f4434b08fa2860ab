#include "sandbox/kubeconfig_writer.hpp"

#include <fmt/format.h>

namespace tugboat::sandbox {

std::string base64_encode(std::string_view bytes) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        unsigned v = static_cast<unsigned char>(bytes[i]) << 16 |
                     static_cast<unsigned char>(bytes[i + 1]) << 8 |
                     static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (i + 1 == bytes.size()) {
        unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == bytes.size()) {
        unsigned v = static_cast<unsigned char>(bytes[i]) << 16 |
                     static_cast<unsigned char>(bytes[i + 1]) << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

namespace {

// A YAML double-quoted scalar: names and URLs are written quoted so that no value can be
// mistaken for another type ("on", "1.0") or break the structure.
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default: out += c;
        }
    }
    return out + "\"";
}

}  // namespace

std::string make_kubeconfig(const std::vector<kubeconfig_context>& contexts,
                            std::string_view current_context) {
    std::string current(current_context);
    if (current.empty() && !contexts.empty()) {
        current = contexts.front().name;
    }
    std::string out = "apiVersion: v1\nkind: Config\npreferences: {}\n";
    out += fmt::format("current-context: {}\n", quoted(current));
    out += "clusters:\n";
    for (const auto& c : contexts) {
        out += fmt::format("- name: {}\n  cluster:\n    server: {}\n", quoted(c.name),
                           quoted(c.server));
        if (!c.ca_pem.empty()) {
            out += fmt::format("    certificate-authority-data: {}\n", base64_encode(c.ca_pem));
        }
    }
    out += "users:\n";
    for (const auto& c : contexts) {
        out += fmt::format("- name: {}\n  user:", quoted(c.name));
        if (c.token.empty() && c.client_cert_pem.empty()) {
            out += " {}\n";
            continue;
        }
        out += "\n";
        if (!c.token.empty()) {
            out += fmt::format("    token: {}\n", quoted(c.token));
        }
        if (!c.client_cert_pem.empty()) {
            out +=
                fmt::format("    client-certificate-data: {}\n", base64_encode(c.client_cert_pem));
            out += fmt::format("    client-key-data: {}\n", base64_encode(c.client_key_pem));
        }
    }
    out += "contexts:\n";
    for (const auto& c : contexts) {
        out += fmt::format("- name: {}\n  context:\n    cluster: {}\n    user: {}\n",
                           quoted(c.name), quoted(c.name), quoted(c.name));
        if (!c.ns.empty()) {
            out += fmt::format("    namespace: {}\n", quoted(c.ns));
        }
    }
    return out;
}

}  // namespace tugboat::sandbox
