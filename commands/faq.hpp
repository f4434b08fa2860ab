#pragma once

#include "commands/command.hpp"
#include "commands/grammar.hpp"
#include "faq/indexer.hpp"
#include "faq/search.hpp"
#include "storage/database.hpp"

#include <optional>
#include <set>

namespace tugboat::storage {
struct faq_ask;
}

namespace tugboat::commands {

/// The declaration of `/faq` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& faq_spec();

/// What `/faq` needs. The database outlives the command.
struct faq_deps {
    storage::database& db;
    const core::config& config;
    core::logger& log;
    const core::clock& clock;
};

/// `/faq <question>` (also @mentions and DMs that are not a command): the best section of the
/// docs with up to two other matches and 👍/👎 buttons, or — below the confidence threshold — "not
/// sure" with an "Ask the platform team" button that posts the question to the help channel.
/// `/faq reload` re-indexes changed files now; `/faq stats` lists unanswered and down-voted
/// questions and what was learned; `/faq unlearn <n>` (admins) takes back what ask n taught and
/// `/faq teach <n> <page>` (admins) says which page answers it (`none`: the docs do not). Buttons:
/// faq.up / faq.down / faq.escalate with the ask id as value; faq.pick (the asker) and faq.answered
/// (the help channel) with "ask:index" of the match that answered it.
class faq_command final : public command, public action_handler {
public:
    explicit faq_command(faq_deps deps);
    const command_spec& spec() const override { return faq_spec(); }
    boost::asio::awaitable<core::result<void>> handle(request req) override;
    boost::asio::awaitable<core::result<void>> handle_action(request req) override;

    /// Re-indexes changed files now. Errors: storage_error.
    core::result<faq::sync_report> reload();

private:
    /// Re-indexes when `reindex_every` has passed since the last pass (checked on each question,
    /// so no timer outlives the bot).
    void reload_now_and_then();
    boost::asio::awaitable<core::result<void>> ask(request req, std::string question);
    boost::asio::awaitable<core::result<void>> stats(request req);
    boost::asio::awaitable<core::result<void>> escalate(request req, std::int64_t ask_id);
    boost::asio::awaitable<core::result<void>> unlearn(request req);
    boost::asio::awaitable<core::result<void>> teach(request req);
    /// Someone in the help channel says `page` answers ask `a`: teaches it and sends the asker
    /// the page.
    boost::asio::awaitable<core::result<void>> answered_by_team(request req, storage::faq_ask a,
                                                                std::string page);
    /// A mention of the bot in the help thread of ask `a`: sends `text` to the asker, and
    /// learns the first page of the docs it links to.
    boost::asio::awaitable<core::result<void>> answer_in_help_thread(request req,
                                                                     storage::faq_ask a,
                                                                     std::string text);
    /// Teaches that `hit` answers `a` — or, with no hit, that the docs do not — by the word of
    /// the person behind `req`, replacing what `a` taught before only when `replace`; false when
    /// nothing changed.
    core::result<bool> learn_from_team(const request& req, const storage::faq_ask& a,
                                       const faq::search_hit* hit, bool replace = true);
    /// Sends `m` to the asker of `a`: in the thread where they asked, or as a DM.
    boost::asio::awaitable<core::result<message_ref>> tell_asker(const request& req,
                                                                 const storage::faq_ask& a,
                                                                 message m);

    faq_deps d_;
    faq::indexer indexer_;
    faq::searcher searcher_;
    std::optional<core::time_point> last_sync_;
    std::set<std::int64_t> escalating_;  ///< asks whose help-channel post is on its way
};

/// The answer (or the decline) as it is shown; `ask_id` goes into the buttons.
message faq_answer_message(const faq::search_result& result, std::int64_t ask_id,
                           bool can_escalate);

}  // namespace tugboat::commands
