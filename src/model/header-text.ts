// Names (users, groups, uids, extras) in HTTP header values, as Kubernetes
// reads them. The API server (Go) takes a header value's bytes as a UTF-8
// string; node hands a received value over as one char per byte (latin1)
// and refuses to send a string holding chars above 0xFF. So a name goes out
// as its UTF-8 bytes, one char each, and a received one is read back as
// UTF-8: kubetape decides on, records and sends the same name the cluster
// will act on, and a username outside latin1 can neither crash the send nor
// be checked under one spelling and sent under another.

const UTF8 = new TextEncoder();
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** C0 and C1 controls and DEL: no Kubernetes name holds one, and some cannot be sent in a header at all. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlChars(name: string): boolean {
  return CONTROL.test(name);
}

/** `name` as header text: its UTF-8 bytes, one char per byte (ASCII unchanged). */
export function toHeaderText(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u007f]*$/.test(name)) return name;
  let out = '';
  for (const b of UTF8.encode(name)) out += String.fromCharCode(b);
  return out;
}

/** A received header value (one char per byte) read as UTF-8, as the API server reads it; undefined when its bytes are not UTF-8. */
export function fromHeaderText(value: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u007f]*$/.test(value)) return value;
  const bytes = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) return undefined;
    bytes[i] = c;
  }
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Whether node can send `value` as a header value (HTAB, printable ASCII, and bytes 0x80-0xFF). */
export function isSendableHeaderValue(value: string): boolean {
  return !/[^\t\u0020-\u007e\u0080-\u00ff]/.test(value);
}

/** The first header of a credential node could not send (a token or name with a control character), or undefined. */
export function unsendableHeader(auth: { authorization?: string; headers?: Record<string, string | string[]> }): string | undefined {
  if (auth.authorization !== undefined && !isSendableHeaderValue(auth.authorization)) return 'Authorization';
  for (const [name, value] of Object.entries(auth.headers ?? {})) {
    if (!(Array.isArray(value) ? value : [value]).every(isSendableHeaderValue)) return name;
  }
  return undefined;
}
