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
/// Contexts are shared: while one is in use anywhere in the process, a call with equal options
/// (files compared by content) returns the same context instead of building another, so the
/// CA store is loaded once. Treat the context as read-only. The system roots are looked up
/// lazily in OpenSSL's hashed certificate directory when it has hash links, else the bundle
/// file is parsed. The context supports session resumption (see resume_client_tls).
/// Errors (config_error) name the file or field at fault: unreadable files, text that holds no
/// PEM certificate, a key that does not match its certificate, a certificate without a key.
core::result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const tls_options& options);

/// Prepares one client connection for `host` (a DNS name or an IP literal): sends SNI for DNS
/// names and makes the handshake fail unless the certificate matches the host (DNS SAN, or IP
/// SAN for literals). Call before the handshake. Fails only when OpenSSL cannot allocate.
core::result<void> prepare_client_tls(ssl_st* ssl, const std::string& host);

/// Lets this client connection resume the last TLS session that `peer` (e.g. "host:port";
/// connections to different hosts must use different keys) gave a connection made with the same
/// context, and remembers the sessions this one gets, including TLS 1.3 tickets that arrive
/// after the handshake. Call before the handshake, with prepare_client_tls. Sessions come only
/// from handshakes that passed verification for that same peer; resuming skips the
/// certificate exchange but not the trust decision it carries. A no-op for contexts not made
/// by make_client_tls_context. True when a session was offered; `offer` false only registers
/// the connection to receive sessions. Fails only when OpenSSL cannot allocate.
core::result<bool> resume_client_tls(ssl_st* ssl, const std::string& peer, bool offer = true);

/// Drops the session kept for `peer` in `ssl`'s context: for a server that failed a handshake
/// offering it (some OpenSSL servers that ask for client certificates fail the handshake
/// instead of declining to resume).
void forget_client_tls_session(const std::string& peer, ssl_st* ssl);

/// True when the handshake on `ssl` resumed an earlier session.
bool tls_session_resumed(const ssl_st* ssl);

/// Why certificate verification failed on `ssl` after a failed handshake, e.g. "certificate
/// has expired", or empty when the failure was not about verification.
std::string tls_verify_failure(const ssl_st* ssl);

}  // namespace tugboat::integrations
