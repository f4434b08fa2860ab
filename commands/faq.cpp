#include "commands/faq.hpp"

#include "core/text.hpp"
#include "storage/faq_repository.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>

namespace tugboat::commands {

namespace {

command_spec make() {
    command_spec ask{
        .name = "ask",
        .summary = "Ask a question; the answer comes from the team's docs.",
        .args = {{.name = "question",
                  .required = true,
                  .rest = true,
                  .help = "your question in plain words"}},
        .examples = {"faq how do I restart a pod", "faq why is my pod pending"},
    };
    command_spec reload{
        .name = "reload",
        .summary = "Read the docs folders again now instead of waiting.",
        .examples = {"faq reload"},
        .access = access_level::admin,
    };
    command_spec stats{
        .name = "stats",
        .summary = "Show what gets asked and how often answers helped.",
        .examples = {"faq stats"},
    };
    command_spec unlearn{
        .name = "unlearn",
        .summary = "Take back what one answered question taught the search.",
        .args = {{.name = "number",
                  .help = "the question's number, as `/faq stats` lists what was learned"}},
        .examples = {"faq unlearn 42"},
        .access = access_level::admin,
    };
    command_spec teach{
        .name = "teach",
        .summary = "Say which page answers a question: the asker gets it, the bot learns it.",
        .args = {{.name = "number",
                  .help = "the question's number, on its post in the help channel or in "
                          "`/faq stats`"},
                 {.name = "page",
                  .help = "the page as `/faq` shows it (`path.md#anchor`) or its link; `none` "
                          "when the docs do not answer it"}},
        .examples = {"faq teach 42 deploys/rollback.md#with-the-bot", "faq teach 42 none"},
        .access = access_level::admin,
    };
    return command_spec{
        .name = "faq",
        .summary = "Ask questions about our platform and tools.",
        .subcommands = {std::move(ask), std::move(reload), std::move(stats), std::move(unlearn),
                        std::move(teach)},
        .default_subcommand = "ask",
    };
}

}  // namespace

const command_spec& faq_spec() {
    static const command_spec spec = make();
    return spec;
}

namespace {

faq::search_options search_options_of(const core::config& cfg) {
    return {.answer_threshold = cfg.faq.answer_threshold,
            .extra_glossary = cfg.faq.glossary,
            .extra_tools = cfg.faq.other_tools,
            .words = cfg.faq.words};
}

std::string link_of(const faq::search_hit& h) {
    if (!h.url.empty()) {
        auto target = h.anchor.empty() ? h.url : h.url + "#" + h.anchor;
        return fmt::format("<{}|{}>", target, escape_mrkdwn(h.title));
    }
    return fmt::format("`{}`", h.ref());
}

/// A button value's number: an ask id is ≥ 1, a match's index ≥ 0.
std::optional<std::int64_t> number_of(std::string_view value, std::int64_t least) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc{} || end != value.data() + value.size() || n < least) {
        return std::nullopt;
    }
    return n;
}

/// "Title › Heading", or the title alone for a page's top section.
std::string title_and_heading(const faq::search_hit& h) {
    return h.heading_path == h.title ? h.title : fmt::format("{} › {}", h.title, h.heading_path);
}

/// What an answer shows besides its first hit, or all the closest pages of a decline: what the
/// asker may pick as the one that answered them.
std::vector<storage::faq_shown> others_shown(const faq::search_result& r) {
    std::vector<storage::faq_shown> out;
    for (std::size_t i = r.answer ? 1 : 0; i < r.hits.size(); ++i) {
        const auto& h = r.hits[i];
        out.push_back({h.ref(), title_and_heading(h)});
    }
    return out;
}

/// One button per match someone can say answered the question: value "ask:index". `action`:
/// faq.pick for the asker, faq.answered for the platform team in the help channel.
std::vector<button> pick_buttons(const std::vector<storage::faq_shown>& shown, std::int64_t ask,
                                 std::string_view action = "faq.pick") {
    std::vector<button> out;
    for (std::size_t i = 0; i < shown.size(); ++i) {
        // A long label is cut to Slack's 75 characters where the message is rendered.
        out.push_back(button{"✓ " + shown[i].label, std::string{action},
                             fmt::format("{}:{}", ask, i), button_style::normal, std::nullopt});
    }
    return out;
}

/// A section as the answers show it: title › heading, snippet and link.
std::string page_text(const faq::search_hit& h) {
    return fmt::format("*{}*\n{}\n{}", escape_mrkdwn(title_and_heading(h)),
                       escape_mrkdwn(h.snippet), link_of(h));
}

/// A link as Slack sends it, <url> or <url|label>, as the url; anything else as it is.
std::string_view unwrap_link(std::string_view text) {
    if (text.size() > 2 && text.front() == '<' && text.back() == '>') {
        text = text.substr(1, text.size() - 2);
        return text.substr(0, text.find('|'));
    }
    return text;
}

/// What in a message may name a page of the docs, in order: links (Slack sends them as <url> or
/// <url|label>) and words ending in .md, with or without #anchor.
std::vector<std::string> page_references(std::string_view text) {
    std::vector<std::string> out;
    for (std::size_t at = 0; (at = text.find('<', at)) != std::string_view::npos;) {
        const auto end = text.find('>', at);
        if (end == std::string_view::npos) {
            break;
        }
        const auto link = unwrap_link(text.substr(at, end - at + 1));
        if (link.starts_with("http://") || link.starts_with("https://")) {
            out.emplace_back(link);
        }
        at = end;
    }
    for (std::size_t at = 0; at < text.size();) {
        const auto begin = text.find_first_not_of(" \t\n", at);
        if (begin == std::string_view::npos) {
            break;
        }
        at = std::min(text.find_first_of(" \t\n", begin), text.size());
        auto word = text.substr(begin, at - begin);
        while (!word.empty() && std::string_view{"`'\"(<"}.find(word.front()) != word.npos) {
            word.remove_prefix(1);
        }
        while (!word.empty() && std::string_view{"`'\").,;:>"}.find(word.back()) != word.npos) {
            word.remove_suffix(1);
        }
        const auto path = word.substr(0, word.find('#'));
        if (path.ends_with(".md") && !word.starts_with("http")) {  // links: above
            out.emplace_back(word);
        }
    }
    return out;
}

/// `text` as a Slack quote: every line after the first also starts with ">".
std::string quoted_lines(std::string_view text) {
    std::string out;
    for (char c : text) {
        out += c;
        if (c == '\n') {
            out += '>';
        }
    }
    return out;
}

/// The `number` argument of `/faq unlearn` and `/faq teach` (a leading # is fine); the error
/// says what it was and `how` to find the right one.
core::result<std::int64_t> question_number(const request& req, std::string_view how) {
    std::string typed;
    if (auto it = req.input.args.find("number"); it != req.input.args.end()) {
        typed = it->second;
    }
    if (auto id = number_of(typed.starts_with('#') ? typed.substr(1) : typed, 1)) {
        return *id;
    }
    return core::make_error(core::errc::invalid_argument,
                            fmt::format("`{}` is not a question number. {}", typed, how));
}

core::error unknown_ask(std::string_view value) {
    return core::make_error(core::errc::not_found,
                            fmt::format("I have no question number `{}`. Ask it again with "
                                        "`/faq <question>`.",
                                        value));
}

/// The question asked as number `id`; `typed` is what the person gave, for the error.
core::result<storage::faq_ask> numbered_ask(storage::database& db, std::int64_t id,
                                            std::string_view typed) {
    auto asked = storage::faq_repository(db).get_ask(id);
    if (!asked) {
        return std::move(asked).error();
    }
    if (!*asked) {
        return unknown_ask(typed);
    }
    return std::move(**asked);
}

}  // namespace

message faq_answer_message(const faq::search_result& result, std::int64_t ask_id,
                           bool can_escalate) {
    message m;
    const std::string id = std::to_string(ask_id);
    if (result.answer) {
        const auto& top = result.hits.front();
        m.text = fmt::format("From the docs: {}", top.title);
        m.add(section{page_text(top), {}});
        std::vector<std::string> others;
        for (std::size_t i = 1; i < result.hits.size(); ++i) {
            others.push_back(fmt::format("{} {}", escape_mrkdwn(result.hits[i].heading_path),
                                         link_of(result.hits[i])));
        }
        if (!others.empty()) {
            m.add(context{{"Also: " + fmt::format("{}", fmt::join(others, " · "))}});
        }
        m.add(context{{fmt::format("Confidence {:.0f} %. Did this answer your question?",
                                   100 * result.confidence)}});
        m.add(actions{{button{"👍 Yes", "faq.up", id, button_style::primary, std::nullopt},
                       button{"👎 No", "faq.down", id, button_style::normal, std::nullopt}}});
        return m;
    }
    m.text = "I'm not sure I know the answer to that.";
    std::string body = "I'm not sure I know the answer to that";
    if (result.known_gap) {  // only ever with hits: the gap is the first hit's
        body +=
            ": the platform team said the docs do not answer a question much like it. The "
            "closest pages I found:";
    } else if (!result.tools_unmentioned.empty()) {
        body += fmt::format(
            ": your question names {}, which the closest page does not mention. The closest "
            "pages I found:",
            list_names(result.tools_unmentioned, 8, false));
    } else {
        body += result.hits.empty() ? ": nothing in the docs matches your question."
                                    : ". The closest pages I found:";
    }
    m.add(section{body, {}});
    if (!result.hits.empty()) {
        std::vector<std::string> lines;
        for (const auto& h : result.hits) {
            lines.push_back(fmt::format("• {} {}", escape_mrkdwn(h.heading_path), link_of(h)));
        }
        m.add(section{fmt::format("{}", fmt::join(lines, "\n")), {}});
    }
    if (!result.hits.empty()) {
        m.add(context{{"Did one of them answer it? Say which, and I'll know next time."}});
        m.add(actions{pick_buttons(others_shown(result), ask_id)});
    }
    if (can_escalate) {
        m.add(actions{{button{"Ask the platform team", "faq.escalate", id, button_style::primary,
                              std::nullopt}}});
    } else {
        m.add(context{{"Ask in your team's help channel; no `faq.help_channel` is configured."}});
    }
    return m;
}

faq_command::faq_command(faq_deps deps)
    : d_(deps),
      indexer_(deps.db, deps.config.faq.folders, deps.clock),
      searcher_(deps.db, search_options_of(deps.config)) {}

core::result<faq::sync_report> faq_command::reload() {
    auto r = indexer_.sync();
    last_sync_ = d_.clock.now();
    if (!r) {
        // Part of the pass may have been written: nothing kept is trusted.
        searcher_.forget_statistics();
        d_.log.warn("faq_reindex_failed", {{"error", r.error().message}});
        return r;
    }
    searcher_.after_sync(*r);
    d_.log.info("faq_reindexed", {{"files", r->files},
                                  {"indexed", r->indexed},
                                  {"removed", r->removed},
                                  {"problems", static_cast<int>(r->problems.size())}});
    for (const auto& p : r->problems) {
        d_.log.warn("faq_reindex_problem", {{"problem", p}});
    }
    return r;
}

void faq_command::reload_now_and_then() {
    if (!last_sync_ || d_.clock.now() - *last_sync_ >= d_.config.faq.reindex_every) {
        (void)reload();
    }
}

boost::asio::awaitable<core::result<void>> faq_command::handle(request req) {
    const std::string sub = req.input.subcommand ? req.input.subcommand->name : "ask";
    if (sub == "reload") {
        auto r = reload();
        if (!r) {
            co_return r.error();
        }
        std::string text =
            fmt::format("Re-read {} files: {} new or changed, {} removed, {} unchanged.", r->files,
                        r->indexed, r->removed, r->files - r->indexed);
        for (const auto& p : r->problems) {
            text += "\n• " + escape_mrkdwn(p);
        }
        co_return co_await req.answer(plain_message(std::move(text)));
    }
    if (sub == "stats") {
        co_return co_await stats(std::move(req));
    }
    if (sub == "unlearn") {
        co_return co_await unlearn(std::move(req));
    }
    if (sub == "teach") {
        co_return co_await teach(std::move(req));
    }
    std::string question;
    if (auto it = req.input.args.find("question"); it != req.input.args.end()) {
        question = it->second;
    }
    co_return co_await ask(std::move(req), std::move(question));
}

boost::asio::awaitable<core::result<void>> faq_command::ask(request req, std::string question) {
    reload_now_and_then();
    storage::faq_repository repo(d_.db);
    // Mentioning the bot in the help thread of an escalated question answers that question.
    if (req.event.kind == event_kind::mention) {
        auto escalated = repo.escalated_at(req.event.channel, req.event.thread_ts);
        if (!escalated) {
            co_return escalated.error();
        }
        if (*escalated) {
            co_return co_await answer_in_help_thread(std::move(req), std::move(**escalated),
                                                     std::move(question));
        }
    }
    auto found = searcher_.search(question);
    if (!found) {
        co_return found.error();
    }
    // Punctuation, emoji or only words like "the" and "어떻게": nothing for the docs to match,
    // and nothing the platform team could answer either, so no ask is stored and none offered.
    if (found->terms.empty()) {
        co_return core::make_error(
            core::errc::invalid_argument,
            "There is nothing to search for in that: ask in words, naming what you need, e.g. "
            "`/faq how do I roll back a deploy` or `/faq 배포 롤백은 어떻게 하나요`.");
    }
    storage::faq_ask asked{
        .question = question,
        .user = req.event.actor,
        .channel = req.event.channel,
        .thread_ts = req.event.thread_ts.empty() ? req.event.message_ts : req.event.thread_ts,
        .section = found->answer ? found->hits.front().ref() : "",
        .answered = found->answer,
        .at = d_.clock.now(),
        .others = others_shown(*found)};
    if (auto r = repo.record_ask(asked); !r) {
        co_return r.error();
    }
    d_.log.info("faq_asked", {{"actor", req.event.actor},
                              {"answered", found->answer},
                              {"confidence", found->confidence},
                              {"section", asked.section}});
    const bool can_escalate = !req.config.channel_id(req.config.faq.help_channel).empty();
    co_return co_await req.answer(faq_answer_message(*found, asked.id, can_escalate));
}

boost::asio::awaitable<core::result<void>> faq_command::stats(request req) {
    storage::faq_repository repo(d_.db);
    auto counts = repo.ask_counts();
    auto unanswered = repo.recent_declined(10);
    auto down = repo.recent_feedback(10, true);
    auto lessons = repo.lesson_count();
    auto gaps = repo.lesson_count(true);
    auto learned = repo.recent_lessons(5);
    if (!counts || !unanswered || !down || !lessons || !gaps || !learned) {
        co_return core::make_error(core::errc::storage_error,
                                   "cannot read the FAQ statistics from the database; see the "
                                   "bot's log");
    }
    message m;
    m.add(header{"FAQ"});
    std::string summary = fmt::format(
        "{} questions asked, {} answered from the docs. {} confirmed answers (by their askers or "
        "the platform team) help rank questions like theirs.",
        counts->first, counts->second, *lessons);
    if (*gaps > 0) {
        summary += fmt::format(
            " {} questions the docs do not answer, by the team's word, make the bot decline "
            "questions like them.",
            *gaps);
    }
    m.add(section{std::move(summary), {}});
    std::vector<std::string> lines;
    for (const auto& q : *unanswered) {
        lines.push_back(fmt::format("• {}. {} (<@{}>)", q.id, escape_mrkdwn(q.question), q.user));
    }
    m.add(section{"*Not answered*\n" + (lines.empty() ? std::string{"none"}
                                                      : fmt::format("{}", fmt::join(lines, "\n"))),
                  {}});
    lines.clear();
    for (const auto& f : *down) {
        lines.push_back(fmt::format("• {} → `{}`", escape_mrkdwn(f.question), f.section));
    }
    m.add(section{
        "*Answers marked 👎*\n" +
            (lines.empty() ? std::string{"none"} : fmt::format("{}", fmt::join(lines, "\n"))),
        {}});
    lines.clear();
    for (const auto& l : *learned) {
        lines.push_back(fmt::format(
            "• {}. {} → {}", l.id, escape_mrkdwn(l.question),
            l.section.empty() ? std::string{"not in the docs"} : fmt::format("`{}`", l.section)));
    }
    m.add(section{
        "*Learned, newest first*\n" + (lines.empty() ? std::string{"nothing yet"}
                                                     : fmt::format("{}", fmt::join(lines, "\n"))),
        {}});
    m.add(
        context{{"Doc owners: add the missing answers to the docs folders; `/faq reload` "
                 "picks them up at once. A page that already answers one: an admin types "
                 "`/faq teach`, its number and the page (`none`: not in the docs). A wrong "
                 "lesson, or one marked not in the docs once they answer it: `/faq unlearn` and "
                 "its number."}});
    co_return co_await req.answer(std::move(m));
}

boost::asio::awaitable<core::result<void>> faq_command::unlearn(request req) {
    const auto id = question_number(req,
                                    "`/faq stats` lists what was learned, each with its "
                                    "number; then type `/faq unlearn 42`.");
    if (!id) {
        co_return id.error();
    }
    storage::faq_repository repo(d_.db);
    auto gone = repo.unteach(*id);
    if (!gone) {
        co_return gone.error();
    }
    if (!*gone) {
        co_return core::make_error(
            core::errc::not_found,
            fmt::format("Question {} taught nothing (or was unlearned already). `/faq stats` "
                        "lists what was learned.",
                        *id));
    }
    searcher_.forget_lessons();
    d_.log.info("faq_unlearned", {{"actor", req.event.actor}, {"ask", *id}});
    message m = plain_message(
        fmt::format("Unlearned question {}: the docs alone rank questions like it again.", *id));
    co_return co_await req.answer(std::move(m));
}

boost::asio::awaitable<core::result<void>> faq_command::escalate(request req, std::int64_t ask_id) {
    auto asked = numbered_ask(d_.db, ask_id, std::to_string(ask_id));
    if (!asked) {
        co_return asked.error();
    }
    const std::string channel = req.config.channel_id(req.config.faq.help_channel);
    if (channel.empty()) {
        co_return core::make_error(core::errc::config_error,
                                   "No help channel is configured (`faq.help_channel`); ask in "
                                   "your team's help channel yourself.");
    }
    const auto& a = *asked;
    // Once per question: a second press (or a teammate's) points at the thread that exists. The
    // set covers the press that arrives while the first post is on its way.
    if (!a.help_ts.empty() || escalating_.contains(a.id)) {
        const std::string link =
            a.help_ts.empty() ? std::string{} : req.chat.link({a.help_channel, a.help_ts});
        message m = plain_message(fmt::format(
            "This question is already with the platform team in <#{}>{}; the answer will come "
            "in that thread.",
            a.help_ts.empty() ? channel : a.help_channel,
            link.empty() ? std::string{} : fmt::format(" (<{}|the thread>)", link)));
        co_return co_await req.answer(std::move(m));
    }
    message question;
    question.text = fmt::format("Question {} from <@{}>: {}", a.id, a.user, a.question);
    question.add(section{fmt::format("*Question {}*: <@{}> asked, and the docs had no good "
                                     "answer:\n>{}",
                                     a.id, a.user, escape_mrkdwn(a.question)),
                         {}});
    if (!a.others.empty()) {
        question.add(context{{fmt::format(
            "Does one of these pages answer it? Press it: <@{}> gets the link, and questions "
            "like this find that page first from now on.",
            a.user)}});
        question.add(actions{pick_buttons(a.others, a.id, "faq.answered")});
    }
    question.add(context{{fmt::format(
        "Reply in this thread mentioning me: <@{0}> gets your answer, and the page of the docs it "
        "links to is learned; a reply that links none teaches that the docs do not answer it, "
        "and questions like it are declined with the offer to ask here. Or name the page: "
        "`/faq teach {1} path.md#anchor` (`/faq teach {1} none`: not in the docs). If the "
        "answer belongs in the docs, add it there so the bot knows it next time.",
        a.user, a.id)}});
    escalating_.insert(a.id);
    auto posted = co_await req.chat.post(channel, std::move(question));
    escalating_.erase(a.id);
    if (!posted) {
        co_return posted.error();
    }
    if (auto r =
            storage::faq_repository(d_.db).record_escalation(a.id, posted->channel, posted->ts);
        !r) {
        co_return r.error();
    }
    co_return co_await req.answer(plain_message(fmt::format(
        "I asked the platform team in <#{}>; the answer will come in that thread.", channel)));
}

boost::asio::awaitable<core::result<void>> faq_command::teach(request req) {
    const auto id = question_number(req,
                                    "Its post in the help channel and `/faq stats` show it; then "
                                    "type `/faq teach 42 path.md#anchor`.");
    if (!id) {
        co_return id.error();
    }
    auto asked = numbered_ask(d_.db, *id, std::to_string(*id));
    if (!asked) {
        co_return asked.error();
    }
    std::string page;
    if (auto it = req.input.args.find("page"); it != req.input.args.end()) {
        page = unwrap_link(it->second);
    }
    if (page != "none") {
        co_return co_await answered_by_team(std::move(req), std::move(*asked), std::move(page));
    }
    auto changed = learn_from_team(req, *asked, nullptr);
    if (!changed) {
        co_return changed.error();
    }
    message m = plain_message(
        *changed
            ? fmt::format("Taught: the docs do not answer “{}”. Questions like it are declined "
                          "from now on, with the offer to ask the platform team, instead of "
                          "getting the nearest page; `/faq unlearn {}` takes that back once the "
                          "docs answer it.",
                          escape_mrkdwn(asked->question), asked->id)
            : fmt::format("Question {} is already marked as not answered by the docs.", asked->id));
    co_return co_await req.answer(std::move(m));
}

core::result<bool> faq_command::learn_from_team(const request& req, const storage::faq_ask& a,
                                                const faq::search_hit* hit, bool replace) {
    storage::faq_repository repo(d_.db);
    // The platform team's word replaces whatever the ask taught before, the asker's included.
    const std::string section = hit ? hit->ref() : std::string{};
    auto changed = repo.teach(a, section, replace);
    if (!changed) {
        return changed;
    }
    if (hit) {
        storage::faq_feedback f{.question = a.question,
                                .section = section,
                                .vote = 1,
                                .user = req.event.actor,
                                .at = d_.clock.now()};
        if (auto r = repo.record_feedback(f); !r) {
            return std::move(r).error();
        }
    }
    searcher_.forget_lessons();
    d_.log.info(
        "faq_taught",
        {{"actor", req.event.actor}, {"ask", a.id}, {"section", section}, {"changed", *changed}});
    return changed;
}

boost::asio::awaitable<core::result<message_ref>> faq_command::tell_asker(const request& req,
                                                                          const storage::faq_ask& a,
                                                                          message m) {
    // Slash-command answers are not in a thread the bot can find again: those askers get a DM.
    // (No temporaries in the co_await operands: GCC 12 destroys some of them twice.)
    core::result<message_ref> told = core::make_error(core::errc::internal, "");
    if (a.thread_ts.empty()) {
        told = co_await req.chat.dm(a.user, std::move(m));
    } else {
        message_ref thread{a.channel, a.thread_ts};
        told = co_await req.chat.reply(std::move(thread), std::move(m), false);
    }
    if (!told) {
        d_.log.warn("faq_asker_not_told", {{"ask", a.id}, {"error", told.error().message}});
    }
    co_return told;
}

boost::asio::awaitable<core::result<void>> faq_command::answered_by_team(request req,
                                                                         storage::faq_ask a,
                                                                         std::string page) {
    auto found = faq::find_section(d_.db, page);
    if (!found) {
        co_return found.error();
    }
    if (!*found) {
        co_return core::make_error(
            core::errc::not_found,
            fmt::format("The docs have no page `{}`. Name it as the bot's answers do "
                        "(`path.md#anchor`, or the path alone for its top), or paste its link; "
                        "`/faq` and a few words of it show both.",
                        page));
    }
    const auto& hit = **found;
    auto changed = learn_from_team(req, a, &hit);
    if (!changed) {
        co_return changed.error();
    }
    if (!*changed) {
        message m = plain_message(fmt::format(
            "Question {} already finds `{}` first; nothing new to teach.", a.id, hit.ref()));
        co_return co_await req.answer(std::move(m));
    }
    message to_asker;
    to_asker.text = fmt::format("{} answered your question: {}", hit.title, a.question);
    to_asker.add(section{fmt::format("<@{}> says this page answers your question “{}”:\n{}",
                                     req.event.actor, escape_mrkdwn(a.question), page_text(hit)),
                         {}});
    auto told = co_await tell_asker(req, a, std::move(to_asker));
    // The rest of the team sees in the help thread that the question is answered.
    if (!a.help_ts.empty()) {
        message_ref help{a.help_channel, a.help_ts};
        message note = plain_message(
            fmt::format("<@{}> answered it with {}{}", req.event.actor, link_of(hit),
                        told ? fmt::format("; <@{}> got the page.", a.user) : std::string{"."}));
        if (auto r = co_await req.chat.reply(std::move(help), std::move(note), false); !r) {
            d_.log.warn("faq_help_thread_not_told", {{"ask", a.id}, {"error", r.error().message}});
        }
    }
    std::string said = fmt::format("Taught: questions like “{}” find `{}` first from now on.",
                                   escape_mrkdwn(a.question), hit.ref());
    said += told ? fmt::format(" I sent <@{}> the page.", a.user)
                 : fmt::format(" I could not send <@{}> the page ({}); please tell them.", a.user,
                               told.error().message);
    message m = plain_message(std::move(said));
    co_return co_await req.answer(std::move(m));
}

boost::asio::awaitable<core::result<void>> faq_command::answer_in_help_thread(request req,
                                                                              storage::faq_ask a,
                                                                              std::string text) {
    // The first reference to a page of the docs, as a link or as `path.md#anchor`, is the page
    // that answers it.
    std::optional<faq::search_hit> hit;
    for (const auto& ref : page_references(text)) {
        auto found = faq::find_section(d_.db, ref);
        if (!found) {
            co_return found.error();
        }
        if (*found) {
            hit = std::move(**found);
            break;
        }
    }
    // A reply that names no page is the team answering what the docs do not: questions like
    // it are declined from now on, unless the ask taught something already.
    auto changed = learn_from_team(req, a, hit ? &*hit : nullptr, hit.has_value());
    if (!changed) {
        co_return changed.error();
    }
    const bool learned = *changed;
    message to_asker;
    to_asker.text = fmt::format("The platform team answered your question: {}", a.question);
    std::string body = fmt::format("<@{}> answered your question “{}”:\n>{}", req.event.actor,
                                   escape_mrkdwn(a.question), quoted_lines(text));
    if (hit) {
        body += "\n" + page_text(*hit);
    }
    to_asker.add(section{std::move(body), {}});
    auto told = co_await tell_asker(req, a, std::move(to_asker));
    std::string said = told ? fmt::format("Sent to <@{}>.", a.user)
                            : fmt::format("I could not send this to <@{}> ({}); please tell them.",
                                          a.user, told.error().message);
    if (learned && hit) {
        said += fmt::format(" Questions like theirs find `{}` first from now on.", hit->ref());
    } else if (learned) {
        said += fmt::format(
            " It links no page of the docs, so questions like theirs are declined from now on, "
            "with the offer to ask the platform team; if a page does answer it, `/faq teach {} "
            "path.md#anchor`.",
            a.id);
    } else if (!hit) {
        said += fmt::format(
            " It links no page of the docs, so nothing was learned; `/faq teach {} "
            "path.md#anchor` teaches one.",
            a.id);
    }
    message m = plain_message(std::move(said));
    co_return co_await req.answer(std::move(m));
}

boost::asio::awaitable<core::result<void>> faq_command::handle_action(request req) {
    const auto& action = req.event.action_id;
    if (action != "faq.up" && action != "faq.down" && action != "faq.pick" &&
        action != "faq.answered" && action != "faq.escalate") {
        co_return core::make_error(core::errc::invalid_argument,
                                   fmt::format("Unknown FAQ button `{}`.", action));
    }
    // faq.pick's and faq.answered's value is "ask:index" (index into the ask's other matches);
    // the others' is the ask.
    std::string_view value = req.event.action_value;
    std::optional<std::size_t> picked;
    if (action == "faq.pick" || action == "faq.answered") {
        const auto colon = value.find(':');
        auto index =
            colon == std::string_view::npos ? std::nullopt : number_of(value.substr(colon + 1), 0);
        if (!index) {
            co_return unknown_ask(req.event.action_value);
        }
        picked = static_cast<std::size_t>(*index);
        value = value.substr(0, colon);
    }
    auto id = number_of(value, 1);
    if (!id) {
        co_return unknown_ask(req.event.action_value);
    }
    if (action == "faq.escalate") {
        co_return co_await escalate(std::move(req), *id);
    }
    storage::faq_repository repo(d_.db);
    auto asked = numbered_ask(d_.db, *id, req.event.action_value);
    if (!asked) {
        co_return asked.error();
    }
    if (picked && *picked >= asked->others.size()) {
        co_return unknown_ask(req.event.action_value);
    }
    const auto& a = *asked;
    if (action == "faq.answered") {
        co_return co_await answered_by_team(std::move(req), a, a.others[*picked].section);
    }
    const int vote = action == "faq.down" ? -1 : 1;
    storage::faq_feedback f{.question = a.question,
                            .section = picked ? a.others[*picked].section : a.section,
                            .vote = vote,
                            .user = req.event.actor,
                            .at = d_.clock.now()};
    if (auto r = repo.record_feedback(f); !r) {
        co_return r.error();
    }
    // Only the asker knows whether it answered their question; their last word is what the
    // search learns (a teammate's vote is feedback for the doc owners only).
    const bool asker = req.event.actor == a.user;
    if (asker) {
        if (vote > 0) {
            if (auto r = repo.teach(a, f.section); !r) {
                co_return r.error();
            }
        } else if (auto r = repo.unteach(a.id); !r) {
            co_return r.error();
        }
        searcher_.forget_lessons();
    }
    d_.log.info("faq_feedback", {{"actor", req.event.actor},
                                 {"vote", vote},
                                 {"section", f.section},
                                 {"learned", asker && vote > 0}});
    // Built before the co_await: GCC 12 destroys a temporary of a conditional expression inside
    // a co_await's operand twice.
    if (vote > 0) {
        std::string thanks = "Thanks, glad it helped.";
        if (asker) {
            thanks +=
                fmt::format(" Questions like yours will find `{}` first from now on.", f.section);
        }
        message m = plain_message(std::move(thanks));
        co_return co_await req.answer(std::move(m));
    }
    message m = plain_message("Thanks, noted: the doc owners see this in `/faq stats`.");
    if (!a.others.empty()) {
        m.add(
            context{{"Did one of the other matches answer it? Say which, and I'll know next "
                     "time."}});
        m.add(actions{pick_buttons(a.others, a.id)});
    }
    if (!req.config.channel_id(req.config.faq.help_channel).empty()) {
        m.add(actions{{button{"Ask the platform team", "faq.escalate", std::to_string(a.id),
                              button_style::normal, std::nullopt}}});
    }
    co_return co_await req.answer(std::move(m));
}

}  // namespace tugboat::commands
