#include "integrations/tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>

#include <fstream>
#include <sstream>

namespace tugboat::integrations {

namespace ssl = boost::asio::ssl;

namespace {

core::result<std::string> read_pem_file(std::string_view field, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return core::make_error(core::errc::config_error,
                                "TLS " + std::string(field) + " \"" + path +
                                    "\" cannot be read; check the path and its permissions");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

core::error bad_pem(std::string_view field, std::string_view what,
                    const boost::system::error_code& ec) {
    return core::make_error(core::errc::config_error,
                            "TLS " + std::string(field) + " holds no usable " + std::string(what) +
                                " (" + ec.message() + "); give PEM text starting with -----BEGIN");
}

// Collects the PEM text of one item given as a file, as text, or both.
core::result<std::string> gather(std::string_view file_field, const std::string& file,
                                 const std::string& pem) {
    std::string text = pem;
    if (!file.empty()) {
        auto content = read_pem_file(file_field, file);
        if (!content) {
            return std::move(content).error();
        }
        text += "\n" + *content;
    }
    return text;
}

}  // namespace

core::result<std::shared_ptr<ssl::context>> make_client_tls_context(const tls_options& options) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    // Verification is not optional; every handshake also checks the host (prepare_client_tls).
    ctx->set_verify_mode(ssl::verify_peer);

    boost::system::error_code ec;
    if (options.system_roots) {
        ctx->set_default_verify_paths(ec);
        if (ec) {
            return core::make_error(core::errc::config_error,
                                    "TLS: cannot load the system CA store (" + ec.message() +
                                        "); install ca-certificates or set ca_file");
        }
    }

    if (!options.ca_file.empty() || !options.ca_pem.empty()) {
        auto cas = gather("ca_file", options.ca_file, options.ca_pem);
        if (!cas) {
            return std::move(cas).error();
        }
        ctx->add_certificate_authority(boost::asio::buffer(*cas), ec);
        if (ec) {
            return bad_pem(options.ca_file.empty() ? "CA data" : "ca_file " + options.ca_file,
                           "CA certificate", ec);
        }
    }

    bool has_cert = !options.client_cert_file.empty() || !options.client_cert_pem.empty();
    bool has_key = !options.client_key_file.empty() || !options.client_key_pem.empty();
    if (has_cert != has_key) {
        return core::make_error(core::errc::config_error,
                                has_cert ? "TLS client certificate given without its private "
                                           "key; set the client key as well"
                                         : "TLS client key given without its certificate; set "
                                           "the client certificate as well");
    }
    if (has_cert) {
        auto cert = gather("client_cert_file", options.client_cert_file, options.client_cert_pem);
        if (!cert) {
            return std::move(cert).error();
        }
        auto key = gather("client_key_file", options.client_key_file, options.client_key_pem);
        if (!key) {
            return std::move(key).error();
        }
        ctx->use_certificate_chain(boost::asio::buffer(*cert), ec);
        if (ec) {
            return bad_pem("client certificate", "certificate", ec);
        }
        ctx->use_private_key(boost::asio::buffer(*key), ssl::context::pem, ec);
        if (ec) {
            return bad_pem("client key", "private key", ec);
        }
        if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
            return core::make_error(core::errc::config_error,
                                    "TLS client key does not match the client certificate; "
                                    "give the key the certificate was issued for");
        }
    }
    return ctx;
}

core::result<void> prepare_client_tls(ssl_st* ssl, const std::string& host) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    bool is_ip = !ec;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    // OpenSSL checks the name itself, so a mismatch fails with a precise reason
    // ("hostname mismatch") that tls_verify_failure can report.
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    // RFC 6066 allows only DNS names in SNI.
    if (ok == 1 && !is_ip) {
        ok = static_cast<int>(SSL_set_tlsext_host_name(ssl, host.c_str()));
    }
    if (ok != 1) {
        return core::make_error(core::errc::internal,
                                "TLS: cannot set up host verification for " + host);
    }
    return core::ok();
}

std::string tls_verify_failure(const ssl_st* ssl) {
    long result = SSL_get_verify_result(ssl);
    if (result == X509_V_OK) {
        return {};
    }
    return X509_verify_cert_error_string(result);
}

}  // namespace tugboat::integrations
