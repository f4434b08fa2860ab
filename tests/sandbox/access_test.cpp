// /access end to end in the sandbox: the real bot driven through the fake Slack, creating and
// removing RoleBindings on the fake clusters over HTTPS. Access grants run on a clock `speed`
// times faster than real time, so a 30-minute grant ends within seconds.

#include "core/clock.hpp"
#include "sandbox/console_view.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/sandbox_app.hpp"
#include "storage/audit_repository.hpp"
#include "storage/database.hpp"
#include "storage/grant_repository.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/sandbox_world.hpp"

#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace tugboat;
using namespace std::chrono_literals;

namespace {

constexpr double access_speed = 300;  // 30 simulated minutes = 6 real seconds

struct access_world : test::sandbox_world {
    explicit access_world(std::function<void(core::config&)> adjust = {})
        : sandbox_world("access", std::move(adjust), 0, access_speed) {}

    /// Whether some answer shown only to one person (errors included) holds `text`.
    bool said(std::string_view text) {
        for (const char* user : {"U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"}) {
            for (const auto& e : app->slack().ephemerals_for(user)) {
                if (e.text.find(text) != std::string::npos ||
                    e.blocks_json.find(text) != std::string::npos) {
                    return true;
                }
            }
        }
        return false;
    }
    std::string all_said() {
        std::string out;
        for (const char* user : {"U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"}) {
            for (const auto& e : app->slack().ephemerals_for(user)) {
                out += e.text + "\n";
            }
        }
        return out;
    }

    std::vector<sandbox::slack_message> roots(std::string_view channel) {
        auto all = app->slack().messages(channel);
        std::erase_if(all, [](const sandbox::slack_message& m) { return m.is_reply(); });
        return all;
    }
    /// Everything in the newest approvals card's thread, the card itself first.
    std::string approvals_thread() {
        auto r = roots("C0APPROVALS");
        REQUIRE_FALSE(r.empty());
        std::string out;
        for (const auto& m : app->slack().thread("C0APPROVALS", r.front().ts)) {
            out += m.text + "\n" + m.blocks_json + "\n";
        }
        return out;
    }
    std::string dms(std::string_view user) {
        std::string out;
        for (const auto& m : app->slack().messages(app->slack().dm_channel(std::string(user)))) {
            out += m.text + "\n" + m.blocks_json + "\n";
        }
        return out;
    }
    std::vector<sandbox::fake_binding> bindings(const std::string& cluster) {
        return app->cluster(cluster).bindings();
    }
    bool has_binding(const std::string& cluster, std::string_view name) {
        auto all = bindings(cluster);
        return std::any_of(all.begin(), all.end(), [&](const auto& b) { return b.name == name; });
    }
    /// Types the request `args` as alice and bob's approval; the binding then exists.
    void granted(std::string args) {
        REQUIRE(script({"/access request " + args, "@bob: access.approve g-000001"}) == 0);
        REQUIRE(has_binding("cloud", "tugboat-g-000001"));
    }
    /// Waits (real time) until `done()` holds; false after `timeout`.
    bool wait(std::function<bool()> done, std::chrono::milliseconds timeout = 20s) {
        return test::run_test(
            ioc,
            [&]() -> boost::asio::awaitable<bool> {
                auto deadline = std::chrono::steady_clock::now() + timeout;
                boost::asio::steady_timer t(ioc);
                while (!done()) {
                    if (std::chrono::steady_clock::now() > deadline) {
                        co_return false;
                    }
                    t.expires_after(10ms);
                    co_await t.async_wait(boost::asio::use_awaitable);
                }
                co_return true;
            }(),
            timeout + 5s);
    }
    storage::grant_record grant(std::int64_t id) {
        core::logger log(sink_, core::log_level::off);
        auto db = storage::database::open((options.work_dir / "tugboat.db").string(), log);
        REQUIRE(db);
        storage::grant_repository repo(*db);
        auto g = repo.get(id);
        REQUIRE(g);
        REQUIRE(g->has_value());
        return **g;
    }
    std::vector<std::string> audit_actions(std::string_view subject) {
        core::logger log(sink_, core::log_level::off);
        auto db = storage::database::open((options.work_dir / "tugboat.db").string(), log);
        REQUIRE(db);
        storage::audit_repository audit(*db);
        storage::audit_query q;
        q.subject = std::string(subject);
        q.limit = 500;
        auto entries = audit.query(q);
        REQUIRE(entries);
        std::vector<std::string> out;
        for (auto it = entries->rbegin(); it != entries->rend(); ++it) {
            out.push_back(it->action);
        }
        return out;
    }
    bool audited(std::string_view subject, std::string_view action) {
        auto all = audit_actions(subject);
        return std::find(all.begin(), all.end(), action) != all.end();
    }

private:
    core::string_sink sink_;
};

/// prod lives on both fake clusters, so every grant there has two bindings.
void prod_on_both_clusters(core::config& c) {
    for (auto& e : c.environments) {
        if (e.name == "prod") {
            e.clusters = {"cloud", "onprem"};
        }
    }
}

bool late_by_at_most(const storage::grant_record& g, std::chrono::seconds limit) {
    return g.expires_at && g.revoked_at && *g.revoked_at - *g.expires_at <= limit;
}

}  // namespace

TEST_CASE("access: request, approval in the thread, bindings in every cluster",
          "[loopback][access]") {
    access_world w(prod_on_both_clusters);
    w.app->cluster("onprem").add_namespace("prod");
    REQUIRE(w.script({"/access request view prod 2h \"investigate INC-123\""}) == 0);
    CHECK(w.said("waiting for approval"));
    auto card = w.roots("C0APPROVALS");
    REQUIRE(card.size() == 1);
    CHECK(card[0].blocks_json.find("access.approve") != std::string::npos);
    CHECK(card[0].blocks_json.find("investigate INC-123") != std::string::npos);
    CHECK(w.dms("U0ALICE").find("waiting for approval") != std::string::npos);
    // The DM links to the card itself (a permalink), not just to the channel.
    CHECK(w.dms("U0ALICE").find(".slack.com/archives/") != std::string::npos);
    CHECK(w.dms("U0ALICE").find("|its card>") != std::string::npos);
    CHECK(w.bindings("cloud").empty());

    REQUIRE(w.script({"@bob: access.approve g-000001"}) == 0);
    for (const char* cluster : {"cloud", "onprem"}) {
        auto all = w.bindings(cluster);
        REQUIRE(all.size() == 1);
        const auto& b = all[0];
        CHECK(b.kind == "RoleBinding");
        CHECK(b.ns == "prod");
        CHECK(b.name == "tugboat-g-000001");
        CHECK(b.role_kind == "ClusterRole");
        CHECK(b.role_name == "view");
        CHECK(b.subjects == std::vector<std::string>{"User:oidc:alice@example.com"});
        CHECK(b.labels.at("app.kubernetes.io/managed-by") == "tugboat");
        CHECK(b.labels.at("tugboat.io/grant") == "g-000001");
        CHECK(b.labels.at("tugboat.io/requester") == "U0ALICE");
        CHECK(b.annotations.at("tugboat.io/approvers") == "U0BOB");
        CHECK_FALSE(b.annotations.at("tugboat.io/expires-at").empty());
    }
    // The card is edited in place (no buttons any more) and the thread tells each step.
    auto root = w.roots("C0APPROVALS").at(0);
    CHECK_FALSE(root.edits.empty());
    CHECK(root.text.find("active") != std::string::npos);
    CHECK(root.blocks_json.find("access.approve") == std::string::npos);
    auto thread = w.approvals_thread();
    CHECK(thread.find("Approved by <@U0BOB>") != std::string::npos);
    CHECK(thread.find("Granted to <@U0ALICE>") != std::string::npos);
    CHECK(w.dms("U0ALICE").find("is active until") != std::string::npos);
    // The clock started when access was granted: 2 h from then.
    auto g = w.grant(1);
    CHECK(g.state == storage::grant_state::active);
    REQUIRE(g.granted_at);
    REQUIRE(g.expires_at);
    CHECK(*g.expires_at - *g.granted_at == 2h);
    CHECK(*g.granted_at > g.created_at);
    auto actions = w.audit_actions("g-000001");
    CHECK(actions == std::vector<std::string>{"grant.requested", "grant.approved",
                                              "grant.binding_created", "grant.binding_created",
                                              "grant.granted"});
}

TEST_CASE("access: a denial needs a reason and is told to the requester", "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access request view prod 1h \"look at orders\"",
                      "@bob: /access deny g-000001"}) == 0);
    CHECK(w.said("Say why"));
    REQUIRE(w.script({"@bob: /access deny g-000001 --reason \"use logs first\""}) == 0);
    CHECK(w.grant(1).state == storage::grant_state::rejected);
    CHECK(w.approvals_thread().find("Denied by <@U0BOB>: use logs first") != std::string::npos);
    CHECK(w.dms("U0ALICE").find("use logs first") != std::string::npos);
    CHECK(w.bindings("cloud").empty());
    CHECK(w.audited("g-000001", "grant.denied"));
    // The card lost its buttons: a late approval is refused.
    REQUIRE(w.script({"@dave: /access approve g-000001"}) == 0);
    CHECK(w.said("is not waiting for a decision any more (it is rejected)"));
}

TEST_CASE("access: Deny opens a form asking for the reason", "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access request view prod 1h \"look at orders\"",
                      "@bob: access.deny g-000001"}) == 0);
    const auto& views = w.app->slack().views();
    REQUIRE(views.size() == 1);
    CHECK(views[0].json.find("access.deny_reason") != std::string::npos);
    auto sent = w.app->slack().deliver_view_submission(
        "U0BOB", views[0].id, R"({"reason":{"reason":{"type":"plain_text_input","value":"no"}}})");
    REQUIRE(sent);
    CHECK(w.wait([&] { return w.grant(1).state == storage::grant_state::rejected; }));
    CHECK(w.grant(1).failure_reason == "no");
}

TEST_CASE("access: the requester cannot approve and non-approvers are refused",
          "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access request view prod 1h \"INC-9\"", "access.approve g-000001",
                      "@carol: access.approve g-000001"}) == 0);
    CHECK(w.said("You asked for `g-000001`, so someone else has to approve it"));
    CHECK(w.said("can approve `view` requests"));
    CHECK(w.grant(1).state == storage::grant_state::pending);
    CHECK(w.bindings("cloud").empty());
}

TEST_CASE("access: double clicks and two approvers at once make one grant", "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access request view prod 1h \"INC-7\""}) == 0);
    test::run_test(
        w.ioc,
        [&]() -> boost::asio::awaitable<void> {
            w.app->type("@bob: access.approve g-000001");
            w.app->type("@bob: access.approve g-000001");
            w.app->type("@dave: access.approve g-000001");
            auto settled = co_await w.app->settle();
            REQUIRE(settled);
        }(),
        60s);
    CHECK(w.said("You already approved `g-000001`"));
    CHECK(w.said("Request `g-000001` is not waiting for a decision any more"));
    CHECK(w.app->cluster("cloud").bindings_created() == 1);
    CHECK(w.bindings("cloud").size() == 1);
    auto g = w.grant(1);
    CHECK(g.state == storage::grant_state::active);
    CHECK(g.approvals.size() == 1);
    auto actions = w.audit_actions("g-000001");
    CHECK(std::count(actions.begin(), actions.end(), "grant.granted") == 1);
}

TEST_CASE("access: N of M approvals are needed", "[loopback][access]") {
    access_world w([](core::config& c) {
        for (auto& r : c.access.roles) {
            if (r.name == "view") {
                r.approvals_required = 2;
            }
        }
    });
    REQUIRE(w.script({"/access request view prod 1h \"INC-2\"", "@bob: access.approve g-000001"}) ==
            0);
    CHECK(w.grant(1).state == storage::grant_state::pending);
    CHECK(w.bindings("cloud").empty());
    CHECK(w.approvals_thread().find("(1/2)") != std::string::npos);
    REQUIRE(w.script({"@dave: access.approve g-000001"}) == 0);
    CHECK(w.grant(1).state == storage::grant_state::active);
    REQUIRE(w.bindings("cloud").size() == 1);
    CHECK(w.bindings("cloud")[0].annotations.at("tugboat.io/approvers") == "U0BOB,U0DAVE");
}

TEST_CASE("access: the grant is revoked on time and the requester reminded before",
          "[loopback][access]") {
    access_world w;
    w.granted("view prod 15m \"INC-3\"");
    CHECK(w.wait([&] { return !w.has_binding("cloud", "tugboat-g-000001"); }));
    auto g = w.grant(1);
    CHECK(g.state == storage::grant_state::expired);
    CHECK(late_by_at_most(g, 30s));
    CHECK(w.dms("U0ALICE").find("access.extend") != std::string::npos);  // the reminder
    // The DM and the card's edit go out after the binding is gone.
    CHECK(w.wait([&] { return w.dms("U0ALICE").find("has ended") != std::string::npos; }));
    CHECK(w.audited("g-000001", "grant.reminded"));
    CHECK(w.audited("g-000001", "grant.expired"));
    CHECK(w.wait(
        [&] { return w.roots("C0APPROVALS").at(0).text.find("expired") != std::string::npos; }));
}

TEST_CASE("access: a restart during a grant still revokes it on time", "[loopback][access]") {
    access_world w;
    w.granted("view prod 30m \"INC-4\"");
    auto restarted = test::run_test(w.ioc, w.app->restart_bot(), 30s);
    REQUIRE(restarted);
    CHECK(w.has_binding("cloud", "tugboat-g-000001"));
    CHECK(w.wait([&] { return !w.has_binding("cloud", "tugboat-g-000001"); }));
    auto g = w.grant(1);
    CHECK(g.state == storage::grant_state::expired);
    CHECK(late_by_at_most(g, 30s));
}

TEST_CASE("access: a cluster down at revoke time is retried until done and reported",
          "[loopback][access]") {
    access_world w;
    w.granted("view prod 15m \"INC-5\"");
    w.app->cluster("cloud").stop();
    CHECK(w.wait([&] { return w.grant(1).state == storage::grant_state::expired; }));
    CHECK(w.wait([&] {
        return w.approvals_thread().find("Could not remove the binding") != std::string::npos;
    }));
    CHECK(w.has_binding("cloud", "tugboat-g-000001"));  // nobody could remove it yet
    REQUIRE(w.app->cluster("cloud").restart());
    CHECK(w.wait([&] { return !w.has_binding("cloud", "tugboat-g-000001"); }));
    CHECK(w.wait([&] {
        return w.approvals_thread().find("removed from `cloud` after retrying") !=
               std::string::npos;
    }));
    CHECK(w.audited("g-000001", "grant.removal_recovered"));
}

TEST_CASE("access: the reconciler removes orphans and restores deleted active bindings",
          "[loopback][access]") {
    access_world w;
    w.granted("view prod 8h \"INC-6\"");
    sandbox::fake_binding orphan;
    orphan.ns = "prod";
    orphan.name = "tugboat-g-000099";
    orphan.role_name = "admin";
    orphan.subjects = {"User:oidc:mallory@example.com"};
    orphan.labels = {{"app.kubernetes.io/managed-by", "tugboat"}, {"tugboat.io/grant", "g-000099"}};
    w.app->cluster("cloud").add_binding(orphan);
    // Someone else's binding without Tugboat's label is not Tugboat's business.
    sandbox::fake_binding foreign = orphan;
    foreign.name = "team-admins";
    foreign.labels.clear();
    w.app->cluster("cloud").add_binding(foreign);
    REQUIRE(w.app->cluster("cloud").remove_binding("prod", "tugboat-g-000001"));

    CHECK(w.wait([&] { return !w.has_binding("cloud", "tugboat-g-000099"); }));
    CHECK(w.wait([&] { return w.has_binding("cloud", "tugboat-g-000001"); }));
    CHECK(w.has_binding("cloud", "team-admins"));
    CHECK(w.wait([&] {
        std::string all;
        for (const auto& m : w.roots("C0APPROVALS")) {
            all += m.text;
        }
        return all.find("unknown to Tugboat") != std::string::npos &&
               all.find("restored the missing binding of `g-000001`") != std::string::npos;
    }));
    CHECK(w.audited("g-000001", "grant.reconcile_restored"));
    CHECK(w.audited("tugboat-g-000099", "grant.reconcile_removed"));
}

TEST_CASE("access: invalid duration, role or environment get clear errors", "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access request veiw prod 1h \"x\"", "/access request view prdo 1h \"x\"",
                      "/access request view prod 2x \"x\"", "/access request view prod 9h \"x\"",
                      "/access request view prod 1h"}) == 0);
    CHECK(w.said("Did you mean `view`"));
    INFO(w.all_said());
    CHECK(w.said("There is no environment `prdo`. Did you mean `prod`"));
    CHECK(w.said("isn't a duration"));
    CHECK(w.said("can be granted for at most 8h"));
    CHECK(w.said("`view` needs a reason"));
    CHECK(w.roots("C0APPROVALS").empty());
}

TEST_CASE("access: revoke ends a grant early and list shows it", "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access request view prod 2h \"INC-8\"", "@bob: access.approve g-000001",
                      "/access list"}) == 0);
    CHECK(w.said("`g-000001` *view* in *prod* namespace `prod` — active until"));
    REQUIRE(w.script({"@carol: /access revoke g-000001"}) == 0);
    CHECK(w.said("Only <@U0ALICE> (who asked)"));
    REQUIRE(w.script({"/access revoke g-000001"}) == 0);
    CHECK_FALSE(w.has_binding("cloud", "tugboat-g-000001"));
    CHECK(w.grant(1).state == storage::grant_state::revoked);
    REQUIRE(w.script({"@carol: /access list --all", "@bob: /access list --all"}) == 0);
    CHECK(w.said("Only approvers and access admins see everyone's access"));
    CHECK(w.said("Nobody has access or a pending request right now."));
}

TEST_CASE("access: extension needs approval unless the role allows self-extension",
          "[loopback][access]") {
    access_world w([](core::config& c) {
        for (auto& r : c.access.roles) {
            if (r.name == "logs") {
                r.self_extend = true;
            }
        }
    });
    REQUIRE(w.script({"/access request view prod 1h \"INC-10\"", "@bob: access.approve g-000001",
                      "/access extend g-000001 1h"}) == 0);
    CHECK(w.said("Asked the approvers to extend `g-000001` by 1h"));
    auto before = *w.grant(1).expires_at;
    REQUIRE(w.script({"@bob: access.approve_extension g-000001"}) == 0);
    CHECK(*w.grant(1).expires_at - before == 1h);
    CHECK(w.audited("g-000001", "grant.extended"));
    // logs needs no approval and may be extended by the requester alone, up to its 4h.
    REQUIRE(w.script(
                {"/access request logs dev 1h \"flaky test\"", "/access extend g-000002 5h"}) == 0);
    auto g = w.grant(2);
    CHECK(g.state == storage::grant_state::active);
    CHECK(*g.expires_at - *g.granted_at == 4h);
}

TEST_CASE("access: break-glass is granted at once, broadcast and flagged", "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access request break-glass prod 30m --break-glass"}) == 0);
    CHECK(w.said("needs a reason"));
    REQUIRE(w.script({"/access request break-glass prod \"db on fire\" --for 30m --break-glass"}) ==
            0);
    INFO(w.all_said());
    CHECK(w.has_binding("cloud", "tugboat-g-000001"));
    CHECK(w.approvals_thread().find("Break-glass") != std::string::npos);
    bool broadcast = false;
    for (const auto& m : w.app->slack().messages("C0APPROVALS")) {
        broadcast =
            broadcast || (m.reply_broadcast && m.text.find("Break-glass") != std::string::npos);
    }
    CHECK(broadcast);
    CHECK(w.audited("g-000001", "grant.break_glass"));
    // Without the flag it waits for approval like any other role.
    REQUIRE(w.script({"/access request view prod 30m \"x\" --break-glass"}) == 0);
    CHECK(w.said("Role `view` has no break-glass"));
}

TEST_CASE("access: the audit log is for admins", "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access request view prod 1h \"INC-11\"", "@bob: access.approve g-000001",
                      "/access audit", "@bob: /access audit view"}) == 0);
    CHECK(w.said("`access audit` is for admins"));
    CHECK(w.said("grant.approved by <@U0BOB>"));
}

TEST_CASE("access: typed without arguments it opens the request form", "[loopback][access]") {
    access_world w;
    REQUIRE(w.script({"/access"}) == 0);
    const auto& views = w.app->slack().views();
    REQUIRE(views.size() == 1);
    CHECK(views[0].json.find("access.request") != std::string::npos);
    auto sent = w.app->slack().deliver_view_submission(
        "U0ALICE", views[0].id,
        R"({"role":{"role":{"type":"plain_text_input","value":"view"}},)"
        R"("target":{"target":{"type":"plain_text_input","value":"prod"}},)"
        R"("duration":{"duration":{"type":"plain_text_input","value":"1h"}},)"
        R"("reason":{"reason":{"type":"plain_text_input","value":"from the form"}}})");
    REQUIRE(sent);
    CHECK(w.wait([&] { return w.roots("C0APPROVALS").size() == 1; }));
    CHECK(w.grant(1).reason == "from the form");
}

TEST_CASE("access: Extend in the reminder asks the approvers again", "[loopback][access]") {
    access_world w;
    w.granted("view prod 15m \"INC-12\"");
    auto first_end = *w.grant(1).expires_at;
    CHECK(w.wait([&] { return w.dms("U0ALICE").find("access.extend") != std::string::npos; }));
    REQUIRE(w.script({"access.extend g-000001"}) == 0);
    CHECK(w.said("Asked the approvers to extend `g-000001` by 15m"));
    REQUIRE(w.script({"access.approve_extension g-000001"}) == 0);
    CHECK(w.said("You asked for this extension, so someone else has to approve it"));
    REQUIRE(w.script({"@bob: access.approve_extension g-000001"}) == 0);
    auto g = w.grant(1);
    CHECK(*g.expires_at - first_end == 15min);
    REQUIRE(w.bindings("cloud").size() == 1);
    CHECK(w.approvals_thread().find("Extended by 15m") != std::string::npos);
}

TEST_CASE("access: a cluster-wide role gets a ClusterRoleBinding", "[loopback][access]") {
    access_world w([](core::config& c) {
        core::access_role_config r;
        r.name = "node-reader";
        r.role = "system:node-reader";
        r.scope = "cluster";
        r.approvals_required = 0;
        r.reason_required = false;
        r.allow_escalation = true;
        c.access.roles.push_back(r);
    });
    REQUIRE(w.script({"/access request node-reader prod/payments 1h",
                      "/access request node-reader prod 1h"}) == 0);
    CHECK(w.said("is granted for the whole cluster; leave out the namespace"));
    auto all = w.bindings("cloud");
    REQUIRE(all.size() == 1);
    CHECK(all[0].kind == "ClusterRoleBinding");
    CHECK(all[0].ns.empty());
    CHECK(all[0].role_name == "system:node-reader");
    REQUIRE(w.script({"/access revoke g-000001"}) == 0);
    CHECK(w.bindings("cloud").empty());
}

TEST_CASE("access: a hanging cluster delays no other grant's end", "[loopback][access][slow]") {
    access_world w;
    w.granted("view prod 15m \"INC-13\"");
    // view is approved automatically in dev (onprem); it ends a minute after the prod one.
    REQUIRE(w.script({"/access request view dev 16m \"INC-13\""}) == 0);
    REQUIRE(w.has_binding("onprem", "tugboat-g-000002"));
    w.app->cluster("cloud").inject_delay(5s, -1);
    CHECK(w.wait([&] { return !w.has_binding("onprem", "tugboat-g-000002"); }));
    CHECK(late_by_at_most(w.grant(2), 30s));
    CHECK(w.grant(1).state == storage::grant_state::expired);
    w.app->cluster("cloud").clear_faults();
    CHECK(w.wait([&] { return !w.has_binding("cloud", "tugboat-g-000001"); }));
}
