#pragma once

#include "commands/grammar.hpp"

namespace tugboat::commands {

/// The declaration of `/faq` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& faq_spec();

}  // namespace tugboat::commands
