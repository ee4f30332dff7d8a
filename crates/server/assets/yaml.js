// JSON values as YAML, for reading manifests (the API sends them as JSON).
// Quotes any string YAML could read as something else.

const PLAIN = /^[A-Za-z0-9_./][A-Za-z0-9_ ./:@+=-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n|[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)$/i;

function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v !== 'string') return String(v);
  if (v === '' || !PLAIN.test(v) || RESERVED.test(v) || v.endsWith(' ') || v.includes(': ') || v.includes(' #')) return JSON.stringify(v);
  return v;
}

function isEmpty(v) {
  return v !== null && typeof v === 'object' && Object.keys(v).length === 0;
}

function lines(value, indent, out) {
  const pad = '  '.repeat(indent);
  if (Array.isArray(value)) {
    for (const item of value) {
      if (item !== null && typeof item === 'object' && !isEmpty(item)) {
        const nested = [];
        lines(item, indent + 1, nested);
        out.push(pad + '- ' + nested[0].trimStart(), ...nested.slice(1));
      } else out.push(pad + '- ' + inline(item, indent + 1));
    }
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const name = scalar(k);
    if (v !== null && typeof v === 'object' && !isEmpty(v)) {
      out.push(`${pad}${name}:`);
      lines(v, Array.isArray(v) ? indent : indent + 1, out);
    } else out.push(`${pad}${name}: ${inline(v, indent + 1)}`);
  }
}

function inline(v, indent) {
  if (Array.isArray(v)) return '[]';
  if (v !== null && typeof v === 'object') return '{}';
  if (typeof v === 'string' && v.includes('\n')) {
    const pad = '  '.repeat(indent);
    const keep = v.endsWith('\n') ? '' : '-';
    return `|${keep}\n` + v.replace(/\n$/, '').split('\n').map((l) => (l ? pad + l : '')).join('\n');
  }
  return scalar(v);
}

/** YAML text of a JSON value (object, array or scalar). */
export function toYaml(value) {
  if (value === null || typeof value !== 'object') return inline(value, 0) + '\n';
  if (isEmpty(value)) return (Array.isArray(value) ? '[]' : '{}') + '\n';
  const out = [];
  lines(value, 0, out);
  return out.join('\n') + '\n';
}
