#include "sandbox/test_ca.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace tugboat::sandbox {

namespace {

template <auto Free>
struct openssl_deleter {
    template <class T>
    void operator()(T* p) const noexcept {
        Free(p);
    }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;

void check(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(std::string("test CA: ") + what + " failed");
    }
}

pkey_ptr generate_key() {
    pkey_ptr key(EVP_EC_gen("P-256"));
    check(key != nullptr, "EC P-256 key generation");
    return key;
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string key_to_pem(EVP_PKEY* key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    check(
        bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "writing a key");
    return bio_text(bio.get());
}

std::string cert_to_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "writing a certificate");
    return bio_text(bio.get());
}

pkey_ptr key_from_pem(const std::string& pem) {
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    check(key != nullptr, "reading the CA key");
    return key;
}

x509_ptr cert_from_pem(const std::string& pem) {
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    check(cert != nullptr, "reading the CA certificate");
    return cert;
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
    check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                     0) == 1,
          "setting a name entry");
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    check(ext && X509_add_ext(cert, ext.get(), -1) == 1, "adding an extension");
}

struct subject {
    std::string common_name;
    std::vector<std::string> organizations;
};

// A certificate for `key` named `who`, signed by `issuer_key`; `issuer` null = self-signed.
x509_ptr make_cert(EVP_PKEY* key, const subject& who, X509* issuer, EVP_PKEY* issuer_key,
                   const std::vector<std::pair<int, std::string>>& extensions) {
    x509_ptr cert(X509_new());
    check(cert != nullptr, "X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "setting the version");

    // Random serials keep certificates from different runs distinct.
    unsigned char serial_bytes[16];
    check(RAND_bytes(serial_bytes, sizeof serial_bytes) == 1, "RAND_bytes");
    serial_bytes[0] &= 0x7f;  // positive
    std::unique_ptr<BIGNUM, openssl_deleter<BN_free>> serial(
        BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
    check(serial && BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())),
          "setting the serial");

    check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7L * 24 * 3600) != nullptr, "notAfter");
    check(X509_set_pubkey(cert.get(), key) == 1, "setting the public key");

    X509_NAME* name = X509_get_subject_name(cert.get());
    for (const auto& org : who.organizations) {
        add_name_entry(name, "O", org);
    }
    add_name_entry(name, "CN", who.common_name);
    X509* signer = issuer ? issuer : cert.get();
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1,
          "setting the issuer");

    for (const auto& [nid, value] : extensions) {
        add_extension(cert.get(), signer, nid, value);
    }
    check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "signing");
    return cert;
}

std::string join_sans(const std::vector<std::string>& dns, const std::vector<std::string>& ips) {
    std::string out;
    for (const auto& d : dns) {
        out += (out.empty() ? "DNS:" : ",DNS:") + d;
    }
    for (const auto& ip : ips) {
        out += (out.empty() ? "IP:" : ",IP:") + ip;
    }
    return out;
}

core::result<void> write_file(const std::filesystem::path& path, const std::string& text,
                              bool secret) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
        return core::make_error(
            core::errc::config_error,
            "cannot write " + path.string() + "; check that the directory is writable");
    }
    if (secret) {
        std::error_code ec;
        std::filesystem::permissions(
            path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
            std::filesystem::perm_options::replace, ec);
    }
    return core::ok();
}

}  // namespace

test_ca test_ca::create(const std::string& common_name) {
    auto key = generate_key();
    auto cert = make_cert(key.get(), {common_name, {}}, nullptr, key.get(),
                          {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                           {NID_key_usage, "critical,keyCertSign,cRLSign"},
                           {NID_subject_key_identifier, "hash"}});
    return test_ca(issued_cert{cert_to_pem(cert.get()), key_to_pem(key.get())});
}

issued_cert test_ca::issue_server(const std::vector<std::string>& dns_names,
                                  const std::vector<std::string>& ip_addresses) const {
    check(!dns_names.empty() || !ip_addresses.empty(), "a server certificate needs a name");
    auto ca_key = key_from_pem(ca_.key_pem);
    auto ca_cert = cert_from_pem(ca_.cert_pem);
    auto key = generate_key();
    std::string cn = dns_names.empty() ? ip_addresses.front() : dns_names.front();
    auto cert = make_cert(key.get(), {cn, {}}, ca_cert.get(), ca_key.get(),
                          {{NID_basic_constraints, "critical,CA:FALSE"},
                           {NID_key_usage, "critical,digitalSignature"},
                           {NID_ext_key_usage, "serverAuth"},
                           {NID_subject_key_identifier, "hash"},
                           {NID_authority_key_identifier, "keyid"},
                           {NID_subject_alt_name, join_sans(dns_names, ip_addresses)}});
    return {cert_to_pem(cert.get()), key_to_pem(key.get())};
}

issued_cert test_ca::issue_client(const std::string& common_name,
                                  const std::vector<std::string>& organizations) const {
    auto ca_key = key_from_pem(ca_.key_pem);
    auto ca_cert = cert_from_pem(ca_.cert_pem);
    auto key = generate_key();
    auto cert = make_cert(key.get(), {common_name, organizations}, ca_cert.get(), ca_key.get(),
                          {{NID_basic_constraints, "critical,CA:FALSE"},
                           {NID_key_usage, "critical,digitalSignature"},
                           {NID_ext_key_usage, "clientAuth"},
                           {NID_subject_key_identifier, "hash"},
                           {NID_authority_key_identifier, "keyid"}});
    return {cert_to_pem(cert.get()), key_to_pem(key.get())};
}

const test_pki& default_test_pki() {
    static const test_pki pki = [] {
        auto ca = test_ca::create();
        auto server = ca.issue_server({"localhost"}, {"127.0.0.1", "::1"});
        auto client = ca.issue_client("tugboat", {"system:masters"});
        return test_pki{std::move(ca), std::move(server), std::move(client)};
    }();
    return pki;
}

core::result<void> write_test_pki(const test_pki& pki, const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return core::make_error(core::errc::config_error, "cannot create " + dir.string() + " (" +
                                                              ec.message() +
                                                              "); choose a writable directory");
    }
    const std::pair<const char*, std::pair<const std::string*, bool>> files[] = {
        {"ca.pem", {&pki.ca.cert_pem(), false}},
        {"server.pem", {&pki.server.cert_pem, false}},
        {"server-key.pem", {&pki.server.key_pem, true}},
        {"client.pem", {&pki.client.cert_pem, false}},
        {"client-key.pem", {&pki.client.key_pem, true}},
    };
    for (const auto& [name, content] : files) {
        auto written = write_file(dir / name, *content.first, content.second);
        if (!written) {
            return written;
        }
    }
    return core::ok();
}

}  // namespace tugboat::sandbox
