'use strict';
/** The event bus's ARN from the `eventBusName` stage param, which is either 'default' or an existing bus's ARN. */
module.exports = async ({ resolveVariable }) => {
  const bus = String(await resolveVariable('param:eventBusName'));
  if (bus.startsWith('arn:')) return bus;
  return { 'Fn::Sub': `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${bus}` };
};
