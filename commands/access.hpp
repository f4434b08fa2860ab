#pragma once

#include "commands/grammar.hpp"

namespace tugboat::commands {

/// The declaration of `/access` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& access_spec();

}  // namespace tugboat::commands
