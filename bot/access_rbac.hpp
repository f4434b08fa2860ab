#pragma once

// `tugboat access-rbac CONFIG`: the Kubernetes RBAC the bot needs for /access, generated from the
// role catalog so that the bot may `bind` exactly the roles the config hands out and nothing
// more (Kubernetes refuses a binding to any other role, whatever a later config says).

#include "bot/config_loader.hpp"
#include "core/config.hpp"

#include <iosfwd>
#include <span>
#include <string>

namespace tugboat::bot {

/// A ClusterRole `tugboat-access` (manage bindings; `bind` on the catalog's ClusterRoles), a
/// ClusterRoleBinding of it to the service account `sa_namespace`/`sa_name`, and for catalog
/// roles of kind Role a Role + RoleBinding with `bind` on them in each namespace they can be
/// requested in (the environments' default namespaces). YAML, ready for `kubectl apply -f -`.
std::string access_rbac_manifest(const core::config& cfg, const std::string& sa_namespace,
                                 const std::string& sa_name);

/// The whole subcommand: `args` are the words after "access-rbac"
/// (`CONFIG [--service-account NAMESPACE/NAME]`). Prints the manifest to `out`; problems and
/// usage errors go to `out` too. Returns 0, 1 (config problems) or 2 (usage).
int access_rbac_command(std::span<const std::string> args, std::ostream& out,
                        const env_lookup& env = process_env());

}  // namespace tugboat::bot
