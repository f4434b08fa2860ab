#include "integrations/jenkins_wire.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace tugboat;
using namespace tugboat::integrations;

TEST_CASE("jenkins_wire: job paths become job/…/job/… URLs", "[unit][jenkins]") {
    CHECK(job_url_path("payments-api").value() == "job/payments-api/");
    CHECK(job_url_path("team/payments-api").value() == "job/team/job/payments-api/");
    CHECK(job_url_path("/a/b/c/").value() == "job/a/job/b/job/c/");
    CHECK(job_url_path("team/payments api").value() == "job/team/job/payments%20api/");
    // A multibranch branch "feature/x" is the job "feature%2Fx": double-encoded in URLs.
    CHECK(job_url_path("repo/feature%2Fx").value() == "job/repo/job/feature%252Fx/");

    auto empty = job_url_path("");
    REQUIRE_FALSE(empty);
    CHECK(empty.error().code == core::errc::invalid_argument);
    auto gap = job_url_path("team//x");
    REQUIRE_FALSE(gap);
    CHECK(gap.error().message.find("\"team//x\"") != std::string::npos);
}

TEST_CASE("jenkins_wire: form bodies and tree queries", "[unit][jenkins]") {
    CHECK(form_encode({}) == "");
    CHECK(form_encode({{"VERSION", "1.4.2"}, {"NOTE", "a b&c=d/é"}}) ==
          "NOTE=a%20b%26c%3Dd%2F%C3%A9&VERSION=1.4.2");
    CHECK(tree_query("builds[number,url]{0,5}") == "tree=builds%5Bnumber%2Curl%5D%7B0%2C5%7D");
}

TEST_CASE("jenkins_wire: queue ids from Location", "[unit][jenkins]") {
    CHECK(queue_id_from_location("https://ci.example/queue/item/123/") == 123);
    CHECK(queue_id_from_location("https://ci.example/jenkins/queue/item/7") == 7);
    CHECK_FALSE(queue_id_from_location("https://ci.example/job/x/"));
    CHECK_FALSE(queue_id_from_location("https://ci.example/queue/item//"));
    CHECK_FALSE(queue_id_from_location("https://ci.example/queue/item/12a/"));
    CHECK_FALSE(queue_id_from_location(""));
}

TEST_CASE("jenkins_wire: HTML and console text", "[unit][jenkins]") {
    CHECK(html_unescape("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; &#x41; &#233;") ==
          "a & b <c> \"d\" 'e' A é");
    CHECK(html_unescape("AT&T &unknown; & alone") == "AT&T &unknown; & alone");
    CHECK(html_to_text("<span class=\"timestamp\">12:00</span> x &lt; y\n") == "12:00 x < y\n");
    CHECK(strip_ansi("\x1b[31merror\x1b[0m: \x1b[1;32mok\x1b[m done") == "error: ok done");

    CHECK(last_lines("a\nb\nc\n", 2) == "b\nc\n");
    CHECK(last_lines("a\nb\nc", 2) == "b\nc");
    CHECK(last_lines("a\nb\n", 5) == "a\nb\n");
    CHECK(last_lines("a\nb\n", 0) == "");
    CHECK(last_lines("", 3) == "");
}

TEST_CASE("jenkins_wire: error page summaries", "[unit][jenkins]") {
    std::string jetty =
        "<html><head><title>Error 500 Server Error</title></head><body><h2>HTTP ERROR 500</h2>"
        "<table><tr><th>MESSAGE:</th><td>Illegal choice for parameter ENV: qa &amp; more</td>"
        "</tr></table></body></html>";
    CHECK(error_page_summary(jetty) == "Illegal choice for parameter ENV: qa & more");
    CHECK(error_page_summary("<html><head><title>Jenkins [Jenkins]</title></head></html>") ==
          "Jenkins [Jenkins]");
    CHECK(error_page_summary("<html><head><script>x()</script></head><body>\n\n Oops!\n "
                             "<p>A problem occurred.</p></body></html>") ==
          "Oops! A problem occurred.");
    CHECK(error_page_summary(std::string(300, 'x'), 10) == "xxxxxxxxxx…");
    CHECK(error_page_summary("") == "");
}
