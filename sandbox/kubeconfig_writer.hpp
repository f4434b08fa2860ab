#pragma once

// Writes kubeconfig files for the fake clusters, so the bot reads the sandbox's clusters the
// same way it reads real ones: certificate-authority-data and credentials inline (base64).

#include <string>
#include <string_view>
#include <vector>

namespace tugboat::sandbox {

/// One context of a kubeconfig; its cluster and user entries are named after it.
struct kubeconfig_context {
    std::string name;    ///< context name, e.g. "onprem"
    std::string server;  ///< "https://127.0.0.1:PORT"
    std::string ca_pem;  ///< the cluster's CA, PEM
    /// Credentials: a bearer token, or a client certificate and key (PEM). When both are set
    /// both are written (kubectl then sends both).
    std::string token;
    std::string client_cert_pem;
    std::string client_key_pem;
    std::string ns;  ///< the context's namespace; "" = none (clients use "default")
};

/// A kubeconfig (YAML) with every context, the first one current unless `current_context`
/// names another.
std::string make_kubeconfig(const std::vector<kubeconfig_context>& contexts,
                            std::string_view current_context = {});

/// Standard base64 with padding, as kubeconfig `*-data` fields use.
std::string base64_encode(std::string_view bytes);

}  // namespace tugboat::sandbox
