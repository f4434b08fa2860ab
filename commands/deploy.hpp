#pragma once

#include "commands/grammar.hpp"

namespace tugboat::commands {

/// The declaration of `/deploy` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& deploy_spec();

}  // namespace tugboat::commands
