#pragma once

// `tugboat faq search --docs DIR [--json] "question"`: the bot's FAQ search from the shell, for
// doc writers checking what a question finds and operators checking why the bot declined.

#include <iosfwd>
#include <string>
#include <vector>

namespace tugboat::faq {

/// Runs `faq <args>` (args without the leading "faq"); returns the exit code: 0 on success, 2 for
/// bad usage (explained on `err`), 1 when the docs cannot be indexed.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// The usage text.
const char* cli_usage();

}  // namespace tugboat::faq
