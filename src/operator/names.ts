/** The operator commands' names, on their own so that cli.ts dispatches without loading them. */
export const OPERATOR_COMMANDS = ['status', 'nodes', 'clients', 'events', 'drain', 'undrain', 'forget', 'check'] as const;
export type OperatorCommand = (typeof OPERATOR_COMMANDS)[number];

export function isOperatorCommand(name: string | undefined): name is OperatorCommand {
  return (OPERATOR_COMMANDS as readonly string[]).includes(name ?? '');
}
