/**
 * A metric label value taken from upstream data. Every distinct value of a label is a time series
 * of its own, kept by the registry for the life of the process and by Prometheus for its retention,
 * so a value an upstream chooses (an event name, an error code) must come from a known list: a known
 * value keeps its name, any other folds into `other`. The label then has at most `known.size + 1` values.
 */
export const OTHER_LABEL = 'other';

export function boundedLabel(value: string, known: ReadonlySet<string>): string {
  return known.has(value) ? value : OTHER_LABEL;
}
