'use strict';
/**
 * osls gives every function whose `role:` names a role resource both `Role: Fn::GetAtt [<role>, Arn]` and
 * `DependsOn: [<role>]`. The GetAtt already orders the two, so cfn-lint warns (W3005) about the DependsOn. This
 * drops exactly that DependsOn entry (only when the GetAtt is there), after osls and the other plugins have
 * built the template and before it is written, so `package` and `deploy` both get it, and functions added later
 * need nothing.
 */
class NoRedundantDependsOn {
  constructor(serverless) {
    this.hooks = {
      'before:aws:package:finalize:saveServiceState': () =>
        dropRedundantRoleDependsOn(serverless.service.provider.compiledCloudFormationTemplate),
    };
  }
}

function dropRedundantRoleDependsOn(template) {
  for (const resource of Object.values(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Lambda::Function' || !Array.isArray(resource.DependsOn)) continue;
    const role = resource.Properties?.Role?.['Fn::GetAtt']?.[0];
    if (!role) continue;
    resource.DependsOn = resource.DependsOn.filter((id) => id !== role);
    if (resource.DependsOn.length === 0) delete resource.DependsOn;
  }
}

module.exports = NoRedundantDependsOn;
module.exports.dropRedundantRoleDependsOn = dropRedundantRoleDependsOn;
