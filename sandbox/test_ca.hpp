#pragma once

// A throwaway certificate authority for loopback tests and the sandbox: EC P-256 keys and
// certificates made at run time, so no key material lives in the repository.

#include "core/result.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace tugboat::sandbox {

/// A certificate and its private key, both PEM.
struct issued_cert {
    std::string cert_pem;
    std::string key_pem;
};

/// A self-signed CA that issues server and client certificates valid for a week (back-dated
/// an hour against clock skew). Generation failures are OpenSSL bugs or resource exhaustion
/// and throw std::runtime_error.
class test_ca {
public:
    /// A new CA with a fresh key.
    static test_ca create(const std::string& common_name = "Tugboat Test CA");

    const std::string& cert_pem() const noexcept { return ca_.cert_pem; }

    /// A server certificate for the given DNS names and IP addresses (subject alternative
    /// names), the first DNS name (or IP) as common name.
    issued_cert issue_server(const std::vector<std::string>& dns_names,
                             const std::vector<std::string>& ip_addresses) const;

    /// A client certificate (extended key usage clientAuth). Kubernetes reads the common name
    /// as the user name and each organization as a group.
    issued_cert issue_client(const std::string& common_name,
                             const std::vector<std::string>& organizations = {}) const;

private:
    explicit test_ca(issued_cert ca) : ca_(std::move(ca)) {}
    issued_cert ca_;
};

/// The process-wide test PKI: one CA, a server certificate for "localhost", 127.0.0.1 and
/// ::1, and a client certificate for user "tugboat" in group "system:masters". Made on first
/// use and then reused, since key generation is slow under sanitizers.
struct test_pki {
    test_ca ca;
    issued_cert server;
    issued_cert client;
};
const test_pki& default_test_pki();

/// Writes ca.pem, server.pem, server-key.pem, client.pem and client-key.pem into `dir`
/// (created if missing); keys get mode 0600. Fails with config_error naming the path.
core::result<void> write_test_pki(const test_pki& pki, const std::filesystem::path& dir);

}  // namespace tugboat::sandbox
