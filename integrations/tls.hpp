#pragma once

// Client TLS configuration. Peer verification and host name checking are always on; there is
// deliberately no option to turn them off. A private CA is trusted by adding it, not by
// disabling checks.

#include "core/result.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}
struct ssl_st;  // OpenSSL's SSL

namespace tugboat::integrations {

/// Trust anchors and client identity for outgoing TLS connections. Each PEM item may be given
/// as a file path or as the text itself (kubeconfig `*-data` fields, base64-decoded); giving
/// both adds both.
struct tls_options {
    /// Trust the operating system's CA store. Kubernetes clients turn it off when the
    /// kubeconfig names the cluster's CA, so only that CA is trusted (as kubectl does).
    bool system_roots = true;
    std::string ca_file;           ///< extra PEM bundle of trusted CAs, or empty
    std::string ca_pem;            ///< extra trusted CAs as PEM text, or empty
    std::string client_cert_file;  ///< client certificate chain (PEM file) for mutual TLS
    std::string client_key_file;   ///< its private key (PEM file)
    std::string client_cert_pem;   ///< client certificate chain as PEM text
    std::string client_key_pem;    ///< its private key as PEM text
};

/// Builds a TLS 1.2+ client context that verifies peers against the configured roots.
/// Errors (config_error) name the file or field at fault: unreadable files, text that holds no
/// PEM certificate, a key that does not match its certificate, a certificate without a key.
core::result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const tls_options& options);

/// Prepares one client connection for `host` (a DNS name or an IP literal): sends SNI for DNS
/// names and makes the handshake fail unless the certificate matches the host (DNS SAN, or IP
/// SAN for literals). Call before the handshake. Fails only when OpenSSL cannot allocate.
core::result<void> prepare_client_tls(ssl_st* ssl, const std::string& host);

/// Why certificate verification failed on `ssl` after a failed handshake, e.g. "certificate
/// has expired", or empty when the failure was not about verification.
std::string tls_verify_failure(const ssl_st* ssl);

}  // namespace tugboat::integrations
