#include "faq/cli.hpp"

#include "core/clock.hpp"
#include "core/config.hpp"
#include "faq/indexer.hpp"
#include "faq/search.hpp"
#include "storage/database.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <ostream>

namespace tugboat::faq {

const char* cli_usage() {
    return R"(Usage: tugboat faq search --docs DIR [--docs DIR]... [--json] [--threshold X]
                          [--words FILE] "question"
  Indexes the Markdown files under each DIR (in memory; nothing is written) and prints the
  ranked sections: file path relative to DIR, heading, score, coverage, and whether the bot
  would answer or decline. --threshold is faq.answer_threshold (default 0.4), --words is
  faq.words (default /usr/share/dict/words; "" for none).
)";
}

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    if (args.empty() || args[0] != "search") {
        err << (args.empty() ? "tugboat faq: say what to do.\n"
                             : "tugboat faq: unknown subcommand `" + args[0] + "`.\n")
            << cli_usage();
        return 2;
    }
    std::vector<std::string> folders;
    std::string question;
    bool json = false;
    search_options options{.words = core::faq_config{}.words};
    for (std::size_t i = 1; i < args.size(); ++i) {
        const auto& a = args[i];
        if ((a == "--docs" || a == "--threshold" || a == "--words") && i + 1 >= args.size()) {
            err << "tugboat faq search: " << a << " needs a value.\n" << cli_usage();
            return 2;
        }
        if (a == "--docs") {
            folders.push_back(args[++i]);
        } else if (a == "--words") {
            options.words = args[++i];
        } else if (a == "--json") {
            json = true;
        } else if (a == "--threshold") {
            try {
                options.answer_threshold = std::stod(args[++i]);
            } catch (const std::exception&) {
                err << "tugboat faq search: --threshold takes a number such as 0.4.\n";
                return 2;
            }
        } else if (a.starts_with("--")) {
            err << "tugboat faq search: unknown option `" << a << "`.\n" << cli_usage();
            return 2;
        } else {
            question += question.empty() ? a : " " + a;
        }
    }
    if (folders.empty() || question.empty()) {
        err << "tugboat faq search: give --docs DIR and a question, e.g. tugboat faq search "
               "--docs docs/faq \"how do I roll back?\"\n";
        return 2;
    }

    auto db = storage::database::open(":memory:", core::null_logger());
    if (!db) {
        err << "tugboat faq search: " << db.error().message << "\n";
        return 1;
    }
    core::system_clock clock;
    indexer idx(*db, folders, clock);
    auto synced = idx.sync();
    if (!synced) {
        err << "tugboat faq search: " << synced.error().message << "\n";
        return 1;
    }
    for (const auto& p : synced->problems) {
        err << "warning: " << p << "\n";
    }
    if (synced->files == 0) {
        err << "tugboat faq search: no .md files under "
            << fmt::format("{}", fmt::join(folders, ", ")) << "; check the --docs folders.\n";
        return 1;
    }
    searcher search(*db, options);
    auto r = search.search(question);
    if (!r) {
        err << "tugboat faq search: " << r.error().message << "\n";
        return 1;
    }
    const char* decision = r->answer ? "answer" : "decline";
    if (json) {
        nlohmann::json j{{"question", question},
                         {"terms", r->terms},
                         {"term_weights", nlohmann::json::array()},
                         {"decision", decision},
                         {"confidence", r->confidence},
                         {"threshold", options.answer_threshold},
                         {"evidence", nlohmann::json::object()},
                         {"tools_unmentioned", r->tools_unmentioned},
                         {"hits", nlohmann::json::array()}};
        const auto evidence = r->evidence.values();
        for (std::size_t i = 0; i < evidence.size(); ++i) {
            j["evidence"][std::string{answer_evidence::names[i]}] = evidence[i];
        }
        for (const auto& t : r->term_stats) {
            j["term_weights"].push_back(t.weight);
        }
        for (const auto& h : r->hits) {
            j["hits"].push_back({{"path", h.relative_path},
                                 {"anchor", h.anchor},
                                 {"title", h.title},
                                 {"heading", h.heading_path},
                                 {"score", h.score},
                                 {"coverage", h.coverage},
                                 {"url", h.url},
                                 {"snippet", h.snippet}});
        }
        out << j.dump(2) << "\n";
        return 0;
    }
    out << fmt::format("{} (confidence {:.2f}, threshold {:.2f}; searched: {})\n", decision,
                       r->confidence, options.answer_threshold, fmt::join(r->terms, ", "));
    if (!r->tools_unmentioned.empty()) {
        out << fmt::format("names other tools the first section does not mention: {}\n",
                           fmt::join(r->tools_unmentioned, ", "));
    }
    int n = 0;
    for (const auto& h : r->hits) {
        out << fmt::format("{}. {}  {}  score {:.4g}  coverage {:.0f} %\n   {}\n", ++n, h.ref(),
                           h.heading_path, h.score, 100 * h.coverage, h.snippet);
    }
    if (r->hits.empty()) {
        out << "no section matches any of the words.\n";
    }
    return 0;
}

}  // namespace tugboat::faq
