#pragma once

#include "commands/grammar.hpp"

namespace tugboat::commands {

/// The declaration of `/logs` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& logs_spec();

}  // namespace tugboat::commands
