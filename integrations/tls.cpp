#include "integrations/tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
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

// True when `dir` holds OpenSSL's hashed links (e.g. "3513523f.0", made by
// update-ca-certificates / c_rehash), so looking CAs up there by subject hash works.
bool has_hashed_links(const std::string& dir) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        auto name = it->path().filename().string();
        auto dot = name.find('.');
        if (dot == 8 && name.size() > 9 && name.find_first_not_of("0123456789abcdef") == dot &&
            name.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
            return true;
        }
    }
    return false;
}

// Trusts the operating system's CAs. Parsing the whole bundle file costs ~20 ms per context, so
// the hashed directory is preferred: OpenSSL then reads only the few CA files a handshake
// needs, when it needs them (and keeps them). Same trust anchors either way, as the
// directory and the bundle are both made from /etc/ssl/certs by update-ca-certificates. An
// SSL_CERT_FILE naming another file is honoured; without hashed links the bundle is parsed.
bool load_system_roots(SSL_CTX* ctx) {
    const char* dir_env = std::getenv(X509_get_default_cert_dir_env());
    std::string dirs = dir_env != nullptr ? dir_env : X509_get_default_cert_dir();
    bool hashed = false;
    for (std::size_t start = 0; start <= dirs.size() && !hashed;) {
        auto end = std::min(dirs.find(':', start), dirs.size());
        hashed = has_hashed_links(dirs.substr(start, end - start));
        start = end + 1;
    }
    if (!hashed) {
        return SSL_CTX_set_default_verify_paths(ctx) == 1;
    }
    // update-ca-certificates builds the default bundle from the very files the directory
    // links, so only another file adds anchors (and must then be parsed).
    const char* file = std::getenv(X509_get_default_cert_file_env());
    std::error_code ec;
    if (file != nullptr && !std::filesystem::equivalent(file, X509_get_default_cert_file(), ec) &&
        SSL_CTX_set_default_verify_file(ctx) != 1) {
        return false;
    }
    return SSL_CTX_set_default_verify_dir(ctx) == 1;
}

// The last session each peer gave us, for resuming the next connection to it. Lives in the
// SSL_CTX's ex_data, so it is shared by every connection made with the context (and freed
// with it); sessions never cross contexts, so never cross trust settings. Connections may
// live on several threads' io_contexts, hence the mutex.
class session_store {
public:
    using session_ptr = std::unique_ptr<SSL_SESSION, decltype(&SSL_SESSION_free)>;

    // Takes ownership of `session` (one reference).
    void put(const std::string& peer, SSL_SESSION* session) {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = sessions_.try_emplace(peer, session, &SSL_SESSION_free);
        if (!inserted) {
            it->second.reset(session);
        }
    }

    // A new reference to the peer's session if it can still be resumed, else null.
    SSL_SESSION* get(const std::string& peer) {
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(peer);
        if (it == sessions_.end()) {
            return nullptr;
        }
        SSL_SESSION* s = it->second.get();
        auto expires = SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s);
        if (SSL_SESSION_is_resumable(s) != 1 || expires <= std::time(nullptr)) {
            sessions_.erase(it);
            return nullptr;
        }
        SSL_SESSION_up_ref(s);
        return s;
    }

    void forget(const std::string& peer) {
        std::lock_guard lock(mutex_);
        sessions_.erase(peer);
    }

private:
    std::mutex mutex_;
    std::map<std::string, session_ptr> sessions_;
};

void free_store(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<session_store*>(ptr);
}

void free_peer(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<std::string*>(ptr);
}

// ex_data slots: the SSL_CTX's session_store and each SSL's peer key ("host:port").
int store_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_store);
    return index;
}

int peer_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_peer);
    return index;
}

// OpenSSL's callback for every session a server hands out: after the handshake for TLS 1.2,
// and whenever a NewSessionTicket arrives for TLS 1.3 (during later reads). Only called for
// handshakes that passed verification.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* peer = static_cast<std::string*>(SSL_get_ex_data(ssl, peer_index()));
    auto* store =
        static_cast<session_store*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), store_index()));
    if (peer == nullptr || store == nullptr) {
        return 0;  // a connection that did not ask for resumption
    }
    // A copy: OpenSSL marks the connection's own session unresumable when the connection is
    // freed without a close_notify, as pooled HTTP connections routinely are (a TLS 1.0 rule;
    // TLS 1.1+ allow resuming such sessions).
    if (SSL_SESSION* copy = SSL_SESSION_dup(session)) {
        store->put(*peer, copy);
    }
    return 0;  // OpenSSL keeps (and frees) its own reference
}

core::result<std::shared_ptr<ssl::context>> build_context(const tls_options& options) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    // Verification is not optional; every handshake also checks the host (prepare_client_tls).
    ctx->set_verify_mode(ssl::verify_peer);

    boost::system::error_code ec;
    if (options.system_roots) {
        if (!load_system_roots(ctx->native_handle())) {
            return core::make_error(core::errc::config_error,
                                    "TLS: cannot load the system CA store; install "
                                    "ca-certificates or set ca_file");
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

    // Client-side resumption: sessions are kept per peer by session_store, not by OpenSSL's
    // internal cache (which a client never looks up anyway).
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_session_cache_mode(native,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(native, on_new_session);
    auto store = std::make_unique<session_store>();
    if (SSL_CTX_set_ex_data(native, store_index(), store.get()) != 1) {
        return core::make_error(core::errc::internal, "TLS: cannot set up session resumption");
    }
    store.release();  // owned by the SSL_CTX now (free_store)
    return ctx;
}

// Everything a context is built from, with files replaced by their content: equal keys give
// equal contexts, and a rotated file gives a new one.
struct context_key {
    bool system_roots = true;
    std::string cas, cert, key;
    auto operator<=>(const context_key&) const = default;
};

}  // namespace

core::result<std::shared_ptr<ssl::context>> make_client_tls_context(const tls_options& options) {
    context_key key{.system_roots = options.system_roots};
    if (!options.ca_file.empty() || !options.ca_pem.empty()) {
        auto cas = gather("ca_file", options.ca_file, options.ca_pem);
        if (!cas) {
            return std::move(cas).error();
        }
        key.cas = *cas;
    }
    if (!options.client_cert_file.empty() || !options.client_cert_pem.empty()) {
        auto cert = gather("client_cert_file", options.client_cert_file, options.client_cert_pem);
        if (!cert) {
            return std::move(cert).error();
        }
        key.cert = *cert;
    }
    if (!options.client_key_file.empty() || !options.client_key_pem.empty()) {
        auto k = gather("client_key_file", options.client_key_file, options.client_key_pem);
        if (!k) {
            return std::move(k).error();
        }
        key.key = *k;
    }

    // Contexts are immutable once built, so equal options share one while any user holds it:
    // the Slack Web API and Socket Mode clients then load the CA store once, and share sessions.
    static std::mutex mutex;
    static std::map<context_key, std::weak_ptr<ssl::context>> cache;
    std::lock_guard lock(mutex);
    for (auto it = cache.begin(); it != cache.end();) {
        it = it->second.expired() ? cache.erase(it) : std::next(it);
    }
    if (auto it = cache.find(key); it != cache.end()) {
        if (auto shared = it->second.lock()) {
            return shared;
        }
    }
    auto built = build_context(options);
    if (built) {
        cache[key] = *built;
    }
    return built;
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

core::result<bool> resume_client_tls(ssl_st* ssl, const std::string& peer, bool offer) {
    auto* store =
        static_cast<session_store*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), store_index()));
    if (store == nullptr) {
        return false;  // not a context from make_client_tls_context: no resumption
    }
    auto key = std::make_unique<std::string>(peer);
    if (SSL_set_ex_data(ssl, peer_index(), key.get()) != 1) {
        return core::make_error(core::errc::internal,
                                "TLS: cannot set up session resumption for " + peer);
    }
    key.release();  // owned by the SSL now (free_peer)
    SSL_SESSION* session = offer ? store->get(peer) : nullptr;
    if (session == nullptr) {
        return false;
    }
    bool offered = SSL_set_session(ssl, session) == 1;
    SSL_SESSION_free(session);  // SSL_set_session took its own reference
    return offered;
}

void forget_client_tls_session(const std::string& peer, ssl_st* ssl) {
    auto* store =
        static_cast<session_store*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), store_index()));
    if (store != nullptr) {
        store->forget(peer);
    }
}

bool tls_session_resumed(const ssl_st* ssl) {
    return SSL_session_reused(ssl) == 1;
}

std::string tls_verify_failure(const ssl_st* ssl) {
    long result = SSL_get_verify_result(ssl);
    if (result == X509_V_OK) {
        return {};
    }
    return X509_verify_cert_error_string(result);
}

}  // namespace tugboat::integrations
