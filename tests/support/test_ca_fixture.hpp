#pragma once

// TLS material for loopback tests: the process-wide test CA (sandbox/test_ca.hpp) turned into a
// server context for sandbox::http_server and client options that trust only that CA.

#include "integrations/tls.hpp"

#include <memory>

namespace boost::asio::ssl {
class context;
}

namespace tugboat::test {

/// A server context presenting the test server certificate (localhost, 127.0.0.1, ::1). With
/// `request_client_cert`, client certificates issued by the test CA are asked for and verified.
std::shared_ptr<boost::asio::ssl::context> test_server_tls(bool request_client_cert = false);

/// Client TLS options trusting the test CA and nothing else.
integrations::tls_options test_client_tls();

}  // namespace tugboat::test
