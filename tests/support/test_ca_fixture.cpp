#include "tests/support/test_ca_fixture.hpp"

#include "sandbox/http_server.hpp"
#include "sandbox/test_ca.hpp"

#include <stdexcept>

namespace tugboat::test {

std::shared_ptr<boost::asio::ssl::context> test_server_tls(bool request_client_cert) {
    const auto& pki = sandbox::default_test_pki();
    auto ctx = sandbox::make_server_tls_context(pki.server.cert_pem, pki.server.key_pem,
                                                request_client_cert ? pki.ca.cert_pem() : "");
    if (!ctx) {
        throw std::runtime_error(ctx.error().message);
    }
    return *ctx;
}

integrations::tls_options test_client_tls() {
    integrations::tls_options options;
    options.system_roots = false;
    options.ca_pem = sandbox::default_test_pki().ca.cert_pem();
    return options;
}

}  // namespace tugboat::test
