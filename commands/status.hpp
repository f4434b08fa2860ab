#pragma once

#include "commands/grammar.hpp"

namespace tugboat::commands {

/// The declaration of `/status` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& status_spec();

}  // namespace tugboat::commands
