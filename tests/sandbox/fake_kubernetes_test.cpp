// The fake Kubernetes API server, driven by the real HTTP client over TLS: authentication,
// object shapes, rollouts seen through watches, failure scenarios, logs, 409/410/429/403, RBAC
// bindings, pagination and a cluster going down. Pure parts (selectors, patches, kubeconfig)
// are [unit].

#include "sandbox/fake_kubernetes.hpp"
#include "integrations/http_client.hpp"
#include "integrations/kubeconfig.hpp"
#include "sandbox/fake_kubernetes_store.hpp"
#include "sandbox/kubeconfig_writer.hpp"
#include "tests/support/contains.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace tugboat;
using namespace std::chrono_literals;
using integrations::http_method;
using integrations::http_request;
using integrations::http_response;
using nlohmann::json;
using test::contains;
using test::run_test;

// One fake cluster and a client that trusts the test CA.
struct cluster {
    asio::io_context ioc;
    std::unique_ptr<sandbox::fake_kubernetes> k8s;
    std::optional<integrations::http_client> client;

    explicit cluster(std::function<void(sandbox::fake_kubernetes_options&)> tweak = {}) {
        sandbox::fake_kubernetes_options options;
        options.name = "test";
        options.speed = 50;
        options.namespaces = {"prod"};
        if (tweak) {
            tweak(options);
        }
        auto started = sandbox::fake_kubernetes::start(ioc.get_executor(), options);
        REQUIRE(started);
        k8s = std::move(*started);
        client.emplace(make_client(test::test_client_tls()));
    }

    integrations::http_client make_client(integrations::tls_options tls) {
        integrations::http_client_options options;
        options.tls = std::move(tls);
        auto c =
            integrations::http_client::create(ioc.get_executor(), core::null_logger(), options);
        REQUIRE(c);
        return std::move(*c);
    }

    http_request request(http_method method, const std::string& path, std::string body = {},
                         std::string content_type = "application/json") {
        http_request r;
        r.method = method;
        r.url = k8s->base_url() + path;
        r.headers = {{"Authorization", "Bearer " + k8s->token()}, {"Accept", "application/json"}};
        if (!body.empty()) {
            r.headers.emplace_back("Content-Type", content_type);
        }
        r.body = std::move(body);
        r.max_attempts = 1;
        r.timeout = 5s;
        return r;
    }

    asio::awaitable<http_response> call(http_request r) {
        auto response = co_await client->send(std::move(r));
        REQUIRE(response);
        co_return std::move(*response);
    }

    asio::awaitable<json> get_json(const std::string& path) {
        auto response = co_await call(request(http_method::get, path));
        INFO(response.body);
        REQUIRE(response.status == 200);
        co_return json::parse(response.body);
    }

    bool wait(std::function<bool()> done, std::chrono::milliseconds timeout = 3s) {
        return run_test(ioc, k8s->wait_until(std::move(done), timeout), timeout + 2s);
    }

    json object(std::string_view resource, std::string_view ns, std::string_view name) const {
        auto text = k8s->object_json(resource, ns, name);
        REQUIRE(text);
        return json::parse(*text);
    }
};

// Reads a watch (or followed log) stream line by line.
struct line_reader {
    integrations::http_stream stream;
    std::string buffer;

    // The next complete line; nullopt at the clean end of the stream; an error otherwise.
    asio::awaitable<core::result<std::optional<std::string>>> next() {
        for (;;) {
            if (auto nl = buffer.find('\n'); nl != std::string::npos) {
                std::string line = buffer.substr(0, nl);
                buffer.erase(0, nl + 1);
                if (line.empty()) {
                    continue;
                }
                co_return std::optional<std::string>(std::move(line));
            }
            auto piece = co_await stream.next();
            if (!piece) {
                co_return piece.error();
            }
            if (piece->empty()) {
                co_return std::optional<std::string>();
            }
            buffer += *piece;
        }
    }
};

asio::awaitable<line_reader> open_lines(cluster& c, const std::string& path) {
    auto stream = co_await c.client->open_stream(c.request(http_method::get, path), 3s);
    REQUIRE(stream);
    REQUIRE(stream->status() == 200);
    co_return line_reader{std::move(*stream), {}};
}

sandbox::fake_deployment api_deployment(std::string image, int replicas = 3) {
    sandbox::fake_deployment d;
    d.ns = "prod";
    d.name = "api";
    d.image = std::move(image);
    d.replicas = replicas;
    d.progress_deadline_seconds = 30;
    return d;
}

// kubectl rollout status: done?
bool kubectl_done(const json& d) {
    const json& s = d["status"];
    if (d["metadata"]["generation"].get<long long>() > s.value("observedGeneration", 0LL)) {
        return false;
    }
    for (const auto& c : s.value("conditions", json::array())) {
        if (c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded") {
            return false;
        }
    }
    int replicas = d["spec"]["replicas"];
    int updated = s.value("updatedReplicas", 0);
    return updated >= replicas && s.value("replicas", 0) <= updated &&
           s.value("availableReplicas", 0) >= updated;
}

json condition(const json& d, std::string_view type) {
    for (const auto& c : d["status"].value("conditions", json::array())) {
        if (c["type"] == type) {
            return c;
        }
    }
    return nullptr;
}

const std::string deployments_path = "/apis/apps/v1/namespaces/prod/deployments";
const std::string pods_path = "/api/v1/namespaces/prod/pods";
const std::string image_patch_type = "application/strategic-merge-patch+json";

std::string image_patch(const std::string& image) {
    return json{
        {"spec",
         {{"template", {{"spec", {{"containers", {{{"name", "api"}, {"image", image}}}}}}}}}}}
        .dump();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// [unit]

TEST_CASE("fake_kubernetes: label selectors parse and match like the API server's", "[unit]") {
    using namespace sandbox::kube;
    json labels = {{"app", "api"}, {"tier", "web"}, {"env", "prod"}};
    auto sel = [](std::string_view text) {
        auto s = parse_label_selector(text);
        REQUIRE(s.ok());
        return s.value();
    };
    CHECK(matches(sel("app=api"), labels));
    CHECK(matches(sel("app==api,tier!=db"), labels));
    CHECK(matches(sel("env in (prod, qa),release notin (canary)"), labels));
    CHECK(matches(sel("tier,!canary"), labels));
    CHECK_FALSE(matches(sel("app=web"), labels));
    CHECK_FALSE(matches(sel("env notin (prod)"), labels));
    CHECK_FALSE(matches(sel("missing"), labels));
    CHECK(matches(sel(""), nullptr));
    auto bad = parse_label_selector("app=(");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == 400);
}

TEST_CASE("fake_kubernetes: unsupported field selectors are a 400", "[unit]") {
    using namespace sandbox::kube;
    auto ok = parse_field_selector("involvedObject.name=api-1,type!=Normal", events());
    REQUIRE(ok.ok());
    json e = {{"involvedObject", {{"name", "api-1"}}}, {"type", "Warning"}};
    CHECK(matches(ok.value(), e));
    auto bad = parse_field_selector("spec.foo=1", deployments());
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message == "field label not supported: spec.foo");
}

TEST_CASE("fake_kubernetes: strategic merge patches merge containers by name", "[unit]") {
    using namespace sandbox::kube;
    json current = {{"spec",
                     {{"containers",
                       {{{"name", "api"}, {"image", "a:1"}, {"ports", {{{"containerPort", 80}}}}},
                        {{"name", "proxy"}, {"image", "envoy:1"}}}}}}};
    auto smp = apply_patch(current, "application/strategic-merge-patch+json",
                           R"({"spec":{"containers":[{"name":"api","image":"a:2"}]}})");
    REQUIRE(smp.ok());
    CHECK(smp.value()["spec"]["containers"].size() == 2);
    CHECK(smp.value()["spec"]["containers"][0]["image"] == "a:2");
    CHECK(smp.value()["spec"]["containers"][0]["ports"][0]["containerPort"] == 80);

    // A merge patch replaces the list wholesale, as RFC 7386 says.
    auto merge = apply_patch(current, "application/merge-patch+json; charset=utf-8",
                             R"({"spec":{"containers":[{"name":"api","image":"a:2"}]}})");
    REQUIRE(merge.ok());
    CHECK(merge.value()["spec"]["containers"].size() == 1);

    auto failed = apply_patch(current, "application/json-patch+json",
                              R"([{"op":"test","path":"/spec/containers/0/name","value":"x"}])");
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().code == 422);
    auto unsupported = apply_patch(current, "text/plain", "{}");
    REQUIRE_FALSE(unsupported.ok());
    CHECK(unsupported.error().code == 415);
}

TEST_CASE("fake_kubernetes: scenarios follow the image tag", "[unit]") {
    using sandbox::pod_scenario;
    using sandbox::scenario_for_image;
    CHECK(scenario_for_image("reg.example/api:1.4.2") == pod_scenario::success);
    CHECK(scenario_for_image("reg.example:5000/api:1.4.2-ImagePull") == pod_scenario::image_pull);
    CHECK(scenario_for_image("api:2-crash") == pod_scenario::crash_loop);
    CHECK(scenario_for_image("api:oom") == pod_scenario::oom_killed);
    CHECK(scenario_for_image("api:pending") == pod_scenario::unschedulable);
    CHECK(scenario_for_image("api:configerror") == pod_scenario::config_error);
    CHECK(scenario_for_image("api:slow-1") == pod_scenario::slow);
    CHECK(scenario_for_image("api:deadline") == pod_scenario::never_ready);
    // The registry host's port is not a tag.
    CHECK(scenario_for_image("crash.example:5000/api") == pod_scenario::success);
}

TEST_CASE("fake_kubernetes: kubeconfig has one context per cluster with inline data", "[unit]") {
    sandbox::kubeconfig_context onprem{"onprem", "https://127.0.0.1:6443", "CA-PEM", "tok-1"};
    sandbox::kubeconfig_context cloud{
        "cloud", "https://127.0.0.1:7443", "CA-PEM", "", "CERT", "KEY", "prod"};
    std::string text = sandbox::make_kubeconfig({onprem, cloud}, "cloud");
    CHECK(contains(text, "current-context: \"cloud\""));
    CHECK(contains(text, "server: \"https://127.0.0.1:6443\""));
    CHECK(contains(text, "certificate-authority-data: " + sandbox::base64_encode("CA-PEM")));
    CHECK(contains(text, "token: \"tok-1\""));
    CHECK(contains(text, "client-certificate-data: " + sandbox::base64_encode("CERT")));
    CHECK(contains(text, "client-key-data: " + sandbox::base64_encode("KEY")));
    CHECK(contains(text, "namespace: \"prod\""));
    CHECK(sandbox::base64_encode("ab") == "YWI=");
    CHECK(sandbox::base64_encode("abc") == "YWJj");
    CHECK(sandbox::base64_encode("a") == "YQ==");
}

// ---------------------------------------------------------------------------------------------
// [loopback]

TEST_CASE("fake_kubernetes: credentials are required", "[loopback]") {
    cluster c;
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto anonymous = c.request(http_method::get, "/api/v1/namespaces");
        anonymous.headers.clear();
        auto r = co_await c.call(anonymous);
        CHECK(r.status == 401);
        auto status = json::parse(r.body);
        CHECK(status["kind"] == "Status");
        CHECK(status["reason"] == "Unauthorized");
        CHECK(status["code"] == 401);

        auto wrong = c.request(http_method::get, "/api/v1/namespaces");
        wrong.headers[0].second = "Bearer nope";
        auto r1 = co_await c.call(wrong);
        CHECK(r1.status == 401);

        auto r2 = co_await c.call(c.request(http_method::get, "/api/v1/namespaces"));
        CHECK(r2.status == 200);

        // A client certificate from the test CA works without a token.
        auto tls = test::test_client_tls();
        tls.client_cert_pem = c.k8s->client_cert_pem();
        tls.client_key_pem = c.k8s->client_key_pem();
        auto cert_client = c.make_client(tls);
        auto by_cert = anonymous;
        auto cert_response = co_await cert_client.send(by_cert);
        REQUIRE(cert_response);
        CHECK(cert_response->status == 200);

        // Token rotation: the old token stops working.
        std::string old_token = c.k8s->token();
        c.k8s->set_token("rotated");
        auto stale = c.request(http_method::get, "/api/v1/namespaces");
        stale.headers[0].second = "Bearer " + old_token;
        auto r3 = co_await c.call(stale);
        CHECK(r3.status == 401);
        auto r4 = co_await c.call(c.request(http_method::get, "/api/v1/namespaces"));
        CHECK(r4.status == 200);
    }());
}

TEST_CASE("fake_kubernetes: a seeded deployment looks like the real thing", "[loopback]") {
    cluster c;
    auto seed = api_deployment("reg.example/api:1.4.1");
    seed.previous_images = {"reg.example/api:1.4.0"};
    REQUIRE(c.k8s->add_deployment(seed));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto d = co_await c.get_json(deployments_path + "/api");
        CHECK(d["kind"] == "Deployment");
        CHECK(d["apiVersion"] == "apps/v1");
        CHECK(d["metadata"]["namespace"] == "prod");
        CHECK_FALSE(d["metadata"]["uid"].get<std::string>().empty());
        CHECK_FALSE(d["metadata"]["resourceVersion"].get<std::string>().empty());
        CHECK(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2");
        CHECK(d["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.example/api:1.4.1");
        CHECK(d["status"]["observedGeneration"] == d["metadata"]["generation"]);
        CHECK(d["status"]["replicas"] == 3);
        CHECK(d["status"]["updatedReplicas"] == 3);
        CHECK(d["status"]["readyReplicas"] == 3);
        CHECK(d["status"]["availableReplicas"] == 3);
        CHECK_FALSE(d["status"].contains("unavailableReplicas"));  // zero is omitted
        CHECK(condition(d, "Available")["status"] == "True");
        CHECK(condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable");
        CHECK(kubectl_done(d));

        auto rs = co_await c.get_json("/apis/apps/v1/namespaces/prod/replicasets?labelSelector=" +
                                      std::string("app%3Dapi"));
        CHECK(rs["kind"] == "ReplicaSetList");
        REQUIRE(rs["items"].size() == 2);
        for (const auto& item : rs["items"]) {
            CHECK_FALSE(item.contains("kind"));  // list items carry no kind
            CHECK(item["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]);
            CHECK(item["metadata"]["ownerReferences"][0]["controller"] == true);
            std::string hash = item["metadata"]["labels"]["pod-template-hash"];
            CHECK(item["metadata"]["name"] == "api-" + hash);
        }

        auto pods = co_await c.get_json(pods_path + "?labelSelector=app%3Dapi");
        REQUIRE(pods["items"].size() == 3);
        for (const auto& p : pods["items"]) {
            CHECK(p["status"]["phase"] == "Running");
            CHECK(p["status"]["containerStatuses"][0]["ready"] == true);
            CHECK(p["status"]["containerStatuses"][0]["state"].contains("running"));
            CHECK(p["spec"]["nodeName"].get<std::string>().rfind("node-", 0) == 0);
        }
        auto by_name = co_await c.get_json(pods_path + "?fieldSelector=metadata.name%3D" +
                                           pods["items"][0]["metadata"]["name"].get<std::string>());
        CHECK(by_name["items"].size() == 1);

        auto missing = co_await c.call(c.request(http_method::get, deployments_path + "/nope"));
        CHECK(missing.status == 404);
        CHECK(json::parse(missing.body)["message"] == "deployments.apps \"nope\" not found");
    }());
}

TEST_CASE("fake_kubernetes: an image patch rolls out and a watch sees it finish", "[loopback]") {
    cluster c;
    auto d = api_deployment("reg.example/api:1.4.1");
    // 72 s at speed 50, far past the test's 10 s: each step must follow the last at once, not
    // wait for the deadline to wake the controller.
    d.progress_deadline_seconds = 3600;
    REQUIRE(c.k8s->add_deployment(d));
    run_test(
        c.ioc,
        [&]() -> asio::awaitable<void> {
            auto list =
                co_await c.get_json(deployments_path + "?fieldSelector=metadata.name%3Dapi");
            std::string rv = list["metadata"]["resourceVersion"];
            auto patched =
                co_await c.call(c.request(http_method::patch, deployments_path + "/api",
                                          image_patch("reg.example/api:1.4.2"), image_patch_type));
            REQUIRE(patched.status == 200);
            auto after = json::parse(patched.body);
            CHECK(after["metadata"]["generation"] == 2);
            // Strategic merge kept the container's other fields.
            CHECK(after["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] ==
                  8080);

            auto watch = co_await open_lines(
                c, deployments_path +
                       "?watch=1&fieldSelector=metadata.name%3Dapi&resourceVersion=" + rv +
                       "&allowWatchBookmarks=true&timeoutSeconds=30");
            bool saw_in_progress = false;
            int events = 0;
            json last;
            for (;;) {
                auto line = co_await watch.next();
                REQUIRE(line);
                REQUIRE(*line);
                auto event = json::parse(**line);
                if (event["type"] == "BOOKMARK") {
                    continue;
                }
                CHECK(event["type"] == "MODIFIED");
                ++events;
                last = event["object"];
                if (kubectl_done(last)) {
                    break;
                }
                saw_in_progress = true;
            }
            CHECK(saw_in_progress);
            CHECK(events >= 3);
            CHECK(last["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2");
            CHECK(condition(last, "Progressing")["reason"] == "NewReplicaSetAvailable");
            CHECK(last["status"]["updatedReplicas"] == 3);

            auto rs = co_await c.get_json("/apis/apps/v1/namespaces/prod/replicasets");
            REQUIRE(rs["items"].size() == 2);
            int zero = 0;
            for (const auto& item : rs["items"]) {
                zero += item["spec"]["replicas"] == 0 ? 1 : 0;
            }
            CHECK(zero == 1);
            auto events_list = co_await c.get_json(
                "/api/v1/namespaces/prod/events?fieldSelector=involvedObject.name%3Dapi");
            bool scaled = false;
            for (const auto& e : events_list["items"]) {
                scaled = scaled || e["reason"] == "ScalingReplicaSet";
            }
            CHECK(scaled);
        }(),
        10s);
}

TEST_CASE("fake_kubernetes: a kubectl-style rollback reuses the old ReplicaSet", "[loopback]") {
    cluster c;
    auto seed = api_deployment("reg.example/api:1.4.2", 1);
    seed.previous_images = {"reg.example/api:1.4.1"};
    REQUIRE(c.k8s->add_deployment(seed));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto rs = co_await c.get_json(
            "/apis/apps/v1/namespaces/prod/replicasets?labelSelector=app%3Dapi");
        json old;
        for (const auto& item : rs["items"]) {
            if (item["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1") {
                old = item;
            }
        }
        REQUIRE_FALSE(old.is_null());
        json tmpl = old["spec"]["template"];
        tmpl["metadata"]["labels"].erase("pod-template-hash");
        json ops = json::array({{{"op", "replace"}, {"path", "/spec/template"}, {"value", tmpl}},
                                {{"op", "replace"},
                                 {"path", "/metadata/annotations"},
                                 {"value", {{"deployment.kubernetes.io/revision", "2"}}}}});
        auto r = co_await c.call(c.request(http_method::patch, deployments_path + "/api",
                                           ops.dump(), "application/json-patch+json"));
        REQUIRE(r.status == 200);
    }());
    REQUIRE(c.wait([&] {
        return c.k8s->rollout_complete("prod", "api") && c.k8s->revision("prod", "api") == 3;
    }));
    auto names = c.k8s->names("replicasets", "prod");
    CHECK(names.size() == 2);  // no third ReplicaSet: the old one came back
    bool found = false;
    for (const auto& n : names) {
        auto rs = c.object("replicasets", "prod", n);
        if (rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3") {
            found = true;
            CHECK(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] ==
                  "1");
            CHECK(rs["spec"]["template"]["spec"]["containers"][0]["image"] ==
                  "reg.example/api:1.4.1");
        }
    }
    CHECK(found);
}

TEST_CASE("fake_kubernetes: an ImagePullBackOff rollout stalls past its deadline", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.4.1", 1)));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto r = co_await c.call(c.request(http_method::patch, deployments_path + "/api",
                                           image_patch("reg.example/api:1.4.2-imagepull"),
                                           image_patch_type));
        REQUIRE(r.status == 200);
    }());
    auto waiting_reason = [&](const std::string& pod) {
        auto p = c.object("pods", "prod", pod);
        return p["status"].value("containerStatuses", json::array()).empty()
                   ? std::string()
                   : p["status"]["containerStatuses"][0]["state"]
                         .value("waiting", json::object())
                         .value("reason", "");
    };
    std::string new_pod;
    REQUIRE(c.wait([&] {
        for (const auto& p : c.k8s->pods_of("prod", "api")) {
            auto reason = waiting_reason(p);
            if (reason == "ErrImagePull" || reason == "ImagePullBackOff") {
                new_pod = p;
                return true;
            }
        }
        return false;
    }));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto pod = co_await c.get_json(pods_path + "/" + new_pod);
        CHECK(pod["status"]["phase"] == "Pending");
        auto waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"];
        // The pull fails, then backs off, as the kubelet's do; which one this read sees depends
        // on the machine's speed.
        if (waiting.value("reason", "") == "ErrImagePull") {
            CHECK(contains(waiting.value("message", ""), "not found"));
        } else {
            CHECK(waiting.value("reason", "") == "ImagePullBackOff");
            CHECK(contains(waiting.value("message", ""), "Back-off pulling image"));
        }
        auto events = co_await c.get_json("/api/v1/namespaces/prod/events?fieldSelector=" +
                                          std::string("involvedObject.name%3D") + new_pod);
        bool failed = false;
        for (const auto& e : events["items"]) {
            failed = failed || (e["type"] == "Warning" && e["reason"] == "Failed");
        }
        CHECK(failed);
        auto logs =
            co_await c.call(c.request(http_method::get, pods_path + "/" + new_pod + "/log"));
        CHECK(logs.status == 400);
        CHECK(contains(logs.body, "is waiting to start: trying and failing to pull image"));
    }());
    // 30 simulated seconds at speed 50.
    REQUIRE(c.wait([&] { return c.k8s->rollout_failed("prod", "api"); }, 5s));
    auto d = c.object("deployments", "prod", "api");
    CHECK(condition(d, "Progressing")["status"] == "False");
    CHECK(condition(d, "Progressing")["reason"] == "ProgressDeadlineExceeded");
    CHECK(d["status"]["availableReplicas"] == 1);  // the old pod still serves
    CHECK(d["status"]["replicas"] == 2);
    CHECK(d["status"]["updatedReplicas"] == 1);
    CHECK_FALSE(kubectl_done(d));
}

TEST_CASE("fake_kubernetes: crash loops restart with previous logs", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:2.0-crash", 1)));
    auto pods = c.k8s->pods_of("prod", "api");
    REQUIRE(pods.size() == 1);
    std::string pod = pods.front();
    // Back-offs are 10 s then 20 s simulated: 0.2 s and 0.4 s here.
    REQUIRE(c.wait(
        [&] {
            auto p = c.object("pods", "prod", pod);
            return p["status"].contains("containerStatuses") &&
                   p["status"]["containerStatuses"][0]["restartCount"].get<int>() >= 2;
        },
        5s));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto p = co_await c.get_json(pods_path + "/" + pod);
        auto status = p["status"]["containerStatuses"][0];
        CHECK(status["lastState"]["terminated"]["exitCode"] == 1);
        CHECK(status["lastState"]["terminated"]["reason"] == "Error");
        CHECK(status["ready"] == false);

        auto previous = co_await c.call(
            c.request(http_method::get, pods_path + "/" + pod + "/log?previous=true"));
        REQUIRE(previous.status == 200);
        CHECK(contains(previous.body, "Traceback (most recent call last):"));
        CHECK(contains(previous.body, "ConnectionError: could not connect"));

        auto tail = co_await c.call(
            c.request(http_method::get, pods_path + "/" + pod + "/log?previous=true&tailLines=2"));
        CHECK(std::count(tail.body.begin(), tail.body.end(), '\n') == 2);
        CHECK(contains(tail.body, "ConnectionError"));

        auto stamped = co_await c.call(c.request(
            http_method::get, pods_path + "/" + pod + "/log?previous=true&timestamps=true"));
        // RFC3339Nano: 2024-05-01T10:00:00.123456789Z, then a space.
        REQUIRE(stamped.body.size() > 31);
        CHECK(stamped.body[4] == '-');
        CHECK(stamped.body[29] == 'Z');
        CHECK(stamped.body[30] == ' ');

        auto limited = co_await c.call(c.request(
            http_method::get, pods_path + "/" + pod + "/log?previous=true&limitBytes=10"));
        CHECK(limited.body.size() == 10);

        auto events =
            co_await c.get_json("/api/v1/namespaces/prod/events?fieldSelector=" +
                                std::string("involvedObject.name%3D") + pod + ",reason%3DBackOff");
        REQUIRE_FALSE(events["items"].empty());
        CHECK(contains(events["items"][0]["message"].get<std::string>(),
                       "Back-off restarting failed container api"));
    }());
    CHECK_FALSE(c.k8s->rollout_complete("prod", "api"));
}

TEST_CASE("fake_kubernetes: pending and OOM-killed pods show their reasons", "[loopback]") {
    cluster c;
    auto pending = api_deployment("reg.example/api:pending", 1);
    pending.name = "batch";
    REQUIRE(c.k8s->add_deployment(pending));
    auto oom = api_deployment("reg.example/api:oom", 1);
    oom.name = "cache";
    REQUIRE(c.k8s->add_deployment(oom));
    std::string batch_pod = c.k8s->pods_of("prod", "batch").at(0);
    std::string cache_pod = c.k8s->pods_of("prod", "cache").at(0);
    REQUIRE(c.wait([&] {
        auto p = c.object("pods", "prod", cache_pod);
        return p["status"].contains("containerStatuses") &&
               p["status"]["containerStatuses"][0]["lastState"].contains("terminated") &&
               !c.object("pods", "prod", batch_pod)["status"]
                    .value("conditions", json::array())
                    .empty();
    }));
    auto cache = c.object("pods", "prod", cache_pod);
    auto terminated = cache["status"]["containerStatuses"][0]["lastState"]["terminated"];
    CHECK(terminated["reason"] == "OOMKilled");
    CHECK(terminated["exitCode"] == 137);

    auto batch = c.object("pods", "prod", batch_pod);
    CHECK(batch["status"]["phase"] == "Pending");
    CHECK(batch["status"]["conditions"][0]["type"] == "PodScheduled");
    CHECK(batch["status"]["conditions"][0]["reason"] == "Unschedulable");
    CHECK_FALSE(batch["spec"].contains("nodeName"));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto events = co_await c.get_json("/api/v1/namespaces/prod/events?fieldSelector=" +
                                          std::string("involvedObject.name%3D") + batch_pod);
        bool scheduling = false;
        for (const auto& e : events["items"]) {
            if (e["reason"] == "FailedScheduling") {
                scheduling = true;
                CHECK(e["type"] == "Warning");
                CHECK(e["source"]["component"] == "default-scheduler");
                CHECK(contains(e["message"].get<std::string>(),
                               "0/3 nodes are available: 3 Insufficient cpu."));
            }
        }
        CHECK(scheduling);
    }());
}

TEST_CASE("fake_kubernetes: a watch from a compacted resourceVersion gets 410", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.0", 1)));
    auto old_rv = std::to_string(c.k8s->resource_version());
    c.k8s->compact();
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        {
            auto watch = co_await open_lines(c, deployments_path + "?watch=true&resourceVersion=1");
            auto line = co_await watch.next();
            REQUIRE(line);
            REQUIRE(*line);
            auto event = json::parse(**line);
            CHECK(event["type"] == "ERROR");
            CHECK(event["object"]["kind"] == "Status");
            CHECK(event["object"]["code"] == 410);
            CHECK(contains(event["object"]["message"].get<std::string>(),
                           "too old resource version: 1"));
            auto end = co_await watch.next();
            REQUIRE(end);
            CHECK_FALSE(*end);  // the stream ends after the error
        }
        // From the current resourceVersion the watch works; the knob forces one more 410.
        c.k8s->force_watch_gone();
        {
            auto watch =
                co_await open_lines(c, deployments_path + "?watch=1&resourceVersion=" + old_rv);
            auto line = co_await watch.next();
            REQUIRE(line);
            REQUIRE(*line);
            CHECK(json::parse(**line)["object"]["code"] == 410);
        }
        {
            auto watch = co_await open_lines(
                c, deployments_path + "?watch=1&timeoutSeconds=1&resourceVersion=" + old_rv);
            c.k8s->end_watches();
            auto end = co_await watch.next();
            REQUIRE(end);
            CHECK_FALSE(*end);
        }
    }());
}

TEST_CASE("fake_kubernetes: watches send bookmarks, end on timeout and can be dropped",
          "[loopback]") {
    cluster c([](auto& o) { o.bookmark_interval = 2; });  // 40 ms at speed 50
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.0", 1)));
    run_test(
        c.ioc,
        [&]() -> asio::awaitable<void> {
            {
                // No resourceVersion: synthetic ADDED first, then bookmarks until the timeout.
                auto watch = co_await open_lines(
                    c, deployments_path + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=1");
                auto first = co_await watch.next();
                REQUIRE(first);
                REQUIRE(*first);
                CHECK(json::parse(**first)["type"] == "ADDED");
                int bookmarks = 0;
                for (;;) {
                    auto line = co_await watch.next();
                    REQUIRE(line);
                    if (!*line) {
                        break;  // timeoutSeconds ended the stream cleanly
                    }
                    auto event = json::parse(**line);
                    CHECK(event["type"] == "BOOKMARK");
                    CHECK(event["object"]["kind"] == "Deployment");
                    CHECK_FALSE(
                        event["object"]["metadata"]["resourceVersion"].get<std::string>().empty());
                    ++bookmarks;
                }
                CHECK(bookmarks >= 2);
            }
            {
                auto watch = co_await open_lines(c, deployments_path + "?watch=1&resourceVersion=" +
                                                        std::to_string(c.k8s->resource_version()));
                CHECK(c.k8s->open_watches() == 1);
                c.k8s->drop_watches();
                auto line = co_await watch.next();
                CHECK_FALSE(line);  // reset, not a clean end
            }
        }(),
        8s);
}

TEST_CASE("fake_kubernetes: a PUT with a stale resourceVersion gets 409", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.0", 1)));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto d = co_await c.get_json(deployments_path + "/api");
        auto bump = co_await c.call(
            c.request(http_method::patch, deployments_path + "/api",
                      R"({"metadata":{"annotations":{"kubernetes.io/change-cause":"test"}}})",
                      "application/merge-patch+json"));
        REQUIRE(bump.status == 200);
        CHECK(json::parse(bump.body)["metadata"]["generation"] == d["metadata"]["generation"]);

        d["spec"]["replicas"] = 2;
        auto stale =
            co_await c.call(c.request(http_method::put, deployments_path + "/api", d.dump()));
        CHECK(stale.status == 409);
        auto status = json::parse(stale.body);
        CHECK(status["reason"] == "Conflict");
        CHECK(status["message"] ==
              "Operation cannot be fulfilled on deployments.apps \"api\": the object has been "
              "modified; please apply your changes to the latest version and try again");

        auto fresh = co_await c.get_json(deployments_path + "/api");
        fresh["spec"]["replicas"] = 2;
        auto ok =
            co_await c.call(c.request(http_method::put, deployments_path + "/api", fresh.dump()));
        CHECK(ok.status == 200);

        // A patch carrying a stale resourceVersion conflicts too.
        json conditional = {{"metadata", {{"resourceVersion", d["metadata"]["resourceVersion"]}}},
                            {"spec", {{"replicas", 3}}}};
        auto patch = co_await c.call(c.request(http_method::patch, deployments_path + "/api",
                                               conditional.dump(), "application/merge-patch+json"));
        CHECK(patch.status == 409);
    }());
    REQUIRE(c.wait([&] { return c.k8s->pods_of("prod", "api").size() == 2; }));
}

TEST_CASE("fake_kubernetes: injected 429, 500, delays and drops", "[loopback]") {
    cluster c;
    c.k8s->inject_too_many_requests(1, "/apis/apps");
    c.k8s->inject_status(503, 1, "/api/v1/namespaces/prod/pods");
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto throttled = co_await c.call(c.request(http_method::get, deployments_path));
        CHECK(throttled.status == 429);
        CHECK(throttled.header("Retry-After") == "1");
        auto status = json::parse(throttled.body);
        CHECK(status["reason"] == "TooManyRequests");
        CHECK(status["details"]["retryAfterSeconds"] == 1);
        auto r5 = co_await c.call(c.request(http_method::get, deployments_path));
        CHECK(r5.status == 200);

        auto unavailable = co_await c.call(c.request(http_method::get, pods_path));
        CHECK(unavailable.status == 503);
        CHECK(json::parse(unavailable.body)["reason"] == "ServiceUnavailable");

        c.client->close_idle();  // a fresh connection, so the client cannot blame the pool
        c.k8s->inject_drop(1);
        auto dropped = co_await c.client->send(c.request(http_method::get, pods_path));
        CHECK_FALSE(dropped);

        c.k8s->inject_delay(300ms, 1);
        auto start = std::chrono::steady_clock::now();
        auto r6 = co_await c.call(c.request(http_method::get, pods_path));
        CHECK(r6.status == 200);
        CHECK(std::chrono::steady_clock::now() - start >= 300ms);
    }());
    CHECK(c.k8s->count_requests("GET", deployments_path) == 2);
}

TEST_CASE("fake_kubernetes: forbidden verbs get the RBAC 403", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.0", 1)));
    c.k8s->forbid(deployments_path, "patch");
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto denied =
            co_await c.call(c.request(http_method::patch, deployments_path + "/api",
                                      image_patch("reg.example/api:1.1"), image_patch_type));
        CHECK(denied.status == 403);
        auto status = json::parse(denied.body);
        CHECK(status["reason"] == "Forbidden");
        CHECK(status["message"] ==
              "deployments.apps \"api\" is forbidden: User \"system:serviceaccount:ops:tugboat\" "
              "cannot patch resource \"deployments\" in API group \"apps\" in the namespace "
              "\"prod\"");
        auto r7 = co_await c.call(c.request(http_method::get, deployments_path + "/api"));
        CHECK(r7.status == 200);

        json review = {{"apiVersion", "authorization.k8s.io/v1"},
                       {"kind", "SelfSubjectAccessReview"},
                       {"spec",
                        {{"resourceAttributes",
                          {{"namespace", "prod"},
                           {"verb", "patch"},
                           {"group", "apps"},
                           {"resource", "deployments"},
                           {"name", "api"}}}}}};
        auto r = co_await c.call(c.request(http_method::post,
                                           "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                           review.dump()));
        CHECK(r.status == 201);
        CHECK(json::parse(r.body)["status"]["allowed"] == false);
        review["spec"]["resourceAttributes"]["verb"] = "get";
        r = co_await c.call(c.request(http_method::post,
                                      "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                      review.dump()));
        CHECK(json::parse(r.body)["status"]["allowed"] == true);
    }());
    CHECK(c.k8s->revision("prod", "api") == 1);
}

TEST_CASE("fake_kubernetes: RBAC bindings are created, listed and deleted", "[loopback]") {
    cluster c;
    const std::string path = "/apis/rbac.authorization.k8s.io/v1/namespaces/prod/rolebindings";
    json binding = {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "RoleBinding"},
        {"metadata",
         {{"name", "tugboat-grant-42"},
          {"labels", {{"app.kubernetes.io/managed-by", "tugboat"}}},
          {"annotations", {{"tugboat.dev/expires-at", "2030-01-01T00:00:00Z"}}}}},
        {"subjects",
         {{{"kind", "User"},
           {"name", "oidc:alice@example.com"},
           {"apiGroup", "rbac.authorization.k8s.io"}}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "view"}}}};
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto created = co_await c.call(c.request(http_method::post, path, binding.dump()));
        REQUIRE(created.status == 201);
        CHECK(json::parse(created.body)["metadata"]["namespace"] == "prod");

        auto again = co_await c.call(c.request(http_method::post, path, binding.dump()));
        CHECK(again.status == 409);
        CHECK(json::parse(again.body)["reason"] == "AlreadyExists");
        CHECK(json::parse(again.body)["message"] ==
              "rolebindings.rbac.authorization.k8s.io \"tugboat-grant-42\" already exists");

        auto listed =
            co_await c.get_json(path + "?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtugboat");
        REQUIRE(listed["items"].size() == 1);
        auto none = co_await c.get_json(path + "?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dx");
        CHECK(none["items"].empty());

        json changed = json::parse(created.body);
        changed["roleRef"]["name"] = "admin";
        auto immutable = co_await c.call(
            c.request(http_method::put, path + "/tugboat-grant-42", changed.dump()));
        CHECK(immutable.status == 422);
        CHECK(contains(immutable.body, "cannot change roleRef"));

        json cluster_binding = binding;
        cluster_binding["kind"] = "ClusterRoleBinding";
        auto cluster_created = co_await c.call(
            c.request(http_method::post, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                      cluster_binding.dump()));
        CHECK(cluster_created.status == 201);

        auto deleted = co_await c.call(c.request(http_method::delete_, path + "/tugboat-grant-42"));
        CHECK(deleted.status == 200);
        CHECK(json::parse(deleted.body)["status"] == "Success");
        auto gone = co_await c.call(c.request(http_method::delete_, path + "/tugboat-grant-42"));
        CHECK(gone.status == 404);
        CHECK(json::parse(gone.body)["reason"] == "NotFound");
    }());
    auto bindings = c.k8s->bindings();
    REQUIRE(bindings.size() == 1);
    CHECK(bindings[0].kind == "ClusterRoleBinding");
    CHECK(bindings[0].role_name == "view");
    CHECK(bindings[0].subjects == std::vector<std::string>{"User:oidc:alice@example.com"});
    CHECK(c.k8s->bindings_created() == 2);
    CHECK(c.k8s->bindings_deleted() == 1);
}

TEST_CASE("fake_kubernetes: lists paginate with limit and continue", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.0", 5)));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        std::vector<std::string> names;
        std::string token;
        std::string first_rv;
        int pages = 0;
        do {
            std::string path = pods_path + "?limit=2";
            if (!token.empty()) {
                path += "&continue=" + token;
            }
            auto page = co_await c.get_json(path);
            ++pages;
            if (first_rv.empty()) {
                first_rv = page["metadata"]["resourceVersion"];
            }
            CHECK(page["metadata"]["resourceVersion"] == first_rv);
            for (const auto& p : page["items"]) {
                names.push_back(p["metadata"]["name"]);
            }
            token = page["metadata"].value("continue", "");
        } while (!token.empty());
        CHECK(pages == 3);
        CHECK(names.size() == 5);
        CHECK(std::is_sorted(names.begin(), names.end()));

        auto page = co_await c.get_json(pods_path + "?limit=2");
        c.k8s->compact();
        auto expired = co_await c.call(c.request(
            http_method::get,
            pods_path + "?limit=2&continue=" + page["metadata"]["continue"].get<std::string>()));
        CHECK(expired.status == 410);
        CHECK(json::parse(expired.body)["reason"] == "Expired");
    }());
}

TEST_CASE("fake_kubernetes: logs honour tailLines, sinceSeconds and follow", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.0", 1)));
    std::string pod = c.k8s->pods_of("prod", "api").at(0);
    REQUIRE(c.k8s->set_pod_logs("prod", pod, "api", {"one", "two", "three"}));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto all = co_await c.call(c.request(http_method::get, pods_path + "/" + pod + "/log"));
        CHECK(all.status == 200);
        CHECK(all.body == "one\ntwo\nthree\n");
        auto tail = co_await c.call(c.request(
            http_method::get, pods_path + "/" + pod + "/log?tailLines=1&sinceSeconds=60"));
        CHECK(tail.body == "three\n");
        auto none = co_await c.call(
            c.request(http_method::get, pods_path + "/" + pod + "/log?previous=true"));
        CHECK(none.status == 400);
        CHECK(contains(none.body, "previous terminated container \\\"api\\\""));
        auto wrong = co_await c.call(
            c.request(http_method::get, pods_path + "/" + pod + "/log?container=sidecar"));
        CHECK(wrong.status == 400);

        auto follow =
            co_await open_lines(c, pods_path + "/" + pod + "/log?follow=true&tailLines=1");
        auto first = co_await follow.next();
        REQUIRE(first);
        CHECK(*first == std::optional<std::string>("three"));
        c.k8s->append_pod_log("prod", pod, "api", "four");
        auto second = co_await follow.next();
        REQUIRE(second);
        CHECK(*second == std::optional<std::string>("four"));
    }());
    REQUIRE(c.k8s->generate_pod_logs("prod", pod, "api", 10000, 100));
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto big = co_await c.call(c.request(http_method::get, pods_path + "/" + pod + "/log"));
        CHECK(std::count(big.body.begin(), big.body.end(), '\n') == 10000);
        CHECK(big.body.size() >= 10000 * 100);
    }());
}

TEST_CASE("fake_kubernetes: the cluster goes down and comes back on the same port", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.0", 1)));
    auto port = c.k8s->port();
    c.k8s->stop();
    CHECK_FALSE(c.k8s->running());
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto down = co_await c.client->send(c.request(http_method::get, deployments_path));
        REQUIRE_FALSE(down);
        CHECK(down.error().code == core::errc::unavailable);
    }());
    REQUIRE(c.k8s->restart());
    CHECK(c.k8s->port() == port);
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto d = co_await c.get_json(deployments_path + "/api");
        CHECK(d["metadata"]["name"] == "api");
    }());
    CHECK(c.k8s->count_requests("GET", deployments_path) >= 1);
}

TEST_CASE("fake_kubernetes: deleting a pod gets it replaced", "[loopback]") {
    cluster c;
    REQUIRE(c.k8s->add_deployment(api_deployment("reg.example/api:1.0", 2)));
    std::string victim = c.k8s->pods_of("prod", "api").at(0);
    run_test(c.ioc, [&]() -> asio::awaitable<void> {
        auto r = co_await c.call(c.request(http_method::delete_, pods_path + "/" + victim));
        CHECK(r.status == 200);
        CHECK(json::parse(r.body)["kind"] == "Pod");
    }());
    REQUIRE(c.wait([&] {
        auto pods = c.k8s->pods_of("prod", "api");
        return pods.size() == 2 && std::find(pods.begin(), pods.end(), victim) == pods.end() &&
               c.k8s->rollout_complete("prod", "api");
    }));
}

TEST_CASE("fake_kubernetes: the kubeconfig it writes works with the bot's loader", "[loopback]") {
    cluster c;
    for (bool by_cert : {false, true}) {
        std::string text =
            sandbox::make_kubeconfig({c.k8s->kubeconfig_entry("onprem", by_cert, "prod"),
                                      c.k8s->kubeconfig_entry("cloud", false)});
        auto access = integrations::parse_kubeconfig(text, "/tmp/kubeconfig", "onprem");
        INFO(text);
        REQUIRE(access);
        CHECK(access->server == c.k8s->base_url());
        CHECK(access->namespace_name == "prod");
        auto client = c.make_client(access->tls);
        run_test(c.ioc, [&]() -> asio::awaitable<void> {
            auto r = c.request(http_method::get, "/api/v1/namespaces/prod");
            r.headers.clear();
            if (!access->token.empty()) {
                r.headers.emplace_back("Authorization", "Bearer " + access->token);
            }
            auto response = co_await client.send(r);
            REQUIRE(response);
            CHECK(response->status == 200);
        }());
    }
}
