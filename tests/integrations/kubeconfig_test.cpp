// kubeconfig and in-cluster configuration: contexts, credentials, CA handling and every refusal.

#include "integrations/kubeconfig.hpp"
#include "sandbox/test_ca.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>

using namespace tugboat;
using integrations::base64_encode;
using test::temp_dir;
namespace fs = std::filesystem;

namespace {

const std::string fake_ca_pem =
    "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

std::string two_contexts() {
    return R"(apiVersion: v1
kind: Config
current-context: staging
clusters:
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: )" +
           base64_encode(fake_ca_pem) + R"(
- name: staging-cluster
  cluster:
    server: https://staging.example.com
    tls-server-name: kubernetes
users:
- name: bot
  user:
    token: abc.def.ghi
- name: admin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
      args: ["eks", "get-token"]
contexts:
- name: prod
  context: {cluster: prod-cluster, user: bot, namespace: payments}
- name: staging
  context: {cluster: staging-cluster, user: bot}
- name: production-admin
  context: {cluster: prod-cluster, user: admin}
)";
}

}  // namespace

TEST_CASE("kubeconfig: token user, CA data and namespace of the named context", "[unit]") {
    auto access = integrations::parse_kubeconfig(two_contexts(), "/etc/kube/config", "prod");
    REQUIRE(access);
    CHECK(access->server == "https://10.0.0.1:6443");
    CHECK(access->token == "abc.def.ghi");
    CHECK(access->tls.ca_pem == fake_ca_pem);
    CHECK_FALSE(access->tls.system_roots);  // the cluster's CA only, as kubectl does
    CHECK(access->namespace_name == "payments");
    CHECK(access->origin == "context prod in /etc/kube/config");
}

TEST_CASE("kubeconfig: current-context is used when none is named", "[unit]") {
    auto access = integrations::parse_kubeconfig(two_contexts(), "/etc/kube/config");
    REQUIRE(access);
    CHECK(access->server == "https://staging.example.com");
    CHECK(access->namespace_name == "default");
    CHECK(access->tls_server_name == "kubernetes");
    CHECK(access->tls.system_roots);  // no CA named: a publicly trusted API server
}

TEST_CASE("kubeconfig: client certificate data is decoded and usable for TLS", "[unit]") {
    const auto& pki = sandbox::default_test_pki();
    const std::string yaml = R"(apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: )" +
                             base64_encode(pki.ca.cert_pem()) +
                             R"(
users:
- name: fake
  user:
    client-certificate-data: )" +
                             base64_encode(pki.client.cert_pem) +
                             R"(
    client-key-data: )" + base64_encode(pki.client.key_pem) +
                             R"(
contexts:
- name: fake
  context: {cluster: fake, user: fake}
)";
    auto access = integrations::parse_kubeconfig(yaml, "kubeconfig");
    REQUIRE(access);
    CHECK(access->token.empty());
    CHECK(access->tls.client_cert_pem == pki.client.cert_pem);
    CHECK(access->tls.client_key_pem == pki.client.key_pem);
    CHECK(access->tls.ca_pem == pki.ca.cert_pem());
    auto ctx = integrations::make_client_tls_context(access->tls);
    CHECK(ctx.has_value());
}

TEST_CASE("kubeconfig: CA file and tokenFile are read relative to the kubeconfig", "[unit]") {
    temp_dir dir;
    dir.write("certs/ca.crt", fake_ca_pem);
    dir.write("token", "  file-token\n");
    auto path = dir.write("config", R"(apiVersion: v1
clusters:
- name: c
  cluster: {server: "https://k8s.internal:443", certificate-authority: certs/ca.crt}
users:
- name: u
  user: {tokenFile: token}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: ops}
current-context: ctx
)");
    auto access = integrations::load_kubeconfig(path.string());
    REQUIRE(access);
    CHECK(access->tls.ca_file == (dir.path / "certs/ca.crt").string());
    CHECK(access->tls.ca_pem.empty());
    CHECK_FALSE(access->tls.system_roots);
    CHECK(access->token == "file-token");
    CHECK(access->token_file == (dir.path / "token").string());
    CHECK(access->namespace_name == "ops");

    SECTION("a named file that does not exist is reported with the field") {
        fs::remove(dir.path / "certs/ca.crt");
        auto broken = integrations::load_kubeconfig(path.string());
        REQUIRE_FALSE(broken);
        CHECK(broken.error().code == core::errc::config_error);
        CHECK_THAT(broken.error().message,
                   Catch::Contains("certificate-authority") && Catch::Contains("cannot be read"));
    }
}

TEST_CASE("kubeconfig: an unknown context lists the available ones and the closest", "[unit]") {
    auto access = integrations::parse_kubeconfig(two_contexts(), "/etc/kube/config", "prdo");
    REQUIRE_FALSE(access);
    CHECK(access.error().code == core::errc::config_error);
    const auto& m = access.error().message;
    CHECK_THAT(m, Catch::Contains("context `prdo` not found in kubeconfig /etc/kube/config"));
    CHECK_THAT(m, Catch::Contains("prod, staging, production-admin"));
    CHECK_THAT(m, Catch::Contains("Did you mean `prod`"));
}

TEST_CASE("kubeconfig: insecure-skip-tls-verify is refused", "[unit]") {
    const std::string yaml = R"(clusters:
- name: lab
  cluster: {server: "https://lab:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t}
contexts:
- name: lab
  context: {cluster: lab, user: u}
current-context: lab
)";
    auto access = integrations::parse_kubeconfig(yaml, "lab.yaml");
    REQUIRE_FALSE(access);
    CHECK_THAT(access.error().message, Catch::Contains("insecure-skip-tls-verify") &&
                                           Catch::Contains("never turns off") &&
                                           Catch::Contains("certificate-authority-data"));
}

TEST_CASE("kubeconfig: exec plugins are unsupported, with a token suggested", "[unit]") {
    auto access =
        integrations::parse_kubeconfig(two_contexts(), "/etc/kube/config", "production-admin");
    REQUIRE_FALSE(access);
    CHECK_THAT(access.error().message,
               Catch::Contains("exec plugin (`aws`)") && Catch::Contains("token"));
}

TEST_CASE("kubeconfig: broken entries are named", "[unit]") {
    auto expect = [](const std::string& yaml, const std::string& fragment) {
        auto access = integrations::parse_kubeconfig(yaml, "k.yaml");
        REQUIRE_FALSE(access);
        CHECK(access.error().code == core::errc::config_error);
        CHECK_THAT(access.error().message, Catch::Contains(fragment));
    };
    const std::string users = "users:\n- name: u\n  user: {token: t}\n";
    const std::string clusters = "clusters:\n- name: c\n  cluster: {server: \"https://c:6443\"}\n";
    SECTION("missing cluster") {
        expect(users +
                   "contexts:\n- name: x\n  context: {cluster: nope, user: u}\n"
                   "current-context: x\n",
               "names cluster `nope`, which is not under `clusters:`");
    }
    SECTION("missing user") {
        expect(clusters +
                   "contexts:\n- name: x\n  context: {cluster: c, user: nobody}\n"
                   "current-context: x\n",
               "names user `nobody`, which is not under `users:`");
    }
    SECTION("no current-context") {
        expect(clusters + users + "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
               "no current-context");
    }
    SECTION("plain http server") {
        expect("clusters:\n- name: c\n  cluster: {server: \"http://c:8080\"}\n" + users +
                   "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
               "must be an https:// URL");
    }
    SECTION("bad base64") {
        expect(
            "clusters:\n- name: c\n  cluster: {server: \"https://c\", "
            "certificate-authority-data: \"not*base64\"}\n" +
                users +
                "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
            "`certificate-authority-data` is not valid base64");
    }
    SECTION("certificate without key") {
        expect(clusters +
                   "users:\n- name: u\n  user: {client-certificate-data: " + base64_encode("cert") +
                   "}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                   "current-context: x\n",
               "client certificate without its key");
    }
    SECTION("no credentials") {
        expect(clusters +
                   "users:\n- name: u\n  user: {}\n"
                   "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                   "current-context: x\n",
               "no credentials");
    }
    SECTION("invalid YAML") {
        expect("clusters: [\n", "k.yaml");
    }
    SECTION("unreadable file") {
        auto access = integrations::load_kubeconfig("/nonexistent/tugboat/kubeconfig");
        REQUIRE_FALSE(access);
        CHECK_THAT(access.error().message, Catch::Contains("cannot read kubeconfig"));
    }
}

TEST_CASE("kubeconfig: in-cluster service account from a mounted directory", "[unit]") {
    temp_dir dir;
    dir.write("token", "eyJhbGciOi.sa-token\n");
    dir.write("ca.crt", fake_ca_pem);
    dir.write("namespace", "ops\n");
    std::map<std::string, std::string> vars = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                               {"KUBERNETES_SERVICE_PORT", "443"}};
    auto env = [&vars](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    SECTION("complete") {
        auto access = integrations::load_in_cluster(env, dir.path);
        REQUIRE(access);
        CHECK(access->server == "https://10.96.0.1:443");
        CHECK(access->token == "eyJhbGciOi.sa-token");
        CHECK(access->token_file == (dir.path / "token").string());
        CHECK(access->tls.ca_file == (dir.path / "ca.crt").string());
        CHECK_FALSE(access->tls.system_roots);
        CHECK(access->namespace_name == "ops");
    }
    SECTION("IPv6 service host is bracketed") {
        vars["KUBERNETES_SERVICE_HOST"] = "fd00::1";
        auto access = integrations::load_in_cluster(env, dir.path);
        REQUIRE(access);
        CHECK(access->server == "https://[fd00::1]:443");
    }
    SECTION("not in a pod") {
        vars.clear();
        auto access = integrations::load_in_cluster(env, dir.path);
        REQUIRE_FALSE(access);
        CHECK_THAT(access.error().message, Catch::Contains("KUBERNETES_SERVICE_HOST"));
    }
    SECTION("no token mounted") {
        fs::remove(dir.path / "token");
        auto access = integrations::load_in_cluster(env, dir.path);
        REQUIRE_FALSE(access);
        CHECK_THAT(access.error().message, Catch::Contains("automountServiceAccountToken"));
    }
    SECTION("via the cluster config") {
        core::cluster_config cluster{"onprem", true, "", ""};
        auto access = integrations::load_cluster_access(cluster, env, dir.path);
        REQUIRE(access);
        CHECK(access->origin == "in-cluster service account");
    }
}

TEST_CASE("kubeconfig: base64 round trip and rejects", "[unit]") {
    for (std::string s : {"", "a", "ab", "abc", "abcd", "-----BEGIN CERTIFICATE-----\n\xff\x01"}) {
        auto d = integrations::base64_decode(base64_encode(s));
        REQUIRE(d);
        CHECK(*d == s);
    }
    CHECK(integrations::base64_decode("aGVs\nbG8=") == std::optional<std::string>("hello"));
    CHECK(integrations::base64_decode("aGVsbG8") == std::optional<std::string>("hello"));
    CHECK_FALSE(integrations::base64_decode("aGVs*G8="));
    CHECK_FALSE(integrations::base64_decode("aGVsbG8=x"));
    CHECK_FALSE(integrations::base64_decode("a"));
}
